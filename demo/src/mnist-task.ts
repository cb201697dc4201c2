/**
 * The MNIST page's training side (demo/src/mnist.ts) as a `webtensor/worker` task: the MNIST
 * files (fetched and parsed here), the CNN, the optimizer and the compiled step (float32, or
 * mixed precision with a GradScaler), the running loss and accuracy summed on the device and read
 * every `logEvery` steps, the validation subset's loss, accuracy and grid predictions every
 * `valEvery` steps, and the drawing pad's classification. Calls: set({ lr, batch }),
 * optimizer(name), precision(p), reset({ opt, lr, precision }), evaluate(), classify(pixels).
 */
import * as wt from '../../src/index.js';
import type { TaskFactory, TrainingTask } from '../../src/worker/index.js';
import { makeOptimizer, rng, setLr } from './training.js';
import { MnistCNN } from './models.js';

export const MEAN = 0.1307, STD = 0.3081;
const PIXELS = 28 * 28;

export interface MnistPageConfig {
  /** the folder of the MNIST IDX files (an absolute address) */
  dataUrl: string;
  lr: number;
  batch: number;
  opt: string;
  precision: 'f32' | 'mixed';
  logEvery: number;
  valEvery: number;
  /** size of the validation subset */
  val: number;
  /** test images shown in the page's grid (the first of the validation subset) */
  grid: number;
  compile: boolean;
}

/** The validation subset's numbers and the grid's predictions. */
export interface MnistEval { step: number; loss: number; acc: number; preds: number[] }

export interface MnistPageMetrics {
  step: number;
  /** mean loss and accuracy since the last log step; NaN between log steps */
  loss: number;
  acc: number;
  ms?: number;
  samplesPerSecond?: number;
  /** images seen / training set size */
  epoch: number;
  memory?: { tensors: number; bytes: number };
  val?: MnistEval;
  replayed: number;
  lossScale: number | null;
}

export interface MnistPageInfo {
  parameters: number;
  train: number;
  test: number;
  /** the grid's images (grid × 784 bytes) and labels */
  gridImages: Uint8Array;
  gridLabels: Uint8Array;
}

interface Split { images: Uint8Array; labels: Uint8Array; n: number }

async function bytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function loadSplit(base: string, prefix: 'train' | 't10k'): Promise<Split> {
  const [img, lab] = await Promise.all([bytes(`${base}${prefix}-images-idx3-ubyte`), bytes(`${base}${prefix}-labels-idx1-ubyte`)]);
  const images = wt.data.parseIdx(img, `${prefix} images`), labels = wt.data.parseIdx(lab, `${prefix} labels`);
  return { images: images.data as Uint8Array, labels: labels.data as Uint8Array, n: images.shape[0] };
}

/** Normalised pixels of images `idx` of a split, as (B, 1, 28, 28) float32, and their labels. */
function batchOf(s: Split, idx: readonly number[]): [wt.Tensor, wt.Tensor] {
  const x = new Float32Array(idx.length * PIXELS), y = new Int32Array(idx.length);
  idx.forEach((k, b) => {
    for (let p = 0; p < PIXELS; p++) x[b * PIXELS + p] = (s.images[k * PIXELS + p] / 255 - MEAN) / STD;
    y[b] = s.labels[k];
  });
  return [wt.tensor(x, { shape: [idx.length, 1, 28, 28] }), wt.tensor(y)];
}

export const mnistPageTask: TaskFactory = async (config): Promise<TrainingTask> => {
  const c = { ...(config as MnistPageConfig) };
  const [train, test] = await Promise.all([loadSplit(c.dataUrl, 'train'), loadSplit(c.dataUrl, 't10k')]);
  const valIdx = Array.from({ length: Math.min(Math.max(c.grid, c.val), test.n) }, (_, i) => i);
  const warmup = c.compile ? 1 : Number.MAX_SAFE_INTEGER;

  let model = new MnistCNN(), opt = makeOptimizer(c.opt, model.parameters(), c.lr);
  let step = 0, seen = 0, random = rng(1);

  const evaluate = async (): Promise<MnistEval> => {
    model.eval();
    let lossSum = 0, correct = 0;
    const preds: number[] = [];
    for (let i = 0; i < valIdx.length; i += 250) {
      const idx = valIdx.slice(i, i + 250);
      const out = wt.noGrad(() => wt.tidy(() => {
        const [x, y] = batchOf(test, idx);
        const logits = model.forward(x);
        // (2 + B,) = [summed loss, correct count, the B predictions], in one read
        return wt.cat([wt.F.crossEntropy(logits, y, { reduction: 'sum' }).reshape(1), logits.argmax(1).eq(y).float().sum().reshape(1), logits.argmax(1).float()]);
      }));
      const v = await out.data();
      out.dispose();
      lossSum += v[0];
      correct += v[1];
      preds.push(...Array.from(v.subarray(2), Number));
    }
    model.train();
    return { step, loss: lossSum / valIdx.length, acc: correct / valIdx.length, preds: preds.slice(0, c.grid) };
  };

  /** One training step, compiled; returns [summed loss, correct] of the batch. */
  const trainStep = wt.compile((x: wt.Tensor, y: wt.Tensor) => {
    opt.zeroGrad();
    const logits = model.forward(x);
    const loss = wt.F.crossEntropy(logits, y);
    loss.backward();
    opt.step();
    return wt.stack([loss.detach().mul(x.shape[0]), logits.argmax(1).eq(y).float().sum()]);
  }, { warmup });
  /** The mixed-precision step: the loss scaled by `scaler`, no update (the loop runs scaler.step(opt)). */
  let scaler: wt.amp.GradScaler | null = null;
  const scaledStep = wt.compile((x: wt.Tensor, y: wt.Tensor) => {
    opt.zeroGrad();
    const logits = model.forward(x);
    const loss = wt.F.crossEntropy(logits, y);
    scaler!.scale(loss).backward();
    return wt.stack([loss.detach().mul(x.shape[0]), logits.argmax(1).eq(y).float().sum()]);
  }, { warmup });
  /** 'medium' matmuls and a GradScaler, or float32; answers what runs. */
  const applyPrecision = async (): Promise<string> => {
    const mixed = c.precision === 'mixed';
    wt.setFloat32MatmulPrecision(mixed ? 'medium' : 'highest');
    // the f16 tiles switch on after a check on the device: record the step after it
    await (wt.getBackend() as { halfReady?: () => Promise<boolean> }).halfReady?.();
    scaler?.dispose();
    scaler = mixed ? new wt.amp.GradScaler() : null;
    scaledStep.reset();
    const info = wt.backendInfo();
    return mixed ? `mixed precision: ${info.name === 'webgpu' && info.features.includes('shader-f16') ? 'f16 GEMM tiles' : 'float32 (no shader-f16)'} with loss scaling` : 'float32';
  };
  await applyPrecision();

  let acc = wt.keep(wt.zeros([2])), samples = 0, steps = 0, t0 = performance.now();
  const newWindow = () => {
    acc.dispose();
    acc = wt.keep(wt.zeros([2]));
    samples = steps = 0;
    t0 = performance.now();
  };

  return {
    get step() {
      return step;
    },
    info: (): MnistPageInfo => {
      const gridImages = test.images.slice(0, c.grid * PIXELS), gridLabels = test.labels.slice(0, c.grid);
      return { parameters: model.numParameters(), train: train.n, test: test.n, gridImages, gridLabels };
    },
    /** Start: a new logging window (the time since Pause is no step's) */
    async configure() {
      newWindow();
    },
    async trainStep(): Promise<MnistPageMetrics> {
      const idx = Array.from({ length: c.batch }, () => Math.floor(random() * train.n));
      const s = scaler;
      const next = wt.tidy(() => acc.add((s ? scaledStep : trainStep)(...batchOf(train, idx))));
      if (s) {
        await s.step(opt);
        s.update();
      }
      acc.dispose();
      acc = wt.keep(next);
      step++;
      steps++;
      samples += idx.length;
      seen += idx.length;
      const m: MnistPageMetrics = { step, loss: NaN, acc: NaN, epoch: seen / train.n, replayed: 0, lossScale: null };
      if (step % c.logEvery === 0) {
        const [l, k] = await acc.data();
        const t = performance.now();
        Object.assign(m, { loss: l / samples, acc: k / samples, ms: (t - t0) / steps, samplesPerSecond: (samples * 1000) / (t - t0) });
        const mem = wt.memory();
        m.memory = { tensors: mem.tensors, bytes: mem.bytes };
        newWindow();
      }
      if (step % c.valEvery === 0) {
        m.val = await evaluate();
        t0 = performance.now(); // evaluation time is not training time
      }
      m.replayed = trainStep.stats.replayed + scaledStep.stats.replayed;
      m.lossScale = scaler?.getScale() ?? null;
      return m;
    },
    calls: {
      set(s: Partial<Pick<MnistPageConfig, 'lr' | 'batch'>>) {
        if (s.lr !== undefined) setLr(opt, s.lr);
        Object.assign(c, s);
      },
      /** a new optimizer starts with fresh state (moments); the weights are kept */
      optimizer(name: string) {
        c.opt = name;
        opt.dispose();
        opt = makeOptimizer(c.opt, model.parameters(), c.lr);
        trainStep.reset();
        scaledStep.reset();
      },
      precision(p: MnistPageConfig['precision']) {
        c.precision = p;
        return applyPrecision();
      },
      async reset(s: Partial<Pick<MnistPageConfig, 'lr' | 'batch' | 'opt' | 'precision'>> = {}) {
        Object.assign(c, s);
        model.dispose();
        opt.dispose();
        model = new MnistCNN();
        opt = makeOptimizer(c.opt, model.parameters(), c.lr);
        trainStep.reset();
        await applyPrecision();
        step = seen = 0;
        random = rng(1);
        newWindow();
      },
      evaluate,
      /** the probabilities of the ten digits for a normalised 28×28 image */
      async classify(x: Float32Array) {
        model.eval();
        const probs = wt.noGrad(() => wt.tidy(() => model.forward(wt.tensor(x, { shape: [1, 1, 28, 28] })).softmax(-1)));
        model.train();
        const p = Array.from(await probs.data(), Number);
        probs.dispose();
        return p;
      },
    },
    dispose() {
      acc.dispose();
      scaler?.dispose();
      trainStep.reset();
      scaledStep.reset();
      opt.dispose();
      model.dispose();
    },
  };
};
