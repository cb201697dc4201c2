/**
 * Global runtime state: the current backend, memory scopes (`tidy`), live-tensor accounting, the
 * gradient and debug switches and the global random generator's counters. Tensors register here
 * when created and leave when disposed. Device storage is src/storage.ts; what a compiled step
 * records, src/record.ts.
 */
import type { Backend } from './backend/backend.js';
import { ArgumentError, BackendError } from './errors.js';
import type { Storage } from './storage.js';

/**
 * `Symbol.dispose`, the method a `using` declaration calls at the end of its block (explicit
 * resource management): Tensor, Module and Optimizer define it as their `dispose()`. Where the
 * runtime has no Symbol.dispose (Node before 18.18, older browsers) this is the registered
 * `Symbol.for('Symbol.dispose')` that esbuild's lowered `using` falls back to.
 *
 * @example { using t = wt.randn([2, 3]); ... } // t is freed here
 */
export const DISPOSE: typeof Symbol.dispose = (Symbol.dispose ?? Symbol.for('Symbol.dispose')) as typeof Symbol.dispose;

/** Anything a scope can dispose. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

class Engine {
  backend: Backend | null = null;
  liveTensors = 0;
  liveBytes = 0;
  gradEnabled = true;
  /** while `wt.checkpoint` runs its function without gradients: every tensor requiring grad that an op reads (src/checkpoint.ts) */
  gradCapture: Set<unknown> | null = null;
  /** the most bytes `liveBytes` reached since the last `resetPeakMemory` (memory().peakBytes) */
  peakBytes = 0;
  debug = false;
  /** leave elementwise results pending and fuse chains of them (`wt.setFusion`); 'auto': where the backend says fusion pays */
  fusion: boolean | 'auto' = 'auto';
  /** with fusion on, matmul results are pending and elementwise consumers fold into their GEMM (src/fusion.ts `setMatmulEpilogues`) */
  matmulEpilogues = true;
  /** storages whose contents are not computed yet (fusion) */
  pending = new Set<Storage>();
  /** Open `tidy` scopes, innermost last. */
  scopes: Set<Disposable>[] = [];
  /** Counter advanced by each unseeded random op, so calls differ but a global seed reproduces them. */
  rngSeed = 0;
  rngStream = 0;

  requireBackend(): Backend {
    if (!this.backend) throw new BackendError('no backend: call `await wt.init()` first (or wt.setBackend)');
    return this.backend;
  }

  track(t: Disposable): void {
    const s = this.scopes[this.scopes.length - 1];
    if (s) s.add(t);
  }

  untrack(t: Disposable): void {
    for (const s of this.scopes) s.delete(t);
  }
}

export const engine = new Engine();

/** Runs fn with gradient recording off (like `torch.no_grad()`); returns its result. */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError(`noGrad: fn must be a function, got ${typeof fn}`);
  if (isAsyncFunction(fn)) throw new ArgumentError(`noGrad: fn must be synchronous, got an async function (${NOGRAD_ASYNC})`);
  const prev = engine.gradEnabled;
  engine.gradEnabled = false;
  let r: T;
  try {
    r = fn();
  } finally {
    engine.gradEnabled = prev;
  }
  if (r instanceof Promise) throw new ArgumentError(`noGrad: fn must be synchronous, it returned a Promise (${NOGRAD_ASYNC})`);
  return r;
}

/** Whether `fn` is declared `async` (a scope around it would end at its first await). */
export function isAsyncFunction(fn: unknown): boolean {
  const tag = (fn as { [Symbol.toStringTag]?: string } | null)?.[Symbol.toStringTag];
  return tag === 'AsyncFunction' || tag === 'AsyncGeneratorFunction';
}

const NOGRAD_ASYNC = 'gradients would be recorded again after its first await: wrap each synchronous part';

/** Sets the seed of the global random generator (like `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new ArgumentError(`manualSeed: seed must be a finite number, got ${typeof seed === 'number' ? seed : typeof seed}`);
  engine.rngSeed = seed;
  engine.rngStream = 0;
}
