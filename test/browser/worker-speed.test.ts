/**
 * A demo page's training loop (the char transformer's compiled AdamW step, demo/src/char-task.ts)
 * timed on the page's main thread and in the demo's training Worker, in headless Chromium
 * (WebGPU on SwiftShader): both train (finite losses), and the numbers are printed and written
 * to test-artifacts/worker-speed.json. Nothing here asserts which is faster; the report does.
 * WT_SPEED_STEPS / WT_SPEED_SIZE / WT_SPEED_BATCH change the run.
 *
 * The second test times the char, MNIST and playground pages themselves (demo/char.html: its
 * step, per-step sample and validation; demo/mnist.html: its step and read-backs; the playground:
 * its frames, each with the boundary grid's read) with the loop in the training worker (?worker=1)
 * and the same task served on the page's thread (?worker=0): steps/s as the page receives them, after warm-up steps,
 * alternating main / worker twice per setting. Written to test-artifacts/worker-speed-pages.json.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'puppeteer-core';
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

/** Steps/s of a demo page between step `warm` and step `warm + steps` as the page received them (window.demo.state().arrivals). */
async function pageSpeed(path: string, warm: number, steps: number): Promise<{ stepsPerSecond: number; where: string; backend: string }> {
  const page: Page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}/${path}`);
  await page.waitForFunction(() => 'demo' in window && !(document.getElementById('start') as HTMLButtonElement).disabled, { timeout: 120_000, polling: 100 });
  await page.click('#start');
  await page.waitForFunction(`window.demo.state().step >= ${warm + steps}`, { timeout: 300_000, polling: 200 });
  await page.click('#pause');
  const s = await page.evaluate(() => (window as unknown as { demo: { state(): { arrivals: [number, number][]; where: string; backend: string } } }).demo.state());
  await page.close();
  expect(errors).toEqual([]);
  const a = s.arrivals.find(([k]) => k >= warm)!, b = s.arrivals.find(([k]) => k >= warm + steps)!;
  return { stepsPerSecond: ((b[0] - a[0]) * 1000) / (b[1] - a[1]), where: s.where, backend: s.backend };
}

it('the char, MNIST and playground pages: steps/s with the loop in the training worker and on the page\'s thread (?worker=0)', async () => {
  const settings = [
    { name: 'char, tiny, batch 4', q: 'char.html?size=tiny&batch=4&logEvery=10&valEvery=100', warm: 20, steps: 120 },
    { name: 'char, small, batch 4', q: 'char.html?size=small&batch=4&logEvery=10&valEvery=100', warm: 5, steps: 20 },
    { name: 'mnist, batch 64', q: 'mnist.html?batch=64&valEvery=1000', warm: 10, steps: 30 },
    // steps, not frames: 5 steps and one boundary read per frame
    { name: 'playground, xor, 5 steps per frame', q: 'playground.html?data=xor&stepsPerFrame=5', warm: 50, steps: 400 },
  ];
  const out: Record<string, { main: number[]; worker: number[] }> = {};
  for (const st of settings) {
    const r = (out[st.name] = { main: [] as number[], worker: [] as number[] });
    for (let rep = 0; rep < 2; rep++) {
      for (const w of [0, 1]) {
        const t = await pageSpeed(`${st.q}&worker=${w}`, st.warm, st.steps);
        expect(t).toMatchObject({ backend: 'webgpu', where: w ? 'worker' : 'main' });
        (w ? r.worker : r.main).push(+t.stepsPerSecond.toFixed(2));
      }
    }
  }
  console.log(JSON.stringify(out));
  mkdirSync(`${repoRoot()}/test-artifacts`, { recursive: true });
  writeFileSync(`${repoRoot()}/test-artifacts/worker-speed-pages.json`, JSON.stringify(out, null, 2));
  for (const r of Object.values(out)) for (const v of [...r.main, ...r.worker]) expect(v).toBeGreaterThan(0);
}, 600_000);
