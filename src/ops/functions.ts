/**
 * Function forms of the tensor methods (wt.add(a, b), wt.where(c, a, b), ...), for code that
 * reads better that way and for ops with no natural receiver.
 */
import { Tensor } from '../tensor.js';
import { elementwise, dropout as dropoutOp } from './elementwise.js';
import { triangleMask } from './creation.js';
import { ShapeError, fmt } from '../errors.js';
import { checkTensor, tensorArg } from '../validate.js';

type Operand = Tensor | number;

const input = (op: string, a: unknown): Tensor => tensorArg(op, 'input', a);

export const add = (a: Tensor, b: Operand, alpha?: number) => input('add', a).add(b, alpha);
export const sub = (a: Tensor, b: Operand, alpha?: number) => input('sub', a).sub(b, alpha);
export const mul = (a: Tensor, b: Operand) => input('mul', a).mul(b);
export const div = (a: Tensor, b: Operand) => input('div', a).div(b);
export const pow = (a: Tensor, b: Operand) => input('pow', a).pow(b);
export const maximum = (a: Tensor, b: Operand) => input('maximum', a).maximum(b);
export const minimum = (a: Tensor, b: Operand) => input('minimum', a).minimum(b);
export const neg = (a: Tensor) => input('neg', a).neg();
export const exp = (a: Tensor) => input('exp', a).exp();
export const log = (a: Tensor) => input('log', a).log();
export const sqrt = (a: Tensor) => input('sqrt', a).sqrt();
export const abs = (a: Tensor) => input('abs', a).abs();
export const relu = (a: Tensor) => input('relu', a).relu();
export const sigmoid = (a: Tensor) => input('sigmoid', a).sigmoid();
export const tanh = (a: Tensor) => input('tanh', a).tanh();
export const tan = (a: Tensor) => input('tan', a).tan();
export const asin = (a: Tensor) => input('asin', a).asin();
export const acos = (a: Tensor) => input('acos', a).acos();
export const atan = (a: Tensor) => input('atan', a).atan();
/** The angle of the point (other, input), as torch.atan2(input, other): atan(input / other) in the right quadrant. */
export const atan2 = (a: Tensor, b: Operand) => input('atan2', a).atan2(b);
export const sinh = (a: Tensor) => input('sinh', a).sinh();
export const cosh = (a: Tensor) => input('cosh', a).cosh();
export const asinh = (a: Tensor) => input('asinh', a).asinh();
export const acosh = (a: Tensor) => input('acosh', a).acosh();
export const atanh = (a: Tensor) => input('atanh', a).atanh();
export const log2 = (a: Tensor) => input('log2', a).log2();
export const log10 = (a: Tensor) => input('log10', a).log10();
export const trunc = (a: Tensor) => input('trunc', a).trunc();
/** C's fmod, as torch.fmod: the remainder of truncated division, with the sign of the dividend (remainder() takes the divisor's). */
export const fmod = (a: Tensor, b: Operand) => input('fmod', a).fmod(b);
export const clamp = (a: Tensor, min?: number | null, max?: number | null) => input('clamp', a).clamp(min, max);
export const logicalAnd = (a: Tensor, b: Operand) => input('logicalAnd', a).logicalAnd(b);
export const logicalOr = (a: Tensor, b: Operand) => input('logicalOr', a).logicalOr(b);
export const logicalNot = (a: Tensor) => input('logicalNot', a).logicalNot();

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
