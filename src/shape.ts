/** Shape arithmetic: sizes, strides, broadcasting and axis normalisation. */
import { ArgumentError, ShapeError, fmt } from './errors.js';
import { describeValue } from './validate.js';

export type Shape = readonly number[];

/** Elements one tensor may hold: indices are 32-bit in the kernels. */
export const MAX_NUMEL = 2 ** 31 - 1;

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous tensor. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== acc) return false;
    acc *= shape[i];
  }
  return true;
}

/** Whether two views address the same elements in the same order (offset, shape and strides). */
export function sameLayout(a: { offset: number; shape: Shape; strides: readonly number[] }, b: { offset: number; shape: Shape; strides: readonly number[] }): boolean {
  return a.offset === b.offset && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i] && a.strides[i] === b.strides[i]);
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The broadcast shape of several shapes (numpy rules), or a ShapeError naming the op. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = nd - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new ShapeError(`${op}: shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast together (dim ${j - nd}: ${out[j]} vs ${d})`);
      }
    }
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if it had the (broadcast) shape `to`. */
export function broadcastStrides(shape: Shape, strides: readonly number[], to: Shape): number[] {
  const out = new Array<number>(to.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const j = to.length - shape.length + i;
    out[j] = shape[i] === 1 && to[j] !== 1 ? 0 : strides[i];
  }
  return out;
}

/** Normalises a possibly negative axis, or throws naming the op and the shape. */
export function normAxis(op: string, axis: number, ndim: number, arg = 'dim'): number {
  if (!Number.isInteger(axis)) throw new ArgumentError(`${op}: ${arg} must be an integer, got ${describeValue(axis)}`);
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= Math.max(ndim, 1) || (ndim === 0 && a !== 0)) {
    throw new ShapeError(`${op}: ${arg}=${axis} is out of range for a tensor of ${ndim} dims`);
  }
  return a;
}

/** Normalises a list of axes (undefined → all), sorted and deduplicated. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  if (typeof axes !== 'number' && !Array.isArray(axes)) throw new ArgumentError(`${op}: dim must be an integer or a list of integers, got ${describeValue(axes)}`);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, ndim)))].sort((x, y) => x - y);
  if (out.length !== list.length) throw new ArgumentError(`${op}: repeated dim in [${list.join(',')}]`);
  return out;
}

/** Checks that a shape is a list of non-negative integers. */
export function checkShape(op: string, shape: unknown, arg = 'shape'): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ArgumentError(`${op}: ${arg} must be a list of non-negative integers, got ${describeValue(shape)}`);
  }
  return shape as number[];
}

/** Resolves one -1 in a reshape target. */
export function inferShape(op: string, from: Shape, to: readonly number[]): number[] {
  const n = numel(from);
  const neg = to.filter((d) => d === -1).length;
  if (neg > 1) throw new ShapeError(`${op}: only one dim may be -1, got ${fmt(to)}`);
  if (!to.every((d) => Number.isInteger(d) && d >= -1)) throw new ShapeError(`${op}: invalid shape ${describeValue(to)}: sizes must be integers >= 0 (one may be -1)`);
  const known = to.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d));
  if (numel(out) !== n || !out.every(Number.isInteger)) {
    throw new ShapeError(`${op}: cannot view a tensor of shape ${fmt(from)} (${n} elements) as ${fmt(to)}`);
  }
  return out;
}

/**
 * Strides for viewing (shape, strides) as newShape without a copy, or null if impossible
 * (PyTorch's rule: each group of merged or split dims must be contiguous within itself).
 */
export function viewStrides(shape: Shape, strides: readonly number[], newShape: Shape): number[] | null {
  if (numel(shape) === 0 || shape.length === 0) return contiguousStrides(newShape);
  const out = new Array<number>(newShape.length);
  let vd = newShape.length - 1;
  let base = strides[shape.length - 1];
  let tn = 1, vn = 1;
  for (let td = shape.length - 1; td >= 0; td--) {
    tn *= shape[td];
    if (td === 0 || (shape[td - 1] !== 1 && strides[td - 1] !== tn * base)) {
      while (vd >= 0 && (vn < tn || newShape[vd] === 1)) {
        out[vd] = vn * base;
        vn *= newShape[vd];
        vd--;
      }
      if (vn !== tn) return null;
      if (td > 0) { base = strides[td - 1]; tn = 1; vn = 1; }
    }
  }
  return vd === -1 ? out : null;
}
