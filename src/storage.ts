/**
 * Device storage as the front end holds it: a reference-counted buffer shared by a tensor and
 * its views, which may be *pending* (the result of an elementwise op with fusion on: a recipe
 * whose kernel runs when the values are first needed; src/fusion.ts), with what it takes to keep
 * pending results right: the pending storages that read each buffer (computed before anything
 * writes it) and each buffer's owner (whose write count is autograd's version counter).
 * Buffers come and go through the recorder's funnels (src/record.ts).
 */
import type { Backend, BackendBuffer, View } from './backend/backend.js';
import { BYTES_PER_ELEMENT, type DType } from './dtype.js';
import { engine } from './engine.js';
import { OutOfMemoryError } from './errors.js';
import type { Expr } from './kernel/ir.js';
import { canonical } from './kernel/canonical.js';
import type { Carried } from './deferred.js';
import { contiguousStrides } from './shape.js';
import { allocBuffer, dispatch, dynamicOf, freeBuffer } from './record.js';

/**
 * The recipe of a pending elementwise result (see src/fusion.ts): `expr` over the input views
 * `views` (all of `shape`; `load(i)` reads views[i]) and the runtime `scalars`. The storages the
 * views read are held (one reference each, in `inputs`) until the result is computed or dropped.
 */
export interface Recipe {
  readonly expr: Expr;
  readonly views: readonly View[];
  readonly inputs: readonly Storage[];
  readonly scalars: readonly number[];
  readonly shape: readonly number[];
  /** tree size of `expr` (duplicated subtrees counted each time), for the fusion caps */
  readonly size: number;
  /** the expression reads the linear output index (`index` or `rand`): never a reduction prologue */
  readonly usesIndex: boolean;
  /** the op that made the pending result (named by errors raised when it is computed) */
  readonly op: string;
  /**
   * The pending results folded into `expr`, each with the subexpression that computes it there:
   * one computed since (and unchanged) is read from its buffer instead (Storage.materialize).
   */
  readonly parts: readonly FoldedPart[];
}

/** A pending result folded into a recipe: its storage (not retained) and its subexpression there. */
export interface FoldedPart {
  readonly store: Storage;
  readonly expr: Expr;
}

/** Pending storages reading each buffer: they must be computed before anything writes it. */
const readers = new Map<BackendBuffer, Set<Storage>>();

/**
 * The storage that owns each live buffer (ops that write into views find the storage they change;
 * beforeWrite counts its writes). A Map with explicit deletes: a WeakMap entry per short-lived
 * buffer doubled the CPU backend's garbage-collection time on small ops.
 */
const owners = new Map<BackendBuffer, Storage>();

/** The storage whose buffer `buf` is (undefined for a buffer no storage owns, e.g. a flag buffer). */
export function storageOf(buf: BackendBuffer): Storage | undefined {
  return owners.get(buf);
}

/**
 * A reference-counted device buffer shared by a tensor and its views. A *pending* storage (the
 * result of an elementwise op with fusion on) has no contents yet, only a recipe: `buf` computes
 * them on first use, so every path that hands out the real buffer (views for kernels, reads,
 * exports) materializes first. Its buffer is allocated when it is computed (`buf` null until
 * then): a buffer per never-computed intermediate of a fused chain would only cost pool traffic (or,
 * on the CPU, garbage collection), and buffers drawn in computation order come back in the same
 * order step after step, which keeps the WebGPU dispatcher's bind-group cache hitting. An error
 * while computing it (out of memory) names the op that made it.
 */
export class Storage {
  refs = 1;
  private _recipe: Recipe | null = null;
  /** the buffer belongs to the host app (`fromGPUBuffer`): ops reading it never leave a pending result */
  external = false;
  /** elements of the buffer (counted by `memory()` whether allocated yet or not) */
  readonly numel: number;
  /** how many kernels have folded this pending storage's recipe in (fusion: recompute once at most) */
  fusedUses = 0;
  /**
   * Writes announced into the buffer (beforeWrite: in-place ops, copies into views, optimizer
   * updates): PyTorch's version counter, which autograd compares with the count when a tensor
   * was saved for backward.
   */
  writes = 0;
  /** `writes` when the recipe was computed into the buffer (-1: it never was) */
  private computedAt = -1;
  /** the deferred checks its values depend on (src/deferred.ts), null when none */
  checks: Carried[] | null = null;

  constructor(readonly backend: Backend, private _buf: BackendBuffer | null, readonly dtype: DType, numel?: number) {
    this.numel = numel ?? _buf!.numel;
    engine.liveBytes += this.numel * BYTES_PER_ELEMENT;
    if (_buf) owners.set(_buf, this);
  }

  /** Makes this (new) storage pending on `recipe`, which holds references on its inputs. */
  setRecipe(recipe: Recipe): void {
    this._recipe = recipe;
    engine.pending.add(this);
    for (const v of recipe.views) {
      let s = readers.get(v.buf);
      if (!s) readers.set(v.buf, (s = new Set()));
      s.add(this);
    }
  }

  /** The recipe while the contents are not computed yet, else null. */
  get recipe(): Recipe | null {
    return this._recipe;
  }

  /** The device buffer, computing a pending storage's contents first. */
  get buf(): BackendBuffer {
    if (this._recipe) this.materialize();
    return this._buf!;
  }

  /**
   * Whether the buffer holds the values its recipe computed: alive, computed, and not written
   * since. A recipe that folded this storage in reads them instead of computing them again.
   */
  get holdsComputed(): boolean {
    return this.refs > 0 && this._buf !== null && this.computedAt === this.writes;
  }

  /**
   * Computes a pending storage's contents: one fused kernel into its buffer, in canonical
   * numbering (src/kernel/canonical.ts) so that recipes of one form share a pipeline. Results
   * folded into the recipe that have been computed since are read from their buffers: a chain
   * whose links are computed in order (a compiled step's leftovers, values read one by one) then
   * runs one short kernel per link, the same kernel for links of the same form, instead of
   * recomputing the chain from its start in a kernel of its own depth each time.
   */
  materialize(): void {
    const r = this._recipe;
    if (!r) return;
    this.allocate(r);
    this.detachRecipe();
    try {
      const strides = contiguousStrides(r.shape);
      let computed: Map<Expr, View> | undefined;
      for (const p of r.parts) {
        if (p.store.holdsComputed) (computed ??= new Map()).set(p.expr, { buf: p.store._buf!, dtype: p.store.dtype, shape: r.shape, strides, offset: 0 });
      }
      const k = canonical([r.expr], r.views, r.scalars, computed);
      const exe = this.backend.prepare({ kind: 'elementwise', expr: k.exprs[0], ndim: r.shape.length });
      dispatch(this.backend, exe, k.views, [{ buf: this._buf!, dtype: this.dtype, shape: r.shape, strides, offset: 0 }], k.scalars, dynamicOf(k.exprs, k.scalars));
      this.computedAt = this.writes;
    } finally {
      for (const s of r.inputs) s.release();
    }
  }

  /**
   * Drops a pending storage's recipe without computing it, for a caller about to overwrite every
   * element: the buffer is allocated, its contents undefined.
   */
  discardPending(): void {
    const r = this._recipe;
    if (!r) return;
    this.allocate(r);
    this.detachRecipe();
    for (const s of r.inputs) s.release();
  }

  private allocate(r: Recipe): void {
    if (this._buf) return;
    try {
      this._buf = allocBuffer(this.backend, this.numel, this.dtype);
      owners.set(this._buf, this);
    } catch (e) {
      if (e instanceof OutOfMemoryError || e instanceof RangeError) {
        throw new OutOfMemoryError(`${r.op} (computed when needed, fused): out of memory for a ${this.dtype} tensor of shape [${r.shape.join(',')}] (${this.numel * 4} bytes): ${e.message}`);
      }
      throw e;
    }
  }

  private detachRecipe(): void {
    const r = this._recipe!;
    this._recipe = null;
    engine.pending.delete(this);
    for (const v of r.views) {
      const s = readers.get(v.buf);
      if (s && s.delete(this) && s.size === 0) readers.delete(v.buf);
    }
  }

  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) {
      engine.liveBytes -= this.numel * BYTES_PER_ELEMENT;
      const r = this._recipe;
      if (r) {
        // never computed: drop the recipe and the inputs it held
        this.detachRecipe();
        for (const s of r.inputs) s.release();
      }
      if (this._buf) {
        owners.delete(this._buf);
        freeBuffer(this.backend, this._buf);
      }
    }
  }
}

/**
 * Computes every pending result that reads `buf`: call before a kernel writes into `buf` (in-place
 * ops, copies into views, optimizer updates, accumulating routines), so they see the old values.
 * Counts the write in the storage holding `buf` (its version, for autograd).
 */
export function beforeWrite(buf: BackendBuffer): void {
  const o = owners.get(buf);
  if (o) o.writes++;
  const s = readers.get(buf);
  if (s) for (const p of [...s]) p.materialize();
}

/** Computes every pending result on `backend` (or on every backend). */
export function materializeAll(backend?: Backend): void {
  for (const p of [...engine.pending]) if (!backend || p.backend === backend) p.materialize();
}

