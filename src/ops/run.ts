/**
 * How ops turn into kernel dispatches: allocate outputs, build views (broadcast by stride 0,
 * reductions by permuting reduced axes last), prepare and dispatch on the tensors' backend.
 */
import { relayout, type Backend, type View } from '../backend/backend.js';
import type { DType } from '../dtype.js';
import { engine } from '../engine.js';
import { MAX_GEMM_BUFFERS, beforeWrite, Storage, storageOf } from '../storage.js';
import { allocBuffer, dispatch, dynamicOf, remapDynamic, type DynamicScalars } from '../record.js';
import { inherit, noteFlow } from '../deferred.js';
import { LAZY_CPU_ELEMENTS, MAX_NODES, compose, fusable, fusing, recipeOf, treeSize } from '../fusion.js';
import { BackendError, OutOfMemoryError, fmt } from '../errors.js';
import { IR, type Expr } from '../kernel/ir.js';
import { canonical } from '../kernel/canonical.js';
import { epilogueExpr, reduceDType, type ReduceOp, type RoutineName, type Routines } from '../kernel/kernel.js';
import { MAX_NUMEL, broadcastStrides, contiguousStrides, isContiguous, numel, viewStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { checkOp } from '../debug.js';

/** The backend all tensors live on (the current one when there are none), or a BackendError. */
export function checkSameBackend(op: string, tensors: readonly Tensor[]): Backend {
  let b: Backend | null = null;
  for (const t of tensors) {
    t._check(op);
    if (b && t.backend !== b) {
      const which = b.name === t.backend.name ? `two different ${b.name} backends` : `${b.name} and ${t.backend.name}`;
      throw new BackendError(`${op}: tensors live on different backends (${which}); copy one over with wt.tensor(await t.data(), { shape: t.shape })`);
    }
    b = t.backend;
  }
  return b ?? engine.requireBackend();
}

/** A fresh contiguous tensor of the given shape (contents undefined); `op` names it in errors. */
export function empty(shape: readonly number[], dtype: DType, backend: Backend = engine.requireBackend(), op = 'empty'): Tensor {
  const buf = allocating(op, shape, dtype, () => allocBuffer(backend, numel(shape), dtype));
  return Tensor._make(new Storage(backend, buf, dtype), shape, contiguousStrides(shape), 0, dtype);
}

/** A pending (fusion) tensor's storage: no buffer until computed, but refusals come now, naming `op`. */
function pending(shape: readonly number[], dtype: DType, backend: Backend, op: string): Tensor {
  const n = numel(shape);
  allocating(op, shape, dtype, () => backend.reserve?.(n, dtype));
  return Tensor._make(new Storage(backend, null, dtype, n), shape, contiguousStrides(shape), 0, dtype);
}

/** Runs an allocation, turning the backend's out-of-memory error into one naming the op and the shape. */
function allocating<T>(op: string, shape: readonly number[], dtype: DType, f: () => T): T {
  // refused before the backend tries: the CPU backend would make a typed array of 8+ GB
  if (numel(shape) > MAX_NUMEL) throw new OutOfMemoryError(`${op}: out of memory for a ${dtype} tensor of shape ${fmt(shape)}: ${numel(shape)} elements, more than a tensor holds (${MAX_NUMEL})`);
  try {
    return f();
  } catch (e) {
    // the backend knows the bytes; the user needs the op and the shape too
    // a CPU backend's typed array that cannot be made is out of memory too (RangeError)
    if (e instanceof OutOfMemoryError || e instanceof RangeError) throw new OutOfMemoryError(`${op}: out of memory for a ${dtype} tensor of shape ${fmt(shape)} (${numel(shape) * 4} bytes): ${e.message}`);
    throw e;
  }
}

/** The dtype a plain-number operand takes next to tensors of these dtypes. */
export function scalarDType(v: number | boolean, tensorDTypes: readonly DType[]): DType {
  if (typeof v === 'boolean') return 'bool';
  if (tensorDTypes.some((d) => d === 'float32') || !Number.isInteger(v)) return 'float32';
  return 'int32';
}

/**
 * A new tensor filled with `value`, pending whatever the fusion setting: its kernel runs when the
 * values are first needed (never, if it is dropped first).
 */
export function pendingFill(op: string, shape: readonly number[], value: number, dtype: DType, backend: Backend = engine.requireBackend()): Tensor {
  if (numel(shape) === 0) return empty(shape, dtype, backend, op);
  return makePending(op, IR.scalar(0, dtype), [], shape, [value], pending(shape, dtype, backend, op));
}

/** Makes `out` (a new tensor) pending on `expr` over `inputs`, their pending recipes folded in. */
function makePending(op: string, expr: Expr, inputs: readonly Tensor[], shape: readonly number[], scalars: readonly number[], out: Tensor): Tensor {
  try {
    out._store.setRecipe(recipeOf(compose([expr], inputs, shape, scalars, { outputs: 1, fuse: true }), shape, op));
  } catch (e) {
    out.dispose();
    throw e;
  }
  passChecks(out._store, inputs);
  return out;
}

/**
 * `out` now holds values computed from `inputs`: it carries their deferred checks (src/deferred.ts),
 * added to its own where it `keeps` some of its values.
 */
function passChecks(out: Storage | undefined, inputs: readonly Tensor[], keeps = false): void {
  if (!out) return;
  noteFlow(out, inputs);
  if (inputs.some((t) => t._store.checks) || (!keeps && out.checks)) inherit(out, inputs.map((t) => t._store), !keeps);
}

/** Whether a kernel writing the view `into` of `out` from `inputs` keeps values `out` had (writes part of it, or reads it). */
function keepsValues(into: View, out: Storage | undefined, inputs: readonly Tensor[]): boolean {
  return !(into.offset === 0 && out && numel(into.shape) === out.numel && isContiguous(into.shape, into.strides) && inputs.every((t) => t._store !== out));
}

/**
 * Runs an elementwise expression over `shape`, into a new tensor or into the view `into`. With
 * fusion on (src/fusion.ts) a new tensor is pending: the kernel, with its pending inputs folded
 * in, runs when the values are needed. Writes into `into` run at once, pending inputs folded in.
 */
export function runElementwise(op: string, expr: Expr, inputs: readonly Tensor[], shape: readonly number[], scalars: readonly number[] = [], into?: View): Tensor {
  const backend = checkSameBackend(op, inputs);
  if (into) beforeWrite(into.buf);
  const n = numel(shape);
  const fuse = fusing(backend);
  if (!into && fuse && n > 0 && fusable(inputs)) {
    const folded = foldIntoMatmul(op, expr, inputs, shape, scalars, backend);
    if (folded) return folded;
    // the buffer when computed; a backend that cannot refuse an allocation up front (reserve)
    // allocates a large result now, so that a failure names the op
    const out = backend.reserve || n <= LAZY_CPU_ELEMENTS ? pending(shape, expr.dtype, backend, op) : empty(shape, expr.dtype, backend, op);
    return makePending(op, expr, inputs, shape, scalars, out);
  }
  const out = into ? null : empty(shape, expr.dtype, backend, op);
  // an empty result carries the inputs' checks too: a check is about the op (oneHot of 0 classes)
  const target = into ? storageOf(into.buf) : out!._store;
  passChecks(target, inputs, into && keepsValues(into, target, inputs));
  if (n > 0) {
    const c = compose([expr], inputs, shape, scalars, { outputs: 1, fuse });
    const k = canonical(c.exprs, c.views, c.scalars);
    const exe = backend.prepare({ kind: 'elementwise', expr: k.exprs[0], ndim: shape.length });
    dispatch(backend, exe, k.views, [into ?? out!._view()], k.scalars, dynamicOf(k.exprs, k.scalars));
    if (engine.debug) checkOp(op, backend, [into ?? out!._view()], inputs.map((t) => t._view()), scalars, out ? [out] : []);
  }
  return out!;
}

/**
 * The matmul routine on `inputs` (a[Z,M,K], b[Z,K,N], bias?[N]) into a new [Z,M,N] tensor. With
 * fusion on the result is pending (src/fusion.ts, "Matmul epilogues"): an elementwise op on it
 * becomes the GEMM's epilogue (foldIntoMatmul), anything else computes the plain product.
 */
export function runMatmul(config: Routines['matmul'], inputs: readonly Tensor[], shape: readonly number[]): Tensor {
  const backend = checkSameBackend('matmul', inputs);
  if (shape.length !== 3 || config.epilogue || !engine.matmulEpilogues || !fusing(backend) || !fusable(inputs) || numel(shape) === 0) {
    return runRoutine('matmul', config, inputs, [{ shape, dtype: 'float32' }])[0];
  }
  const views = inputs.map((t) => t._view()); // computes pending operands
  const out = pending(shape, 'float32', backend, 'matmul');
  for (const t of inputs) t._store.retain();
  out._store.setRecipe({
    expr: IR.load(0, 'float32'), views, inputs: inputs.map((t) => t._store), scalars: [], shape: [...shape],
    size: 1, usesIndex: false, op: 'matmul', parts: [], gemm: { bias: config.bias, operands: inputs.length },
  });
  passChecks(out._store, inputs);
  return out;
}

/**
 * An elementwise op on a pending matmul (runMatmul) as the matmul's epilogue: a new pending
 * matmul whose expression is `expr` with the product's expression in place of its load, its other
 * inputs epilogue inputs (re-strided to the product's [Z,M,N]), the folded product among its
 * parts. Null when it does not fit: no pending matmul input read whole in row-major order, one
 * already folded once, another input pending, scalars, a non-float32 result, or the caps.
 */
function foldIntoMatmul(op: string, expr: Expr, inputs: readonly Tensor[], shape: readonly number[], scalars: readonly number[], backend: Backend): Tensor | null {
  if (scalars.length > 0 || expr.dtype !== 'float32' || !epilogueExpr(expr)) return null;
  const n = numel(shape);
  const gi = inputs.findIndex((t) => {
    const st = t._store;
    return st.recipe?.gemm !== undefined && st.fusedUses === 0 && t.offset === 0 && numel(t.shape) === n && st.numel === n && t.isContiguous();
  });
  if (gi < 0) return null;
  const g = inputs[gi]._store, r = g.recipe!;
  const others = inputs.filter((t) => t._store !== g);
  // another pending input would be computed here (not folded): leave it to the usual fusion
  if (others.some((t) => t._store.recipe) || inputs.some((t, i) => i !== gi && t._store === g && t !== inputs[gi])) return null;
  const size = treeSize(expr) + r.size;
  const nViews = r.views.length + others.length;
  if (size > MAX_NODES || nViews + 2 > MAX_GEMM_BUFFERS) return null;
  const loads: Expr[] = [];
  const views: View[] = [];
  for (const t of inputs) {
    if (t._store === g) {
      loads.push(r.expr);
      continue;
    }
    const v = t._view();
    const st = viewStrides(shape, broadcastStrides(t.shape, t.strides, shape), r.shape);
    if (!st) return null;
    loads.push(IR.load(r.views.length - r.gemm!.operands + 1 + views.push(relayout(v, r.shape, st)) - 1, 'float32'));
  }
  const sub = (e: Expr): Expr => (e.op === 'load' ? loads[e.value!] : e.args.length ? { ...e, args: e.args.map(sub) } : e);
  const out = pending(shape, 'float32', backend, op);
  const stores = [...r.inputs.slice(0, r.views.length), ...others.map((t) => t._store), ...r.parts.map((p) => p.store), g];
  for (const s of stores) s.retain();
  g.fusedUses++;
  out._store.setRecipe({
    expr: sub(expr), views: [...r.views, ...views], inputs: stores, scalars: [], shape: r.shape, size, usesIndex: false, op,
    parts: [...r.parts, { store: g, expr: r.expr }], gemm: r.gemm,
  });
  passChecks(out._store, inputs);
  return out;
}

/**
 * Runs a multi-output elementwise kernel writing exprs[i] into the view outs[i] (all of
 * `shape`); every output is computed from the inputs as they were before (fused updates).
 */
export function runElementwiseInto(op: string, exprs: readonly Expr[], inputs: readonly Tensor[], outs: readonly View[], scalars: readonly number[] = [], dynamic?: DynamicScalars): void {
  const backend = checkSameBackend(op, inputs);
  const shape = outs[0].shape;
  for (const o of outs) beforeWrite(o.buf);
  for (const o of outs) passChecks(storageOf(o.buf), inputs, keepsValues(o, storageOf(o.buf), inputs));
  if (numel(shape) === 0) return;
  const c = compose(exprs, inputs, shape, scalars, { outputs: new Set(outs.map((o) => o.buf)).size, fuse: fusing(backend) });
  const k = canonical(c.exprs, c.views, c.scalars);
  const exe = backend.prepare({ kind: 'elementwise', expr: k.exprs[0], more: k.exprs.slice(1), ndim: shape.length });
  // the op's own scalars start at c.shift (a folded recipe's come first), then move with the renumbering
  dispatch(backend, exe, k.views, outs, k.scalars, dynamicOf(k.exprs, k.scalars, dynamic && remapDynamic({ ...dynamic, at: c.shift + (dynamic.at ?? 0) }, k.scalarAt)));
  if (engine.debug) checkOp(op, backend, outs, inputs.map((t) => t._view()), scalars);
}

/**
 * One kernel over several independent segments (an optimizer step over many parameters): segment
 * g computes `exprs` over `inputs[g]` into `targets[g]`, every tensor of a segment contiguous and
 * of the segment's length, the scalars shared. Pending inputs are computed first (not folded).
 * Segments are packed into dispatches as the backend's buffer limit allows.
 */
export function runSegmentsInto(op: string, exprs: readonly Expr[], inputs: readonly (readonly Tensor[])[], targets: readonly (readonly Tensor[])[], scalars: readonly number[] = [], dynamic?: DynamicScalars): void {
  if (inputs.length === 0) return;
  const backend = checkSameBackend(op, inputs.flat());
  const kernelBuffers = backend.segmentBuffers ?? Infinity;
  // buffers a segment binds: its distinct storages (an in-place target is read through its own)
  const perSegment = Math.max(...inputs.map((ins, g) => new Set([...ins, ...targets[g]].map((t) => t._store)).size));
  const chunk = Math.max(1, Math.min(MAX_SEGMENTS, Math.floor(kernelBuffers / perSegment)));
  for (let g0 = 0; g0 < inputs.length; g0 += chunk) {
    const ins = inputs.slice(g0, g0 + chunk), outs = targets.slice(g0, g0 + chunk);
    const S = ins.length;
    const inViews = ins.flatMap((seg) => seg.map((t) => flat(t._view(), t.shape)));
    for (const seg of outs) for (const t of seg) beforeWrite(t._view().buf);
    const outViews = outs.flatMap((seg) => seg.map((t) => flat(t._view(), t.shape)));
    const exe = backend.prepare({ kind: 'elementwise', expr: exprs[0], more: exprs.slice(1), ndim: 1, ...(S > 1 ? { segments: S } : {}) });
    dispatch(backend, exe, inViews, outViews, scalars, dynamicOf(exprs, scalars, dynamic && [dynamic]));
    outs.forEach((seg, g) => seg.forEach((t) => passChecks(t._store, ins[g], keepsValues(t._view(), t._store, ins[g]))));
  }
}

/**
 * One kernel over whole arenas (src/arena.ts): `exprs` over the 1-D views `ins` into `outs`, each
 * an arena whose slots hold the tensors of `members` (per tensor group: its inputs, then its
 * targets, all in their slots; every input computed already). Counts each target's write and
 * passes deferred checks as runSegmentsInto does per segment.
 */
export function runArenaInto(op: string, exprs: readonly Expr[], ins: readonly View[], outs: readonly View[], members: readonly { inputs: readonly Tensor[]; targets: readonly Tensor[] }[], scalars: readonly number[] = [], dynamic?: DynamicScalars): void {
  if (!members.length) return;
  const backend = checkSameBackend(op, members[0].inputs);
  // the kernel reads the arenas, not the tensors: pending inputs are computed into their slots first
  for (const m of members) for (const t of m.inputs) void t._store.buf;
  for (const m of members) for (const t of m.targets) beforeWrite(t._view().buf);
  const exe = backend.prepare({ kind: 'elementwise', expr: exprs[0], more: exprs.slice(1), ndim: 1 });
  dispatch(backend, exe, ins, outs, scalars, dynamicOf(exprs, scalars, dynamic && [dynamic]));
  for (const m of members) for (const t of m.targets) passChecks(t._store, m.inputs, keepsValues(t._view(), t._store, m.inputs));
}

/** Most segments in one dispatch (the generated kernel has a branch per segment). */
export const MAX_SEGMENTS = 32;

/** A contiguous view as 1-D. */
const flat = (v: View, shape: readonly number[]): View => relayout(v, [numel(shape)], [1]);

/** Copies src (broadcast) into the view `dst` (which may be strided: slices, cat, pad). */
export function copyInto(src: Tensor, dst: View): void {
  runElementwise('copy', IR.cast(IR.load(0, src.dtype), dst.dtype), [src], dst.shape, [], dst);
}

/**
 * Reduces `expr` (over inputs broadcast to `shape`) across `axes`. Inputs are permuted so the
 * reduced axes come last; the result has the kept dims (and size-1 reduced dims with keepdim).
 * Pending inputs fold into `expr` (a fused prologue).
 */
export function runReduce(op: string, rop: ReduceOp, expr: Expr, inputs: readonly Tensor[], shape: readonly number[], axes: readonly number[], keepdim: boolean, scalars: readonly number[] = []): Tensor {
  const backend = checkSameBackend(op, inputs);
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...kept, ...axes];
  const outShape = keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept.map((i) => shape[i]);
  const out = empty(outShape, reduceDType(rop, expr.dtype), backend, op);
  passChecks(out._store, inputs);
  if (numel(outShape) > 0) {
    const c = compose([expr], inputs, shape, scalars, { outputs: 1, reduce: true, fuse: fusing(backend) && numel(shape) > 0 });
    const k = canonical(c.exprs, c.views, c.scalars);
    const exe = backend.prepare({ kind: 'reduce', op: rop, expr: k.exprs[0], ndim: shape.length, nReduce: axes.length });
    const views = k.views.map((v) => ({ ...v, shape: perm.map((i) => shape[i]), strides: perm.map((i) => v.strides[i]) }));
    const ov = out._view();
    dispatch(backend, exe, views, [{ ...ov, shape: kept.map((i) => shape[i]), strides: contiguousStrides(kept.map((i) => shape[i])) }], k.scalars);
    if (engine.debug) checkOp(op, backend, [ov], inputs.map((t) => t._view()), scalars, [out]);
  }
  return out;
}

export interface OutSpec {
  shape: readonly number[];
  dtype: DType;
}

/**
 * Runs a routine. `outs` are new outputs to allocate, or existing tensors to accumulate into
 * (read-write, e.g. scatterAdd). Inputs must already be in the layout the routine documents.
 */
export function runRoutine<K extends RoutineName>(name: K, config: Routines[K], inputs: readonly Tensor[], outs: readonly (OutSpec | Tensor)[]): Tensor[] {
  const backend = checkSameBackend(name, inputs);
  const outputs: Tensor[] = [];
  try {
    for (const o of outs) outputs.push(o instanceof Tensor ? o : empty(o.shape, o.dtype, backend, name));
  } catch (e) {
    // free the outputs already made for this routine
    outputs.forEach((t) => { if (!outs.includes(t)) t.dispose(); });
    throw e;
  }
  // accumulated outputs are written: pending results that read them are computed first
  for (const o of outs) if (o instanceof Tensor) beforeWrite(o._view().buf);
  const exe = backend.prepare({ kind: 'routine', name, config });
  dispatch(backend, exe, inputs.map((t) => t._view()), outputs.map((t) => t._view()));
  // an accumulated output keeps its own checks too
  for (const o of outputs) passChecks(o._store, inputs, outs.includes(o));
  if (engine.debug) checkOp(name, backend, outputs.map((t) => t._view()), inputs.map((t) => t._view()), [], outputs.filter((t) => !outs.includes(t)));
  return outputs;
}

/**
 * runRoutine, but with no dispatch when there is no work (`work` = 0 elements): new outputs are
 * zero-filled, accumulated outputs are left as they are. Keeps zero-size launches off the GPU.
 * @internal
 */
export function runOrZeros<K extends RoutineName>(name: K, config: Routines[K], inputs: readonly Tensor[], outs: readonly (OutSpec | Tensor)[], work: number): Tensor[] {
  if (work > 0) return runRoutine(name, config, inputs, outs);
  const backend = checkSameBackend(name, inputs);
  return outs.map((o) => (o instanceof Tensor ? o : pendingFill(name, o.shape, 0, o.dtype, backend)));
}
