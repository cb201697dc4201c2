/**
 * Reductions over any set of axes, with keepdim. sum/mean/max/min/prod are one reduce kernel
 * each; var, std and logsumexp are compositions (so their gradients come for free).
 */
import { record } from '../autograd/graph.js';
import { ShapeError, fmt } from '../errors.js';
import { IR } from '../kernel/ir.js';
import type { ReduceOp } from '../kernel/kernel.js';
import { normAxes, normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { noGrad } from '../engine.js';
import { pendingFill, runReduce } from './run.js';
import { refuseIntOverflow } from './checks.js';
import { elementwise } from './elementwise.js';
import { checkBoolean, checkNumber } from '../validate.js';

type Dims = number | readonly number[] | undefined;

function reduceBasic(name: 'sum' | 'mean' | 'max' | 'min' | 'prod', x: Tensor, dim: Dims, keepdim: boolean, label: string = name): Tensor {
  x._check(label);
  checkBoolean(label, 'keepdim', keepdim);
  const axes = normAxes(label, dim, x.ndim);
  if ((name === 'max' || name === 'min') && axes.some((a) => x.shape[a] === 0)) {
    throw new ShapeError(`${label}: cannot reduce over a zero-size dim of a tensor of shape ${fmt(x.shape)}`);
  }
  const body = name === 'mean' || x.dtype === 'float32' ? 'float32' : name === 'max' || name === 'min' ? x.dtype : 'int32';
  const out = runReduce(name, name as ReduceOp, IR.cast(IR.load(0, x.dtype), body), [x], x.shape, axes, keepdim);
  if ((name === 'sum' || name === 'prod') && body === 'int32') refuseIntOverflow(name, x, axes, out);
  return record(name, [x], out, name === 'sum' || name === 'mean' ? [] : [x, out], { axes, keepdim });
}

export const sum = (x: Tensor, dim?: Dims, keepdim = false) => reduceBasic('sum', x, dim, keepdim);
export const mean = (x: Tensor, dim?: Dims, keepdim = false) => reduceBasic('mean', x, dim, keepdim);
/** The maximum over dims, values only (torch.amax); `label` names the op the user called (max or amax). torch.max's form is in src/ops/sort.ts. */
export const amax = (x: Tensor, dim?: Dims, keepdim = false, label = 'amax') => reduceBasic('max', x, dim, keepdim, label);
/** The minimum over dims, values only (torch.amin). */
export const amin = (x: Tensor, dim?: Dims, keepdim = false, label = 'amin') => reduceBasic('min', x, dim, keepdim, label);
export const prod = (x: Tensor, dim?: Dims, keepdim = false) => reduceBasic('prod', x, dim, keepdim);

function countOf(x: Tensor, axes: number[]): number {
  return axes.reduce((n, a) => n * x.shape[a], 1);
}

/** Variance with Bessel's `correction` (1 = unbiased, as PyTorch's default). */
export function variance(x: Tensor, dim: Dims, keepdim: boolean, correction = 1, op = 'var'): Tensor {
  x._check(op);
  checkBoolean(op, 'keepdim', keepdim);
  checkNumber(op, 'correction', correction, { min: 0, finite: true });
  const axes = normAxes(op, dim, x.ndim);
  const n = countOf(x, axes);
  const m = x.mean(axes, true);
  const d = x.sub(m);
  const out = d.square().sum(axes, keepdim).div(Math.max(n - correction, 0));
  m.dispose();
  d.dispose();
  return out;
}

export function std(x: Tensor, dim: Dims, keepdim: boolean, correction = 1): Tensor {
  const v = variance(x, dim, keepdim, correction, 'std');
  const out = v.sqrt();
  v.dispose();
  return out;
}

/** log(sum(exp(x))) computed stably by subtracting the max first. */
export function logsumexp(x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  x._check('logsumexp');
  checkBoolean('logsumexp', 'keepdim', keepdim);
  const axes = normAxes('logsumexp', dim, x.ndim);
  if (countOf(x, axes) === 0) {
    // log of an empty sum: -inf, as torch (no max to shift by)
    const e = x.exp(), t = e.sum(axes, keepdim), out = t.log();
    e.dispose();
    t.dispose();
    return out;
  }
  // the shift is a constant for autograd; infinite maxima (all -inf) are replaced by 0
  const m = noGrad(() => {
    const mx = x.amax(axes, true);
    const fin = mx.abs().lt(Infinity);
    const r = elementwise('where', [fin, mx, 0]);
    mx.dispose();
    fin.dispose();
    return r;
  });
  const s = x.sub(m);
  const e = s.exp();
  const t = e.sum(axes, true);
  const l = t.log();
  let out = l.add(m);
  [s, e, t, l, m].forEach((z) => z.dispose());
  if (!keepdim) {
    const sq = out.reshape(out.shape.filter((_, i) => !axes.includes(i)));
    out.dispose();
    out = sq;
  }
  return out;
}

function argReduce(name: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  x._check(name);
  checkBoolean(name, 'keepdim', keepdim);
  if (x.numel() === 0) throw new ShapeError(`${name}: cannot reduce an empty tensor of shape ${fmt(x.shape)}`);
  if (dim === undefined) {
    const flat = x.reshape([numel(x.shape)]);
    const out = runReduce(name, name, IR.load(0, x.dtype), [flat], flat.shape, [0], false);
    flat.dispose();
    if (keepdim) {
      const r = out.reshape(x.shape.map(() => 1));
      out.dispose();
      return r;
    }
    return out;
  }
  const a = normAxis(name, dim, x.ndim);
  return runReduce(name, name, IR.load(0, x.dtype), [x], x.shape, [a], keepdim);
}

export const argmax = (x: Tensor, dim?: number, keepdim = false) => argReduce('argmax', x, dim, keepdim);
export const argmin = (x: Tensor, dim?: number, keepdim = false) => argReduce('argmin', x, dim, keepdim);

/** all / any over zero elements: the empty conjunction (true) or disjunction (false), as torch. */
function emptyReduction(x: Tensor, axes: readonly number[], keepdim: boolean, value: boolean): Tensor {
  const shape = keepdim ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  return pendingFill(value ? 'all' : 'any', shape, Number(value), 'bool', x.backend);
}

/** True where every element along the axes is non-zero. */
export function all(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  x._check('all');
  checkBoolean('all', 'keepdim', keepdim);
  const axes = normAxes('all', dim, x.ndim);
  if (countOf(x, axes) === 0) return emptyReduction(x, axes, keepdim, true);
  return runReduce('all', 'min', IR.cast(IR.cast(IR.load(0, x.dtype), 'bool'), 'bool'), [x], x.shape, axes, keepdim);
}

/** True where any element along the axes is non-zero. */
export function any(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  x._check('any');
  checkBoolean('any', 'keepdim', keepdim);
  const axes = normAxes('any', dim, x.ndim);
  if (countOf(x, axes) === 0) return emptyReduction(x, axes, keepdim, false);
  return runReduce('any', 'max', IR.cast(IR.load(0, x.dtype), 'bool'), [x], x.shape, axes, keepdim);
}
