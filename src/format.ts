/** PyTorch-style printing of tensor values. */
import type { DType } from './dtype.js';

const EDGE = 3, SUMMARIZE = 1000;

function formatter(vals: ArrayLike<number>, dtype: DType): (v: number) => string {
  if (dtype === 'bool') return (v) => (v ? 'true' : 'false');
  if (dtype === 'int32') return (v) => String(v);
  let maxAbs = 0, minAbs = Infinity, allInt = true;
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    if (!Number.isFinite(v)) continue;
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
    if (a > 0 && a < minAbs) minAbs = a;
    if (!Number.isInteger(v)) allInt = false;
  }
  const fin = (v: number) => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  if (allInt && maxAbs < 1e8) return (v) => (Number.isFinite(v) ? `${v}.` : fin(v));
  if (maxAbs >= 1e8 || (maxAbs > 0 && maxAbs < 1e-4) || (minAbs < 1e-4 && maxAbs / minAbs > 1e3)) return (v) => (Number.isFinite(v) ? v.toExponential(4) : fin(v));
  return (v) => (Number.isFinite(v) ? Math.fround(v).toFixed(4) : fin(v));
}

/** Formats row-major values of a tensor like PyTorch's repr. */
export function formatTensor(vals: ArrayLike<number>, shape: readonly number[], dtype: DType, requiresGrad = false): string {
  const n = vals.length;
  const summarize = n > SUMMARIZE;
  const f = formatter(vals, dtype);
  const strs = Array.from({ length: n }, (_, i) => f(vals[i]));
  const width = strs.reduce((w, s) => Math.max(w, s.length), 0);
  const strides: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { strides[i] = acc; acc *= shape[i]; }
  const prefix = 'tensor(';
  const rec = (dim: number, off: number, indent: number): string => {
    if (dim === shape.length) return strs[off].padStart(width);
    const size = shape[dim];
    const idx = summarize && size > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => size - EDGE + i)] : [...Array(size).keys()];
    const parts = idx.map((i) => (i < 0 ? '...' : rec(dim + 1, off + i * strides[dim], indent + 1)));
    const sep = dim === shape.length - 1 ? ', ' : ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + 1);
    return `[${parts.join(sep)}]`;
  };
  let body = shape.length === 0 ? strs[0] : rec(0, 0, prefix.length);
  const extras: string[] = [];
  if (n === 0) extras.push(`size=[${shape.join(', ')}]`);
  if (dtype !== 'float32') extras.push(`dtype=${dtype}`);
  if (requiresGrad) extras.push('requiresGrad=true');
  if (extras.length) body += ', ' + extras.join(', ');
  return `${prefix}${body})`;
}
