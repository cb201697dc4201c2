/**
 * Movement ops. reshape/view, permute/transpose, expand, squeeze/unsqueeze, flatten, slice,
 * narrow, select and flip are views (no copy) whenever the strides allow; cat, stack, pad and
 * contiguous copy through one strided copy kernel.
 */
import { record } from '../autograd/graph.js';
import { engine } from '../engine.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { IR } from '../kernel/ir.js';
import { MAX_NUMEL, contiguousStrides, inferShape, normAxes, normAxis, shapesEqual, viewStrides, broadcastShapes } from '../shape.js';
import { Tensor } from '../tensor.js';
import { elementwise, type ElementwiseName } from './elementwise.js';
import { copyInto, empty, runElementwise, checkSameBackend, scalarDType } from './run.js';
import { checkNumber, checkOptionalNumber, checkTensor, describeValue } from '../validate.js';
import { tidy } from '../memory.js';

/** The tensors of a cat/stack list, each checked. */
function tensorList(op: string, tensors: unknown): Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ArgumentError(`${op}: expected a non-empty list of tensors, got ${describeValue(tensors)}`);
  tensors.forEach((t, i) => checkTensor(op, `tensors[${i}]`, t));
  return tensors as Tensor[];
}

export function view(x: Tensor, shape: readonly number[]): Tensor {
  x._check('view');
  const to = inferShape('view', x.shape, shape);
  const st = viewStrides(x.shape, x.strides, to);
  if (!st) throw new ShapeError(`view: a tensor of shape ${fmt(x.shape)} with strides ${fmt(x.strides)} cannot be viewed as ${fmt(to)} without a copy; use reshape()`);
  return record('reshape', [x], x._viewAs(to, st, x.offset), [], null);
}

/** A view when the strides allow it, else a contiguous copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x._check('reshape');
  const to = inferShape('reshape', x.shape, shape);
  if (viewStrides(x.shape, x.strides, to)) return view(x, to);
  const c = clone(x);
  const out = view(c, to);
  c.dispose();
  return out;
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  x._check('permute');
  if (perm.length !== x.ndim) throw new ShapeError(`permute: got ${perm.length} dims ${fmt(perm)} for a tensor of shape ${fmt(x.shape)}`);
  const p = perm.map((d) => normAxis('permute', d, x.ndim));
  if (new Set(p).size !== p.length) throw new ArgumentError(`permute: repeated dim in ${fmt(perm)}`);
  return record('permute', [x], x._viewAs(p.map((d) => x.shape[d]), p.map((d) => x.strides[d]), x.offset), [], { perm: p });
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  x._check('transpose');
  if (x.ndim < 2 && x.ndim === 0) return view(x, []);
  const a = normAxis('transpose', d0, x.ndim), b = normAxis('transpose', d1, x.ndim);
  const p = x.shape.map((_, i) => i);
  [p[a], p[b]] = [p[b], p[a]];
  return permute(x, p);
}

/** Broadcasts size-1 dims (and new leading dims) to `shape`; -1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[], op = 'expand'): Tensor {
  x._check(op);
  if (shape.length < x.ndim) throw new ShapeError(`${op}: target ${fmt(shape)} has fewer dims than the tensor's ${fmt(x.shape)}`);
  const lead = shape.length - x.ndim;
  const to = shape.map((d, i) => (d === -1 ? (i < lead ? NaN : x.shape[i - lead]) : d));
  const st = to.map((d, i) => {
    if (i < lead) return 0;
    const s = x.shape[i - lead];
    if (s === d) return x.strides[i - lead];
    if (s === 1) return 0;
    throw new ShapeError(`${op}: cannot expand shape ${fmt(x.shape)} to ${fmt(shape)} (dim ${i}: ${s} to ${d})`);
  });
  if (to.some((d) => !Number.isInteger(d) || d < 0)) throw new ShapeError(`${op}: invalid target ${fmt(shape)} for shape ${fmt(x.shape)}`);
  return record('expand', [x], x._viewAs(to, st, x.offset), [], null);
}

export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  x._check('squeeze');
  const axes = dim === undefined ? x.shape.map((_, i) => i) : normAxes('squeeze', dim, x.ndim);
  return view(x, x.shape.filter((d, i) => !(d === 1 && axes.includes(i))));
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  x._check('unsqueeze');
  const d = normAxis('unsqueeze', dim, x.ndim + 1);
  const s = [...x.shape];
  s.splice(d, 0, 1);
  return view(x, s);
}

export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  x._check('flatten');
  if (x.ndim === 0) return reshape(x, [1]);
  const a = normAxis('flatten', start, x.ndim, 'startDim'), b = normAxis('flatten', end, x.ndim, 'endDim');
  if (a > b) throw new ArgumentError(`flatten: startDim ${start} comes after endDim ${end} for shape ${fmt(x.shape)}`);
  const s = [...x.shape.slice(0, a), x.shape.slice(a, b + 1).reduce((p, d) => p * d, 1), ...x.shape.slice(b + 1)];
  return reshape(x, s);
}

/** The general strided sub-view: per-dim start, step (may be negative) and output shape. */
function subview(x: Tensor, starts: number[], steps: number[], shape: number[]): Tensor {
  let offset = x.offset;
  starts.forEach((s, i) => (offset += s * x.strides[i]));
  const v = x._viewAs(shape, steps.map((s, i) => s * x.strides[i]), shape.some((d) => d === 0) ? x.offset : offset);
  return record('slice', [x], v, [], { starts, steps });
}

export function slice(x: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor {
  x._check('slice');
  const d = normAxis('slice', dim, x.ndim);
  if (!Number.isInteger(step) || step <= 0) throw new ArgumentError(`slice: step must be a positive integer, got ${step}`);
  checkOptionalNumber('slice', 'start', start, { int: true });
  checkOptionalNumber('slice', 'end', end, { int: true });
  const n = x.shape[d];
  const norm = (v: number | undefined, dflt: number) => (v === undefined ? dflt : Math.min(Math.max(v < 0 ? v + n : v, 0), n));
  const s = norm(start, 0), e = norm(end, n);
  const len = Math.max(0, Math.ceil((e - s) / step));
  const starts = x.shape.map(() => 0), steps = x.shape.map(() => 1), shape = [...x.shape];
  starts[d] = len > 0 ? s : 0;
  steps[d] = step;
  shape[d] = len;
  return subview(x, starts, steps, shape);
}

export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  x._check('narrow');
  checkNumber('narrow', 'start', start, { int: true });
  checkNumber('narrow', 'length', length, { int: true, min: 0 });
  const d = normAxis('narrow', dim, x.ndim);
  const s = start < 0 ? start + x.shape[d] : start;
  if (!Number.isInteger(length) || s < 0 || length < 0 || s + length > x.shape[d]) {
    throw new ShapeError(`narrow: start ${start} and length ${length} are out of range for dim ${dim} of shape ${fmt(x.shape)}`);
  }
  return slice(x, d, s, s + length);
}

export function select(x: Tensor, dim: number, index: number): Tensor {
  x._check('select');
  checkNumber('select', 'index', index, { int: true });
  if (x.ndim === 0) throw new ShapeError('select: cannot select from a 0-D tensor (it has no dims)');
  const d = normAxis('select', dim, x.ndim);
  const n = x.shape[d];
  const i = index < 0 ? index + n : index;
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new ShapeError(`select: index ${index} is out of range for dim ${dim} of shape ${fmt(x.shape)}`);
  const s = slice(x, d, i, i + 1);
  const out = squeeze(s, d);
  s.dispose();
  return out;
}

export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  checkTensor('flip', 'input', x);
  const axes = normAxes('flip', dims, x.ndim);
  const starts = x.shape.map((n, i) => (axes.includes(i) ? Math.max(n - 1, 0) : 0));
  const steps = x.shape.map((_, i) => (axes.includes(i) ? -1 : 1));
  return subview(x, starts, steps, [...x.shape]);
}

/** A contiguous copy, recorded by autograd. */
export function clone(x: Tensor): Tensor {
  x._check('clone');
  return elementwise('identity', [x]);
}

/** x itself when contiguous, else a contiguous copy. */
export function contiguous(x: Tensor): Tensor {
  x._check('contiguous');
  return x.isContiguous() ? x : clone(x);
}

/** Concatenates tensors along an existing dim. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  tensorList('cat', tensors);
  const backend = checkSameBackend('cat', tensors);
  const ref = tensors.find((t) => !(t.ndim === 1 && t.shape[0] === 0)) ?? tensors[0];
  const d = normAxis('cat', dim, ref.ndim);
  const parts = tensors.filter((t) => t === ref || !(t.ndim === 1 && t.shape[0] === 0));
  for (const t of parts) {
    if (t.ndim !== ref.ndim || t.shape.some((s, i) => i !== d && s !== ref.shape[i])) {
      throw new ShapeError(`cat: shapes ${tensors.map((x) => fmt(x.shape)).join(', ')} do not match except in dim ${dim}`);
    }
    if (t.dtype !== ref.dtype) throw new DTypeError(`cat: dtypes differ (${ref.dtype} and ${t.dtype})`);
  }
  const sizes = parts.map((t) => t.shape[d]);
  const shape = [...ref.shape];
  shape[d] = sizes.reduce((a, b) => a + b, 0);
  const out = empty(shape, ref.dtype, backend);
  let off = 0;
  const ov = out._view();
  for (const t of parts) {
    const s = [...shape];
    s[d] = t.shape[d];
    copyInto(t, { ...ov, shape: s, offset: off * ov.strides[d] });
    off += t.shape[d];
  }
  return record('cat', parts, out, [], { dim: d, sizes });
}

/** Stacks same-shape tensors along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  tensorList('stack', tensors);
  const s0 = tensors[0].shape;
  for (const t of tensors) if (!shapesEqual(t.shape, s0)) throw new ShapeError(`stack: all tensors must have the same shape, got ${tensors.map((x) => fmt(x.shape)).join(', ')}`);
  const d = normAxis('stack', dim, s0.length + 1);
  const us = tensors.map((t) => unsqueeze(t, d));
  const out = cat(us, d);
  us.forEach((u) => u.dispose());
  return out;
}

/** Splits into pieces of `size` (the last may be smaller) or of the listed sizes, as views. */
export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0, op = 'split'): Tensor[] {
  checkTensor(op, 'input', x);
  if (x.ndim === 0) throw new ShapeError(`${op}: expects a tensor with at least 1 dim, got a 0-D tensor`);
  const d = normAxis(op, dim, x.ndim);
  const n = x.shape[d];
  let sizes: number[];
  if (typeof sizeOrSections === 'number') {
    if (!Number.isInteger(sizeOrSections) || sizeOrSections <= 0) throw new ArgumentError(`split: size must be a positive integer, got ${describeValue(sizeOrSections)}`);
    sizes = [];
    for (let i = 0; i < n; i += sizeOrSections) sizes.push(Math.min(sizeOrSections, n - i));
    if (n === 0) sizes = [0];
  } else {
    if (!Array.isArray(sizeOrSections) || !sizeOrSections.every((v) => Number.isInteger(v) && v >= 0)) {
      throw new ArgumentError(`split: expected a positive size or a list of non-negative section sizes, got ${describeValue(sizeOrSections)}`);
    }
    sizes = [...sizeOrSections];
    if (sizes.reduce((a, b) => a + b, 0) !== n) throw new ShapeError(`split: sizes ${fmt(sizes)} do not add up to ${n}, dim ${dim} of shape ${fmt(x.shape)}`);
  }
  let off = 0;
  return sizes.map((s) => {
    const t = narrow(x, d, off, s);
    off += s;
    return t;
  });
}

/** Splits into `chunks` pieces of ceil(size / chunks) (fewer when they run out), as views; a zero-size dim gives `chunks` empty pieces, as torch. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  checkTensor('chunk', 'input', x);
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ArgumentError(`chunk: chunks must be a positive integer, got ${describeValue(chunks)}`);
  if (x.ndim === 0) throw new ShapeError('chunk: expects a tensor with at least 1 dim, got a 0-D tensor');
  const d = normAxis('chunk', dim, x.ndim);
  if (x.shape[d] === 0) return Array.from({ length: chunks }, () => narrow(x, d, 0, 0));
  return split(x, Math.ceil(x.shape[d] / chunks), d, 'chunk');
}

/**
 * `pads` = [lastLeft, lastRight, prevLeft, prevRight, ...] as F.pad, checked, as one (left, right)
 * pair per dim of x; a negative amount crops (as torch), but no dim may end below size 0.
 * @internal
 */
export function padPairs(op: string, x: Tensor, pads: unknown): number[] {
  if (!Array.isArray(pads)) throw new ArgumentError(`${op}: pads must be a list of integers, got ${describeValue(pads)}`);
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim || !pads.every((p) => Number.isInteger(p))) {
    throw new ArgumentError(`${op}: pads must be pairs of integers for at most ${x.ndim} dims, got ${fmt(pads)} for shape ${fmt(x.shape)}`);
  }
  const full = new Array<number>(2 * x.ndim).fill(0);
  for (let k = 0; k < pads.length / 2; k++) {
    full[2 * (x.ndim - 1 - k)] = pads[2 * k];
    full[2 * (x.ndim - 1 - k) + 1] = pads[2 * k + 1];
  }
  x.shape.forEach((d, i) => {
    if (d + full[2 * i] + full[2 * i + 1] < 0) throw new ShapeError(`${op}: pads ${fmt(pads)} crop dim ${i} of shape ${fmt(x.shape)} below size 0`);
  });
  return full;
}

/**
 * The view of x with the negative amounts of `full` (padPairs) cropped off, and the
 * non-negative amounts left to pad; the view is x itself when nothing is cropped.
 * @internal
 */
export function cropNegative(x: Tensor, full: readonly number[]): { x: Tensor; pads: number[] } {
  let v = x;
  x.shape.forEach((d, i) => {
    const l = Math.min(full[2 * i], 0), r = Math.min(full[2 * i + 1], 0);
    if (l === 0 && r === 0) return;
    const n = narrow(v, i, -l, v.shape[i] + l + r);
    if (v !== x) v.dispose();
    v = n;
  });
  return { x: v, pads: full.map((p) => Math.max(p, 0)) };
}

/** Constant padding; `pads` = [lastLeft, lastRight, prevLeft, prevRight, ...] as F.pad (negative amounts crop). */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  checkTensor('pad', 'input', x);
  checkNumber('pad', 'value', value);
  const cropped = cropNegative(x, padPairs('pad', x, pads));
  if (cropped.x !== x) {
    try {
      return padConstant(cropped.x, cropped.pads, value);
    } finally {
      cropped.x.dispose();
    }
  }
  return padConstant(x, cropped.pads, value);
}

function padConstant(x: Tensor, full: readonly number[], value: number): Tensor {
  const shape = x.shape.map((d, i) => d + full[2 * i] + full[2 * i + 1]);
  const out = empty(shape, x.dtype, x.backend);
  const ov = out._view();
  runElementwise('pad', IR.scalar(0, x.dtype), [], shape, [value], ov);
  let off = 0;
  x.shape.forEach((_, i) => (off += full[2 * i] * ov.strides[i]));
  copyInto(x, { ...ov, shape: x.shape, offset: off });
  return record('pad', [x], out, [], { pads: [...full] });
}

/**
 * Refuses an in-place op on a tensor that requires grad (outside noGrad), and, unless every
 * element gets the same value (`fill_`), on a view where several elements share one memory
 * location (an expanded dim: stride 0, size > 1), as PyTorch does: the result would depend on
 * the order the writes happen in.
 */
function checkInplace(op: string, dst: Tensor, uniform = false): void {
  dst._check(op);
  if (engine.gradEnabled && dst.requiresGrad) {
    throw new ArgumentError(`${op}: in-place update of a tensor that requires grad (shape ${fmt(dst.shape)}); wrap it in wt.noGrad(() => ...)`);
  }
  if (!uniform && dst.shape.some((d, i) => d > 1 && dst.strides[i] === 0)) {
    throw new ArgumentError(`${op}: more than one element of the written-to tensor (shape ${fmt(dst.shape)}, strides ${fmt(dst.strides)}) refers to a single memory location (an expanded view); clone() it first`);
  }
}

/** dst[...] = src (broadcast), in place. */
export function assign(dst: Tensor, src: Tensor | number, op: string): void {
  checkInplace(op, dst, typeof src === 'number');
  if (typeof src !== 'number') checkTensor('copy_', 'source', src);
  if (typeof src === 'number') {
    runElementwise(op, IR.cast(IR.scalar(0, scalarDType(src, [dst.dtype])), dst.dtype), [], dst.shape, [src], dst._view());
    return;
  }
  broadcastShapes('copy_', dst.shape, src.shape);
  if (!shapesEqual(broadcastShapes('copy_', dst.shape, src.shape), dst.shape)) throw new ShapeError(`copy_: source ${fmt(src.shape)} does not broadcast to ${fmt(dst.shape)}`);
  copyInto(src, dst._view());
}

/** dst = dst op (alpha * o), in place. */
export function inplace(dst: Tensor, op: 'add' | 'sub' | 'mul' | 'div', o: Tensor | number, alpha: number): void {
  checkInplace(`${op}_`, dst);
  checkNumber(`${op}_`, 'alpha', alpha);
  if (typeof o !== 'number') checkTensor(`${op}_`, 'operand', o);
  const x = IR.load(0, dst.dtype);
  const y = typeof o === 'number' ? IR.scalar(0, scalarDType(o * alpha, [dst.dtype])) : IR.binary('mul', IR.load(1, o.dtype), IR.scalar(0));
  const expr = IR.cast(IR.binary(op, x, y), dst.dtype);
  const inputs = typeof o === 'number' ? [dst] : [dst, o];
  if (typeof o !== 'number' && !shapesEqual(broadcastShapes(`${op}_`, dst.shape, o.shape), dst.shape)) {
    throw new ShapeError(`${op}_: operand ${fmt(o.shape)} does not broadcast to ${fmt(dst.shape)}`);
  }
  runElementwise(`${op}_`, expr, inputs, dst.shape, [typeof o === 'number' ? o * alpha : alpha], dst._view());
}

export type { ElementwiseName };
void contiguousStrides;

/**
 * Tiles x, as torch.Tensor.repeat: `sizes` has one count per dim of x, or more (x then counts
 * as having leading dims of size 1), and the result's dim i is x's times sizes[i]. One strided
 * copy of a broadcast view; its gradient sums the tiles.
 *
 * @example wt.tensor([1, 2]).repeat(2, 2) // [[1, 2, 1, 2], [1, 2, 1, 2]]
 */
export function repeat(x: Tensor, ...counts: number[] | [readonly number[]]): Tensor {
  checkTensor('repeat', 'input', x);
  const sizes = (counts.length === 1 && Array.isArray(counts[0]) ? counts[0] : counts) as readonly number[];
  if (!Array.isArray(sizes)) throw new ArgumentError(`repeat: sizes must be integers, got ${describeValue(sizes)}`);
  sizes.forEach((n, i) => checkNumber('repeat', `sizes[${i}]`, n, { int: true, min: 0 }));
  if (sizes.length < x.ndim) {
    throw new ShapeError(`repeat: number of repeat dims (${sizes.length}) can not be smaller than number of dims of the input ${fmt(x.shape)} (${x.ndim})`);
  }
  const shape = [...new Array<number>(sizes.length - x.ndim).fill(1), ...x.shape];
  const out = shape.map((s, i) => s * sizes[i]);
  if (out.reduce((a, b) => a * b, 1) > MAX_NUMEL) throw new ShapeError(`repeat: the result ${fmt(out)} of input ${fmt(x.shape)} repeated ${fmt(sizes)} is too large`);
  // [s0, s1, ...] viewed as [1, s0, 1, s1, ...], broadcast to [r0, s0, r1, s1, ...], then merged
  return tidy(() => reshape(expand(reshape(x, shape.flatMap((s) => [1, s])), shape.flatMap((s, i) => [sizes[i], s]), 'repeat'), out));
}

/**
 * Rotates x along dims, as torch.roll: element i moves to (i + shift) mod size, negative shifts
 * the other way. With no dims x is rolled flattened and given its shape back. Each rolled dim is
 * two slices concatenated (one copy); the gradient rolls back.
 *
 * @example wt.tensor([1, 2, 3, 4]).roll(1) // [4, 1, 2, 3]
 */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[] | null): Tensor {
  checkTensor('roll', 'input', x);
  const sh = typeof shifts === 'number' ? [shifts] : Array.isArray(shifts) ? [...shifts] : null;
  if (!sh || sh.length === 0) throw new ArgumentError(`roll: shifts must be an integer or a non-empty list of integers, got ${describeValue(shifts)}`);
  sh.forEach((s, i) => checkNumber('roll', typeof shifts === 'number' ? 'shifts' : `shifts[${i}]`, s, { int: true }));
  if (dims === undefined || dims === null) {
    if (sh.length !== 1) throw new ArgumentError(`roll: without dims, shifts must be one integer (got ${fmt(sh)})`);
    return tidy(() => reshape(roll(reshape(x, [x.numel()]), sh, [0]), [...x.shape]));
  }
  const ds = typeof dims === 'number' ? [dims] : Array.isArray(dims) ? dims : null;
  if (!ds) throw new ArgumentError(`roll: dims must be an integer or a list of integers, got ${describeValue(dims)}`);
  if (ds.length !== sh.length) throw new ArgumentError(`roll: shifts ${fmt(sh)} and dims ${fmt(ds)} must have the same length`);
  const axes = ds.map((d) => normAxis('roll', d, x.ndim));
  return tidy(() => {
    let cur = x;
    axes.forEach((d, i) => {
      const n = x.ndim === 0 ? 1 : x.shape[d];
      const s = n === 0 ? 0 : ((sh[i] % n) + n) % n;
      if (s === 0 || x.ndim === 0) return;
      cur = cat([narrow(cur, d, n - s, s), narrow(cur, d, 0, n - s)], d);
    });
    return cur === x ? clone(x) : cur;
  });
}
