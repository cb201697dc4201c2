/**
 * The playground: a perceptron or a small MLP (demo/src/models.ts's mlp2d) learns a 2-D binary
 * classification (two blobs, XOR, circles, spirals), full batch with BCE on logits. Every frame
 * runs a few steps, then evaluates the model on a grid over the plane for the decision-boundary
 * picture (one forward pass and one read for the whole grid).
 * URL parameters: ?data=xor&noise=0.05&arch=16,16&act=tanh&opt=adam&lr=0.03&backend=cpu, and
 * ?stepsPerFrame=5.
 */
import * as wt from '../../src/index.js';
import { LineChart } from '../../src/vis/index.js';
import { $, initControl, makeOptimizer, nextFrame, param, reportErrors, rng, setLr, startBackend, trainingControls } from './common.js';
import { mlp2d, type Activation } from './models.js';

/** The plane shown: [-EXTENT, EXTENT]² */
const EXTENT = 1.2;
/** boundary grid resolution (G×G points per redraw) */
const G = 48;
const N = 300;
const COLORS = { 0: [249, 115, 22], 1: [37, 99, 235] } as const;

interface Points {
  xy: Float32Array; // (N, 2)
  label: Float32Array; // (N,) 0 or 1
}

/** A seeded dataset of N points in about [-1, 1]² with labels 0/1. */
export function makeData(kind: string, noise: number, seed = 3): Points {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const xy = new Float32Array(2 * N), label = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    let x: number, y: number, c: number;
    if (kind === 'linear') {
      c = i % 2;
      [x, y] = c ? [0.45, 0.35] : [-0.45, -0.35];
      x += 0.22 * gauss();
      y += 0.22 * gauss();
    } else if (kind === 'circles') {
      c = i % 2;
      const rad = c ? 0.45 * Math.sqrt(r()) : 0.7 + 0.25 * r(), a = 2 * Math.PI * r();
      [x, y] = [rad * Math.cos(a), rad * Math.sin(a)];
    } else if (kind === 'spirals') {
      c = i % 2;
      const t = (Math.floor(i / 2) / (N / 2)) * 3 * Math.PI + 0.6, rad = (t / (3 * Math.PI + 0.6)) * 0.95;
      [x, y] = [rad * Math.cos(t + c * Math.PI), rad * Math.sin(t + c * Math.PI)];
    } else {
      // XOR: one blob per quadrant; the label is 1 where the signs differ
      const q = i % 4, sx = q & 1 ? 1 : -1, sy = q & 2 ? 1 : -1;
      [x, y] = [sx * 0.5 + 0.17 * gauss(), sy * 0.5 + 0.17 * gauss()];
      c = sx !== sy ? 1 : 0;
    }
    xy[2 * i] = x + noise * gauss();
    xy[2 * i + 1] = y + noise * gauss();
    label[i] = c;
  }
  return { xy, label };
}

async function main(): Promise<void> {
  reportErrors();
  const stepsPerFrame = Math.max(1, param('stepsPerFrame', 5));
  for (const [id, v] of [['data', 'xor'], ['noise', '0.05'], ['arch', '16,16'], ['act', 'tanh'], ['opt', 'adam'], ['lr', '0.03']] as const) initControl(id, param(id, v));
  const backend = await startBackend();
  const status = $('status');
  status.textContent = `ready on ${backend.label}`;
  const value = (id: string) => ($(id) as HTMLSelectElement).value;

  const lossChart = new LineChart($<HTMLCanvasElement>('chart-loss'), { title: 'loss (binary cross-entropy)', xLabel: 'step', log: true });
  lossChart.add('train', '#2563eb');
  const accChart = new LineChart($<HTMLCanvasElement>('chart-acc'), { title: 'accuracy', xLabel: 'step', yMax: 1, format: (v) => `${Math.round(100 * v)}%` });
  accChart.add('train', '#059669');

  // the grid of plane points the boundary is evaluated on, row by row from the top
  const grid = new Float32Array(2 * G * G);
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    grid[2 * (i * G + j)] = -EXTENT + ((j + 0.5) / G) * 2 * EXTENT;
    grid[2 * (i * G + j) + 1] = EXTENT - ((i + 0.5) / G) * 2 * EXTENT;
  }
  const gridT = wt.keep(wt.tensor(grid, { shape: [G * G, 2] }));

  let points: Points, x: wt.Tensor, y: wt.Tensor, model: wt.nn.Sequential, opt: wt.optim.Optimizer;
  let step = 0;
  const build = () => {
    points = makeData(value('data'), Number(value('noise')));
    x = wt.keep(wt.tensor(points.xy, { shape: [N, 2] }));
    y = wt.keep(wt.tensor(points.label, { shape: [N, 1] }));
    const hidden = value('arch') ? value('arch').split(',').map(Number) : [];
    model = mlp2d(hidden, value('act') as Activation);
    opt = makeOptimizer(value('opt'), model.parameters(), Number(value('lr')));
    $('s-params').textContent = String(model.numParameters());
  };
  build();

  /** One read: the loss, the accuracy and the probabilities on the grid. */
  async function observe(): Promise<void> {
    const out = wt.noGrad(() => wt.tidy(() => {
      const logits = model.forward(x);
      const loss = wt.F.bceWithLogits(logits, y);
      const acc = logits.gt(0).float().eq(y).float().mean();
      return wt.cat([loss.reshape(1), acc.reshape(1), model.forward(gridT).sigmoid().reshape(-1)]);
    }));
    const v = await out.data();
    out.dispose();
    lossChart.push('train', step, v[0]);
    accChart.push('train', step, v[1]);
    $('s-loss').textContent = v[0].toFixed(4);
    $('s-acc').textContent = `${(100 * v[1]).toFixed(1)}%`;
    $('s-step').textContent = String(step);
    draw(v.subarray(2) as Float32Array);
  }

  const plane = $<HTMLCanvasElement>('plane');
  const heat = document.createElement('canvas');
  heat.width = heat.height = G;
  function draw(p: Float32Array): void {
    const hg = heat.getContext('2d')!, img = hg.createImageData(G, G);
    for (let k = 0; k < G * G; k++) {
      // white at p = 0.5, towards the class colour as the model grows sure
      const c = p[k] >= 0.5 ? COLORS[1] : COLORS[0], s = Math.abs(p[k] - 0.5) * 2 * 0.55;
      img.data.set([255 + (c[0] - 255) * s, 255 + (c[1] - 255) * s, 255 + (c[2] - 255) * s, 255], 4 * k);
    }
    hg.putImageData(img, 0, 0);
    const g = plane.getContext('2d')!, W = plane.width;
    g.imageSmoothingEnabled = true;
    g.drawImage(heat, 0, 0, W, W);
    const px = (v: number) => ((v + EXTENT) / (2 * EXTENT)) * W;
    g.strokeStyle = 'rgba(0,0,0,.15)';
    g.beginPath();
    g.moveTo(px(0), 0); g.lineTo(px(0), W); g.moveTo(0, px(0)); g.lineTo(W, px(0));
    g.stroke();
    for (let i = 0; i < N; i++) {
      const c = COLORS[points.label[i] as 0 | 1];
      g.fillStyle = `rgb(${c.join(',')})`;
      g.strokeStyle = '#fff';
      g.lineWidth = 1.5;
      g.beginPath();
      g.arc(px(points.xy[2 * i]), W - px(points.xy[2 * i + 1]), 4.5, 0, 2 * Math.PI);
      g.fill();
      g.stroke();
    }
  }

  async function trainLoop(keepGoing: () => boolean): Promise<void> {
    let t0 = performance.now(), steps = 0;
    while (keepGoing()) {
      for (let k = 0; k < stepsPerFrame; k++) {
        wt.tidy(() => {
          opt.zeroGrad();
          wt.F.bceWithLogits(model.forward(x), y).backward();
          opt.step();
        });
        step++;
        steps++;
      }
      await observe();
      const t = performance.now();
      if (t - t0 > 500) {
        $('s-sps').textContent = ((steps * 1000) / (t - t0)).toFixed(0);
        t0 = t;
        steps = 0;
      }
      await nextFrame();
    }
  }

  const controls = trainingControls(backend.label, trainLoop, () => step);
  /** New data and a new model from the controls; keeps running if it was. */
  const reset = async () => {
    const was = controls.wanted;
    await controls.pause();
    model.dispose();
    opt.dispose();
    wt.dispose([x, y]);
    build();
    step = 0;
    lossChart.clear();
    accChart.clear();
    await controls.hold(observe());
    status.textContent = 'reset: new data and random weights';
    if (was) controls.start();
  };
  $('reset').onclick = () => void reset();
  for (const id of ['data', 'noise', 'arch', 'act']) $(id).onchange = () => void reset();
  $('opt').onchange = () => {
    opt.dispose();
    opt = makeOptimizer(value('opt'), model.parameters(), Number(value('lr')));
  };
  $('lr').onchange = () => setLr(opt, Number(value('lr')));

  await controls.hold(observe());
  if (param('autostart', 0)) controls.start();

  Object.assign(window, {
    demo: { state: () => ({ step, running: controls.active, backend: backend.name, loss: lossChart.values('train'), acc: accChart.values('train') }) },
  });
}

void main();
