/**
 * Timing one benchmark case: warm-up runs (the first one pays for shader compiles and buffer
 * allocation), then timed runs until a count or a time budget is reached, reported as
 * median / min / max in milliseconds.
 *
 * A run must include its own sync (a read of one element, or the library's own wait primitive),
 * so that asynchronous GPU work is timed to completion rather than to submission.
 */

export interface Timing {
  /** milliseconds per run */
  median: number;
  min: number;
  max: number;
  /** timed runs (after warm-up) */
  runs: number;
  warmup: number;
  /** the first warm-up run, compile included */
  firstMs: number;
  /** median process CPU milliseconds per timed run, where a CPU clock was given (Node) */
  cpuMedian?: number;
}

export interface MeasureOptions {
  /** warm-up runs before timing (at least 1) */
  warmup: number;
  /** timed runs wanted */
  reps: number;
  /** stop timing once this much time is spent, after at least `minReps` runs */
  budgetMs: number;
  minReps?: number;
  /**
   * keep warming up until this much time has passed (at most 100 runs): a cheap case, like 1,000
   * eager ops, needs dozens of runs before the JavaScript engine has optimised the library's code
   */
  warmupMs?: number;
  /** keep timing until this much time has passed (at most 10x `reps` runs), so cheap cases get more samples */
  minTimeMs?: number;
  /**
   * process CPU milliseconds so far (Node: process.cpuUsage). On a software adapter in Node it
   * counts the emulated GPU's threads too: the work a run does, less disturbed by other load on
   * the machine than the wall clock
   */
  cpuClock?: () => number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times `run`: `warmup` untimed runs, then up to `reps` timed ones (fewer when `budgetMs` runs out,
 * never fewer than `minReps`, default 2).
 *
 * @example const t = await measure(async () => { await y().data(); }, { warmup: 1, reps: 5, budgetMs: 5000 });
 */
export async function measure(run: () => Promise<void>, opts: MeasureOptions): Promise<Timing> {
  const minReps = Math.min(opts.minReps ?? 2, opts.reps);
  let firstMs = 0;
  const w0 = performance.now();
  let warmup = 0;
  while (warmup < Math.max(1, opts.warmup) || (performance.now() - w0 < (opts.warmupMs ?? 0) && warmup < 100)) {
    const t = performance.now();
    await run();
    if (warmup++ === 0) firstMs = performance.now() - t;
  }
  const times: number[] = [], cpu: number[] = [];
  const t0 = performance.now();
  const more = () => times.length < opts.reps || (performance.now() - t0 < (opts.minTimeMs ?? 0) && times.length < 10 * opts.reps);
  while (more() && (times.length < minReps || performance.now() - t0 < opts.budgetMs)) {
    const c = opts.cpuClock?.() ?? 0;
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
    if (opts.cpuClock) cpu.push(opts.cpuClock() - c);
  }
  return { median: median(times), min: Math.min(...times), max: Math.max(...times), runs: times.length, warmup, firstMs, ...(cpu.length ? { cpuMedian: median(cpu) } : {}) };
}

/**
 * Times several cases interleaved: warm-up runs of each in turn, then rounds with one timed run of
 * each (the order reversed every other round), so that a machine whose speed drifts (other load,
 * a software GPU sharing the cores) slows every case alike; a case's `before` (switching to its
 * library's backend) runs untimed before each of its runs. The budgets are per case, as `measure`'s.
 */
export async function measureInterleaved(cases: readonly { run: () => Promise<void>; before?: () => unknown }[], opts: MeasureOptions): Promise<Timing[]> {
  const n = cases.length;
  const firstMs = new Array<number>(n).fill(0), warm = new Array<number>(n).fill(0);
  const once = async (i: number, into?: { times: number[]; cpu: number[] }) => {
    await cases[i].before?.();
    const c = opts.cpuClock?.() ?? 0;
    const t = performance.now();
    await cases[i].run();
    const ms = performance.now() - t;
    if (!into) {
      if (warm[i]++ === 0) firstMs[i] = ms;
      return;
    }
    into.times.push(ms);
    if (opts.cpuClock) into.cpu.push(opts.cpuClock() - c);
  };
  const w0 = performance.now();
  while (warm[0] < Math.max(1, opts.warmup) || (performance.now() - w0 < (opts.warmupMs ?? 0) * n && warm[0] < 100)) {
    for (let i = 0; i < n; i++) await once(i);
  }
  const out = cases.map(() => ({ times: [] as number[], cpu: [] as number[] }));
  const minReps = Math.min(opts.minReps ?? 2, opts.reps);
  const t0 = performance.now();
  const count = () => out[0].times.length;
  const more = () => count() < opts.reps || (performance.now() - t0 < (opts.minTimeMs ?? 0) * n && count() < 10 * opts.reps);
  for (let round = 0; more() && (count() < minReps || performance.now() - t0 < opts.budgetMs * n); round++) {
    const order = [...cases.keys()];
    if (round % 2) order.reverse();
    for (const i of order) await once(i, out[i]);
  }
  return out.map(({ times, cpu }, i) => ({
    median: median(times), min: Math.min(...times), max: Math.max(...times), runs: times.length, warmup: warm[i], firstMs: firstMs[i],
    ...(cpu.length ? { cpuMedian: median(cpu) } : {}),
  }));
}
