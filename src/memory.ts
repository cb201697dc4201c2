/** Memory ownership: tidy scopes, keep, dispose and the memory report. */
import { engine, type Disposable } from './engine.js';
import { ArgumentError } from './errors.js';
import { Tensor } from './tensor.js';
import { checkSyncFunction } from './validate.js';

function collect(x: unknown, out: Set<Tensor>, depth = 0): void {
  if (x instanceof Tensor) out.add(x);
  else if (depth < 3 && Array.isArray(x)) for (const y of x) collect(y, out, depth + 1);
  else if (depth < 3 && x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) for (const y of Object.values(x)) collect(y, out, depth + 1);
}

const TIDY_ASYNC = 'tensors made after its first await would escape the scope: tidy each synchronous part, or dispose them yourself';

/**
 * Runs fn and disposes every tensor created inside it except the ones it returns (in a
 * tensor, an array or a plain object), which move to the enclosing scope.
 *
 * @example const y = wt.tidy(() => x.mul(2).add(1)); // the x.mul(2) temporary is freed
 */
export function tidy<T>(fn: () => T): T {
  checkSyncFunction('tidy', 'fn', fn, TIDY_ASYNC);
  const scope = new Set<Disposable>();
  engine.scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    // a failed step must not leak what it allocated
    engine.scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  engine.scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new ArgumentError(`tidy: fn must be synchronous, it returned a Promise (${TIDY_ASYNC})`);
  }
  const kept = new Set<Tensor>();
  collect(result, kept);
  // what it returns is the caller's now: a gradient returned no longer goes with its tensor
  for (const t of kept) t._gradOf = null;
  for (const t of scope) if (!kept.has(t as Tensor)) t.dispose();
  for (const t of kept) if (scope.has(t)) engine.track(t);
  return result;
}

/** Exempts a tensor from the enclosing tidy scopes (a gradient then outlives its tensor); returns it. */
export function keep<T extends Tensor>(t: T): T {
  if (!(t instanceof Tensor)) throw new ArgumentError(`keep: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
  engine.untrack(t);
  t._gradOf = null; // a kept gradient is the caller's: it outlives its tensor
  return t;
}

/** Disposes tensors (or arrays / objects of them). */
export function dispose(x: unknown): void {
  const s = new Set<Tensor>();
  collect(x, s);
  for (const t of s) t.dispose();
}

export interface MemoryInfo {
  /** live tensor handles created by the user or ops (views count) */
  tensors: number;
  /** bytes of storage held by live tensors and autograd */
  bytes: number;
  /** the most `bytes` reached since the start or the last `wt.resetPeakMemory()` (torch.cuda.max_memory_allocated) */
  peakBytes: number;
  /** bytes held by the backend, including buffers it still holds for queued work */
  bytesInUse: number;
  /** bytes kept in the buffer pool */
  bytesPooled: number;
  poolHits: number;
  poolMisses: number;
}

/** Live tensors and bytes, plus the backend's pool statistics. */
export function memory(): MemoryInfo {
  const b = engine.backend?.memory() ?? { bytesInUse: 0, bytesPooled: 0, poolHits: 0, poolMisses: 0 };
  return { tensors: engine.liveTensors, bytes: engine.liveBytes, peakBytes: Math.max(engine.peakBytes, engine.liveBytes), ...b };
}

/**
 * Starts a new peak: `memory().peakBytes` becomes the bytes live now (as
 * torch.cuda.reset_peak_memory_stats), to measure one step's high-water mark.
 * @example wt.resetPeakMemory(); step(); console.log(wt.memory().peakBytes);
 */
export function resetPeakMemory(): void {
  engine.peakBytes = engine.liveBytes;
}
