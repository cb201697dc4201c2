/**
 * Times one demo page's training loop on the page's main thread and in the training worker:
 * the char page's step (demo/src/char-task.ts), the same config, seed and step count in both
 * places, each after warm-up steps (compilation, pipeline creation). Loaded by
 * test/browser/worker-speed.html; the result is window.result.
 */
import * as wt from '../../src/index.js';
import { TrainingWorker } from '../../src/worker/client.js';
import { charTask, type CharTaskConfig } from './char-task.js';

interface Timing { stepsPerSecond: number; msPerStep: number; lastLoss: number }

async function main(): Promise<unknown> {
  const q = new URLSearchParams(location.search);
  const steps = Number(q.get('steps') ?? 30), warmup = Number(q.get('warmup') ?? 5);
  const text = await (await fetch('/data/tinyshakespeare.txt')).text();
  const cfg: CharTaskConfig = { text: text.slice(0, 200_000), size: (q.get('size') ?? 'tiny') as CharTaskConfig['size'], batch: Number(q.get('batch') ?? 4), compile: q.get('compile') !== '0' };

  // main thread: the task called directly, yielding to the page every 30 ms as demo/src/char.ts does
  await wt.init({ backend: 'webgpu' });
  const task = await charTask(cfg, { checkpoint: null, progress: () => {} });
  let last = 0;
  for (let i = 0; i < warmup; i++) await task.trainStep();
  const t0 = performance.now();
  let lastYield = t0;
  for (let i = 0; i < steps; i++) {
    last = (await task.trainStep()).loss ?? NaN;
    if (performance.now() - lastYield > 30) {
      await new Promise((r) => setTimeout(r, 0));
      lastYield = performance.now();
    }
  }
  const main: Timing = { msPerStep: (performance.now() - t0) / steps, stepsPerSecond: 0, lastLoss: last };
  main.stepsPerSecond = 1000 / main.msPerStep;
  task.dispose?.();

  // the worker: the same task behind TrainingWorker
  const tw = new TrainingWorker(new Worker('/dist/train-worker.js', { type: 'module' }));
  const be = await tw.init({ backend: 'webgpu' });
  await tw.open('char', cfg);
  await tw.start(undefined, { maxSteps: warmup });
  for await (const _ of tw.metrics()) { /* warm-up */ }
  let t1 = 0;
  let wlast = 0;
  const done = (async () => { for await (const m of tw.metrics()) wlast = m.loss; })();
  t1 = performance.now();
  await tw.resume({ maxSteps: warmup + steps });
  await done;
  const worker: Timing = { msPerStep: (performance.now() - t1) / steps, stepsPerSecond: 0, lastLoss: wlast };
  worker.stepsPerSecond = 1000 / worker.msPerStep;
  await tw.close();
  tw.terminate();
  return { steps, warmup, config: { ...cfg, text: cfg.text.length }, backend: be.name, adapter: be.adapter?.description ?? be.adapter?.architecture ?? null, main, worker };
}

(window as unknown as { result: Promise<unknown> }).result = main().catch((e) => ({ error: String((e as Error)?.stack ?? e) }));
