/**
 * Eager elementwise fusion: a chain of elementwise ops runs as one kernel.
 *
 * With fusion on (the default, `wt.setFusion`), an elementwise op does not dispatch: its result
 * is *pending*: its Storage has a buffer (allocated at once, so out-of-memory and lost-device
 * errors still name the op) but no contents yet, only a recipe (the op's expression, the views it
 * reads, its scalars; src/engine.ts). An elementwise op whose input is pending substitutes that
 * input's expression for the load of it (the recipe's loads renumbered into the new kernel's
 * inputs, its scalars appended to the new kernel's), so `x.mul(2).add(1).relu()` is one kernel
 * over x. A reduction does the same with its per-element prologue (`x.sub(m).exp().sum()` is one
 * reduce kernel), and so do copies into views (`contiguous`, `cat`, `copy_`) and in-place ops.
 *
 * A pending result is computed (one kernel into its own buffer) when anything else needs its
 * values: a routine (matmul, conv, softmax, ...), a read, `gpuBuffer()`, a view whose layout the
 * consumer cannot fuse (`Storage.buf` computes on first use, so every path that hands out the real
 * buffer materializes first). Before a kernel writes into a buffer (in-place ops, copies into
 * slices, optimizer updates) every pending result reading that buffer is computed, so it sees the
 * old values. Disposing a pending tensor drops its recipe without computing anything.
 *
 * What fuses: an input that is a pending tensor covering its whole storage in row-major order
 * (the op's result, or a reshape of it) and is not broadcast to a larger shape (that would repeat
 * its work per output element). The fused kernel is capped: at most MAX_NODES expression nodes
 * (counted as a tree, so a subtree used twice counts twice), MAX_BUFFERS storage buffers
 * (WebGPU's guaranteed per-stage minimum, outputs included) and MAX_VIEWS input views; an input
 * that would go past a cap is computed first and read like any tensor. Expressions that read the
 * element index (dropout's random mask) are not folded into reductions. Ops that read a buffer
 * the host app owns (`wt.fromGPUBuffer`) run at once, so `wt.flush()` keeps its meaning: work
 * issued before it reads the host buffer's contents of that moment.
 *
 * Costs: a pending result recomputes its expression in every consumer that fuses it (elementwise
 * work is cheap next to a kernel launch), and it keeps its inputs' storage alive until it is
 * computed or disposed. Debug mode (`wt.setDebug`) checks
 * every op's output, so it turns deferral off.
 */
import type { BackendBuffer, View } from './backend/backend.js';
import { engine, type Recipe, type Storage } from './engine.js';
import { ArgumentError } from './errors.js';
import { E, type Expr } from './kernel/ir.js';
import { broadcastStrides, numel, shapesEqual, viewStrides } from './shape.js';
import type { Tensor } from './tensor.js';

/** Most expression nodes (as a tree) in one fused kernel. */
export const MAX_NODES = 64;
/** Most storage buffers one fused kernel binds, outputs included (WebGPU guarantees 8 per stage). */
export const MAX_BUFFERS = 8;
/** Most distinct input views of one fused kernel. */
export const MAX_VIEWS = 8;

/**
 * Turns eager elementwise fusion on or off (on by default). With fusion on, elementwise ops are
 * deferred and a chain of them runs as one kernel when its result is needed (see the module
 * notes of src/fusion.ts); off, every op dispatches its own kernel at once. Results are the same
 * either way: the fused kernel does the same float32 operations in the same order, each rounded
 * to float32 (bit-identical on the CPU backend and on SwiftShader; a GPU compiler that contracts
 * a multiply and an add into one FMA may differ in the last bit). Tensors already pending stay
 * pending until used.
 *
 * @example wt.setFusion(false); // one kernel per elementwise op, e.g. to profile ops one by one
 */
export function setFusion(on: boolean): void {
  if (typeof on !== 'boolean') throw new ArgumentError(`setFusion: expected true or false, got ${JSON.stringify(on)}`);
  engine.fusion = on;
}

/** Whether eager elementwise fusion is on (see `setFusion`). */
export function isFusion(): boolean {
  return engine.fusion;
}

/** Whether an elementwise op should be deferred now. */
export function deferring(): boolean {
  return engine.fusion && !engine.debug;
}

/** Whether an elementwise op on `inputs` may be deferred (none reads a host-owned buffer). */
export function deferrable(inputs: readonly Tensor[]): boolean {
  return inputs.every((t) => !t._store.external);
}

const sizes = new WeakMap<Expr, number>();

/** Nodes of `e` as a tree (a shared subtree counts each time it is used). */
export function treeSize(e: Expr): number {
  let n = sizes.get(e);
  if (n === undefined) {
    n = 1;
    for (const a of e.args) n += treeSize(a);
    sizes.set(e, n);
  }
  return n;
}

/** Whether `e` reads the linear element index (index or rand leaves). */
export function readsIndex(e: Expr): boolean {
  return e.op === 'index' || e.op === 'rand' || e.args.some(readsIndex);
}

/** The result of composing a kernel's expressions with its pending inputs. */
export interface Composed {
  exprs: Expr[];
  views: View[];
  /** the storage each view reads (not retained: the caller takes references) */
  inputs: Storage[];
  scalars: number[];
  /** tree size of exprs[0] */
  size: number;
}

/** The recipe's views re-strided to the iteration shape `shape`, or null when it cannot fuse there. */
function fusableViews(t: Tensor, shape: readonly number[], reduce: boolean): View[] | null {
  const st = t._store;
  const r = st.recipe;
  if (!r) return null;
  if (reduce && (r.usesIndex || r.views.length === 0)) return null;
  if (t.offset !== 0 || numel(t.shape) !== st.numel || numel(shape) !== st.numel || !t.isContiguous()) return null;
  if (shapesEqual(r.shape, shape)) return [...r.views];
  const out: View[] = [];
  for (const v of r.views) {
    const strides = viewStrides(r.shape, v.strides, shape);
    if (!strides) return null;
    out.push({ ...v, shape, strides });
  }
  return out;
}

/** Renumbers a recipe's loads (`loads[j]`) and shifts its scalars by `base`. */
function remap(e: Expr, loads: readonly number[], base: number, memo: Map<Expr, Expr>): Expr {
  let m = memo.get(e);
  if (m) return m;
  switch (e.op) {
    case 'load': m = E.load(loads[e.value!], e.dtype); break;
    case 'scalar': m = E.scalar(e.value! + base, e.dtype); break;
    case 'rand': m = E.rand(e.value! + base, e.lane ?? 0); break;
    case 'const': case 'index': m = e; break;
    default: {
      const args = e.args.map((a) => remap(a, loads, base, memo));
      m = args.every((a, i) => a === e.args[i]) ? e : { ...e, args };
    }
  }
  memo.set(e, m);
  return m;
}

/** Replaces load(i) by `subs[i]`. */
function substitute(e: Expr, subs: readonly (Expr | null)[], memo: Map<Expr, Expr>): Expr {
  let m = memo.get(e);
  if (m) return m;
  if (e.op === 'load') m = subs[e.value!]!;
  else if (e.args.length === 0) m = e;
  else {
    const args = e.args.map((a) => substitute(a, subs, memo));
    m = args.every((a, i) => a === e.args[i]) ? e : { ...e, args };
  }
  memo.set(e, m);
  return m;
}

/** How often each load index occurs in the trees of `exprs`. */
function loadCounts(exprs: readonly Expr[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  const walk = (e: Expr): void => {
    if (e.op === 'load') c[e.value!]++;
    else for (const a of e.args) walk(a);
  };
  exprs.forEach(walk);
  return c;
}

/**
 * The kernel that computes `exprs` (loads indexing `inputs`, each broadcast to `shape`) with every
 * pending input that fits the caps folded in (`fuse`; others are computed first and loaded).
 * `outputs` is the number of buffers the kernel writes; `reduce` marks a reduction prologue.
 */
export function compose(exprs: readonly Expr[], inputs: readonly Tensor[], shape: readonly number[], scalars: readonly number[], opts: { outputs: number; reduce?: boolean; fuse: boolean }): Composed {
  const views: View[] = [];
  const stores: Storage[] = [];
  const used = new Set<BackendBuffer>();
  const ids = new Map<BackendBuffer, number>();
  const keys = new Map<string, number>();
  const keyOf = (v: View): string => {
    let b = ids.get(v.buf);
    if (b === undefined) ids.set(v.buf, (b = ids.size));
    return `${b}@${v.offset}:${v.strides.join(',')}`;
  };
  const addView = (v: View, s: Storage): number => {
    const k = keyOf(v);
    let i = keys.get(k);
    if (i === undefined) {
      i = views.push(v) - 1;
      stores.push(s);
      keys.set(k, i);
      used.add(v.buf);
    }
    return i;
  };
  const direct = (t: Tensor): Expr => {
    const v = t._view(); // computes a pending input that is not fused
    return E.load(addView({ ...v, shape, strides: broadcastStrides(t.shape, t.strides, shape) }, t._store), t.dtype);
  };
  const counts = loadCounts(exprs, inputs.length);
  const cand = inputs.map((t, i) => (opts.fuse && counts[i] > 0 ? fusableViews(t, shape, opts.reduce ?? false) : null));
  // inputs that are not fused go first: they need their slots whatever happens
  const subs: (Expr | null)[] = inputs.map((t, i) => (counts[i] === 0 || cand[i] ? null : direct(t)));
  const outScalars = [...scalars];
  let size = exprs.reduce((a, e) => a + treeSize(e), 0);
  let left = cand.filter((c) => c).length;
  const maxReads = MAX_BUFFERS - opts.outputs;
  inputs.forEach((t, i) => {
    const rv = cand[i];
    if (!rv) return;
    left--; // every later candidate keeps one slot, in case it is computed and loaded
    const r = t._store.recipe;
    if (!r) {
      // computed meanwhile (another input is a view of the same storage that could not fuse)
      subs[i] = direct(t);
      return;
    }
    const grow = counts[i] * (r.size - 1);
    const newBufs = new Set(rv.map((v) => v.buf).filter((b) => !used.has(b))).size;
    const newViews = new Set(rv.map(keyOf).filter((k) => !keys.has(k))).size;
    if (size + grow > MAX_NODES || used.size + newBufs + left > maxReads || views.length + newViews + left > MAX_VIEWS) {
      subs[i] = direct(t);
      return;
    }
    const loads = rv.map((v, j) => addView(v, r.inputs[j]));
    subs[i] = remap(r.expr, loads, outScalars.length, new Map());
    outScalars.push(...r.scalars);
    size += grow;
  });
  const memo = new Map<Expr, Expr>();
  return { exprs: exprs.map((e) => substitute(e, subs, memo)), views, inputs: stores, scalars: outScalars, size };
}

/** A pending result of `c.exprs[0]` over `shape`: the recipe, with references on its inputs. */
export function recipeOf(c: Composed, shape: readonly number[]): Recipe {
  for (const s of c.inputs) s.retain();
  return { expr: c.exprs[0], views: c.views, inputs: c.inputs, scalars: c.scalars, shape: [...shape], size: c.size, usesIndex: readsIndex(c.exprs[0]) };
}
