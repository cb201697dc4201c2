/**
 * Eager elementwise fusion: a chain of elementwise ops runs as one kernel.
 *
 * With fusion on (the default on WebGPU, `wt.setFusion`), an elementwise op does not dispatch: its result
 * is *pending*: its Storage has no contents yet, only a recipe (the op's expression, the views it
 * reads, its scalars; src/storage.ts), and gets its buffer when it is computed. The allocation is
 * checked when the op runs (Backend.reserve), so out-of-memory errors still name the op; a backend
 * that cannot check up front (the CPU) allocates a result over LAZY_CPU_ELEMENTS at once. An elementwise op whose input is pending substitutes that
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
 * Costs: a pending result recomputes its expression in each consumer that folds it in, at most
 * MAX_FOLDS of them (a further use computes it once into its buffer), and it keeps its inputs'
 * storage alive until it is computed or disposed. Debug mode (`wt.setDebug`) checks every op's
 * output, so it leaves nothing pending.
 *
 * Compile cost: each distinct kernel is a pipeline to compile (tens to hundreds of ms on a
 * software adapter), so the kernels a program runs must come in few forms. Kernels are numbered
 * canonically when dispatched (src/kernel/canonical.ts), so the same form shares a pipeline
 * whatever the fold order; a result autograd saves is computed when saved (src/autograd/graph.ts),
 * so backward, which reads saved results in reverse order, never computes a chain's link from
 * the chain's start; and a recipe remembers the pending results folded into it (Recipe.parts),
 * so one computed since is read from its buffer rather than recomputed (Storage.materialize):
 * links computed in order are one short kernel each, of one pipeline. Reading the links of a long
 * chain in reverse order still compiles one kernel per depth.
 *
 * Matmul epilogues: a matmul's result (the routine on a[Z,M,K] @ b[Z,K,N] (+ bias), as `matmul`,
 * `linear` and their gradients run it) is pending too (src/ops/run.ts runMatmul: Recipe.gemm),
 * and an elementwise op on it becomes the GEMM's epilogue (foldIntoMatmul): the op's expression,
 * with the product for its load, evaluated where the GEMM stores each value, its other inputs
 * read at the same [z, m, n] (kernel.ts MatmulEpilogue; shaders/matmul.wgsl EPI; the CPU routine
 * runs it after the product). So gelu(x@W + b), r + x@W + b and r + gelu(x@W + b) are one GEMM,
 * and so are backward's g@W2ᵀ · gelu'(h) and a gradient accumulated onto a GEMM's output. The
 * result of the fold is again a pending matmul, so a chain of such ops folds op by op.
 * Autograd does not compute a pending matmul it saves (the pre-activation h that gelu's backward
 * reads): the kernel that computes a consumer folded into it writes it as a second output, as
 * it does every folded intermediate something still holds, and reads one computed since from
 * its buffer rather than multiplying again. Anything else that needs a pending matmul's values
 * (a routine, a reduction, a read) computes the plain product, one GEMM as before.
 * A matmul folds at most one consumer (another computes the product and reads it) and only
 * what the GEMM can evaluate: float32, constants but no runtime scalars (x * 0.5 with a number
 * stays a separate kernel), no random or index leaves, its other inputs not pending (they would
 * not fold into the GEMM), one batch level, at most MAX_GEMM_BUFFERS storage buffers.
 */
import { relayout, type Backend, type View } from './backend/backend.js';
import { engine } from './engine.js';
import type { FoldedPart, Recipe, Storage } from './storage.js';
import { ArgumentError } from './errors.js';
import { IR, type Expr } from './kernel/ir.js';
import { broadcastStrides, numel, shapesEqual, viewStrides } from './shape.js';
import type { Tensor } from './tensor.js';

/** Most expression nodes (as a tree) in one fused kernel. */
export const MAX_NODES = 256;
/** Most storage buffers one fused kernel binds, outputs included (WebGPU guarantees 8 per stage). */
export const MAX_BUFFERS = 8;
/** Most distinct input views of one fused kernel. */
export const MAX_VIEWS = 8;
/** CPU pending results up to this many elements get their typed array when computed. */
export const LAZY_CPU_ELEMENTS = 1 << 24;
/** Most kernels one pending result is folded into; a further use computes it into its buffer. */
export const MAX_FOLDS = 2;

/**
 * Turns eager elementwise fusion on or off. With fusion on, elementwise results are pending and a
 * chain of them runs as one kernel when its result is needed (see the module notes of
 * src/fusion.ts); off, every op dispatches its own kernel at once. `'auto'` (the default) is on
 * for the WebGPU backend, where a kernel launch costs far more than the arithmetic of a small op
 * (a chain of 1,000 small ops runs about 5x faster: bench/RESULTS.md), and off for the CPU
 * backend, where the front end's per-op work dominates and fusion measured no faster.
 *
 * Results are the same either way: the fused kernel does the same float32 operations in the same
 * order, each rounded to float32 (bit-identical on the CPU backend and on SwiftShader; a GPU
 * compiler that contracts a multiply and an add into one FMA may differ in the last bit).
 * Tensors already pending stay pending until used.
 *
 * @example wt.setFusion(false); // one kernel per elementwise op, e.g. to profile ops one by one
 */
export function setFusion(on: boolean | 'auto'): void {
  if (typeof on !== 'boolean' && on !== 'auto') throw new ArgumentError(`setFusion: expected true, false or 'auto', got ${String(on)}`);
  engine.fusion = on;
}

/**
 * Turns matmul epilogues on or off (on by default; they apply where fusion is on): a matmul's
 * result is pending and an elementwise op on it runs in the GEMM (see "Matmul epilogues" in the
 * module notes), and linear's backward takes its bias gradient from the weight gradient's GEMM
 * (the routine's rowSums; on every backend). Off, every matmul dispatches at once and the bias
 * gradient is a column sum of its own, as before. For benchmarks and tests (internal: not
 * exported by the package).
 */
export function setMatmulEpilogues(on: boolean): void {
  engine.matmulEpilogues = on;
}

/** Whether eager elementwise fusion is on for the current backend (see `setFusion`). */
export function isFusion(): boolean {
  return fusionOn(engine.backend);
}

function fusionOn(backend: Backend | null): boolean {
  return engine.fusion === 'auto' ? backend?.fusionPays === true : engine.fusion;
}

/** Whether an elementwise op on `backend` leaves its result pending now (and folds pending inputs in). */
export function fusing(backend: Backend): boolean {
  return fusionOn(backend) && !engine.debug;
}

/** Whether an elementwise op on `inputs` may leave its result pending (none reads a host-owned buffer). */
export function fusable(inputs: readonly Tensor[]): boolean {
  return inputs.every((t) => !t._store.external);
}

/** Nodes of `e` as a tree (a shared subtree counts each time it is used). */
export function treeSize(e: Expr): number {
  let n = 1;
  for (const a of e.args) n += treeSize(a);
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
  /** tree size of the expressions */
  size: number;
  /** they read the linear element index (index or rand leaves) */
  usesIndex: boolean;
  /** where the op's own scalars start in `scalars` (a folded recipe's may come first) */
  shift: number;
  /** the pending results folded in, with their subexpressions (Recipe.parts) */
  parts: readonly FoldedPart[];
}

const NO_PARTS: readonly FoldedPart[] = [];

/** The recipe's views re-strided to the iteration shape `shape`, or null when it cannot fuse there. */
function fusableViews(t: Tensor, shape: readonly number[], reduce: boolean): View[] | null {
  const st = t._store;
  const r = st.recipe;
  // a pending matmul folds into elementwise consumers as its epilogue instead (foldIntoMatmul)
  if (!r || r.gemm) return null;
  if (reduce && (r.usesIndex || r.views.length === 0)) return null;
  if (t.offset !== 0 || numel(t.shape) !== st.numel || numel(shape) !== st.numel || !t.isContiguous()) return null;
  if (shapesEqual(r.shape, shape)) return [...r.views];
  const out: View[] = [];
  for (const v of r.views) {
    const strides = viewStrides(r.shape, v.strides, shape);
    if (!strides) return null;
    out.push(relayout(v, shape, strides));
  }
  return out;
}

/**
 * `e` with each load(i) replaced by `load(i, dtype)` and its scalar parameters (and `rand`'s)
 * shifted by `base`; shared subtrees stay shared (`memo`), untouched ones are returned as is.
 */
function rewrite(e: Expr, load: (i: number, dtype: Expr['dtype']) => Expr, base: number, memo: Map<Expr, Expr>): Expr {
  let m = memo.get(e);
  if (m) return m;
  switch (e.op) {
    case 'load': m = load(e.value!, e.dtype); break;
    case 'scalar': m = base ? IR.scalar(e.value! + base, e.dtype) : e; break;
    case 'rand': m = base ? IR.rand(e.value! + base, e.lane ?? 0) : e; break;
    case 'const': case 'index': m = e; break;
    default: {
      const args = e.args.map((x) => rewrite(x, load, base, memo));
      m = args.every((x, i) => x === e.args[i]) ? e : { ...e, args };
    }
  }
  memo.set(e, m);
  return m;
}

/** Renumbers a recipe's loads (`loads[j]`) and shifts its scalars by `base`. */
const remap = (e: Expr, loads: readonly number[], base: number, memo: Map<Expr, Expr>): Expr =>
  rewrite(e, (i, dtype) => IR.load(loads[i], dtype), base, memo);

/** The consumer's expression with load(i) replaced by `subs[i]` and its scalars shifted by `base`. */
const substitute = (e: Expr, subs: readonly (Expr | null)[], base: number, memo: Map<Expr, Expr>): Expr =>
  rewrite(e, (i) => subs[i]!, base, memo);

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

const sameView = (a: View, b: View): boolean => {
  if (a.buf !== b.buf || a.offset !== b.offset) return false;
  for (let d = 0; d < a.strides.length; d++) if (a.strides[d] !== b.strides[d]) return false;
  return true;
};

/** Distinct views, and distinct buffers, of `views` (a handful: linear scans). */
function distinct(views: readonly View[]): { views: number; bufs: number } {
  let nv = 0, nb = 0;
  for (let i = 0; i < views.length; i++) {
    let seenView = false, seenBuf = false;
    for (let j = 0; j < i && !seenView; j++) {
      if (views[j].buf === views[i].buf) {
        seenBuf = true;
        seenView = sameView(views[i], views[j]);
      }
    }
    if (!seenView) nv++;
    if (!seenBuf) nb++;
  }
  return { views: nv, bufs: nb };
}

/**
 * The kernel that computes `exprs` (loads indexing `inputs`, each broadcast to `shape`; scalars
 * `scalars`) with pending inputs folded in where `fuse` is set and the caps allow; other inputs
 * (pending ones computed first) are loaded. `outputs` is the number of buffers the kernel writes;
 * `reduce` marks a reduction prologue.
 *
 * The biggest folded recipe keeps its own numbering (its views first, its scalars first), so
 * growing a chain by one op costs a pass over the new op's expression, not over the whole chain.
 * A pending input already folded into MAX_FOLDS kernels is computed into its buffer and loaded,
 * so a result that many kernels use (a random tensor read by every step of a chain) is not
 * recomputed by each of them.
 */
export function compose(exprs: readonly Expr[], inputs: readonly Tensor[], shape: readonly number[], scalars: readonly number[], opts: { outputs: number; reduce?: boolean; fuse: boolean }): Composed {
  const n = inputs.length;
  const counts = loadCounts(exprs, n);
  const maxReads = MAX_BUFFERS - opts.outputs;
  const broadcast = (t: Tensor): View => {
    const v = t._view(); // computes a pending input that is not folded
    return relayout(v, shape, broadcastStrides(t.shape, t.strides, shape));
  };
  const cand: (View[] | null)[] = inputs.map((t, i) => (opts.fuse && counts[i] > 0 && t._store.fusedUses < MAX_FOLDS ? fusableViews(t, shape, opts.reduce ?? false) : null));
  // inputs that are read as they are go first: computing one may compute a candidate's storage too
  const direct: (View | null)[] = inputs.map((t, i) => (counts[i] > 0 && !cand[i] ? broadcast(t) : null));
  inputs.forEach((t, i) => {
    if (cand[i] && !t._store.recipe) {
      cand[i] = null;
      direct[i] = broadcast(t);
    }
  });
  const directViews = direct.filter((v): v is View => v !== null);

  const views: View[] = [];
  const stores: Storage[] = [];
  const add = (v: View, s: Storage): number => {
    let k = views.findIndex((w) => sameView(v, w));
    if (k < 0) {
      k = views.push(v) - 1;
      stores.push(s);
    }
    return k;
  };
  const subs: (Expr | null)[] = new Array<Expr | null>(n).fill(null);
  const outScalars: number[] = [];
  const fused = new Map<Storage, Expr>();
  // most kernels fold nothing: no array for them
  let parts: FoldedPart[] | null = null;
  let size = exprs.reduce((a, e) => a + treeSize(e), 0);
  let left = cand.filter((c) => c).length;

  // the base: the biggest recipe, taken over verbatim when it fits
  let base = -1;
  cand.forEach((c, i) => {
    if (c && (base < 0 || inputs[i]._store.recipe!.size > inputs[base]._store.recipe!.size)) base = i;
  });
  if (base >= 0) {
    const r = inputs[base]._store.recipe!, rv = cand[base]!;
    const d = distinct([...rv, ...directViews]);
    const grow = counts[base] * (r.size - 1);
    left--;
    if (size + grow <= MAX_NODES && d.bufs + left <= maxReads && d.views + left <= MAX_VIEWS && distinct(rv).views === rv.length) {
      rv.forEach((v, j) => add(v, r.inputs[j]));
      subs[base] = r.expr;
      outScalars.push(...r.scalars);
      size += grow;
      fused.set(inputs[base]._store, r.expr);
      parts = [...r.parts];
    } else {
      direct[base] = broadcast(inputs[base]);
    }
    cand[base] = null;
  }
  const shift = outScalars.length;
  outScalars.push(...scalars);
  inputs.forEach((t, i) => {
    const v = direct[i];
    if (v) subs[i] = IR.load(add(v, t._store), t.dtype);
  });
  // further recipes (e.g. a + b with both pending): renumbered into the kernel
  inputs.forEach((t, i) => {
    const rv = cand[i];
    if (!rv) return;
    left--; // every later candidate keeps one slot, in case it is computed and loaded
    const r = t._store.recipe;
    const grow = r ? counts[i] * (r.size - 1) : 0;
    const again = fused.get(t._store);
    if (again) {
      // the same storage twice in one kernel (x * x): the same expression object, which the
      // backends compile once (they share repeated subtrees)
      subs[i] = again;
      size += grow;
      return;
    }
    if (!r || size + grow > MAX_NODES || distinct([...views, ...rv]).bufs + left > maxReads || distinct([...views, ...rv]).views + left > MAX_VIEWS) {
      subs[i] = IR.load(add(broadcast(t), t._store), t.dtype);
      return;
    }
    const loads = rv.map((v, j) => add(v, r.inputs[j]));
    const memo = new Map<Expr, Expr>();
    subs[i] = remap(r.expr, loads, outScalars.length, memo);
    outScalars.push(...r.scalars);
    size += grow;
    fused.set(t._store, subs[i]!);
    parts ??= [];
    for (const p of r.parts) parts.push({ store: p.store, expr: memo.get(p.expr)! });
  });
  let usesIndex = exprs.some(readsIndex);
  for (const [s, e] of fused) {
    s.fusedUses++;
    usesIndex ||= s.recipe!.usesIndex;
    (parts ??= []).push({ store: s, expr: e });
  }
  const memo = new Map<Expr, Expr>();
  const out = exprs.map((e) => substitute(e, subs, shift, memo));
  return { exprs: out, views, inputs: stores, scalars: outScalars, size, usesIndex, shift, parts: parts ?? NO_PARTS };
}

/** A pending result of `c.exprs[0]` over `shape`: the recipe, with references on its inputs. */
export function recipeOf(c: Composed, shape: readonly number[], op: string): Recipe {
  for (const s of c.inputs) s.retain();
  return { expr: c.exprs[0], views: c.views, inputs: c.inputs, scalars: c.scalars, shape: [...shape], size: c.size, usesIndex: c.usesIndex, op, parts: c.parts };
}
