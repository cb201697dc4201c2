/**
 * The demo's examples page (demo/examples.html) in headless Chromium (WebGPU on SwiftShader):
 * an example runs briefly (?steps caps each of its phases) in the training worker, and the test
 * checks what the page shows — the loss chart, the VAE's pictures drawn (not blank), pruning's
 * accuracy-against-sparsity curve — and that the page logged no errors. Screenshots go to
 * test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'puppeteer-core';
import type { Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { buildDemo, repoRoot, serveDemo } from '../../demo/server.js';
import { launchChromium } from './chromium.js';

const ARTIFACTS = `${repoRoot()}/test-artifacts`;
let browser: Browser, server: Server, url: string;

beforeAll(async () => {
  await buildDemo();
  ({ server, url } = await serveDemo());
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  server?.close();
});

interface State {
  step: number;
  running: boolean;
  backend: string;
  where: string;
  example: string;
  done: { metrics: Record<string, number>; seconds: number } | null;
  error: string;
  charts: Record<string, Record<string, [number, number][]>>;
  pictures: string[];
  log: string[];
  status: string;
}
const state = (page: Page) => page.evaluate(() => (window as unknown as { demo: { state(): State } }).demo.state());

async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 1100 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}/${path}`);
  await page.waitForFunction(() => 'demo' in window, { timeout: 120_000, polling: 200 });
  return { page, errors };
}

/** Clicks Start and waits until the example has finished (the page pauses itself). */
async function runToEnd(page: Page): Promise<State> {
  await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, { timeout: 120_000, polling: 100 });
  await page.click('#start');
  await page.waitForFunction(() => { const s = (window as unknown as { demo: { state(): State } }).demo.state(); return ((s.done || s.error) && !s.running) || s.status.startsWith('stopped'); }, { timeout: 300_000, polling: 250 });
  return state(page);
}

describe('demo examples page in headless Chromium', () => {
  it('VAE: runs in the worker on WebGPU; the loss chart and the samples and reconstructions appear; Start runs it again; prune (opened mid-run) draws its curve', async () => {
    const { page, errors } = await open('examples.html?example=vae&steps=12');
    let s = await runToEnd(page);
    expect(s.status).toMatch(/^VAE: finished at step 12/);
    expect(s).toMatchObject({ backend: 'webgpu', where: 'worker', example: 'vae', error: '' });
    expect(s.step).toBe(12);
    const loss = s.charts['training loss'];
    expect(Object.keys(loss).sort()).toEqual(['KL', 'loss', 'reconstruction']);
    expect(loss.loss.map(([x]) => x)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(loss.loss.at(-1)![1]).toBeLessThan(loss.loss[0][1]);
    expect(s.done!.metrics.testNegElbo).toBeGreaterThan(0);
    expect(s.pictures.sort()).toEqual(['reconstructions', 'samples']);
    // the pictures are drawn: the reconstructions hold the test digits (white strokes), the
    // samples are not one flat grey
    const stats = await page.$$eval('#pictures canvas', (cs) => cs.map((c) => {
      const cv = c as HTMLCanvasElement, d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let bright = 0, grey = 0, dark = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i] > 200) bright++;
        if (d[i] > 120) grey++;
        if (d[i] < 40) dark++;
      }
      return { name: cv.dataset.name!, width: cv.width, bright, grey, dark };
    }));
    expect(stats.map((p) => p.name).sort()).toEqual(['reconstructions', 'samples']);
    for (const p of stats) {
      expect(p.width, p.name).toBe(242);
      // after 12 steps the samples are blurred digits: lighter strokes on a dark ground
      expect(p.name === 'samples' ? p.grey : p.bright, p.name).toBeGreaterThan(200);
      expect(p.dark, p.name).toBeGreaterThan(10000);
    }
    expect(s.log.some((l) => l.includes('test −ELBO'))).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/demo-examples-vae.png`, fullPage: true });

    // Start after the end runs the example again from step 1 (charts cleared)
    await page.click('#start');
    await page.waitForFunction(() => { const s = (window as unknown as { demo: { state(): State } }).demo.state(); return s.done === null && s.step >= 2 && s.running; }, { timeout: 120_000, polling: 100 });
    expect((await state(page)).charts['training loss'].loss[0][0]).toBe(1);

    // another tab, while the VAE trains: a new run of prune, whose accuracy-against-sparsity curve appears
    await page.click('#tabs button[data-name="prune"]');
    await page.waitForFunction(() => (window as unknown as { demo: { state(): State } }).demo.state().example === 'prune', { timeout: 60_000, polling: 100 });
    s = await runToEnd(page);
    expect(s).toMatchObject({ example: 'prune', error: '' });
    expect(s.pictures).toEqual([]);
    expect(Object.keys(s.charts['training loss'])).toEqual(['train', 'fine-tune 50%', 'fine-tune 80%', 'fine-tune 90%']);
    const curve = s.charts['accuracy vs sparsity'];
    expect(curve['before fine-tuning'].map(([x]) => x)).toEqual([0, 50, 80, 90]);
    expect(curve['after fine-tuning'].map(([x]) => x)).toEqual([0, 50, 80, 90]);
    for (const pct of [50, 80, 90]) expect(s.done!.metrics[`sparsity${pct}`]).toBeCloseTo(pct / 100, 3);
    expect(await page.$eval('canvas[data-name="accuracy vs sparsity"]', (c) => Number((c as HTMLCanvasElement).dataset.points))).toBe(8);
    await page.screenshot({ path: `${ARTIFACTS}/demo-examples-prune.png`, fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);

  it('U-Net draws held-out canvases with their true and predicted masks; ResNet, ViT and quantization run to the end in their tabs', async () => {
    const { page, errors } = await open('examples.html?example=unet&steps=6');
    let s = await runToEnd(page);
    expect(s).toMatchObject({ backend: 'webgpu', where: 'worker', example: 'unet', error: '' });
    expect(s.step).toBe(6);
    expect(s.charts['training loss'].loss.length).toBeGreaterThan(0);
    expect(s.pictures.sort()).toEqual(['predicted masks', 'test canvases', 'true masks']);
    // the true masks are not blank: every canvas holds a shape (grey 1/3..1 on black)
    const lit = await page.$eval('#pictures canvas[data-name="true masks"]', (c) => {
      const cv = c as HTMLCanvasElement, d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 60 && d[i] < 250) n++;
      return n;
    });
    expect(lit).toBeGreaterThan(200);
    expect(s.done!.metrics.foregroundIou).toBeGreaterThanOrEqual(0);
    await page.screenshot({ path: `${ARTIFACTS}/demo-examples-unet.png`, fullPage: true });
    for (const [name, metric] of [['resnet', 'resnetAccuracy'], ['vit', 'testAccuracy'], ['quantize', 'f32Accuracy']] as const) {
      await page.click(`#tabs button[data-name="${name}"]`);
      await page.waitForFunction((n) => (window as unknown as { demo: { state(): State } }).demo.state().example === n, { timeout: 60_000, polling: 100 }, name);
      s = await runToEnd(page);
      expect(s, name).toMatchObject({ example: name, error: '' });
      expect(s.done, name).not.toBeNull();
      expect(Object.keys(s.done!.metrics), name).toContain(metric);
    }
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);
});
