/**
 * CPU routines along rows: scans (cumsum, cumprod, and the affine recurrence of cumprod's
 * gradient), the stable sort and the categorical draws of multinomial. Plain loops; float scans accumulate in float64 (JS numbers) so
 * only the stores round, int32 scans wrap as int32 arithmetic does. This is the reference the
 * WebGPU shaders (shaders/scan.wgsl, shaders/sort.wgsl) are compared against.
 *
 * Legend: R rows, D row length. Views are contiguous [R,D] (the front end guarantees it) but may
 * start at an `offset`; D is the last dim, R = numel / D.
 */
import type { CpuRoutine, CpuView } from './view.js';

function rowsOf(v: CpuView): [number, number] {
  const D = v.shape.length ? v.shape[v.shape.length - 1] : 1;
  let n = 1;
  for (const s of v.shape) n *= s;
  return [D === 0 ? 0 : n / D, D];
}

/** x[R,D] → y[R,D] inclusive sum / product; a[R,D], b[R,D] → y, y_i = a_i·y_{i-1} + b_i ('affine'). */
export const scan: CpuRoutine<'scan'> = ({ op, reverse }, inputs, [y]) => {
  const [R, D] = rowsOf(y);
  const int = y.dtype === 'int32';
  const ya = y.data;
  const [x, b] = inputs;
  const xa = x.data, ba = b?.data;
  for (let r = 0; r < R; r++) {
    const xo = x.offset + r * D, yo = y.offset + r * D, bo = b ? b.offset + r * D : 0;
    let s = op === 'prod' ? 1 : 0;
    for (let t = 0; t < D; t++) {
      const j = reverse ? D - 1 - t : t;
      const v = xa[xo + j];
      if (op === 'affine') s = v * s + ba![bo + j];
      else if (!int) s = op === 'sum' ? s + v : s * v;
      else s = op === 'sum' ? (s + v) | 0 : Math.imul(s, v);
      ya[yo + j] = s;
    }
  }
};

/**
 * The order of the sort: NaN above every number, -0 equal to 0; descending reverses it. The
 * WebGPU shader orders the same by 32-bit keys (shaders/sort.wgsl).
 */
function compare(a: number, b: number): number {
  const na = a !== a, nb = b !== b;
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** x[R,D] → values[R,D], indices int32[R,D]: rows sorted stably (ties keep their positions' order). */
export const sort: CpuRoutine<'sort'> = ({ descending }, [x], [values, indices]) => {
  const [R, D] = rowsOf(x);
  const xa = x.data, va = values.data, ia = indices.data;
  const order = new Array<number>(D);
  const sign = descending ? -1 : 1;
  for (let r = 0; r < R; r++) {
    const xo = x.offset + r * D;
    for (let j = 0; j < D; j++) order[j] = j;
    order.sort((p, q) => sign * compare(xa[xo + p], xa[xo + q]) || p - q);
    const vo = values.offset + r * D, io = indices.offset + r * D;
    for (let j = 0; j < D; j++) {
      va[vo + j] = xa[xo + order[j]];
      ia[io + j] = order[j];
    }
  }
};

/** cdf[R,D], w[R,D], t[R,S] → out int32[R,S]: the category each t falls in (see kernel.ts). */
export const sampleCategorical: CpuRoutine<'sampleCategorical'> = (_, [cdf, w, t], [out]) => {
  const [R, D] = rowsOf(cdf);
  const S = R ? rowsOf(t)[1] : 0;
  const ca = cdf.data, wa = w.data, ta = t.data, oa = out.data;
  for (let r = 0; r < R; r++) {
    const co = cdf.offset + r * D, wo = w.offset + r * D;
    for (let s = 0; s < S; s++) {
      const v = ta[t.offset + r * S + s];
      let lo = 0, hi = D;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ca[co + mid] > v) hi = mid;
        else lo = mid + 1;
      }
      let j = lo;
      while (j < D && !(wa[wo + j] > 0)) j++;
      if (j === D) {
        j = D - 1;
        while (j > 0 && !(wa[wo + j] > 0)) j--;
      }
      oa[out.offset + r * S + s] = j;
    }
  }
};
