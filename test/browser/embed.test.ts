/**
 * Embedding in headless Chromium (WebGPU on SwiftShader): the examples/embed page renders a
 * tensor through its own render pass on the shared device (checked pixel by pixel against the
 * tensor's values, and saved as test-artifacts/embed.png), and webtensor runs in a Web Worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'puppeteer-core';
import type { Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { serve } from './server.js';
import { decodePng } from './png.js';
import { launchChromium } from './chromium.js';

/**
 * Presenting a WebGPU canvas in headless Chromium on SwiftShader loses the device ("Device was
 * destroyed") after a frame or two unless ANGLE runs on SwiftShader too.
 */
const CANVAS_ARGS = ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

const root = new URL('../..', import.meta.url).pathname;
let browser: Browser, server: Server, url: string;

beforeAll(async () => {
  ({ server, url } = await serve(root));
  browser = await launchChromium({ extraArgs: CANVAS_ARGS });
});
afterAll(async () => {
  await browser?.close();
  server?.close();
});

/** A page that collects uncaught errors and console errors. */
async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}${path}`);
  return { page, errors };
}

describe('embedding in a browser page', () => {
  it('renders a tensor through the host render pass on the shared device, without readback', async () => {
    const { page, errors } = await open('/examples/embed/index.html?frames=4&verify=1');
    const r = await page.evaluate(() => (window as unknown as { embedResult: Promise<Record<string, unknown>> }).embedResult);
    expect(r.error, String(r.error)).toBeUndefined();
    expect(r).toMatchObject({ frames: 4, backend: 'webgpu', hostDevice: true, width: 160, height: 120 });
    mkdirSync(`${root}test-artifacts`, { recursive: true });
    await (await page.$('body'))!.screenshot({ path: `${root}test-artifacts/embed.png` as `${string}.png` });
    // the canvas shows the tensor: compare the pixels on screen with the last image tensor's values
    const shot = decodePng(await (await page.$('#view'))!.screenshot());
    const img = r.image as number[];
    const w = r.width as number, h = r.height as number, scale = shot.width / w;
    expect(shot.height / h).toBeCloseTo(scale);
    let max = 0, spread = 0;
    for (let y = 0; y < h; y += 7) {
      for (let x = 0; x < w; x += 5) {
        const at = (Math.floor((y + 0.5) * scale) * shot.width + Math.floor((x + 0.5) * scale)) * 4;
        for (let ch = 0; ch < 3; ch++) {
          max = Math.max(max, Math.abs(shot.rgba[at + ch] - img[(y * w + x) * 3 + ch] * 255));
          spread = Math.max(spread, Math.abs(shot.rgba[at + ch] - shot.rgba[ch]));
        }
      }
    }
    expect(max).toBeLessThan(2.5); // unorm rounding
    expect(spread).toBeGreaterThan(50); // a picture, not a flat colour
    expect(errors).toEqual([]);
    await page.close();
  });

  it('runs in a Web Worker: WebGPU matches the CPU backend, model files go through a Blob', async () => {
    const { page, errors } = await open('/test/browser/worker.html');
    const r = await page.evaluate(() => (window as unknown as { result: Promise<Record<string, unknown>> }).result);
    expect(r.error, String(r.error)).toBeUndefined();
    expect(r).toMatchObject({ backend: 'webgpu', inWorker: true, file: [0, 1, 2, 3, 4] });
    expect(r.maxDiff as number).toBeLessThan(1e-4);
    expect(errors).toEqual([]);
    await page.close();
  });
});
