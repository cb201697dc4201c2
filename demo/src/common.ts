/**
 * What every demo page shares: starting a backend (WebGPU when the browser has it, else the CPU
 * backend with a banner that says so), the header badge naming the backend and adapter, error
 * banners, URL parameters, small DOM helpers and a seeded random generator.
 */
import * as wt from '../../src/index.js';
export { makeOptimizer, rng, setLr } from './training.js';
import { TrainingWorker } from '../../src/worker/client.js';
import type { TaskFactory } from '../../src/worker/host.js';
import type { Endpoint } from '../../src/worker/protocol.js';

/** `?name=value` from the page URL, parsed as a number when `fallback` is a number. */
export function param(name: string, fallback: number): number;
export function param(name: string, fallback: string): string;
export function param(name: string, fallback: string | number): string | number {
  const v = new URLSearchParams(location.search).get(name);
  if (v === null || v === '') return fallback;
  if (typeof fallback === 'number') {
    const n = Number(v);
    return Number.isFinite(n) ? n : fallback;
  }
  return v;
}

/** The element with `id`, typed; throws when the page lacks it (a broken page should say so). */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: no #${id} in the page`);
  return el as T;
}

/** Shows a banner at the top of the main area ('info', 'warn' or 'error'). */
export function banner(kind: 'info' | 'warn' | 'error', html: string): HTMLElement {
  const el = document.createElement('div');
  el.className = `banner ${kind}`;
  el.innerHTML = html;
  document.querySelector('main')?.prepend(el);
  return el;
}

export interface BackendChoice {
  name: 'webgpu' | 'cpu';
  /** e.g. "WebGPU · apple metal-3" or "CPU backend" */
  label: string;
  /** the adapter is a software rasteriser (SwiftShader, llvmpipe, WARP) */
  software: boolean;
}

/**
 * Starts webtensor: `?backend=cpu` forces the CPU backend; otherwise WebGPU is tried and, when the
 * browser has none (or it fails to start), the CPU backend runs with a banner saying why.
 */
export async function startBackend(): Promise<BackendChoice> {
  // the library in the page's console: `wt.randn([2, 3]).format().then(console.log)`
  (window as unknown as { wt: typeof wt }).wt = wt;
  const want = param('backend', 'auto');
  let why = '';
  if (want !== 'cpu') {
    if (!('gpu' in navigator)) why = 'this browser has no <code>navigator.gpu</code>';
    else {
      try {
        await wt.init({ backend: 'webgpu' });
      } catch (e) {
        why = `WebGPU failed to start (${escapeHtml((e as Error).message)})`;
      }
    }
  }
  if (want === 'cpu' || why) await wt.init({ backend: 'cpu' });
  const info = wt.backendInfo();
  return showBackend(info.name === 'webgpu' ? { name: 'webgpu', adapter: info.adapter, features: info.features } : { name: 'cpu', adapter: null, features: [] }, want === 'cpu', why, '');
}

/** The backend a page's training host (`TrainingWorker`) answered `init` with. */
interface HostBackend {
  name: string;
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  features: readonly string[];
  fallbackReason?: string | null;
}

/**
 * Starts the backend of a page's training host (the training Worker, or with ?worker=0 the
 * same host on the page's thread) with the same rules, banners and badge as `startBackend`; the
 * badge and the page's copy add where training runs ("(in a worker)").
 */
export async function startHostBackend(tw: { init(o: { backend: 'auto' | 'webgpu' | 'cpu' }): Promise<HostBackend> }, where: 'worker' | 'main'): Promise<BackendChoice> {
  // ?worker=0: the library on this thread, in the console as with startBackend
  if (where === 'main') (window as unknown as { wt: typeof wt }).wt = wt;
  const want = param('backend', 'auto');
  // a browser without WebGPU on the page has none in its workers either
  const noGpu = want !== 'cpu' && !('gpu' in navigator);
  const b = await tw.init({ backend: want === 'cpu' || noGpu ? 'cpu' : 'auto' });
  const why = noGpu ? 'this browser has no <code>navigator.gpu</code>' : b.fallbackReason ? `WebGPU failed to start (${escapeHtml(b.fallbackReason)})` : '';
  return showBackend(b, want === 'cpu', why, where === 'worker' ? ' (in a worker)' : '');
}

/** The badge, the banners and the page's "trains on" copy for a started backend. */
function showBackend(info: HostBackend, asked: boolean, why: string, suffix: string): BackendChoice {
  let choice: BackendChoice;
  if (info.name === 'webgpu' && info.adapter) {
    const a = info.adapter;
    const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.description || 'unknown adapter';
    const software = /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
    choice = { name: 'webgpu', label: `WebGPU · ${name}`, software };
    if (software) {
      banner('info', `The WebGPU adapter is <b>${escapeHtml(name)}</b>, a software emulation of a GPU: everything runs, but on the CPU and far slower than on a real GPU. ` +
        `webtensor's CPU backend (WebAssembly) is often faster here: <a id="use-cpu" href="${escapeHtml(withParam('backend', 'cpu'))}">train on the CPU backend</a>.`);
    }
  } else {
    choice = { name: 'cpu', label: 'CPU backend', software: false };
    if (asked) banner('info', `Running on webtensor's CPU backend because the address asks for it (<code>?backend=cpu</code>). <a id="use-webgpu" href="${escapeHtml(withParam('backend', null))}">Try WebGPU</a>.`);
    else if (why) banner('warn', `<b>WebGPU is not available</b>: ${why}. Running on webtensor's CPU backend instead — the same results, more slowly. For GPU training use a recent Chrome, Edge or Safari with WebGPU enabled.`);
  }
  // the page's copy says which backend trains (and where)
  const trainsOn = choice.name === 'cpu' ? "webtensor's CPU backend (WebAssembly, on this computer's processor)"
    : choice.software ? `WebGPU on ${escapeHtml(choice.label.replace(/^WebGPU · /, ''))}, a software GPU (on the processor)` : `WebGPU on this computer's GPU (${escapeHtml(choice.label.replace(/^WebGPU · /, ''))})`;
  for (const el of document.querySelectorAll<HTMLElement>('.trains-on')) el.innerHTML = trainsOn + (suffix ? ', in a Web Worker (the page itself stays free)' : '');
  const badge = document.getElementById('backend');
  if (badge) {
    badge.textContent = choice.label + suffix;
    badge.className = `badge ${choice.name}`;
    badge.title = info.name === 'webgpu' ? `features: ${info.features.join(', ')}` : 'webtensor CPU backend';
  }
  return choice;
}

/** This page's address with `name` set to `value` (removed when null), other parameters kept. */
export function withParam(name: string, value: string | null): string {
  const u = new URL(location.href);
  if (value === null) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.pathname + u.search;
}

/** Shows uncaught errors on the page as well as in the console, so a failed step is visible. */
export function reportErrors(): void {
  let lostShown = false;
  const show = (e: unknown) => {
    // a lost GPU (driver reset, tab in the background too long, device.destroy()): every later
    // op throws DeviceLostError, so offer a restart instead of a stream of errors
    if (e instanceof wt.DeviceLostError || (e as Error | null)?.name === 'DeviceLostError') {
      if (lostShown) return;
      lostShown = true;
      const b = banner('error', `<b>The GPU device was lost.</b> ${escapeHtml((e as Error).message)} <button id="restart-gpu">Restart</button>`);
      b.querySelector('button')!.addEventListener('click', () => location.reload());
      return;
    }
    banner('error', `<b>Error:</b> ${escapeHtml(e instanceof Error ? e.message : String(e))}`);
  };
  window.addEventListener('error', (ev) => show(ev.error ?? ev.message));
  window.addEventListener('unhandledrejection', (ev) => show(ev.reason));
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Lets the browser paint and handle input between training steps. */
export function nextFrame(): Promise<void> {
  // a macrotask, not requestAnimationFrame: rAF stalls in background tabs and headless runs
  return new Promise((r) => setTimeout(r, 0));
}

/** Fetches a file as bytes, with an error that names the URL. */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Sets a <select> or <input> to `value` when the page URL asks for it. */
export function initControl(id: string, value: string | number): void {
  ($(id) as HTMLInputElement | HTMLSelectElement).value = String(value);
}

/** What `trainingControls` returns: the loop's state and the actions behind the buttons. */
export interface TrainingControls {
  /** true from Start until Pause is clicked */
  readonly wanted: boolean;
  /** true while the loop body is still running (it finishes its step after Pause) */
  readonly active: boolean;
  start(): void;
  /** asks the loop to stop and resolves once it has */
  pause(): Promise<void>;
  /**
   * Keeps Start disabled until `work` (an evaluation, a reset) settles; the page starts held
   * (Start disabled) until its first `hold` ends, so a step-0 evaluation cannot overlap training.
   */
  hold<T>(work: Promise<T>): Promise<T>;
}

/**
 * Wires #start and #pause to a training loop. `body(keepGoing)` runs until `keepGoing()` is
 * false; Start is disabled while a loop runs (also while it finishes after Pause), so two loops
 * never train the same model at once, and until the page's first evaluation is done (`hold`). `#status` tells what happens; an error stops the loop and
 * is shown there (and, through reportErrors, as a banner). `onPause` runs when Pause stops a
 * running loop (a page whose loop runs in a worker tells the worker there).
 */
export function trainingControls(label: string, body: (keepGoing: () => boolean) => Promise<void>, onStep: () => number, onPause?: () => void): TrainingControls {
  const startBtn = $<HTMLButtonElement>('start'), pauseBtn = $<HTMLButtonElement>('pause'), status = $('status');
  // Start waits for the first evaluation (held until the page's first `hold` settles)
  let wanted = false, loop: Promise<void> | null = null, holds = 1, first = true;
  const sync = () => {
    startBtn.disabled = loop !== null || holds > 0;
    pauseBtn.disabled = !wanted;
    $<HTMLButtonElement>('reset').disabled = false;
  };
  const c: TrainingControls = {
    get wanted() { return wanted; },
    get active() { return loop !== null; },
    start() {
      if (loop || holds > 0) return;
      wanted = true;
      status.textContent = `training on ${label}…`;
      loop = body(() => wanted).catch((e) => {
        status.textContent = `stopped: ${(e as Error).message}`;
        throw e;
      }).finally(() => {
        wanted = false;
        loop = null;
        sync();
      });
      sync();
    },
    async pause() {
      const had = loop !== null;
      wanted = false;
      sync();
      if (had) onPause?.();
      await loop?.catch(() => {});
      if (had) status.textContent = `paused at step ${onStep()}`;
    },
    async hold<T>(work: Promise<T>): Promise<T> {
      if (first) first = false;
      else holds++;
      sync();
      try {
        return await work;
      } finally {
        holds--;
        sync();
      }
    },
  };
  startBtn.onclick = () => c.start();
  pauseBtn.onclick = () => void c.pause();
  sync();
  return c;
}

/**
 * A training step through `wt.compile` (recorded, then replayed), or eager for good with the URL
 * parameter `?compile=0` (to compare the two: the pages show ms per step).
 */
export function compiledStep<A extends wt.Tensor[], R extends wt.Tensor>(fn: (...args: A) => R): wt.Compiled<A, R> {
  return wt.compile(fn, { warmup: param('compile', 1) ? 1 : Number.MAX_SAFE_INTEGER });
}

/**
 * A page's training host: the demo's training Worker (demo/src/train-worker.ts), or with
 * ?worker=0 the same tasks served on the page's own thread through a MessageChannel (`tasks`
 * loads them then), for comparing the two. `inWorker` is the default when the address has no
 * ?worker= (the playground stays on the page's thread for now: see demo/src/playground.ts).
 */
export async function trainingHost(tasks: () => Promise<Record<string, TaskFactory>>, inWorker = true): Promise<{ tw: TrainingWorker; where: 'worker' | 'main' }> {
  if (param('worker', inWorker ? 1 : 0)) return { tw: new TrainingWorker(new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module' })), where: 'worker' };
  const [{ serveTraining }, t] = await Promise.all([import('../../src/worker/host.js'), tasks()]);
  const ch = new MessageChannel();
  serveTraining(t, ch.port2 as unknown as Endpoint);
  return { tw: new TrainingWorker(ch.port1 as unknown as Endpoint), where: 'main' };
}

/**
 * The body for `trainingControls` when the loop runs in a training host: starts the host's loop
 * (with `start`'s config and loop options) and waits until it stops (pass `() => void tw.pause()`
 * as trainingControls' onPause); an error there rejects, so it shows as a banner.
 */
export function hostLoop(tw: TrainingWorker, config: () => unknown, loop: { sampleEvery?: number } = {}): () => Promise<void> {
  let stopped: { resolve: () => void; reject: (e: Error) => void } | null = null;
  tw.on('state', (s) => {
    if (!s.running) stopped?.resolve();
  });
  tw.on('error', (e) => {
    const err = new Error(e.message);
    err.name = e.name;
    stopped?.reject(err);
  });
  return async () => {
    const done = new Promise<void>((resolve, reject) => (stopped = { resolve, reject }));
    try {
      await tw.start(config(), loop);
      await done;
    } finally {
      stopped = null;
    }
  };
}
