/**
 * End-to-end tests of the demo pages in headless Chromium (WebGPU on SwiftShader): each page
 * trains for a few steps through its own buttons, and the test checks that the loss fell, that
 * accuracy rose (MNIST, playground), that the page logged no errors, and saves a screenshot to
 * test-artifacts/. SwiftShader runs the shaders on the CPU, so the runs are short and small.
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
  // the language-model page loads a fixture checkpoint by its address, as it would a hub folder
  ({ server, url } = await serveDemo(0, repoRoot(), [['/models/', `${repoRoot()}/test/fixtures/lm`]]));
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  server?.close();
});

interface Opened {
  page: Page;
  /** console errors and uncaught exceptions so far */
  errors: string[];
}

/** Opens a demo page and waits until it has set up its model (window.demo appears). */
async function open(path: string, opts: { noWebGPU?: boolean } = {}): Promise<Opened> {
  const page = await browser.newPage();
  // a browser without WebGPU: no navigator.gpu at all
  if (opts.noWebGPU) await page.evaluateOnNewDocument(() => { delete (Navigator.prototype as { gpu?: unknown }).gpu; });
  await page.setViewport({ width: 1360, height: 1000 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // Start must stay disabled until the page's first evaluation is done (window.demo appears
  // right after it): note whether it was ever enabled before
  await page.evaluateOnNewDocument(() => {
    const w = window as unknown as { startEarly: boolean };
    w.startEarly = false;
    const id = setInterval(() => {
      if ('demo' in window) return clearInterval(id);
      const b = document.getElementById('start') as HTMLButtonElement | null;
      if (b && !b.disabled) w.startEarly = true;
    }, 2);
  });
  await page.goto(`${url}/${path}`);
  await page.waitForFunction(() => 'demo' in window, { timeout: 120_000, polling: 200 });
  expect(await page.evaluate(() => (window as unknown as { startEarly: boolean }).startEarly), 'Start enabled before the first evaluation').toBe(false);
  return { page, errors };
}

type State = Record<string, unknown> & { step: number; running: boolean; backend: string };
const state = (page: Page) => page.evaluate(() => (window as unknown as { demo: { state(): State } }).demo.state());

/** Clicks Start, waits for `steps` steps (and `until`), clicks Pause and waits for the loop to stop. */
async function train(page: Page, steps: number, until = 'true'): Promise<State> {
  await page.click('#start');
  await page.waitForFunction(`(() => { const s = window.demo.state(); return s.step >= ${steps} && (${until}); })()`, { timeout: 240_000, polling: 250 });
  await page.click('#pause');
  await page.waitForFunction(() => !(window as unknown as { demo: { state(): State } }).demo.state().running, { timeout: 120_000, polling: 100 });
  return state(page);
}

const first = (xs: unknown) => (xs as number[])[0];
const last = (xs: unknown) => (xs as number[]).at(-1)!;

describe('demo pages in headless Chromium', () => {
  it('MNIST: trains the CNN on WebGPU, loss falls, accuracy rises, a drawn digit is classified', async () => {
    const { page, errors } = await open('mnist.html?batch=8&logEvery=4&valEvery=24&val=200');
    const s = await train(page, 24, 's.valAcc.length >= 2');
    expect(s.backend).toBe('webgpu');
    expect(last(s.trainLoss)).toBeLessThan(first(s.trainLoss));
    expect(last(s.valLoss)).toBeLessThan(first(s.valLoss));
    expect(last(s.valAcc)).toBeGreaterThan(first(s.valAcc));
    // the steps are compiled: after the warm-up call and two recordings, replays
    expect(s.replayed).toBeGreaterThan(0);
    // a "7": a stroke across the top, then down to the bottom left
    const box = (await (await page.$('#pad'))!.boundingBox())!;
    const pt = (x: number, y: number) => [box.x + x * box.width, box.y + y * box.height] as const;
    await page.mouse.move(...pt(0.25, 0.2));
    await page.mouse.down();
    for (const [x, y] of [[0.5, 0.2], [0.75, 0.2], [0.62, 0.5], [0.5, 0.8]]) await page.mouse.move(...pt(x, y), { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction(() => /^\d$/.test(document.getElementById('prediction')!.textContent ?? ''), { timeout: 60_000 });
    expect((await state(page)).prediction).toMatch(/^\d$/);
    await page.screenshot({ path: `${ARTIFACTS}/demo-mnist.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 360_000);

  it('MNIST with mixed precision: loss scaling (f16 tiles where the GPU has shader-f16), the loss falls', async () => {
    const { page, errors } = await open('mnist.html?batch=16&logEvery=4&valEvery=1000&precision=mixed');
    const s = await train(page, 12);
    expect(s.backend).toBe('webgpu');
    expect(s.lossScale).toBe(65536);
    expect(s.replayed).toBeGreaterThan(0);
    expect(last(s.trainLoss)).toBeLessThan(first(s.trainLoss));
    expect(errors).toEqual([]);
    await page.close();
  }, 360_000);

  it('char transformer: trains a few steps on WebGPU, loss falls, text streams', async () => {
    const { page, errors } = await open('char.html?size=tiny&batch=4&logEvery=2');
    const s = await train(page, 10);
    expect(s.backend).toBe('webgpu');
    // the training runs in the demo's training worker; the badge says so
    expect(s.where).toBe('worker');
    expect(await page.$eval('#backend', (el) => el.textContent ?? '')).toMatch(/^WebGPU · .*\(in a worker\)$/);
    expect(last(s.trainLoss)).toBeLessThan(first(s.trainLoss));
    expect(s.replayed).toBeGreaterThan(0);
    expect(s.sampleReplayed).toBeGreaterThan(0);
    // the prompt plus one sampled character per step
    expect(s.sample as string).toContain('ROMEO:');
    expect((s.sample as string).split('ROMEO:')[1].length).toBeGreaterThanOrEqual(5);
    // the step-0 evaluation is the first validation point, at step 0 (Start waited for it)
    expect((s.valSteps as number[])[0]).toBe(0);
    // the y axis holds every point
    const [lo, hi] = s.yRange as number[];
    for (const v of [...(s.trainLoss as number[]), ...(s.valLoss as number[])]) {
      expect(v).toBeGreaterThanOrEqual(lo);
      expect(v).toBeLessThanOrEqual(hi);
    }
    expect(await page.$eval('#chart-loss', (c) => (c as HTMLCanvasElement).dataset.yRange)).toBe(`${lo},${hi}`);
    await page.screenshot({ path: `${ARTIFACTS}/demo-char.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 360_000);

  it('char transformer without WebGPU: the banner, the CPU backend in the worker; Reset and a new size start over, the controls reach the worker', async () => {
    const { page, errors } = await open('char.html?size=tiny&batch=4&logEvery=2&valEvery=6', { noWebGPU: true });
    expect(await page.$eval('.banner.warn', (el) => el.textContent ?? '')).toMatch(/WebGPU is not available/);
    expect(await page.$eval('#backend', (el) => el.textContent)).toBe('CPU backend (in a worker)');
    expect(await page.$eval('.trains-on', (el) => el.textContent ?? '')).toMatch(/CPU backend.*Web Worker/);
    // a new temperature and prompt reach the worker before the first sample starts
    await page.$eval('#temp', (el) => { (el as HTMLInputElement).value = '0.5'; el.dispatchEvent(new Event('input')); });
    await page.$eval('#prompt', (el) => { (el as HTMLInputElement).value = 'JULIET:'; el.dispatchEvent(new Event('input')); });
    await page.select('#lr', '0.01');
    let s = await train(page, 6, 's.valSteps.length >= 2');
    expect(s).toMatchObject({ backend: 'cpu', where: 'worker' });
    // validation at step 0 and every 6 steps (the CPU backend may run past 6 before Pause lands)
    expect((s.valSteps as number[]).slice(0, 2)).toEqual([0, 6]);
    expect((s.valSteps as number[]).every((v) => v % 6 === 0)).toBe(true);
    expect(s.sample as string).toContain('temperature 0.50');
    expect(s.sample as string).toContain('JULIET:');
    expect(last(s.trainLoss)).toBeLessThan(first(s.trainLoss));
    // Reset: step 0, new weights, a fresh step-0 validation; then a new size rebuilds the model
    await page.click('#reset');
    await page.waitForFunction(() => { const s = (window as unknown as { demo: { state(): State } }).demo.state(); return s.step === 0 && (s.valSteps as number[]).length === 1; }, { timeout: 60_000, polling: 100 });
    const tiny = await page.$eval('#s-params', (el) => el.textContent);
    await page.select('#size', 'small');
    await page.waitForFunction((t) => document.getElementById('s-params')!.textContent !== t, { timeout: 60_000, polling: 100 }, tiny);
    await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, { timeout: 60_000, polling: 100 });
    s = await train(page, 2);
    expect(s.step).toBeGreaterThanOrEqual(2);
    expect((s.valSteps as number[])[0]).toBe(0);
    expect(await page.$eval('#s-params', (el) => Number(el.textContent!.replace(/,/g, '')))).toBeGreaterThan(Number(tiny!.replace(/,/g, '')));
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('char transformer with ?backend=cpu and ?worker=0: the banner asks for it, the same task trains on the page\'s thread', async () => {
    const { page, errors } = await open('char.html?size=tiny&batch=4&logEvery=2&backend=cpu&worker=0');
    expect(await page.$eval('.banner.info', (el) => el.textContent ?? '')).toMatch(/because the address asks for it/);
    expect(await page.$eval('#backend', (el) => el.textContent)).toBe('CPU backend');
    const s = await train(page, 6);
    expect(s).toMatchObject({ backend: 'cpu', where: 'main' });
    expect(last(s.trainLoss)).toBeLessThan(first(s.trainLoss));
    expect((s.sample as string).split('ROMEO:')[1].length).toBeGreaterThanOrEqual(5);
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('playground: an MLP learns XOR on WebGPU and the boundary is drawn', async () => {
    const { page, errors } = await open('playground.html?data=xor&arch=8&stepsPerFrame=10');
    const s = await train(page, 60);
    expect(s.backend).toBe('webgpu');
    // the playground trains in the training worker (?worker=0: on the page's thread)
    expect(s.where).toBe('worker');
    expect(await page.$eval('#backend', (el) => el.textContent ?? '')).toMatch(/\(in a worker\)$/);
    expect(last(s.loss)).toBeLessThan(first(s.loss) * 0.8);
    expect(last(s.acc)).toBeGreaterThan(first(s.acc));
    // the plane is painted: not one flat colour
    const colours = await page.$eval('#plane', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 480, 480).data;
      return new Set(Array.from({ length: 200 }, (_, i) => d[(i * 1151 * 4) % d.length])).size;
    });
    expect(colours).toBeGreaterThan(3);
    await page.screenshot({ path: `${ARTIFACTS}/demo-playground.png`, fullPage: true });
    // the loss chart is log-scale and holds every step's point
    const loss = await page.$eval('#chart-loss', (c) => ({ ...(c as HTMLCanvasElement).dataset }));
    expect(loss.scale).toBe('log');
    expect(Number(loss.points)).toBe((s.loss as number[]).length);
    // SwiftShader is a software adapter: the banner offers the CPU backend (keeping the page's
    // settings) and the page says what trains
    const href = await page.$eval('#use-cpu', (a) => (a as HTMLAnchorElement).getAttribute('href') ?? '');
    expect(new URLSearchParams(href.split('?')[1]).get('backend')).toBe('cpu');
    expect(new URLSearchParams(href.split('?')[1]).get('data')).toBe('xor');
    expect(await page.$eval('.trains-on', (el) => el.textContent ?? '')).toMatch(/WebGPU on .*software GPU/);
    expect(errors).toEqual([]);
  }, 240_000);

  it('playground with ?worker=0: the same task on the page\'s thread, the boundary is drawn from its frames', async () => {
    const { page, errors } = await open('playground.html?data=xor&arch=8&stepsPerFrame=10&worker=0');
    expect(await page.$eval('#backend', (el) => el.textContent ?? '')).not.toMatch(/in a worker/);
    const s = await train(page, 60);
    expect(s).toMatchObject({ backend: 'webgpu', where: 'main' });
    expect(last(s.loss)).toBeLessThan(first(s.loss) * 0.8);
    const colours = await page.$eval('#plane', (c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 480, 480).data;
      return new Set(Array.from({ length: 200 }, (_, i) => d[(i * 1151 * 4) % d.length])).size;
    });
    expect(colours).toBeGreaterThan(3);
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('without WebGPU: the page says so in a banner and trains on the CPU backend', async () => {
    const { page, errors } = await open('playground.html?data=circles&stepsPerFrame=20', { noWebGPU: true });
    const banner = await page.$eval('.banner.warn', (el) => el.textContent ?? '');
    expect(banner).toMatch(/WebGPU is not available/);
    expect(await page.$eval('#backend', (el) => el.textContent)).toBe('CPU backend (in a worker)');
    expect(await page.$eval('.trains-on', (el) => el.textContent ?? '')).toMatch(/CPU backend/);
    const s = await train(page, 100);
    expect(s.backend).toBe('cpu');
    expect(last(s.loss)).toBeLessThan(first(s.loss));
    await page.screenshot({ path: `${ARTIFACTS}/demo-playground-cpu.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);

  it('a lost GPU device: the page shows a message and a Restart button that brings training back', async () => {
    // the page's own device (?worker=0): the test destroys it from the page
    const { page } = await open('playground.html?data=xor&arch=8&stepsPerFrame=5&worker=0');
    await page.evaluate(() => (window as unknown as { wt: { getBackend(): { device: GPUDevice } } }).wt.getBackend().device.destroy());
    await page.click('#start');
    await page.waitForSelector('#restart-gpu', { timeout: 60_000 });
    expect(await page.$eval('.banner.error', (el) => el.textContent ?? '')).toMatch(/GPU device was lost/);
    await page.screenshot({ path: `${ARTIFACTS}/demo-device-lost.png`, fullPage: true });
    await Promise.all([page.waitForNavigation(), page.click('#restart-gpu')]);
    await page.waitForFunction(() => 'demo' in window, { timeout: 120_000, polling: 200 });
    const s = await train(page, 10);
    expect(s.backend).toBe('webgpu');
    expect(s.step).toBeGreaterThanOrEqual(10);
  }, 240_000);

  it('language model: loads a checkpoint by its address, shows the memory estimate, streams the same greedy tokens as Node', async () => {
    const prompt = 'hello world';
    const { page, errors } = await open(`lm.html?model=/models/tiny-llama/&prompt=${encodeURIComponent(prompt)}&max=8&temp=0&context=64`);
    await page.waitForFunction(() => { const s = (window as unknown as { demo: { state(): LmState } }).demo.state(); return s.loaded || s.error; }, { timeout: 120_000, polling: 100 });
    let s = await lmState(page);
    expect(s.error).toBeNull();
    expect(s).toMatchObject({ backend: 'webgpu', loaded: true, modelType: 'llama', tokenizer: true });
    expect(await page.$eval('#m-memory', (el) => el.textContent ?? '')).toMatch(/[KM]iB \(weights .* [KM]iB, KV cache .* [KM]iB at 64 tokens\)/);
    expect(await page.$eval('#m-size', (el) => el.textContent ?? '')).toMatch(/in BF16/);
    await page.click('#generate');
    await page.waitForFunction(() => { const s = (window as unknown as { demo: { state(): LmState } }).demo.state(); return !s.running && (s.generated > 0 || s.error); }, { timeout: 120_000, polling: 100 });
    s = await lmState(page);
    expect(s.error).toBeNull();
    // the same model, tokenizer and greedy decoding in Node on the CPU backend
    const dir = `${repoRoot()}/test/fixtures/lm/tiny-llama`;
    const wt = await import('../../src/index.js');
    const lm = await import('../../src/lm/index.js');
    await wt.init({ backend: 'cpu' });
    const tok = await lm.loadTokenizer(dir);
    const model = await lm.loadCausalLM(dir);
    const want: number[] = [];
    for await (const id of model.generate(tok.encode(prompt), { maxNewTokens: 8, temperature: 0 })) want.push(id);
    model.dispose();
    expect(s.promptTokens).toBe(tok.encode(prompt).length);
    expect(s.ids).toEqual(want);
    expect(s.text).toBe(tok.decode(want, { skipSpecialTokens: true }));
    expect(await page.$eval('#output', (el) => el.textContent ?? '')).toBe(prompt + s.text);
    expect(s.prefillMs).toBeGreaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}/demo-lm.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 240_000);
});

interface LmState { backend: string; loaded: boolean; modelType: string | null; tokenizer: boolean; running: boolean; generated: number; ids: number[]; text: string; promptTokens: number; prefillMs: number | null; error: string | null }
const lmState = (page: Page) => page.evaluate(() => (window as unknown as { demo: { state(): LmState } }).demo.state());
