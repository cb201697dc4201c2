/**
 * The fine-tuning page: a LoRA adapter on a pretrained causal language model, trained on a
 * pasted or dropped text in a Web Worker (webtensor/worker: demo/src/train-worker.ts hosts the
 * loop and owns the WebGPU device), with a live loss chart, a greedy sample before training and
 * as it goes, a checkpoint in OPFS every few steps (a reload offers to resume), the adapter as
 * PEFT's two files to download, and a saved adapter to load back.
 *
 * This page never touches a tensor: it only talks to the worker, so it stays responsive (the
 * stats show the longest pause of its event loop while training).
 *
 * URL parameters: ?model=ADDRESS (load at once), ?text=…, ?lr=0.002, ?r=8, ?batch=4, ?block=64,
 * ?prompt=…, ?tokens=32, ?sampleEvery=10, ?checkpointEvery=20, ?checkpoint=NAME (the OPFS
 * folder, default finetune-demo), ?backend=cpu.
 */
import { LineChart } from '../../src/vis/chart.js';
import { TrainingWorker, type OpenResult, type WorkerBackend } from '../../src/worker/client.js';
import type { LoraTaskInfo } from '../../src/worker/lora-task.js';
import type { CheckpointManifest } from '../../src/worker/protocol.js';
import { $, banner, escapeHtml, initControl, param } from './common.js';

const DEFAULT_TEXT = 'Twinkle, twinkle, little star, how I wonder what you are! Up above the world so high, like a diamond in the sky. ';

interface Sampled { step: number; prompt: string; text: string; ids: number[] }

interface State {
  backend: string | null;
  loaded: boolean;
  modelType: string | null;
  running: boolean;
  /** a request that must finish before the next (pause's sample and checkpoint, a download, a reset) */
  busy: boolean;
  step: number;
  losses: number[];
  tokensPerSecond: number | null;
  before: Sampled | null;
  after: Sampled | null;
  adapterSample: Sampled | null;
  /** the longest gap between the page's 20 ms heartbeats while training */
  maxStallMs: number;
  heartbeats: number;
  /** the gaps between heartbeats while training (the last 4000), ms */
  beatGaps: number[];
  checkpointStep: number | null;
  resumable: CheckpointManifest | null;
  resumed: boolean;
  downloads: Record<string, string>;
  error: string | null;
}

async function main(): Promise<void> {
  window.addEventListener('unhandledrejection', (ev) => banner('error', `<b>Error:</b> ${escapeHtml(String((ev.reason as Error)?.message ?? ev.reason))}`));
  const ckptName = param('checkpoint', 'finetune-demo');
  const sampleEvery = Math.max(0, param('sampleEvery', 10));
  const checkpointEvery = Math.max(0, param('checkpointEvery', 20));
  initControl('lr', param('lr', 0.002));
  initControl('rank', param('r', 8));
  initControl('batch', param('batch', 4));
  initControl('block', param('block', 64));
  initControl('tokens', param('tokens', 32));
  ($('text') as HTMLTextAreaElement).value = param('text', DEFAULT_TEXT.repeat(8).trim());
  ($('prompt') as HTMLInputElement).value = param('prompt', 'Twinkle, twinkle');

  const state: State = {
    backend: null, loaded: false, modelType: null, running: false, busy: false, step: 0, losses: [], tokensPerSecond: null, before: null, after: null,
    adapterSample: null, maxStallMs: 0, heartbeats: 0, beatGaps: [], checkpointStep: null, resumable: null, resumed: false, downloads: {}, error: null,
  };
  (window as unknown as { demo: { state(): State } }).demo = { state: () => structuredClone(state) };
  const status = $('status');
  const setStatus = (html: string) => (status.innerHTML = html);
  const fail = (e: unknown) => {
    state.error = e instanceof Error ? e.message : String(e);
    setStatus(`<span class="error">${escapeHtml(state.error)}</span>`);
  };
  const btn = (id: string) => $<HTMLButtonElement>(id);
  const sync = () => {
    const idle = state.loaded && !state.running && !state.busy;
    btn('start').disabled = !idle;
    btn('pause').disabled = !state.running || state.busy;
    btn('reset').disabled = !idle;
    btn('download').disabled = !idle || state.step === 0;
    btn('load').disabled = state.running || state.busy;
    ($('adapter-files') as HTMLInputElement).disabled = !idle;
  };

  // the page's heartbeat: with training in the worker it keeps its 20 ms beat
  let lastBeat = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (state.running) {
      state.maxStallMs = Math.max(state.maxStallMs, now - lastBeat);
      state.heartbeats++;
      state.beatGaps.push(Math.round(now - lastBeat));
      if (state.beatGaps.length > 4000) state.beatGaps.shift();
      $('s-stall').textContent = `${state.maxStallMs.toFixed(0)} ms`;
    }
    lastBeat = now;
  }, 20);

  const chart = new LineChart($<HTMLCanvasElement>('chart-loss'), { title: 'loss (nats / token)', xLabel: 'step', zero: true });
  chart.add('loss', '#2563eb');

  const tw = new TrainingWorker(new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module' }));
  tw.on('metrics', (m) => {
    state.step = m.step;
    state.losses.push(m.loss);
    state.tokensPerSecond = m.tokensPerSecond ?? null;
    chart.push('loss', m.step, m.loss);
    $('s-step').textContent = String(m.step);
    $('s-loss').textContent = m.loss.toFixed(3);
    $('s-tps').textContent = m.tokensPerSecond ? m.tokensPerSecond.toFixed(0) : '–';
  });
  const showAfter = (s: Sampled) => {
    state.after = s;
    $('after').textContent = s.prompt + s.text;
    $('after-step').textContent = `(step ${s.step})`;
  };
  tw.on('sample', (s) => showAfter(s as unknown as Sampled));
  tw.on('checkpoint', (c) => {
    state.checkpointStep = c.step;
    $('s-ckpt').textContent = `step ${c.step}, in this browser`;
  });
  tw.on('state', (s) => {
    state.running = s.running;
    sync();
    if (!s.running) setStatus(`paused at step ${s.step}`);
  });
  tw.on('error', (e) => fail(`${e.name}: ${e.message}`));
  tw.on('progress', (p) => {
    ($('progress') as HTMLProgressElement).value = p.total ? (p.loaded as number) / (p.total as number) : 1;
    setStatus(`loading ${escapeHtml(String(p.file))}: ${p.tensors} of ${p.count} tensors`);
  });

  let backend: WorkerBackend;
  try {
    backend = await tw.init({ backend: param('backend', 'auto') === 'cpu' ? 'cpu' : 'auto' });
  } catch (e) {
    fail(e);
    throw e;
  }
  state.backend = backend.name;
  const label = backend.adapter ? `WebGPU · ${[backend.adapter.vendor, backend.adapter.architecture].filter(Boolean).join(' ') || backend.adapter.description || 'unknown adapter'}` : 'CPU backend';
  const badge = $('backend');
  badge.textContent = `${label} (in a worker)`;
  badge.className = `badge ${backend.name}`;
  $('m-backend').textContent = `${label}, in a Web Worker`;
  if (backend.fallbackReason) banner('warn', `<b>WebGPU did not start in the worker</b> (${escapeHtml(backend.fallbackReason)}): training runs on webtensor's CPU backend.`);

  const samplePrompt = () => ($('prompt') as HTMLInputElement).value || 'The';
  const sampleTokens = () => Number(($('tokens') as HTMLInputElement).value) || 32;

  /** The model's files: the picked ones, else the address (resolved against the page: the worker's base differs). */
  const source = (): string | File[] | null => {
    const files = ($('files') as HTMLInputElement).files;
    if (files && files.length > 0) return Array.from(files);
    const url = ($('url') as HTMLInputElement).value.trim();
    return url ? new URL(url, location.href).href : null;
  };

  const opened = (r: OpenResult<LoraTaskInfo>) => {
    const i = r.info;
    state.loaded = true;
    state.modelType = i.modelType;
    state.step = r.step;
    $('m-type').textContent = `${i.modelType} · ${i.layers} layers, vocabulary ${i.vocabSize.toLocaleString('en-US')}`;
    $('m-params').textContent = `${(i.parameters / 1e6).toFixed(2)} M`;
    $('s-step').textContent = String(r.step);
  };

  const load = async (resume = false, src: string | File[] | null = source()) => {
    if (!src) return setStatus('Pick the model files or paste an address first.');
    state.loaded = false;
    state.error = null;
    sync();
    btn('load').disabled = true;
    try {
      setStatus('loading the model in the worker…');
      const r = await tw.open<LoraTaskInfo>('lora-finetune', { model: src }, { checkpoint: ckptName, resume });
      opened(r);
      chart.clear();
      state.losses = [];
      if (r.info.resumed) {
        state.resumed = true;
        const { text, config, history } = r.info.resumed;
        ($('text') as HTMLTextAreaElement).value = text;
        if (config.lr !== undefined) initControl('lr', config.lr);
        if (config.r !== undefined) initControl('rank', config.r);
        for (const [s, l] of history) {
          chart.push('loss', s, l);
          state.losses.push(l);
        }
        state.checkpointStep = r.step;
        $('s-ckpt').textContent = `step ${r.step}, in this browser`;
        setStatus(`Resumed at step ${r.step}. Press Start to go on training.`);
      } else {
        state.before = await tw.call<Sampled>('sample', samplePrompt(), sampleTokens());
        $('before').textContent = state.before.prompt + state.before.text;
        setStatus('Loaded. Paste a text (or keep the example) and press Start.');
      }
    } catch (e) {
      fail(e);
    } finally {
      sync();
    }
  };

  const start = async () => {
    const text = ($('text') as HTMLTextAreaElement).value;
    if (!text.trim()) return setStatus('Paste a text to train on first.');
    state.error = null;
    state.maxStallMs = 0;
    state.beatGaps = [];
    lastBeat = performance.now();
    try {
      await tw.start({
        text,
        lr: Number(($('lr') as HTMLInputElement).value),
        r: Number(($('rank') as HTMLInputElement).value),
        batchSize: Number(($('batch') as HTMLInputElement).value),
        blockSize: Number(($('block') as HTMLInputElement).value),
        samplePrompt: samplePrompt(),
        sampleTokens: sampleTokens(),
        baseModelNameOrPath: typeof source() === 'string' ? (source() as string) : undefined,
      }, { sampleEvery, checkpointEvery });
      state.running = true;
      setStatus('training in the worker…');
    } catch (e) {
      fail(e);
    }
    sync();
  };

  const pause = async () => {
    btn('pause').disabled = true;
    await tw.pause();
    // the adapter as it is now
    showAfter(await tw.call<Sampled>('sample', samplePrompt(), sampleTokens()));
    if (checkpointEvery) await tw.checkpoint();
    sync();
  };

  const reset = async () => {
    await tw.call('reset');
    await tw.clearCheckpoint(ckptName);
    chart.clear();
    Object.assign(state, { step: 0, losses: [], after: null, checkpointStep: null, resumed: false });
    for (const id of ['s-loss', 's-tps', 's-ckpt']) $(id).textContent = '–';
    $('s-step').textContent = '0';
    $('after').textContent = '';
    setStatus('A new adapter: press Start.');
    sync();
  };

  const download = async () => {
    const files = await tw.call<Record<string, Uint8Array | string>>('adapterFiles');
    const links = $('links');
    links.textContent = '';
    for (const [name, body] of Object.entries(files)) {
      const url = URL.createObjectURL(new Blob([body as BlobPart], { type: name.endsWith('.json') ? 'application/json' : 'application/octet-stream' }));
      state.downloads[name] = url;
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      a.textContent = name;
      a.style.marginLeft = '10px';
      links.append(a);
      a.click();
    }
  };

  const loadAdapter = async () => {
    const picked = Array.from(($('adapter-files') as HTMLInputElement).files ?? []);
    const byName = Object.fromEntries(picked.map((f) => [f.name.replace(/ \(\d+\)(?=\.)/, ''), f]));
    const w = byName['adapter_model.safetensors'], c = byName['adapter_config.json'];
    if (!w || !c) return fail(new Error('pick both adapter_model.safetensors and adapter_config.json'));
    try {
      await tw.call('loadAdapter', { 'adapter_model.safetensors': w, 'adapter_config.json': c });
      state.adapterSample = await tw.call<Sampled>('sample', samplePrompt(), sampleTokens());
      $('adapter-sample').textContent = state.adapterSample.prompt + state.adapterSample.text;
      setStatus('Adapter loaded: the sample below is the model with it. "New adapter" trains a fresh one.');
    } catch (e) {
      fail(e);
    }
  };

  /** Runs one button's work with the other buttons held until it is done. */
  const exclusive = (work: () => Promise<unknown>) => async () => {
    if (state.busy) return;
    state.busy = true;
    sync();
    try {
      await work();
    } catch (e) {
      fail(e);
    } finally {
      state.busy = false;
      sync();
    }
  };
  btn('load').onclick = exclusive(() => load());
  btn('start').onclick = exclusive(start);
  btn('pause').onclick = exclusive(pause);
  btn('reset').onclick = exclusive(reset);
  btn('download').onclick = exclusive(download);
  $('adapter-files').onchange = exclusive(loadAdapter);
  // a dropped text file fills the box
  const box = $('text');
  box.addEventListener('dragover', (e) => e.preventDefault());
  box.addEventListener('drop', (e) => {
    const f = e.dataTransfer?.files[0];
    if (!f) return;
    e.preventDefault();
    void f.text().then((t) => (($('text') as HTMLTextAreaElement).value = t));
  });
  sync();

  // a checkpoint of an earlier visit: offer to resume it
  const saved = await tw.checkpointInfo(ckptName);
  const savedModel = (saved?.config as { model?: unknown } | null)?.model;
  if (saved && saved.task === 'lora-finetune') {
    state.resumable = saved;
    const b = $('resume-banner');
    b.hidden = false;
    b.innerHTML = `A checkpoint of an earlier run (step ${saved.step}${typeof savedModel === 'string' ? ` of <code>${escapeHtml(savedModel)}</code>` : ''}) is saved in this browser. ` +
      `<button id="resume">Resume it</button> <button id="discard">Discard</button>` +
      (typeof savedModel === 'string' ? '' : ' (the model came from picked files: pick them again first)');
    $('resume').onclick = () => {
      b.hidden = true;
      void exclusive(() => load(true, typeof savedModel === 'string' ? savedModel : source()))();
    };
    $('discard').onclick = () => {
      b.hidden = true;
      state.resumable = null;
      void tw.clearCheckpoint(ckptName);
    };
  }
  const auto = param('model', '');
  if (auto && !saved) {
    ($('url') as HTMLInputElement).value = auto;
    await exclusive(() => load())();
  } else if (auto) ($('url') as HTMLInputElement).value = auto;
  (window as unknown as { demoReady: boolean }).demoReady = true;
}

main().catch((e) => {
  console.error(e);
  document.getElementById('status')!.textContent = String(e);
});
