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
import { allocBuffer, copyBuffer, dispatch, dynamicOf, freeBuffer } from './record.js';

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
  /**
   * A pending matmul (src/fusion.ts, "Matmul epilogues"): `views` are the routine's operands a,
   * b (and bias) followed by epilogue inputs, and `expr` is its epilogue, `load(0)` the product
   * and `load(i)` view `operands + i - 1`, over the product's `shape` [Z, M, N]. `parts` are the
   * pending results of the same product folded in (the plain product first): the GEMM writes
   * each that is still pending and still wanted, or reads it if computed since. `inputs` holds
   * the views' storages, then the parts'.
   */
  readonly gemm?: { readonly bias: boolean; readonly operands: number };
}

/** A pending result folded into a recipe: its storage (not retained) and its subexpression there. */
export interface FoldedPart {
  readonly store: Storage;
  readonly expr: Expr;
}

/** A float32 load of input i (IR.load, spelled out: `load` bundles storage.ts without the IR's tables). */
const loadF32 = (i: number): Expr => ({ op: 'load', dtype: 'float32', args: [], value: i });

/** Most storage buffers a pending matmul's kernel binds (operands, epilogue inputs, outputs). */
export const MAX_GEMM_BUFFERS = 8;

/** `e` with each subexpression that is a key of `swap` (by identity) replaced by its value. */
function swapIn(e: Expr, swap: ReadonlyMap<Expr, Expr>): Expr {
  if (swap.size === 0) return e;
  const hit = swap.get(e);
  if (hit) return hit;
  const args = e.args.map((a) => swapIn(a, swap));
  return args.every((a, i) => a === e.args[i]) ? e : { ...e, args };
}

/** `e` with load(i) replaced by `to.get(i)` where it has one. */
function swapLoads(e: Expr, to: ReadonlyMap<number, Expr>): Expr {
  if (e.op === 'load') return to.get(e.value!) ?? e;
  const args = e.args.map((a) => swapLoads(a, to));
  return args.every((a, i) => a === e.args[i]) ? e : { ...e, args };
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
    if (engine.liveBytes > engine.peakBytes) engine.peakBytes = engine.liveBytes;
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
    if (r.gemm) return this.materializeGemm(r);
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
   * Computes a pending matmul (Recipe.gemm): one matmul routine whose epilogue writes this
   * result and every folded part still pending that anything else holds (autograd's saved
   * pre-activation; an intermediate the graph or the caller keeps, which would otherwise cost a
   * GEMM of its own when read or when a step ends); a part computed since is read from its
   * buffer, and when that leaves no product to compute, an elementwise kernel runs instead.
   */
  private materializeGemm(r: Recipe): void {
    const g = r.gemm!;
    const strides = contiguousStrides(r.shape);
    const viewOf = (st: Storage): View => ({ buf: st._buf!, dtype: 'float32', shape: r.shape, strides, offset: 0 });
    this.allocate(r);
    this.detachRecipe();
    const alsoInputs: Storage[] = [];
    try {
      // parts computed since: their subexpressions read from their buffers (new loads after the views)
      const extra: View[] = r.views.slice(g.operands);
      const swap = new Map<Expr, Expr>();
      for (const p of r.parts) if (p.store.holdsComputed) swap.set(p.expr, loadF32(1 + extra.push(viewOf(p.store)) - 1));
      let exprs = [swapIn(r.expr, swap)];
      // parts still pending and wanted elsewhere are written by the same GEMM (the buffer cap allowing)
      const also: Storage[] = [];
      let bufs = g.operands + extra.length + 1;
      for (const p of r.parts) {
        const pr = p.store._recipe;
        // held by more than this recipe and the pending parts that fold it: wanted
        const inner = 1 + r.parts.filter((q) => q.store._recipe?.inputs.includes(p.store)).length;
        if (!pr || !pr.gemm || p.store.refs <= inner || bufs >= MAX_GEMM_BUFFERS) continue;
        also.push(p.store);
        exprs.push(swapIn(p.expr, swap));
        bufs++;
      }
      const used = new Set<number>();
      const walk = (e: Expr): void => {
        if (e.op === 'load') used.add(e.value!);
        e.args.forEach(walk);
      };
      exprs.forEach(walk);
      for (const s of also) {
        const pr = s._recipe!;
        s.allocate(pr);
        s.detachRecipe();
        alsoInputs.push(...pr.inputs);
      }
      const outs = [this, ...also].map(viewOf);
      if (!used.has(0)) {
        // nothing left of the product: an elementwise kernel over the epilogue inputs
        const k = canonical(exprs, [viewOf(this), ...extra], []);
        const exe = this.backend.prepare({ kind: 'elementwise', expr: k.exprs[0], more: k.exprs.slice(1), ndim: r.shape.length });
        dispatch(this.backend, exe, k.views, outs, k.scalars, dynamicOf(k.exprs, k.scalars));
      } else {
        // epilogue inputs renumbered 1.. in the order read (every one must be read)
        const order = [...used].filter((i) => i > 0).sort((a, b) => a - b);
        const to = new Map(order.map((i, j) => [i, loadF32(j + 1)]));
        exprs = exprs.map((e) => swapLoads(e, to));
        const plain = exprs.length === 1 && exprs[0].op === 'load';
        const config = plain ? { bias: g.bias } : { bias: g.bias, epilogue: { exprs } };
        const exe = this.backend.prepare({ kind: 'routine', name: 'matmul', config });
        dispatch(this.backend, exe, [...r.views.slice(0, g.operands), ...order.map((i) => extra[i - 1])], outs);
      }
      this.computedAt = this.writes;
      for (const s of also) s.computedAt = s.writes;
    } finally {
      for (const s of r.inputs) s.release();
      for (const s of alsoInputs) s.release();
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

  /** The buffer as it is (null while pending and not given one), without computing anything. */
  get rawBuffer(): BackendBuffer | null {
    return this._buf;
  }

  /**
   * Gives a pending storage that has no buffer yet `buf` (an arena slot, src/arena.ts) to compute
   * its contents into when they are needed.
   */
  adoptBuffer(buf: BackendBuffer): void {
    if (this._buf || !this._recipe || buf.numel !== this.numel) throw new Error('adoptBuffer: only a pending storage without a buffer takes one of its size');
    this._buf = buf;
    owners.set(buf, this);
  }

  /**
   * Moves the contents into `buf` (an arena slot of the same size) and frees the old buffer: the
   * storage, and every tensor on it, keeps its identity. Pending results reading the old buffer
   * are computed first.
   */
  moveTo(buf: BackendBuffer): void {
    if (buf.numel !== this.numel) throw new Error('moveTo: the buffer must have the storage\'s size');
    const old = this.buf;
    if (old === buf) return;
    const s = readers.get(old);
    if (s) for (const p of [...s]) p.materialize();
    copyBuffer(this.backend, { src: old, srcOffset: 0, dst: buf, dstOffset: 0, numel: this.numel });
    owners.delete(old);
    freeBuffer(this.backend, old);
    this._buf = buf;
    owners.set(buf, this);
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
  const all = [...engine.pending].filter((p) => !backend || p.backend === backend);
  // pending matmuls with folded parts first: each writes its parts too (one GEMM, not two)
  for (const p of all) if (p.recipe?.gemm && p.recipe.parts.length > 0) p.materialize();
  for (const p of all) p.materialize();
}

