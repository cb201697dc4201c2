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
  const times: number[] = [];
  const t0 = performance.now();
  const more = () => times.length < opts.reps || (performance.now() - t0 < (opts.minTimeMs ?? 0) && times.length < 10 * opts.reps);
  while (more() && (times.length < minReps || performance.now() - t0 < opts.budgetMs)) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  return { median: median(times), min: Math.min(...times), max: Math.max(...times), runs: times.length, warmup, firstMs };
}
