/**
 * How the main thread waits for GPU results under Dawn's Node bindings (the `webgpu` package).
 *
 * Those bindings deliver mapAsync / onSubmittedWorkDone / popErrorScope results by polling: while
 * one is pending, native code calls the global `setImmediate` with a callback that processes
 * Dawn's events and schedules itself again, so the main thread spins for the whole wait. On a
 * hardware GPU that only costs power. On a software adapter (SwiftShader, llvmpipe) the "GPU" is a
 * pool of CPU threads, and on a small machine the spinning main thread takes a core from them:
 * a training step ran about 2x slower than with the thread asleep (bench/RESULTS.md, 2026-11-22).
 *
 * `sleepingWait(wait)` runs `wait` with the global `setImmediate` replaced, for native callbacks
 * only, by one that keeps spinning for the first SPIN_MS of the wait (a quick result is not
 * delayed) and then polls through `setTimeout` (about once a millisecond, the thread asleep in
 * between). JavaScript callers of `setImmediate` are passed straight through. The original is put
 * back when the last such wait in flight ends. Where there is no `setImmediate` (browsers) this
 * is a plain `await`.
 */
type Immediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown;

/** milliseconds of a wait during which Dawn's polls still run back to back */
export const SPIN_MS = 0.25;

const host = globalThis as { setImmediate?: Immediate };
/** the timer captured at load, so that a test's fake timers cannot stall a read */
const timer = globalThis.setTimeout;
let depth = 0;
let original: Immediate | null = null;
let since = 0;
/** polls moved to a timer so far (tests and profiling) */
export const sleepStats = { timed: 0 };

function isNative(fn: unknown): boolean {
  return typeof fn === 'function' && Function.prototype.toString.call(fn).endsWith('{ [native code] }');
}

const sleepy: Immediate = (fn, ...args) => {
  if (performance.now() - since < SPIN_MS || !isNative(fn)) return original!(fn, ...args);
  sleepStats.timed++;
  return timer(fn, 0, ...args);
};

/** Awaits `wait()` with Dawn's polling slowed to a timer after SPIN_MS (see above). */
export async function sleepingWait<T>(wait: () => Promise<T>): Promise<T> {
  if (typeof host.setImmediate !== 'function') return wait();
  if (depth++ === 0) {
    original = host.setImmediate;
    host.setImmediate = sleepy;
  }
  since = performance.now();
  try {
    return await wait();
  } finally {
    if (--depth === 0) {
      // someone else may have replaced it meanwhile: leave theirs alone
      if (host.setImmediate === sleepy) host.setImmediate = original!;
    }
  }
}
