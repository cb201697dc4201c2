/**
 * The character-transformer page's training step (demo/src/char.ts: CharTransformer, AdamW with
 * weight decay 0.01 and betas (0.9, 0.99), gradients clipped at 1, compiled with wt.compile) as a
 * `webtensor/worker` task, so the same loop runs in the training worker or, called directly, on
 * the main thread: demo/src/worker-speed.ts times both.
 */
import * as wt from '../../src/index.js';
import type { TaskFactory, TrainingTask } from '../../src/worker/index.js';
import { rng, setLr } from './training.js';
import { CharTransformer, GPT_SIZES } from './models.js';

export interface CharTaskConfig {
  text: string;
  size?: keyof typeof GPT_SIZES;
  batch?: number;
  lr?: number;
  /** false: eager steps (no wt.compile) */
  compile?: boolean;
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

/** What the char page opens its task with (demo/src/char.ts). */
export interface CharPageConfig {
  /** where the corpus is (an absolute address: the worker's base differs from the page's) */
  textUrl: string;
  size: keyof typeof GPT_SIZES;
  lr: number;
  batch: number;
  temperature: number;
  prompt: string;
  /** read the summed training loss back every this many steps */
  logEvery: number;
  /** validate every this many steps */
  valEvery: number;
  /** characters per streamed sample before a new one starts */
  sampleChars: number;
  compile: boolean;
}

/** A step's metrics from the char page's task: the logged numbers only on log / validation steps. */
export interface CharPageMetrics {
  step: number;
  /** the mean training loss since the last log step; NaN between log steps */
  loss: number;
  /** ms per step and characters trained per second since the last log step (log steps) */
  ms?: number;
  charsPerSecond?: number;
  /** the validation loss (validation steps) */
  val?: number;
  /** compiled replays of the training and the sampling step so far */
  replayed: number;
  sampleReplayed: number;
}

/** One streamed character, and where a new sample starts the head it gets. */
export interface CharPageSample {
  step: number;
  /** a new sample starts here: its step, temperature and (encodable) prompt */
  start: { step: number; temperature: number; prompt: string } | null;
  text: string;
}

/**
 * The whole training side of the char page as a task: the corpus (fetched here), the model, AdamW
 * and the compiled step (gradients clipped at 1), the training loss summed on the device and read
 * every `logEvery` steps, validation every `valEvery` steps (call 'validate' for step 0), and per
 * step (`sample`, with the loop's sampleEvery 1) one character of a running text sampled from the
 * current weights. Calls: set({ lr, batch, temperature, prompt }), reset({ size }), validate().
 * Served by the training worker (the page's default) or, with ?worker=0, on the page's own thread.
 */
export const charPageTask: TaskFactory = async (config): Promise<TrainingTask> => {
  const c = { ...(config as CharPageConfig) };
  const res = await fetch(c.textUrl);
  if (!res.ok) throw new Error(`could not load ${c.textUrl}: HTTP ${res.status}`);
  const text = await res.text();
  const tok = new wt.data.CharTokenizer(text);
  const data = tok.encode(text);
  const split = Math.floor(data.length * 0.9);
  const trainData = data.subarray(0, split), valData = data.subarray(split);
  const warmup = c.compile ? 1 : Number.MAX_SAFE_INTEGER;

  let model!: InstanceType<typeof CharTransformer>, opt!: wt.optim.AdamW;
  let step = 0, random = rng(1), sampleRandom = rng(2);
  const build = () => {
    model = new CharTransformer({ vocabSize: tok.vocabSize, ...GPT_SIZES[c.size] });
    opt = new wt.optim.AdamW(model.parameters(), { lr: c.lr, weightDecay: 0.01, betas: [0.9, 0.99] });
  };
  build();

  /** (B, T) windows of the corpus and the same shifted by one character. */
  const batchOf = (src: Int32Array, B: number, gen: () => number): [wt.Tensor, wt.Tensor] => {
    const T = model.cfg.blockSize;
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const o = Math.floor(gen() * (src.length - T - 1));
      x.set(src.subarray(o, o + T), b * T);
      y.set(src.subarray(o + 1, o + T + 1), b * T);
    }
    return [wt.tensor(x, { shape: [B, T] }), wt.tensor(y, { shape: [B, T] })];
  };

  const validate = async (): Promise<number> => {
    const gen = rng(7); // the same validation batches every time: a smoother curve
    const out = wt.noGrad(() => wt.tidy(() => wt.stack(Array.from({ length: 4 }, () => model.loss(...batchOf(valData, 16, gen)))).mean()));
    const v = await out.item();
    out.dispose();
    return v;
  };

  // the running text: context ids, characters written in this sample
  let ctx: number[] = [], written = 0, started = false;
  /**
   * The next character's distribution: the context right-padded to blockSize (causal attention
   * keeps the padding out of position `at`), the position and the temperature as tensors, so that
   * every call has the same shapes and scalars and replays as one compiled step.
   */
  const sampleProbs = wt.compile((x: wt.Tensor, at: wt.Tensor, temp: wt.Tensor) =>
    wt.noGrad(() => model.forward(x).indexSelect(1, at).squeeze(1).div(temp).softmax(-1)), { warmup }); // (1, V)

  /** One training step (AdamW, gradients clipped at norm 1), compiled. */
  const trainStep = wt.compile((x: wt.Tensor, y: wt.Tensor) => {
    const l = model.loss(x, y);
    l.backward();
    wt.optim.clipGradNorm(model.parameters(), 1);
    opt.step();
    opt.zeroGrad();
    return l.detach();
  }, { warmup });

  let acc = wt.keep(wt.zeros([])), steps = 0, chars = 0, t0 = performance.now();
  const resetWindow = () => {
    acc.dispose();
    acc = wt.keep(wt.zeros([]));
    steps = chars = 0;
    t0 = performance.now();
  };

  return {
    get step() {
      return step;
    },
    info: () => ({ parameters: model.numParameters(), vocabSize: tok.vocabSize, characters: text.length, blockSize: model.cfg.blockSize }),
    /** Start (the page passes {}): a new logging window, as the time since Pause is no step's */
    async configure() {
      resetWindow();
    },
    async trainStep(): Promise<CharPageMetrics> {
      const B = c.batch;
      const next = wt.tidy(() => acc.add(trainStep(...batchOf(trainData, B, random))));
      acc.dispose();
      acc = wt.keep(next);
      step++;
      steps++;
      chars += B * model.cfg.blockSize;
      const m: CharPageMetrics = { step, loss: NaN, replayed: 0, sampleReplayed: 0 };
      if (step % c.logEvery === 0) {
        m.loss = (await acc.item()) / steps;
        const t = performance.now();
        m.ms = (t - t0) / steps;
        m.charsPerSecond = (chars * 1000) / (t - t0);
        resetWindow();
      }
      if (step % c.valEvery === 0) {
        m.val = await validate();
        t0 = performance.now();
      }
      m.replayed = trainStep.stats.replayed;
      m.sampleReplayed = sampleProbs.stats.replayed;
      return m;
    },
    async sample(): Promise<CharPageSample> {
      let start: CharPageSample['start'] = null;
      if (!started || written >= c.sampleChars) {
        // characters outside the vocabulary (e.g. '#') cannot be encoded: drop them
        const prompt = Array.from(c.prompt).filter((ch) => tok.chars.includes(ch)).join('') || '\n';
        ctx = Array.from(tok.encode(prompt));
        start = { step, temperature: c.temperature, prompt };
        started = true;
        written = 0;
      }
      const T = model.cfg.blockSize, window = ctx.slice(-T);
      const padded = new Int32Array(T);
      padded.set(window);
      model.eval();
      const probs = wt.tidy(() => sampleProbs(wt.tensor(padded, { shape: [1, T] }), wt.tensor(new Int32Array([window.length - 1])), wt.tensor([c.temperature])));
      model.train();
      const p = await probs.data();
      probs.dispose();
      let r = sampleRandom(), k = 0;
      while (k < p.length - 1 && (r -= p[k]) > 0) k++;
      ctx.push(k);
      written++;
      return { step, start, text: tok.decode([k]) };
    },
    calls: {
      /** the page's controls: the learning rate and batch size take effect at the next step, temperature and prompt at the next character / sample */
      set(s: Partial<Pick<CharPageConfig, 'lr' | 'batch' | 'temperature' | 'prompt'>>) {
        if (s.lr !== undefined) setLr(opt, s.lr);
        Object.assign(c, s);
      },
      /** new random weights (of `size` when given), step 0, the seeds from the start */
      reset(s: { size?: CharPageConfig['size']; lr?: number; batch?: number } = {}) {
        Object.assign(c, s);
        model.dispose();
        opt.dispose();
        build();
        trainStep.reset();
        sampleProbs.reset();
        step = 0;
        random = rng(1);
        sampleRandom = rng(2);
        started = false;
        resetWindow();
        return { parameters: model.numParameters() };
      },
      async validate() {
        return { step, val: await validate() };
      },
    },
    dispose() {
      acc.dispose();
      trainStep.reset();
      sampleProbs.reset();
      opt.dispose();
      model.dispose();
    },
  };
};
