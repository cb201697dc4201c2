/**
 * The playground: a perceptron or a small MLP (demo/src/models.ts's mlp2d) learns a 2-D binary
 * classification (two blobs, XOR, circles, spirals), full batch with BCE on logits. Every frame
 * runs a few steps, then evaluates the model on a grid over the plane for the decision-boundary
 * picture (one forward pass and one read for the whole grid).
 *
 * The training is the 'playground' task of demo/src/playground-task.ts (each frame's steps and
 * the grid's probabilities), run in the demo's training Worker, which posts every frame's
 * probabilities for this page to paint; ?worker=0 serves it on the page's thread. In headless
 * Chromium on SwiftShader (XOR, 16,16, 5 steps per frame, 4 alternating runs) the worker trained
 * 229 steps/s, the same task on the page's thread 209 and the page before the move 195.
 * URL parameters: ?data=xor&noise=0.05&arch=16,16&act=tanh&opt=adam&lr=0.03&backend=cpu&worker=0,
 * and ?stepsPerFrame=5.
 */
import { LineChart } from '../../src/vis/index.js';
import type { Metrics } from '../../src/worker/protocol.js';
import { $, hostLoop, initControl, param, reportErrors, startHostBackend, trainingControls, trainingHost } from './common.js';
import { EXTENT, G, makeData, N, type PlaygroundConfig, type PlaygroundFrame, type Points } from './playground-task.js';

const COLORS = { 0: [249, 115, 22], 1: [37, 99, 235] } as const;

async function main(): Promise<void> {
  reportErrors();
  const stepsPerFrame = Math.max(1, param('stepsPerFrame', 5));
  for (const [id, v] of [['data', 'xor'], ['noise', '0.05'], ['arch', '16,16'], ['act', 'tanh'], ['opt', 'adam'], ['lr', '0.03']] as const) initControl(id, param(id, v));
  const value = (id: string) => ($(id) as HTMLSelectElement).value;
  const cfg = (): PlaygroundConfig => ({ data: value('data'), noise: Number(value('noise')), arch: value('arch'), act: value('act'), opt: value('opt'), lr: Number(value('lr')), stepsPerFrame });
  // in the training worker (see the file comment); ?worker=0 keeps it on the page's thread
  const { tw, where } = await trainingHost(async () => ({ playground: (await import('./playground-task.js')).playgroundTask }), true);
  const backend = await startHostBackend(tw, where);
  const { info } = await tw.open<{ parameters: number }>('playground', cfg());
  $('s-params').textContent = String(info.parameters);
  const status = $('status');
  status.textContent = `ready on ${backend.label}${where === 'worker' ? ', in a worker' : ''}`;

  const lossChart = new LineChart($<HTMLCanvasElement>('chart-loss'), { title: 'loss (binary cross-entropy)', xLabel: 'step', log: true });
  lossChart.add('train', '#2563eb');
  const accChart = new LineChart($<HTMLCanvasElement>('chart-acc'), { title: 'accuracy', xLabel: 'step', yMax: 1, format: (v) => `${Math.round(100 * v)}%` });
  accChart.add('train', '#059669');

  let points: Points = makeData(value('data'), Number(value('noise')));
  let step = 0;
  /** the host's frames (step counts) and when they arrived */
  const arrivals: [number, number][] = [];
  let t0 = performance.now(), s0 = 0;

  /** A frame from the host: the loss, the accuracy and the probabilities on the grid. */
  function show(f: PlaygroundFrame): void {
    step = f.step;
    lossChart.push('train', f.step, f.loss);
    accChart.push('train', f.step, f.acc);
    $('s-loss').textContent = f.loss.toFixed(4);
    $('s-acc').textContent = `${(100 * f.acc).toFixed(1)}%`;
    $('s-step').textContent = String(f.step);
    draw(f.probs);
  }
  tw.on('metrics', (m: Metrics) => {
    show(m as unknown as PlaygroundFrame);
    const t = performance.now();
    arrivals.push([m.step, t]);
    if (arrivals.length > 2000) arrivals.shift();
    if (t - t0 > 500) {
      $('s-sps').textContent = (((m.step - s0) * 1000) / (t - t0)).toFixed(0);
      t0 = t;
      s0 = m.step;
    }
  });
  const observe = async () => show(await tw.call<PlaygroundFrame>('observe'));

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

  const controls = trainingControls(backend.label + (where === 'worker' ? ' in a worker' : ''), hostLoop(tw, () => {
    t0 = performance.now();
    s0 = step;
    return undefined;
  }), () => step, () => void tw.pause());
  /** New data and a new model from the controls; keeps running if it was. */
  const reset = async () => {
    const was = controls.wanted;
    await controls.pause();
    const r = await tw.call<{ parameters: number }>('reset', cfg());
    $('s-params').textContent = String(r.parameters);
    points = makeData(value('data'), Number(value('noise')));
    step = 0;
    arrivals.length = 0;
    lossChart.clear();
    accChart.clear();
    await controls.hold(observe());
    status.textContent = 'reset: new data and random weights';
    if (was) controls.start();
  };
  $('reset').onclick = () => void reset();
  for (const id of ['data', 'noise', 'arch', 'act']) $(id).onchange = () => void reset();
  $('opt').onchange = () => void tw.call('optimizer', value('opt'));
  $('lr').onchange = () => void tw.call('set', { lr: Number(value('lr')) });

  await controls.hold(observe());
  if (param('autostart', 0)) controls.start();

  Object.assign(window, {
    demo: { state: () => ({ step, running: controls.active, backend: backend.name, where, loss: lossChart.values('train'), acc: accChart.values('train'), arrivals: arrivals.slice() }) },
  });
}

void main();
