/**
 * The character-transformer page's training step (demo/src/char.ts: CharTransformer, AdamW with
 * weight decay 0.01 and betas (0.9, 0.99), gradients clipped at 1, compiled with wt.compile) as a
 * `webtensor/worker` task, so the same loop runs in the training worker or, called directly, on
 * the main thread: demo/src/worker-speed.ts times both.
 */
import * as wt from '../../src/index.js';
import type { TaskFactory, TrainingTask } from '../../src/worker/index.js';
import { CharTransformer, GPT_SIZES } from './models.js';

export interface CharTaskConfig {
  text: string;
  size?: keyof typeof GPT_SIZES;
  batch?: number;
  lr?: number;
  /** false: eager steps (no wt.compile) */
  compile?: boolean;
}

/** mulberry32 (common.ts's rng, without the page's DOM helpers) */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const charTask: TaskFactory = async (config): Promise<TrainingTask> => {
  const { text, size = 'tiny', batch = 4, lr = 0.003, compile = true } = config as CharTaskConfig;
  const tok = new wt.data.CharTokenizer(text);
  const data = tok.encode(text);
  const model = new CharTransformer({ vocabSize: tok.vocabSize, ...GPT_SIZES[size] });
  const opt = new wt.optim.AdamW(model.parameters(), { lr, weightDecay: 0.01, betas: [0.9, 0.99] });
  const random = rng(1);
  const T = model.cfg.blockSize;
  const trainStep = wt.compile((x: wt.Tensor, y: wt.Tensor) => {
    const l = model.loss(x, y);
    l.backward();
    wt.optim.clipGradNorm(model.parameters(), 1);
    opt.step();
    opt.zeroGrad();
    return l.detach();
  }, { warmup: compile ? 1 : Number.MAX_SAFE_INTEGER });
  let step = 0;
  return {
    get step() {
      return step;
    },
    info: () => ({ parameters: model.numParameters(), vocabSize: tok.vocabSize, blockSize: T }),
    async trainStep() {
      const t0 = performance.now();
      const x = new Int32Array(batch * T), y = new Int32Array(batch * T);
      for (let b = 0; b < batch; b++) {
        const o = Math.floor(random() * (data.length - T - 1));
        x.set(data.subarray(o, o + T), b * T);
        y.set(data.subarray(o + 1, o + T + 1), b * T);
      }
      const l = wt.tidy(() => trainStep(wt.tensor(x, { shape: [batch, T] }), wt.tensor(y, { shape: [batch, T] })));
      const loss = await l.item();
      l.dispose();
      step++;
      const ms = performance.now() - t0;
      return { step, loss, ms, tokensPerSecond: (batch * T * 1000) / ms };
    },
    dispose() {
      trainStep.reset();
      opt.dispose();
      model.dispose();
    },
  };
};
