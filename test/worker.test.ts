/**
 * webtensor/worker: the LoRA fine-tune core (src/worker/finetune.ts) on both backends — the loss
 * falls on a repetitive text, and a checkpoint resumes exactly (the next step's loss and the
 * adapter match an uninterrupted run) — and the worker protocol (TrainingWorker ⇄
 * serveTraining over a MessageChannel, as a Worker would carry it): open, start, metrics
 * events, pause, samples, a checkpoint in a Node folder and a resumed run in a fresh task.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import * as wt from '../src/index.js';
import { loadCausalLM, loadTokenizer } from '../src/lm/index.js';
import { LoraFineTune, TrainingWorker, loraFineTuneTask, serveTraining, openCheckpointStore, type CheckpointManifest, type LoraTaskInfo, type Metrics } from '../src/worker/index.js';
import { forEachBackend } from './backends.js';

const LLAMA = fileURLToPath(new URL('./fixtures/lm/tiny-llama', import.meta.url));
const TEXT = 'the cat sat on the mat. '.repeat(40);
const CFG = { text: TEXT, lr: 1e-2, batchSize: 2, blockSize: 16, r: 4, targetModules: ['q_proj', 'v_proj', 'o_proj'], sampleTokens: 8 };

forEachBackend(() => {
  it('LoraFineTune: the loss falls on a repetitive text; a checkpoint resumes the same run exactly', async () => {
    const tok = await loadTokenizer(LLAMA);
    const model = await loadCausalLM(LLAMA);
    const job = await LoraFineTune.create(model, tok, CFG);
    expect(job.blockSize).toBe(16);
    expect(model.trainableParameters().length).toBe(2 * 2 * 3); // 2 layers × 3 modules × (A, B)
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const m = await job.trainStep();
      expect(m.step).toBe(i + 1);
      expect(m.tokens).toBe(32);
      expect(m.tokensPerSecond).toBeGreaterThan(0);
      losses.push(m.loss);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)) * 0.7);
    const files = await job.checkpoint();
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'text.txt', 'trainer.json']);
    const keys = Object.keys(await wt.load(files['adapter_model.safetensors'] as Uint8Array));
    expect(keys.every((k) => /^base_model\.model\.model\.layers\.\d\.self_attn\.(q|v|o)_proj\.lora_[AB]\.weight$/.test(k))).toBe(true);
    // the uninterrupted run's next two steps
    const next = [(await job.trainStep()).loss, (await job.trainStep()).loss];
    const sample = await job.sample('the cat');
    // a fresh model from the checkpoint's files
    const model2 = await loadCausalLM(LLAMA);
    const job2 = await LoraFineTune.create(model2, tok, CFG, files);
    expect(job2.step).toBe(12);
    expect(job2.history.map((h) => h[1])).toEqual(losses);
    const resumed = [(await job2.trainStep()).loss, (await job2.trainStep()).loss];
    expect(resumed[0]).toBeCloseTo(next[0], 4);
    expect(resumed[1]).toBeCloseTo(next[1], 4);
    expect((await job2.sample('the cat')).ids).toEqual(sample.ids);
    // the adapter's files load into a third model, frozen, and generate the same
    const model3 = await loadCausalLM(LLAMA);
    await wt.nn.lora.load(model3, await job2.adapterFiles());
    const ids: number[] = [];
    for await (const id of model3.generate(tok.encode('the cat'), { maxNewTokens: 8, temperature: 0 })) ids.push(id);
    expect(ids).toEqual(sample.ids);
    for (const m of [model, model2, model3]) m.dispose();
    job.dispose();
    job2.dispose();
  }, 120_000);
});

describe('TrainingWorker ⇄ serveTraining (a MessageChannel, CPU backend)', () => {
  it('opens, trains with metrics events, pauses, samples, checkpoints to a folder and resumes in a fresh task', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wt-worker-'));
    const ckpt = join(dir, 'run');
    const { port1, port2 } = new MessageChannel();
    const stop = serveTraining({ 'lora-finetune': loraFineTuneTask }, port1);
    const tw = new TrainingWorker(port2);
    try {
      expect((await tw.init({ backend: 'cpu' })).name).toBe('cpu');
      expect(await tw.checkpointInfo(ckpt)).toBeNull();
      const opened = await tw.open<LoraTaskInfo>('lora-finetune', { model: LLAMA }, { checkpoint: ckpt, resume: true });
      expect(opened).toMatchObject({ step: 0, resumed: false, info: { modelType: 'llama', layers: 2, vocabSize: 432, resumed: null } });
      const before = await tw.call<{ text: string }>('sample', 'the cat', 8);
      const metrics: Metrics[] = [];
      const samples: unknown[] = [];
      const checkpoints: CheckpointManifest[] = [];
      tw.on('sample', (s) => samples.push(s));
      tw.on('checkpoint', (c) => checkpoints.push(c));
      const it = tw.metrics();
      await tw.start(CFG, { sampleEvery: 4, checkpointEvery: 6, maxSteps: 8 });
      for await (const m of it) metrics.push(m);
      expect(tw.running).toBe(false);
      expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(samples).toHaveLength(2);
      expect(checkpoints.map((c) => c.step)).toEqual([6]);
      expect(checkpoints[0]).toMatchObject({ task: 'lora-finetune', where: ckpt, config: { model: LLAMA } });
      // running on to maxSteps 12, then pause from the page (the loop stops after its step)
      await tw.resume({ maxSteps: 1000 });
      await new Promise<void>((r) => { const off = tw.on('metrics', (m) => { if (m.step >= 10) { off(); r(); } }); });
      const paused = await tw.pause();
      expect(paused.step).toBeGreaterThanOrEqual(10);
      expect(tw.running).toBe(false);
      const manifest = await tw.checkpoint();
      expect(manifest.step).toBe(paused.step);
      expect(readdirSync(ckpt).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'manifest.json', 'optimizer.safetensors', 'text.txt', 'trainer.json']);
      expect(await tw.checkpointInfo(ckpt)).toMatchObject({ step: paused.step });
      const after = await tw.call<{ text: string; ids: number[] }>('sample', 'the cat', 8);
      expect(after.text).not.toBe(before.text);
      const adapter = await tw.call<wt.nn.lora.LoraFiles>('adapterFiles');
      expect(JSON.parse(adapter['adapter_config.json'])).toMatchObject({ peft_type: 'LORA', r: 4, task_type: 'CAUSAL_LM' });
      // a "reload": a new task resumes from the folder
      const again = await tw.open<LoraTaskInfo>('lora-finetune', { model: LLAMA }, { checkpoint: ckpt, resume: true });
      expect(again.resumed).toBe(true);
      expect(again.step).toBe(paused.step);
      expect(again.info.resumed!.text).toBe(TEXT);
      expect(again.info.resumed!.history.map((h) => h[0])).toEqual(Array.from({ length: paused.step }, (_, i) => i + 1));
      expect((await tw.call<{ ids: number[] }>('sample', 'the cat', 8)).ids).toEqual(after.ids);
      await tw.start(undefined, { maxSteps: paused.step + 2 });
      for await (const _ of tw.metrics()) { /* until it stops */ }
      expect(tw.step).toBe(paused.step + 2);
      // a saved adapter loads into the model (the fine-tune is dropped) and samples the same
      await tw.call('loadAdapter', adapter);
      expect((await tw.call<{ ids: number[] }>('sample', 'the cat', 8)).ids).toEqual(after.ids);
      // typed errors cross the channel
      await expect(tw.open('nope', {})).rejects.toThrow(wt.ArgumentError);
      await expect(tw.open('nope', {})).rejects.toThrow(/TrainingWorker.open: no task named "nope"/);
      await expect(tw.call('bogus')).rejects.toThrow(/has no method "bogus"/);
      await expect(tw.start(undefined, { maxSteps: -1 })).rejects.toThrow(/maxSteps must be an integer >= 0/);
      await tw.clearCheckpoint(ckpt);
      expect(await tw.checkpointInfo(ckpt)).toBeNull();
      await tw.close();
    } finally {
      stop();
      tw.terminate();
      port1.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('openCheckpointStore: a Node folder; names with a slash are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wt-store-'));
    const s = await openCheckpointStore(join(dir, 'x'));
    expect(await s.read('a.txt')).toBeNull();
    await s.write('a.txt', 'hello');
    expect(new TextDecoder().decode((await s.read('a.txt'))!)).toBe('hello');
    expect(await s.list()).toEqual(['a.txt']);
    await expect(s.write('../b', 'x')).rejects.toThrow(wt.ArgumentError);
    await s.clear();
    expect(await s.list()).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});
