/**
 * `wt.profile(fn)`: which kernels a piece of work runs and where the GPU time goes.
 *
 * On WebGPU with the 'timestamp-query' feature every dispatch is timed on the GPU (each gets its
 * own compute pass with begin/end timestamps), and the table lists kernels by total time. Without
 * that feature the kernels are still counted, but the only clock is the wall clock around each
 * submitted batch ("flush"): the report says so and gives the flush times instead. On the CPU
 * backend, which runs each kernel synchronously, every dispatch is timed by the wall clock.
 *
 * Profiling changes what it measures a little: timed dispatches are not merged into one compute
 * pass, and Chrome rounds timestamps to 100 µs unless started with
 * `--enable-webgpu-developer-features`. Use it to find the heavy kernels, not for final figures.
 *
 * @example
 * const p = await wt.profile(async () => { const l = lossOf(model, x, y); l.backward(); await l.item(); });
 * console.log(p.table(10));
 */
import { getBackend } from './init.js';
import { materializeAll } from './storage.js';
import type { KernelProfile, KernelStats } from './backend/backend.js';
import { checkFunction } from './validate.js';

/** One kernel name: how often it ran and, with timestamps, its GPU time. */
export interface KernelTime {
  /** readable name: the routine and its variant (`matmul NN  none`) or the ops an expression kernel fuses (`ew mul+add`) */
  name: string;
  count: number;
  /** GPU milliseconds in total and per dispatch (NaN without timestamp queries) */
  totalMs: number;
  meanMs: number;
}

/** What `wt.profile` returns. */
export interface ProfileReport<T> {
  /** what `fn` returned (awaited) */
  result: T;
  /**
   * 'timestamp-query': GPU time per kernel; 'wall-clock': per flush only; 'cpu': wall-clock per
   * kernel on the CPU backend; 'none': a backend without a kernel hook
   */
  mode: 'timestamp-query' | 'wall-clock' | 'cpu' | 'none';
  backend: string;
  /** kernels by total time (wall-clock mode: by count), heaviest first */
  kernels: KernelTime[];
  /** submitted batches and their wall-clock time from submit to completion */
  flushes: { count: number; totalMs: number; meanMs: number };
  /** wall-clock milliseconds of `fn` plus waiting for its GPU work */
  wallMs: number;
  /** why the figures are limited, when they are */
  note?: string;
  /** the top `n` kernels as a fixed-width text table (all of them by default) */
  table(n?: number): string;
}

const pad = (s: string, n: number, right = false) => (right ? s.padStart(n) : s.padEnd(n));
const ms = (x: number) => (Number.isNaN(x) ? '—' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

function tableOf(r: Omit<ProfileReport<unknown>, 'table' | 'result'>, n = Infinity): string {
  const rows = r.kernels.slice(0, n);
  const total = r.kernels.reduce((a, k) => a + (Number.isNaN(k.totalMs) ? 0 : k.totalMs), 0);
  const width = Math.max(6, ...rows.map((k) => k.name.length));
  const lines = [`${pad('kernel', width)}  ${pad('count', 6, true)}  ${pad('total ms', 9, true)}  ${pad('mean ms', 8, true)}  ${pad('share', 6, true)}`];
  for (const k of rows) {
    const share = total > 0 && !Number.isNaN(k.totalMs) ? `${((100 * k.totalMs) / total).toFixed(1)}%` : '—';
    lines.push(`${pad(k.name, width)}  ${pad(String(k.count), 6, true)}  ${pad(ms(k.totalMs), 9, true)}  ${pad(ms(k.meanMs), 8, true)}  ${pad(share, 6, true)}`);
  }
  if (r.kernels.length > rows.length) lines.push(`… ${r.kernels.length - rows.length} more kernels`);
  const f = r.flushes;
  lines.push(`${r.backend} · ${r.mode} · ${r.kernels.reduce((a, k) => a + k.count, 0)} dispatches in ${f.count} flushes (${ms(f.totalMs)} ms, ${ms(f.meanMs)} ms each) · wall ${ms(r.wallMs)} ms`);
  if (r.note) lines.push(r.note);
  return lines.join('\n');
}

function report<T>(result: T, base: Omit<ProfileReport<T>, 'table' | 'result'>): ProfileReport<T> {
  return { result, ...base, table: (n?: number) => tableOf(base, n) };
}

/**
 * Runs `fn` (sync or async) with kernel profiling on the current backend and returns the kernel
 * table. Work encoded before the call (pending elementwise results included) is flushed first
 * and not counted; the report is complete
 * once every dispatch `fn` issued has finished on the GPU. Profiles do not nest.
 *
 * @example
 * const { table } = await wt.profile(() => wt.matmul(a, b).sum().item());
 * console.log(table());
 */
export async function profile<T>(fn: () => T | Promise<T>): Promise<ProfileReport<T>> {
  checkFunction('profile', 'fn', fn);
  const backend = getBackend();
  // pending elementwise results made before the call are computed now, outside the profile
  materializeAll(backend);
  const t0 = performance.now();
  if (!backend.startProfile || !backend.stopProfile) {
    const result = await fn();
    backend.flush();
    return report(result, {
      mode: 'none', backend: backend.name, kernels: [], flushes: { count: 0, totalMs: 0, meanMs: 0 }, wallMs: performance.now() - t0,
      note: `the ${backend.name} backend has no kernel timer: only the wall-clock time of fn is reported`,
    });
  }
  backend.startProfile();
  let result: T;
  let p: KernelProfile;
  try {
    result = await fn();
  } finally {
    p = await backend.stopProfile();
  }
  const wallMs = performance.now() - t0;
  const timed = p.mode !== 'wall-clock';
  const kernels: KernelTime[] = [...p.kernels].map(([name, k]) => ({
    name, count: k.count, totalMs: timed ? k.ms : NaN, meanMs: timed ? k.ms / k.count : NaN,
  }));
  kernels.sort((a, b) => (timed ? b.totalMs - a.totalMs : b.count - a.count) || a.name.localeCompare(b.name));
  const flushTotal = p.flushMs.reduce((a, b) => a + b, 0);
  const kernelMs = kernels.reduce((a, k) => a + (timed ? k.totalMs : 0), 0);
  return report(result, {
    mode: p.mode,
    backend: backend.name,
    kernels,
    flushes: { count: p.flushMs.length, totalMs: flushTotal, meanMs: p.flushMs.length ? flushTotal / p.flushMs.length : 0 },
    wallMs,
    note: p.mode === 'cpu' ? `cpu: kernels ran ${kernelMs.toFixed(1)} ms of the ${wallMs.toFixed(1)} ms wall clock; the rest is the front end (ops, autograd, allocation)`
      : p.mode === 'wall-clock' ? "this adapter has no 'timestamp-query' feature: kernels are counted but not timed; times are wall-clock per flush (submit to completion)" : undefined,
  });
}

/**
 * What the current backend has compiled so far: kernels (WebGPU compute pipelines, CPU expression
 * programs), the milliseconds spent compiling them and the bytes of WGSL. A pipeline compiles
 * once per kernel form (fused expression kernels in canonical numbering, src/kernel/canonical.ts),
 * so the count stops growing after a training loop's first step; compare two snapshots to see
 * what a piece of work compiled.
 *
 * @example
 * const before = wt.kernelStats();
 * await trainStep();
 * console.log(wt.kernelStats().compiled - before.compiled, 'kernels compiled');
 */
export function kernelStats(): KernelStats {
  return getBackend().kernelStats?.() ?? { compiled: 0, compileMs: 0, sourceBytes: 0, cached: 0 };
}
