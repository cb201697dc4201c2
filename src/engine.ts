/**
 * Global runtime state: the current backend, memory scopes (`tidy`), and live-tensor accounting.
 * Tensors register here when created and leave when disposed.
 */
import type { Backend, BackendBuffer } from './backend/backend.js';
import { BYTES_PER_ELEMENT, type DType } from './dtype.js';
import { ArgumentError, BackendError } from './errors.js';

/** A reference-counted device buffer shared by a tensor and its views. */
export class Storage {
  refs = 1;
  constructor(readonly backend: Backend, readonly buf: BackendBuffer, readonly dtype: DType) {
    engine.liveBytes += buf.numel * BYTES_PER_ELEMENT;
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) {
      engine.liveBytes -= this.buf.numel * BYTES_PER_ELEMENT;
      this.backend.free(this.buf);
    }
  }
}

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
  debug = false;
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
  if (typeof fn !== 'function') throw new ArgumentError(`noGrad: expected a function, got ${typeof fn}`);
  const prev = engine.gradEnabled;
  engine.gradEnabled = false;
  try {
    return fn();
  } finally {
    engine.gradEnabled = prev;
  }
}

/** Sets the seed of the global random generator (like `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new ArgumentError(`manualSeed: seed must be a finite number, got ${typeof seed === 'number' ? seed : typeof seed}`);
  engine.rngSeed = seed;
  engine.rngStream = 0;
}
