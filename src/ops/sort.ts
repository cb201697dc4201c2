/**
 * Ops along one dim: scans (cumsum, cumprod), sorting (sort, argsort, topk) and the reductions
 * that also say where (max and min along one dim). Each moves `dim` last, runs a row routine (`scan`,
 * `sort`; src/kernel/kernel.ts) over the contiguous rows, and moves it back (a view).
 *
 * Multi-output ops return a {@link ValuesIndices}: an object with `.values` and `.indices`, as
 * PyTorch's named tuple, that also destructures as the array [values, indices].
 */
import { record } from '../autograd/graph.js';
import type { GradTable } from '../autograd/rules.js';
import { noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { pad } from './movement.js';
import { zeros } from './creation.js';
import { runOrZeros } from './run.js';
import { amax, amin } from './reduce.js';
import { checkBoolean, checkNumber, checkTensor, tensorArg } from '../validate.js';

/**
 * The two results of sort, topk, and max / min along one dim: `.values` and `.indices` (int32), as
 * PyTorch's (values, indices) named tuple; it also destructures as an array.
 *
 * @example
 * const { values, indices } = x.sort();
 * const [v, i] = x.topk(3);
 */
export type ValuesIndices = readonly [values: Tensor, indices: Tensor] & { readonly values: Tensor; readonly indices: Tensor };

function pair(values: Tensor, indices: Tensor): ValuesIndices {
  return Object.assign([values, indices] as const, { values, indices });
}

/** x with dim `d` swapped with the last, as contiguous rows [..., D] (a 0-d x as [1]). */
function rowsOf(x: Tensor, d: number): Tensor {
  if (x.ndim === 0) return x.reshape([1]);
  const last = x.ndim - 1;
  return (d === last ? x : x.transpose(d, last)).contiguous();
}

/** The inverse of rowsOf for a result of the rows' shape: back to `like`'s layout (a view). */
function unrows(y: Tensor, d: number, ndim: number): Tensor {
  if (ndim === 0) return y.reshape([]);
  const last = ndim - 1;
  return d === last ? y : y.transpose(d, last);
}

/** The dim an op runs along (0-d tensors take 0 or -1, as PyTorch). */
function dimOf(op: string, x: Tensor, dim: number): number {
  checkNumber(op, 'dim', dim, { int: true });
  return normAxis(op, dim, Math.max(x.ndim, 1));
}

/** A scan of rows along dim; x is float32 or int32. @internal */
function scanAlong(x: Tensor, d: number, op: 'sum' | 'prod', reverse: boolean): Tensor {
  return tidy(() => noGrad(() => {
    const r = rowsOf(x, d);
    const [y] = runOrZeros('scan', { op, reverse }, [r], [{ shape: r.shape, dtype: r.dtype }], r.numel());
    return unrows(y, d, x.ndim);
  }));
}

function cumulative(op: 'cumsum' | 'cumprod', x: Tensor, dim: number): Tensor {
  checkTensor(op, 'input', x);
  const d = dimOf(op, x, dim);
  // bool counts as int32 (PyTorch gives int64, which we do not have)
  const src = x.dtype === 'bool' ? x.int() : x;
  const out = scanAlong(src, d, op === 'cumsum' ? 'sum' : 'prod', false);
  if (src !== x) src.dispose();
  return record(op, [x], out, op === 'cumprod' ? [x, out] : [], { dim: d });
}

/**
 * Cumulative sum along `dim`: out_i = x_0 + … + x_i. float32 stays float32; int32 and bool give
 * int32 (PyTorch: int64), which wraps past 2^31 − 1.
 *
 * @example
 * wt.cumsum(wt.tensor([[1, 2, 3], [4, 5, 6]]), 1); // [[1, 3, 6], [4, 9, 15]]
 */
export const cumsum = (x: Tensor, dim: number): Tensor => cumulative('cumsum', x, dim);

/**
 * Cumulative product along `dim`: out_i = x_0 · … · x_i. Its gradient is exact with zeros in the
 * input (no division by x). int32 and bool give int32 (wrapping), as cumsum.
 *
 * @example
 * wt.cumprod(wt.tensor([1, 2, 3, 4]), 0); // [1, 2, 6, 24]
 */
export const cumprod = (x: Tensor, dim: number): Tensor => cumulative('cumprod', x, dim);

/**
 * x as [outer, size, inner] around dim d (a view where the layout allows): sort, topk and
 * max along a dim work on it, so that their gathers and scatters (rank 8 at most on WebGPU) see 3 dims
 * whatever x's rank.
 */
function around(x: Tensor, d: number): Tensor {
  const dims = x.ndim ? x.shape : [1];
  const outer = dims.slice(0, d).reduce((a, b) => a * b, 1), inner = dims.slice(d + 1).reduce((a, b) => a * b, 1);
  return x.reshape([outer, dims[d], inner]);
}

/** The stable sort of x3 [A, S, B] along 1: values (x's dtype) and int32 indices, untracked. */
function sort3(x3: Tensor, descending: boolean): [Tensor, Tensor] {
  return tidy(() => noGrad(() => {
    const src = x3.dtype === 'bool' ? x3.int() : x3;
    const r = rowsOf(src, 1);
    let [v, i] = runOrZeros('sort', { descending }, [r], [{ shape: r.shape, dtype: r.dtype }, { shape: r.shape, dtype: 'int32' }], r.numel());
    if (x3.dtype === 'bool') v = v.ne(0);
    return [unrows(v, 1, 3), unrows(i, 1, 3)];
  }));
}

/**
 * The first k of x's stable sort along d (all of it when k is the size), values recorded as
 * gathered from x (so their gradient goes back to the positions), as x's shape with k along d.
 */
function sortedAlong(x: Tensor, d: number, descending: boolean, k?: number): ValuesIndices {
  const shape = x.ndim ? x.shape.map((n, j) => (j === d ? k ?? n : n)) : [];
  return tidy(() => {
    const x3 = around(x, d);
    let [v, i] = sort3(x3, descending);
    if (k !== undefined && k < x3.shape[1]) [v, i] = [v.narrow(1, 0, k), i.narrow(1, 0, k)];
    const vals = gatherNode(x3, v.contiguous(), i.contiguous());
    return pair(vals.reshape(shape), i.reshape(shape));
  });
}

/**
 * Sorts along `dim` (default the last): `{ values, indices }`, indices int32 positions in the
 * input. The sort is stable (equal values keep their order, as PyTorch's `stable=True`), NaN
 * sorts above every number (last ascending, first descending), -0 equals 0. The gradient of
 * `values` goes back to the positions `indices` names.
 *
 * @example
 * const { values, indices } = wt.sort(wt.tensor([3, 1, 2]));                 // [1, 2, 3], [1, 2, 0]
 * const [v] = wt.sort(wt.tensor([[3, 1], [0, 5]]), 1, true);                 // [[3, 1], [5, 0]]
 */
export function sort(x: Tensor, dim = -1, descending = false): ValuesIndices {
  checkTensor('sort', 'input', x);
  checkBoolean('sort', 'descending', descending);
  return sortedAlong(x, dimOf('sort', x, dim), descending);
}

/**
 * The int32 positions that sort x along `dim` (stable; see {@link sort}).
 *
 * @example
 * wt.argsort(wt.tensor([3, 1, 2]), -1, true); // [0, 2, 1]
 */
export function argsort(x: Tensor, dim = -1, descending = false): Tensor {
  checkTensor('argsort', 'input', x);
  checkBoolean('argsort', 'descending', descending);
  const d = dimOf('argsort', x, dim);
  return tidy(() => sort3(around(x, d), descending)[1].reshape([...x.shape]));
}

/**
 * The k largest (or, with `largest` false, smallest) entries along `dim`: `{ values, indices }`,
 * in order (largest first). Ties go to the lower position; NaN counts as the largest value. The
 * results are always sorted (`sorted` false is accepted, as PyTorch's order is then unspecified).
 * Runs a full sort of each row.
 *
 * @example
 * const { values, indices } = wt.topk(wt.tensor([1, 5, 2, 4]), 2); // [5, 4], [1, 3]
 */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): ValuesIndices {
  checkTensor('topk', 'input', x);
  checkBoolean('topk', 'largest', largest);
  checkBoolean('topk', 'sorted', sorted);
  const d = dimOf('topk', x, dim);
  const size = x.ndim ? x.shape[d] : 1;
  checkNumber('topk', 'k', k, { int: true, min: 0 });
  if (k > size) throw new ArgumentError(`topk: k ${k} is larger than dim ${d} (size ${size}) of input ${fmt(x.shape)}`);
  return sortedAlong(x, d, largest, k);
}

/**
 * torch.max: with one `dim`, the maximum along it and where it is, `{ values, indices }` (also
 * `[values, indices]`); the first maximum's position when it repeats; a NaN is the maximum (the
 * first NaN); the gradient goes to that position only. Without a dim (or with a list of dims) the
 * values alone, as `amax`.
 *
 * @example
 * const { values, indices } = wt.max(wt.tensor([[1, 7, 7], [4, 2, 0]]), 1); // [7, 4], [1, 0]
 */
export function max(x: Tensor, dim?: undefined, keepdim?: boolean): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function max(x: Tensor, dim: readonly number[], keepdim?: boolean): Tensor;
export function max(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor | ValuesIndices {
  return typeof dim === 'number' ? extremeDim('max', x, dim, keepdim) : amax(tensorArg('max', 'input', x), dim, keepdim, 'max');
}

/** torch.min: with one `dim`, `{ values, indices }`; otherwise the values alone, as `amin` (see {@link max}). */
export function min(x: Tensor, dim?: undefined, keepdim?: boolean): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function min(x: Tensor, dim: readonly number[], keepdim?: boolean): Tensor;
export function min(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor | ValuesIndices {
  return typeof dim === 'number' ? extremeDim('min', x, dim, keepdim) : amin(tensorArg('min', 'input', x), dim, keepdim, 'min');
}

/** The maximum over `dim` (one, a list, or all), values only, as torch.amax. */
export const amaxOf = (x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor => amax(tensorArg('amax', 'input', x), dim, keepdim);
/** The minimum over `dim` (one, a list, or all), values only, as torch.amin. */
export const aminOf = (x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor => amin(tensorArg('amin', 'input', x), dim, keepdim);

function extremeDim(op: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean): ValuesIndices {
  checkTensor(op, 'input', x);
  checkBoolean(op, 'keepdim', keepdim);
  const d = dimOf(op, x, dim);
  if (x.ndim && x.shape[d] === 0) throw new ShapeError(`${op}: cannot reduce over dim ${d} of size 0 of a tensor of shape ${fmt(x.shape)}`);
  const shape = x.ndim === 0 ? [] : keepdim ? x.shape.map((n, j) => (j === d ? 1 : n)) : x.shape.filter((_, j) => j !== d);
  return tidy(() => {
    const x3 = around(x, d);
    if (x.numel() === 0) return pair(zeros(shape, { dtype: x.dtype }), zeros(shape, { dtype: 'int32' }));
    const [v, i] = noGrad(() => {
      const idx = op === 'max' ? x3.argmax(1, true) : x3.argmin(1, true);
      return [runOrZeros('gather', { dim: 1 }, [x3.contiguous(), idx], [{ shape: idx.shape, dtype: x.dtype }], idx.numel())[0], idx];
    });
    return pair(gatherNode(x3, v, i).reshape(shape), i.reshape(shape));
  });
}

/**
 * Records `values` (computed without autograd) as x3 [A, S, B] gathered at `indices` along 1, so
 * that its gradient is scattered back to those positions (the gather rule).
 */
function gatherNode(x3: Tensor, values: Tensor, indices: Tensor): Tensor {
  if (x3.dtype !== 'float32' || !x3.requiresGrad) return values;
  return record('gather', [x3], values, [indices], { dim: 1 });
}

export const sortGrads: GradTable<'cumsum' | 'cumprod'> = {
  cumsum: (n, g) => [scanAlong(g, n.meta.dim, 'sum', true)],
  cumprod: (n, g) => {
    const [x, y] = n.saved;
    const d = n.meta.dim;
    if (g.numel() === 0) return [zeros(x.shape)];
    return [tidy(() => noGrad(() => {
      // gx_i = (x_0 ⋯ x_{i-1}) · s_i with s_i = g_i + x_{i+1}·s_{i+1}: no division, so zeros are exact
      const xr = rowsOf(x, d), yr = rowsOf(y, d), gr = rowsOf(g, d);
      const D = xr.shape[xr.ndim - 1];
      const shifted = pad(xr.narrow(-1, 1, D - 1), [0, 1], 0).contiguous();
      const before = pad(yr.narrow(-1, 0, D - 1), [1, 0], 1);
      const [s] = runOrZeros('scan', { op: 'affine', reverse: true }, [shifted, gr], [{ shape: gr.shape, dtype: 'float32' }], gr.numel());
      return unrows(before.mul(s), d, x.ndim);
    }))];
  },
};
