/**
 * The character-transformer page: trains demo/src/models.ts's CharTransformer on tinyshakespeare
 * (served from examples/data/ at /data/) and, between training steps, samples the next character
 * of a running text from the current weights, so the text streams and improves as it learns.
 *
 * Per step: one training step (AdamW, gradient clipping at 1) and one sampled character (one
 * forward pass on the last blockSize characters and a read of the probabilities). The training
 * loss is summed on the device and read back every `logEvery` steps.
 * URL parameters: ?size=tiny|small|medium&lr=0.003&batch=16&temp=0.8&backend=cpu, and for tests
 * ?logEvery=5&valEvery=100&sampleChars=300; ?compile=0 runs the steps eagerly (no wt.compile).
 */
import * as wt from '../../src/index.js';
import { LineChart, short } from '../../src/vis/index.js';
import { $, compiledStep, initControl, nextFrame, param, reportErrors, rng, setLr, startBackend, trainingControls } from './common.js';
import { CharTransformer, GPT_SIZES } from './models.js';

type Size = keyof typeof GPT_SIZES;

async function main(): Promise<void> {
  reportErrors();
  const logEvery = Math.max(1, param('logEvery', 10));
  const valEvery = Math.max(logEvery, param('valEvery', 100));
  const sampleChars = Math.max(40, param('sampleChars', 360));
  initControl('size', param('size', 'small'));
  initControl('lr', param('lr', 0.003));
  initControl('batch', param('batch', 16));
  initControl('temp', param('temp', 0.8));

  const [backend, text] = await Promise.all([startBackend(), fetch('/data/tinyshakespeare.txt').then((r) => {
    if (!r.ok) throw new Error(`could not load /data/tinyshakespeare.txt: HTTP ${r.status}`);
    return r.text();
  })]);
  const tok = new wt.data.CharTokenizer(text);
  const data = tok.encode(text);
  const split = Math.floor(data.length * 0.9);
  const trainData = data.subarray(0, split), valData = data.subarray(split);
  const status = $('status');
  status.textContent = `${(text.length / 1e6).toFixed(2)} M characters, vocabulary of ${tok.vocabSize}; ${backend.label}`;

  const chart = new LineChart($<HTMLCanvasElement>('chart-loss'), { title: 'loss (nats / char)', xLabel: 'step', zero: true, refs: [{ y: Math.log(tok.vocabSize), label: 'uniform guess' }] });
  chart.add('train', '#2563eb');
  chart.add('val', '#f97316', { dots: true });

  const size = () => ($('size') as HTMLSelectElement).value as Size;
  const lr = () => Number(($('lr') as HTMLSelectElement).value);
  const batchSize = () => Number(($('batch') as HTMLSelectElement).value);
  const temperature = () => Number(($('temp') as HTMLInputElement).value);
  $('temp').oninput = () => ($('temp-v').textContent = temperature().toFixed(2));
  $('temp-v').textContent = temperature().toFixed(2);

  let model: CharTransformer, opt: wt.optim.AdamW;
  let step = 0, random = rng(1), sampleRandom = rng(2);
  const build = () => {
    model = new CharTransformer({ vocabSize: tok.vocabSize, ...GPT_SIZES[size()] });
    opt = new wt.optim.AdamW(model.parameters(), { lr: lr(), weightDecay: 0.01, betas: [0.9, 0.99] });
    $('s-params').textContent = model.numParameters().toLocaleString('en-US');
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

  async function validate(): Promise<void> {
    const gen = rng(7); // the same validation batches every time: a smoother curve
    const out = wt.noGrad(() => wt.tidy(() => wt.stack(Array.from({ length: 4 }, () => model.loss(...batchOf(valData, 16, gen)))).mean()));
    const v = await out.item();
    out.dispose();
    chart.push('val', step, v);
    $('s-val').textContent = v.toFixed(3);
  }

  // ---- streaming samples ----------------------------------------------------------------------
  const pre = $('sample');
  let ctx: number[] = [], written = 0, current: HTMLSpanElement | null = null;
  const newSample = () => {
    // characters outside the vocabulary (e.g. '#') cannot be encoded: drop them
    const prompt = Array.from(($('prompt') as HTMLInputElement).value).filter((c) => tok.chars.includes(c)).join('');
    ctx = Array.from(tok.encode(prompt || '\n'));
    const head = document.createElement('span');
    head.className = 'head';
    head.textContent = `${pre.childElementCount ? '\n\n' : ''}— step ${step}, temperature ${temperature().toFixed(2)} —\n`;
    current = document.createElement('span');
    current.textContent = tok.decode(ctx);
    pre.append(head, current);
    // keep the last few samples
    while (pre.childElementCount > 12) pre.firstElementChild!.remove();
    written = 0;
  };
  /**
   * The next character's distribution: the context right-padded to blockSize (causal attention
   * keeps the padding out of position `at`), the position and the temperature as tensors, so that
   * every call has the same shapes and scalars and replays as one compiled step.
   */
  const sampleProbs = compiledStep((x: wt.Tensor, at: wt.Tensor, temp: wt.Tensor) =>
    wt.noGrad(() => model.forward(x).indexSelect(1, at).squeeze(1).div(temp).softmax(-1))); // (1, V)

  /** Samples one character from the model's distribution after the running context. */
  async function sampleOne(): Promise<void> {
    if (!current || written >= sampleChars) newSample();
    const T = model.cfg.blockSize, window = ctx.slice(-T);
    const padded = new Int32Array(T);
    padded.set(window);
    model.eval();
    const probs = wt.tidy(() => sampleProbs(wt.tensor(padded, { shape: [1, T] }), wt.tensor(new Int32Array([window.length - 1])), wt.tensor([temperature()])));
    model.train();
    const p = await probs.data();
    probs.dispose();
    let r = sampleRandom(), k = 0;
    while (k < p.length - 1 && (r -= p[k]) > 0) k++;
    ctx.push(k);
    current!.textContent += tok.decode([k]);
    written++;
    pre.scrollTop = pre.scrollHeight;
  }

  /**
   * One training step (AdamW, gradients clipped at norm 1), compiled (wt.compile): from the third
   * call of a batch size on, a replay of the recorded kernels (dropout draws fresh masks each time).
   */
  const trainStep = compiledStep((x: wt.Tensor, y: wt.Tensor) => {
    const l = model.loss(x, y);
    l.backward();
    wt.optim.clipGradNorm(model.parameters(), 1);
    opt.step();
    opt.zeroGrad();
    return l.detach();
  });

  async function trainLoop(keepGoing: () => boolean): Promise<void> {
    let acc = wt.keep(wt.zeros([])), steps = 0, t0 = performance.now(), lastYield = t0, chars = 0;
    try {
      while (keepGoing()) {
        const B = batchSize();
        const next = wt.tidy(() => acc.add(trainStep(...batchOf(trainData, B, random))));
        acc.dispose();
        acc = wt.keep(next);
        step++;
        steps++;
        chars += B * model.cfg.blockSize;
        await sampleOne();
        if (step % logEvery === 0) {
          const l = (await acc.item()) / steps;
          const t = performance.now(), ms = (t - t0) / steps;
          chart.push('train', step, l);
          $('s-loss').textContent = l.toFixed(3);
          $('s-ms').textContent = `${ms.toFixed(1)} ms`;
          $('s-cps').textContent = short((chars * 1000) / (t - t0));
          acc.dispose();
          acc = wt.keep(wt.zeros([]));
          steps = chars = 0;
          t0 = performance.now();
        }
        if (step % valEvery === 0) {
          await validate();
          t0 = performance.now();
        }
        $('s-step').textContent = String(step);
        if (performance.now() - lastYield > 30) {
          await nextFrame();
          lastYield = performance.now();
        }
      }
    } finally {
      acc.dispose();
    }
  }

  const controls = trainingControls(backend.label, trainLoop, () => step);
  const reset = async () => {
    await controls.pause();
    model.dispose();
    opt.dispose();
    build();
    trainStep.reset();
    sampleProbs.reset();
    step = 0;
    random = rng(1);
    sampleRandom = rng(2);
    chart.clear();
    pre.textContent = '';
    current = null;
    for (const id of ['s-ms', 's-cps', 's-loss', 's-val']) $(id).textContent = '–';
    $('s-step').textContent = '0';
    await controls.hold(validate());
    status.textContent = 'reset: new random weights';
  };
  $('reset').onclick = () => void reset();
  $('size').onchange = () => void reset();
  $('lr').onchange = () => setLr(opt, lr());

  await controls.hold(validate()); // step 0: about ln(vocab) for untrained weights; Start waits for it
  if (param('autostart', 0)) controls.start();

  Object.assign(window, {
    demo: {
      state: () => ({ step, running: controls.active, backend: backend.name, trainLoss: chart.values('train'), valLoss: chart.values('val'), valSteps: chart.points('val').map((p) => p[0]), yRange: chart.yRange(), sample: pre.textContent ?? '', replayed: trainStep.stats.replayed, sampleReplayed: sampleProbs.stats.replayed }),
    },
  });
}

void main();
