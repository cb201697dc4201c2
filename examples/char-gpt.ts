/**
 * A GPT-style character transformer on tinyshakespeare: token + learned position embeddings,
 * pre-norm causal transformer blocks, a linear head; AdamW with warm-up and cosine decay,
 * gradient clipping; samples text at the end. Shapes: B batch, T block size, C model width.
 */
import * as wt from '../src/index.js';
import { readDataFile, runExample, stepsToRun, type Example, type ExampleOptions } from './common.js';
import { CharGPT, type GptConfig } from './gpt-model.js';

export { CharGPT, type GptConfig };


/** Deterministic batch sampler over an encoded corpus. */
function batcher(data: Int32Array, blockSize: number, batchSize: number, seed: number): () => [wt.Tensor, wt.Tensor] {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return () => {
    const x = new Int32Array(batchSize * blockSize), y = new Int32Array(batchSize * blockSize);
    for (let b = 0; b < batchSize; b++) {
      const o = Math.floor(next() * (data.length - blockSize - 1));
      x.set(data.subarray(o, o + blockSize), b * blockSize);
      y.set(data.subarray(o + 1, o + blockSize + 1), b * blockSize);
    }
    return [wt.tensor(x, { shape: [batchSize, blockSize] }), wt.tensor(y, { shape: [batchSize, blockSize] })];
  };
}

const lossOf = (model: CharGPT, x: wt.Tensor, y: wt.Tensor) => model.loss(x, y);

/** Mean loss over `iters` batches without gradients. */
async function estimate(model: CharGPT, next: () => [wt.Tensor, wt.Tensor], iters: number): Promise<number> {
  model.eval();
  let total = 0;
  for (let i = 0; i < iters; i++) {
    const l = wt.noGrad(() => wt.tidy(() => lossOf(model, ...next())));
    total += await l.item();
    l.dispose();
  }
  model.train();
  return total / iters;
}

/** Samples `n` characters after `prompt` with the given temperature. */
export async function generate(model: CharGPT, tok: wt.data.CharTokenizer, prompt: string, n: number, temperature = 0.8, seed = 0): Promise<string> {
  model.eval();
  const ids = Array.from(tok.encode(prompt));
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let i = 0; i < n; i++) {
    const ctx = ids.slice(-model.cfg.blockSize);
    const probs = wt.noGrad(() => wt.tidy(() => {
      const logits = model.forward(wt.tensor(new Int32Array(ctx), { shape: [1, ctx.length] })); // (1, t, V)
      return logits.select(1, ctx.length - 1).div(temperature).softmax(-1);
    }));
    const p = await probs.data();
    probs.dispose();
    let r = rand(), k = 0;
    while (k < p.length - 1 && (r -= p[k]) > 0) k++;
    ids.push(k);
  }
  model.train();
  return tok.decode(ids);
}

interface Preset { cfg: GptConfig; batchSize: number; steps: number; lr: number; warmupSteps: number }

/**
 * The three configurations: `quick` (tests, seconds), `small` (sized for a CPU: 0.8M parameters,
 * block 64, no dropout, ~1.5 h on two cores) and the default (1.8M parameters, block 128, dropout
 * 0.1, sized for a GPU).
 */
function presetFor(opts: ExampleOptions, vocabSize: number): Preset {
  if (opts.quick) return { cfg: { vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32, dropout: 0 }, batchSize: 16, steps: 120, lr: 3e-3, warmupSteps: 6 };
  if (opts.small) return { cfg: { vocabSize, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0 }, batchSize: 32, steps: 2600, lr: 2e-3, warmupSteps: 100 };
  return { cfg: { vocabSize, blockSize: 128, nLayer: 4, nHead: 4, nEmbd: 192, dropout: 0.1 }, batchSize: 48, steps: 4000, lr: 1e-3, warmupSteps: 200 };
}

export async function trainCharGpt(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number>; sample: string }> {
  const quick = opts.quick ?? false;
  const text = await readDataFile('tinyshakespeare.txt', opts.dataDir);
  const tok = new wt.data.CharTokenizer(text);
  const data = tok.encode(text);
  const split = Math.floor(data.length * 0.9);
  const preset = presetFor(opts, tok.vocabSize);
  const { cfg, batchSize, lr, warmupSteps } = preset;
  const steps = (opts.epochs ?? 1) * preset.steps;
  // `--steps` stops early; the schedule stays the planned run's
  const run = stepsToRun(opts, steps);
  const model = new CharGPT(cfg);
  const opt = new wt.optim.AdamW(model.parameters(), { lr, weightDecay: 0.1, betas: [0.9, 0.99] });
  const sched = new wt.optim.lr.LinearWarmup(opt, { warmupSteps, startFactor: 0.1, after: new wt.optim.lr.CosineAnnealingLR(opt, { tMax: steps, etaMin: lr / 10 }) });
  const nextTrain = batcher(data.subarray(0, split), cfg.blockSize, batchSize, 1);
  const nextVal = batcher(data.subarray(split), cfg.blockSize, batchSize, 2);
  log(`char-gpt: ${model.numParameters().toLocaleString('en-US')} parameters, vocab ${tok.vocabSize}, ${run} steps of ${batchSize}×${cfg.blockSize}`);
  const t0 = performance.now();
  let trainLoss = NaN;
  const every = Math.max(1, Math.floor(run / 10));
  for (let step = 1; step <= run; step++) {
    const l = wt.tidy(() => {
      const v = lossOf(model, ...nextTrain());
      v.backward();
      return v;
    });
    wt.optim.clipGradNorm(model.parameters(), 1).dispose();
    opt.step();
    opt.zeroGrad();
    sched.step();
    const shown = step % every === 0 || step === run;
    if (shown || opts.onStep) trainLoss = await l.item();
    opts.onStep?.(step, trainLoss);
    if (shown) {
      const sps = (step * batchSize * cfg.blockSize) / ((performance.now() - t0) / 1000);
      const val = quick || step === run ? '' : `  val ${(await estimate(model, nextVal, 10)).toFixed(3)}`;
      log(`step ${step}/${run}  loss ${trainLoss.toFixed(3)}${val}  lr ${opt.lr.toExponential(2)}  ${sps.toFixed(0)} chars/s  ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    l.dispose();
  }
  const valLoss = await estimate(model, nextVal, quick ? 4 : 40);
  log(`validation loss ${valLoss.toFixed(3)} nats/char`);
  const sample = await generate(model, tok, 'ROMEO:\n', quick ? 40 : 400, 0.8);
  model.dispose();
  opt.dispose();
  return { metrics: { trainLoss, valLoss }, sample };
}

export const charGpt: Example = {
  name: 'char-gpt',
  description: 'a GPT-style character transformer on tinyshakespeare that samples text',
  run: (opts) => runExample('char-gpt', opts, (log) => trainCharGpt(opts, log)),
};
