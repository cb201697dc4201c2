import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import type { Server } from 'node:http';
import { serve } from './server.js';
import { launchChromium } from './chromium.js';

let browser: Browser, server: Server, url: string;

beforeAll(async () => {
  ({ server, url } = await serve(new URL('../..', import.meta.url).pathname));
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe('headless Chromium', () => {
  it('runs a small CNN forward and backward on WebGPU and matches the CPU backend', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${url}/test/browser/cnn.html`);
    const r = await page.evaluate(() => (window as unknown as { result: Promise<Record<string, unknown>> }).result);
    expect(r.error, String(r.error)).toBeUndefined();
    expect(r.backend).toBe('webgpu');
    expect(r.maxDiff as number).toBeLessThan(1e-4);
    expect(errors).toEqual([]);
  });
});
