/**
 * The examples page: issue 26's examples (demo/src/examples-list.ts: vae, distill, prune, …) run
 * live, one at a time, as `npx webtensor train <name> --quick` runs them, in the demo's training
 * Worker (the 'examples' task of demo/src/examples-task.ts); ?worker=0 runs the task on the
 * page's thread. The page draws what the example reports: its training loss (one series per
 * phase or per part of the loss), its summary charts (points by chart and series: distillation's
 * test accuracies, pruning's accuracy against sparsity), its pictures (the VAE's samples and
 * reconstructions), its log and its final metrics.
 * URL parameters: ?example=vae&steps=20&backend=cpu&worker=0&autostart=1.
 */
import { LineChart } from '../../src/vis/index.js';
import type { Metrics } from '../../src/worker/protocol.js';
import type { GrayImage } from '../../examples/toolkit.js';
import { $, hostLoop, param, reportErrors, startHostBackend, trainingControls, trainingHost } from './common.js';
import { DEMO_EXAMPLES } from './examples-list.js';
import type { ExampleFrame, ExamplesConfig } from './examples-task.js';

const COLORS = ['#2563eb', '#f97316', '#059669', '#7c3aed', '#dc2626', '#0891b2'];

async function main(): Promise<void> {
  reportErrors();
  const steps = param('steps', 0);
  let current = DEMO_EXAMPLES.find((e) => e.name === param('example', DEMO_EXAMPLES[0].name)) ?? DEMO_EXAMPLES[0];
  const { tw, where } = await trainingHost(async () => ({ examples: (await import('./examples-task.js')).examplesTask }));
  const backend = await startHostBackend(tw, where);
  const status = $('status');

  // the charts by name ('training loss' first; the example's summary charts as their points
  // arrive), each series' name, and the pictures by name: all made anew for each run
  let charts = new Map<string, { chart: LineChart; series: string[] }>(), pictures = new Map<string, HTMLCanvasElement>();
  let step = 0, done: ExampleFrame['done'] | null = null, error = '';
  const logLines: string[] = [];
  const LOSS = 'training loss';

  function chartFor(name: string): LineChart {
    let c = charts.get(name);
    if (!c) {
      const canvas = document.createElement('canvas');
      canvas.className = 'chart';
      canvas.dataset.name = name;
      $('charts').append(canvas);
      const xLabel = name === LOSS ? 'step' : name.includes('sparsity') ? 'sparsity (%)' : 'epoch';
      const format = name.includes('accuracy') ? { format: (v: number) => `${(100 * v).toFixed(1)}%` } : {};
      c = { chart: new LineChart(canvas, { title: name, xLabel, log: name === LOSS, ...format }), series: [] };
      charts.set(name, c);
    }
    return c.chart;
  }
  function push(chart: string, name: string, x: number, y: number): void {
    const c = chartFor(chart), s = charts.get(chart)!.series;
    if (!s.includes(name)) {
      c.add(name, COLORS[s.length % COLORS.length], { dots: chart !== LOSS });
      s.push(name);
    }
    c.push(name, x, y);
  }

  function clear(): void {
    $('charts').innerHTML = '';
    charts = new Map();
    chartFor(LOSS);
    pictures = new Map();
    $('pictures').innerHTML = '<span class="status">none yet</span>';
    logLines.length = 0;
    $('log').textContent = '';
    step = 0;
    done = null;
    error = '';
    $('s-step').textContent = '0';
    $('s-loss').textContent = '–';
  }

  function drawPicture(name: string, img: GrayImage): void {
    let canvas = pictures.get(name);
    if (!canvas) {
      if (!pictures.size) $('pictures').innerHTML = '';
      const fig = document.createElement('figure');
      const cap = document.createElement('figcaption');
      cap.textContent = name;
      canvas = document.createElement('canvas');
      canvas.dataset.name = name;
      canvas.style.width = `${img.width * 1.5}px`;
      fig.append(cap, canvas);
      $('pictures').append(fig);
      pictures.set(name, canvas);
    }
    canvas.width = img.width;
    canvas.height = img.height;
    const g = canvas.getContext('2d')!, data = g.createImageData(img.width, img.height);
    for (let i = 0; i < img.pixels.length; i++) data.data.set([img.pixels[i], img.pixels[i], img.pixels[i], 255], 4 * i);
    g.putImageData(data, 0, 0);
  }

  const log = (lines: string[]) => {
    if (!lines.length) return;
    logLines.push(...lines);
    $('log').textContent = logLines.join('\n');
    $('log').scrollTop = $('log').scrollHeight;
  };

  tw.on('metrics', (m: Metrics) => {
    const f = m as unknown as ExampleFrame;
    log(f.logs);
    for (const { name, image } of f.images) drawPicture(name, image);
    for (const p of f.points) push(p.chart, p.series, p.x, p.y);
    if (Number.isFinite(f.loss)) {
      step = f.step;
      const parts = f.parts ?? {}, keys = Object.keys(parts);
      const shown: [string, number][] = keys.length === 1 ? [[keys[0], f.loss]] : [['loss', f.loss], ...Object.entries(parts)];
      for (const [k, v] of shown) push(LOSS, k, f.step, v);
      $('s-step').textContent = String(f.step);
      $('s-loss').textContent = f.loss.toFixed(4);
    }
    if (f.done || f.error) {
      done = f.done ?? null;
      error = f.error ?? '';
      if (!pictures.size) $('pictures').innerHTML = '<span class="status">this example draws none</span>';
      if (f.done) log(['', `${current.name}: done in ${f.done.seconds.toFixed(1)} s`, ...Object.entries(f.done.metrics).map(([k, v]) => `  ${k}: ${Number.isInteger(v) ? v : v.toFixed(4)}`)]);
      else log([`${current.name} failed: ${f.error}`]);
      void controls.pause().then(() => (status.textContent = f.done ? `${current.title}: finished at step ${step}` : `${current.title} failed: ${f.error}`));
    }
  });

  const controls = trainingControls(backend.label + (where === 'worker' ? ' in a worker' : ''), hostLoop(tw, () => ({})), () => step, () => void tw.pause());

  /** Opens `ex` afresh (a new run: new weights, empty charts). */
  const open = async (ex: typeof current) => {
    await controls.pause();
    current = ex;
    clear();
    for (const b of $('tabs').children) b.classList.toggle('active', (b as HTMLElement).dataset.name === ex.name);
    $('ex-title').textContent = ex.title;
    $('ex-about').textContent = ex.about;
    status.textContent = `loading ${ex.title}…`;
    const cfg: ExamplesConfig = { name: ex.name, dataUrl: new URL('/data/mnist/', location.href).href, ...(steps > 0 ? { steps } : {}) };
    await controls.hold(tw.open('examples', cfg));
    status.textContent = `${ex.title}: ready on ${backend.label}${where === 'worker' ? ', in a worker' : ''}`;
  };

  for (const ex of DEMO_EXAMPLES) {
    const b = document.createElement('button');
    b.textContent = ex.title;
    b.dataset.name = ex.name;
    b.onclick = () => void open(ex);
    $('tabs').append(b);
  }
  $('reset').onclick = () => void open(current);
  // Start after the end runs the example again, from new weights
  $('start').onclick = async () => {
    if (done || error) await open(current);
    controls.start();
  };

  await open(current);
  if (param('autostart', 0)) controls.start();

  // for tests and the console: the page's state, read-only
  Object.assign(window, {
    demo: {
      state: () => ({
        step, running: controls.active, backend: backend.name, where, example: current.name, done, error, status: status.textContent,
        // every chart's series: { 'training loss': { teacher: [[step, loss], ...], ... }, ... }
        charts: Object.fromEntries([...charts].map(([k, c]) => [k, Object.fromEntries(c.series.map((s) => [s, c.chart.points(s)]))])),
        pictures: [...pictures.keys()],
        log: logLines.slice(),
      }),
    },
  });
}

void main();
