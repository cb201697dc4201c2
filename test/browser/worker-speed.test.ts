/**
 * A demo page's training loop (the char transformer's compiled AdamW step, demo/src/char-task.ts)
 * timed on the page's main thread and in the demo's training Worker, in headless Chromium
 * (WebGPU on SwiftShader): both train (finite losses), and the numbers are printed and written
 * to test-artifacts/worker-speed.json. Nothing here asserts which is faster; the report does.
 * WT_SPEED_STEPS / WT_SPEED_SIZE / WT_SPEED_BATCH change the run.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import type { Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildDemo, repoRoot, serveDemo } from '../../demo/server.js';
import { launchChromium } from './chromium.js';

let browser: Browser, server: Server, url: string;
beforeAll(async () => {
  await buildDemo();
  ({ server, url } = await serveDemo(0, repoRoot(), [['/test/browser/', `${repoRoot()}/test/browser`], ['/dist/', `${repoRoot()}/demo/dist`]]));
  browser = await launchChromium();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  server?.close();
});

interface Timing { stepsPerSecond: number; msPerStep: number; lastLoss: number }

it('the char page\'s step: steps/s on the main thread and in the training worker', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const steps = process.env.WT_SPEED_STEPS ?? '30', size = process.env.WT_SPEED_SIZE ?? 'tiny', batch = process.env.WT_SPEED_BATCH ?? '4';
  await page.goto(`${url}/test/browser/worker-speed.html?steps=${steps}&size=${size}&batch=${batch}`);
  const r = await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result) as { error?: string; backend: string; main: Timing; worker: Timing };
  expect(r.error).toBeUndefined();
  console.log(JSON.stringify(r));
  mkdirSync(`${repoRoot()}/test-artifacts`, { recursive: true });
  writeFileSync(`${repoRoot()}/test-artifacts/worker-speed.json`, JSON.stringify(r, null, 2));
  expect(r.backend).toBe('webgpu');
  for (const t of [r.main, r.worker]) {
    expect(Number.isFinite(t.lastLoss)).toBe(true);
    expect(t.stepsPerSecond).toBeGreaterThan(0);
  }
  // the same seed, steps and backend: the same loss in both places
  expect(r.worker.lastLoss).toBeCloseTo(r.main.lastLoss, 4);
  expect(errors).toEqual([]);
}, 600_000);
