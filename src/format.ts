/** PyTorch-style printing of tensor values. */
import type { DType } from './dtype.js';

/**
 * The method Node's `console.log` and `util.inspect` call for a custom view of an object (a
 * registered symbol, so the library need not import node:util and still runs in browsers).
 */
export const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom');

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

/**
 * Formats row-major values of a tensor like PyTorch's repr. Past 1000 elements it shows the first
 * and last 3 along each dim with `...` between, as PyTorch does; only the shown values are
 * formatted (and choose the number format), so printing a large tensor stays cheap.
 */
export function formatTensor(vals: ArrayLike<number>, shape: readonly number[], dtype: DType, requiresGrad = false): string {
  const n = vals.length;
  const summarize = n > SUMMARIZE;
  const strides: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { strides[i] = acc; acc *= shape[i]; }
  const shownIdx = (size: number): number[] => (summarize && size > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => size - EDGE + i)] : [...Array(size).keys()]);
  // the flat offsets shown, in order (all of them unless summarised)
  const offsets: number[] = [];
  const visit = (dim: number, off: number): void => {
    if (dim === shape.length) { offsets.push(off); return; }
    for (const i of shownIdx(shape[dim])) if (i >= 0) visit(dim + 1, off + i * strides[dim]);
  };
  if (n > 0) visit(0, 0);
  const shown = summarize ? offsets.map((o) => vals[o]) : vals;
  const f = formatter(shown, dtype);
  const strs = new Map<number, string>();
  let width = 0;
  for (const o of offsets) {
    const str = f(vals[o]);
    strs.set(o, str);
    if (str.length > width) width = str.length;
  }
  const prefix = 'tensor(';
  const rec = (dim: number, off: number, indent: number): string => {
    if (dim === shape.length) return strs.get(off)!.padStart(width);
    // PyTorch's marks: ' ...' among numbers, '...' for rows
    const parts = shownIdx(shape[dim]).map((i) => (i < 0 ? (dim === shape.length - 1 ? ' ...' : '...') : rec(dim + 1, off + i * strides[dim], indent + 1)));
    const sep = dim === shape.length - 1 ? ', ' : ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + 1);
    return `[${parts.join(sep)}]`;
  };
  let body = shape.length === 0 ? strs.get(0)! : rec(0, 0, prefix.length);
  const extras: string[] = [];
  if (n === 0) extras.push(`size=[${shape.join(', ')}]`);
  if (dtype !== 'float32') extras.push(`dtype=${dtype}`);
  if (requiresGrad) extras.push('requiresGrad=true');
  if (extras.length) body += ', ' + extras.join(', ');
  return `${prefix}${body})`;
}
