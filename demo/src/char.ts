/**
 * The character-transformer page: trains demo/src/models.ts's CharTransformer on tinyshakespeare
 * (served from examples/data/ at /data/) and, between training steps, samples the next character
 * of a running text from the current weights, so the text streams and improves as it learns.
 *
 * The training runs in the demo's training Worker (demo/src/train-worker.ts, the 'char-page' task
 * of demo/src/char-task.ts): the WebGPU device, the model, AdamW and the loop live there, and this
 * page only draws what the worker posts (a metrics event and a sampled character per step) and
 * sends the controls' changes (learning rate, batch, temperature, prompt, reset, model size).
 * ?worker=0 serves the same task on the page's own thread instead (the steps/s comparison).
 *
 * Per step: one training step (AdamW, gradient clipping at 1) and one sampled character (one
 * forward pass on the last blockSize characters and a read of the probabilities). The training
 * loss is summed on the device and read back every `logEvery` steps.
 * URL parameters: ?size=tiny|small|medium&lr=0.003&batch=16&temp=0.8&backend=cpu&worker=0, and
 * for tests ?logEvery=5&valEvery=100&sampleChars=300; ?compile=0 runs the steps eagerly (no wt.compile).
 */
import { LineChart, short } from '../../src/vis/index.js';
import type { Metrics } from '../../src/worker/protocol.js';
import type { CharPageConfig, CharPageMetrics, CharPageSample } from './char-task.js';
import { $, hostLoop, initControl, param, reportErrors, startHostBackend, trainingControls, trainingHost } from './common.js';

type Size = CharPageConfig['size'];

async function main(): Promise<void> {
  reportErrors();
  const logEvery = Math.max(1, param('logEvery', 10));
  const valEvery = Math.max(logEvery, param('valEvery', 100));
  const sampleChars = Math.max(40, param('sampleChars', 360));
  initControl('size', param('size', 'small'));
  initControl('lr', param('lr', 0.003));
  initControl('batch', param('batch', 16));
  initControl('temp', param('temp', 0.8));

  const size = () => ($('size') as HTMLSelectElement).value as Size;
  const lr = () => Number(($('lr') as HTMLSelectElement).value);
  const batchSize = () => Number(($('batch') as HTMLSelectElement).value);
  const temperature = () => Number(($('temp') as HTMLInputElement).value);
  const prompt = () => ($('prompt') as HTMLInputElement).value;

  const { tw, where } = await trainingHost(async () => ({ 'char-page': (await import('./char-task.js')).charPageTask }));
  const backend = await startHostBackend(tw, where);
  const status = $('status');
  const cfg: CharPageConfig = {
    textUrl: new URL('/data/tinyshakespeare.txt', location.href).href,
    size: size(), lr: lr(), batch: batchSize(), temperature: temperature(), prompt: prompt(),
    logEvery, valEvery, sampleChars, compile: param('compile', 1) !== 0,
  };
  const opened = await tw.open<{ parameters: number; vocabSize: number; characters: number; blockSize: number }>('char-page', cfg);
  const info = opened.info;
  $('s-params').textContent = info.parameters.toLocaleString('en-US');
  status.textContent = `${(info.characters / 1e6).toFixed(2)} M characters, vocabulary of ${info.vocabSize}; ${backend.label}${where === 'worker' ? ', in a worker' : ''}`;

  const chart = new LineChart($<HTMLCanvasElement>('chart-loss'), { title: 'loss (nats / char)', xLabel: 'step', zero: true, refs: [{ y: Math.log(info.vocabSize), label: 'uniform guess' }] });
  chart.add('train', '#2563eb');
  chart.add('val', '#f97316', { dots: true });

  $('temp').oninput = () => {
    $('temp-v').textContent = temperature().toFixed(2);
    void tw.call('set', { temperature: temperature() });
  };
  $('temp-v').textContent = temperature().toFixed(2);
  $('prompt').oninput = () => void tw.call('set', { prompt: prompt() });
  $('lr').onchange = () => void tw.call('set', { lr: lr() });
  $('batch').onchange = () => void tw.call('set', { batch: batchSize() });

  let step = 0, replayed = 0, sampleReplayed = 0;
  /** the worker's steps and when they arrived (steps/s as the page sees them) */
  const arrivals: [number, number][] = [];
  const showVal = (s: number, v: number) => {
    chart.push('val', s, v);
    $('s-val').textContent = v.toFixed(3);
  };
  tw.on('metrics', (mm: Metrics) => {
    const m = mm as unknown as CharPageMetrics;
    step = m.step;
    replayed = m.replayed;
    sampleReplayed = m.sampleReplayed;
    arrivals.push([m.step, performance.now()]);
    if (arrivals.length > 2000) arrivals.shift();
    if (Number.isFinite(m.loss)) {
      chart.push('train', m.step, m.loss);
      $('s-loss').textContent = m.loss.toFixed(3);
      $('s-ms').textContent = `${m.ms!.toFixed(1)} ms`;
      $('s-cps').textContent = short(m.charsPerSecond!);
    }
    if (m.val !== undefined) showVal(m.step, m.val);
    $('s-step').textContent = String(m.step);
  });

  // ---- streaming samples ----------------------------------------------------------------------
  const pre = $('sample');
  let current: HTMLSpanElement | null = null;
  tw.on('sample', (ss) => {
    const s = ss as unknown as CharPageSample;
    if (s.start || !current) {
      const head = document.createElement('span');
      head.className = 'head';
      head.textContent = `${pre.childElementCount ? '\n\n' : ''}— step ${s.start?.step ?? s.step}, temperature ${(s.start?.temperature ?? temperature()).toFixed(2)} —\n`;
      current = document.createElement('span');
      current.textContent = s.start?.prompt ?? '';
      pre.append(head, current);
      // keep the last few samples
      while (pre.childElementCount > 12) pre.firstElementChild!.remove();
    }
    current.textContent += s.text;
    pre.scrollTop = pre.scrollHeight;
  });

  // the loop runs in the worker: Start starts it there (a new logging window), the loop here waits until it stops
  const trainLoop = hostLoop(tw, () => ({}), { sampleEvery: 1 });

  const validate = async () => {
    const r = await tw.call<{ step: number; val: number }>('validate');
    showVal(r.step, r.val);
  };

  const controls = trainingControls(backend.label + (where === 'worker' ? ' in a worker' : ''), trainLoop, () => step, () => void tw.pause());
  const reset = async () => {
    await controls.pause();
    const r = await tw.call<{ parameters: number }>('reset', { size: size(), lr: lr(), batch: batchSize() });
    $('s-params').textContent = r.parameters.toLocaleString('en-US');
    step = 0;
    arrivals.length = 0;
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

  await controls.hold(validate()); // step 0: about ln(vocab) for untrained weights; Start waits for it
  if (param('autostart', 0)) controls.start();

  /** steps per second over the last `n` steps the page heard of (null before there are two) */
  const stepsPerSecond = (n = 1e9) => {
    const a = arrivals.slice(-n - 1);
    return a.length < 2 ? null : ((a.at(-1)![0] - a[0][0]) * 1000) / (a.at(-1)![1] - a[0][1]);
  };
  Object.assign(window, {
    demo: {
      state: () => ({
        step, running: controls.active, backend: backend.name, where, trainLoss: chart.values('train'), valLoss: chart.values('val'), valSteps: chart.points('val').map((p) => p[0]),
        yRange: chart.yRange(), sample: pre.textContent ?? '', replayed, sampleReplayed, stepsPerSecond: stepsPerSecond(), arrivals: arrivals.slice(),
      }),
    },
  });
}

void main();
