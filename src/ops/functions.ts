/**
 * Function forms of the tensor methods (wt.add(a, b), wt.where(c, a, b), ...), for code that
 * reads better that way and for ops with no natural receiver.
 */
import { Tensor } from '../tensor.js';
import { elementwise, dropout as dropoutOp } from './elementwise.js';
import { triangleMask } from './creation.js';
import { ShapeError, fmt } from '../errors.js';
import { checkTensor } from '../validate.js';

type Operand = Tensor | number;

export const add = (a: Tensor, b: Operand) => a.add(b);
export const sub = (a: Tensor, b: Operand) => a.sub(b);
export const mul = (a: Tensor, b: Operand) => a.mul(b);
export const div = (a: Tensor, b: Operand) => a.div(b);
export const pow = (a: Tensor, b: Operand) => a.pow(b);
export const maximum = (a: Tensor, b: Operand) => a.maximum(b);
export const minimum = (a: Tensor, b: Operand) => a.minimum(b);
export const neg = (a: Tensor) => a.neg();
export const exp = (a: Tensor) => a.exp();
export const log = (a: Tensor) => a.log();
export const sqrt = (a: Tensor) => a.sqrt();
export const abs = (a: Tensor) => a.abs();
export const relu = (a: Tensor) => a.relu();
export const sigmoid = (a: Tensor) => a.sigmoid();
export const tanh = (a: Tensor) => a.tanh();
export const clamp = (a: Tensor, min?: number | null, max?: number | null) => a.clamp(min, max);
export const logicalAnd = (a: Tensor, b: Operand) => a.logicalAnd(b);
export const logicalOr = (a: Tensor, b: Operand) => a.logicalOr(b);
export const logicalNot = (a: Tensor) => a.logicalNot();

/** Elementwise select: a where cond is true, else b (broadcasting all three). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  return elementwise('where', [cond, a, b]);
}

/**
 * The upper triangle of the last two dimensions (elements with col − row ≥ `diagonal`), zeros
 * elsewhere, as torch.triu. One mask kernel and one select, fused where the shapes allow.
 */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return triangle('triu', x, diagonal, true);
}

/** The lower triangle of the last two dimensions (col − row ≤ `diagonal`), zeros elsewhere, as torch.tril. */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return triangle('tril', x, diagonal, false);
}

function triangle(op: string, x: Tensor, diagonal: number, upper: boolean): Tensor {
  checkTensor(op, 'x', x);
  if (x.ndim < 2) throw new ShapeError(`${op}: x must have at least 2 dimensions, got shape ${fmt(x.shape)}`);
  const keep = triangleMask(x.shape[x.ndim - 2], x.shape[x.ndim - 1], diagonal, upper); // checks diagonal
  const y = elementwise('where', [keep, x, x.dtype === 'bool' ? false : 0]);
  keep.dispose();
  return y;
}

/**
 * Dropout with probability p; the mask comes from Philox, so `seed` reproduces it on any backend.
 */
export function dropout(x: Tensor, p = 0.5, training = true, seed?: number): Tensor {
  return dropoutOp(x, p, training, seed);
}
