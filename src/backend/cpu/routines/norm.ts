/**
 * CPU routines for row-wise normalisation: softmax / log-softmax, fused softmax-cross-entropy
 * and layer norm, each with its backward. Plain loops with float64 accumulators (JS numbers),
 * so on the float32 backend only the stores round; this is the reference the GPU shaders are
 * compared against.
 *
 * Legend: R rows, D row length. Views are contiguous [R,D] (the front end guarantees it) but may
 * start at an `offset`; R and D are read from the views (R = numel / D, D = the last dim), so a
 * view of shape [..., D] works too.
 */
import type { CpuRoutine, CpuView } from './view.js';
import { instantiateExp, type WasmExp } from '../wasm/rows.js';
import { instantiateLayerNorm, type WasmLayerNorm } from '../wasm/layernorm.js';

/**
 * A wasm module made on first use rather than at import (a page that never normalises on the
 * CPU pays nothing); if making it throws (no WebAssembly SIMD) the JavaScript loops stay in
 * charge for good. `enabled = false` (tests) keeps them in charge too.
 */
function lazyKernel<T>(make: () => T): { enabled: boolean; get(): T | null } {
  let state: T | null | undefined;
  return {
    enabled: true,
    get() {
      if (!this.enabled) return null;
      if (state === undefined) {
        try {
          state = make();
        } catch {
          state = null;
        }
      }
      return state;
    },
  };
}

const allFloat32 = (arrays: ArrayLike<number>[]) => arrays.every((a) => a instanceof Float32Array);

/** Longest row the wasm exp takes (its memory: 256 KiB). */
const EXP_FLOATS = 1 << 16;
const expKernel = lazyKernel(() => instantiateExp(EXP_FLOATS));

/** Tests: false keeps the row routines on Math.exp (the float64 path). */
export function setWasmExp(enabled: boolean): void {
  expKernel.enabled = enabled;
}

/**
 * The wasm SIMD exp (../wasm/rows.ts) when the rows are float32 on both sides and fit it; null
 * on the float64 backend (which keeps Math.exp), for long rows, or where WebAssembly SIMD is
 * missing.
 */
function wasmExp(rowLength: number, ...arrays: ArrayLike<number>[]): WasmExp | null {
  return rowLength <= EXP_FLOATS && allFloat32(arrays) ? expKernel.get() : null;
}

/**
 * exp(x - m) of row elements o..o+n (m finite, n ≤ EXP_FLOATS) into w.f32[0..n): four lanes at a
 * time in wasm, the last n % 4 by Math.exp. Returns their sum (float64). With `loaded`, the row
 * is in w.f32 already.
 */
function rowExp(w: WasmExp, a: Float32Array, o: number, n: number, m: number, loaded = false): number {
  const f = w.f32, n4 = n >> 2;
  if (!loaded) f.set(a.subarray(o, o + n));
  let s = n4 ? w.exp(0, n4, m) : 0;
  for (let j = n4 * 4; j < n; j++) s += f[j] = Math.exp(a[o + j] - m);
  return s;
}

/** The max of row elements o..o+n, loading them into w.f32[0..n) (NaN if any is NaN, as rowMax). */
function rowMaxWasm(w: WasmExp, a: Float32Array, o: number, n: number): number {
  const n4 = n >> 2;
  w.f32.set(a.subarray(o, o + n));
  let m = n4 ? w.max(0, n4) : -Infinity;
  for (let j = n4 * 4; j < n; j++) {
    const v = a[o + j];
    if (v !== v) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/** Longest row the wasm layerNorm takes (its memory: 576 KiB). */
const LN_FLOATS = 1 << 14;
const lnKernel = lazyKernel(() => instantiateLayerNorm(LN_FLOATS));

/** Tests: false keeps layerNorm and its backward in JavaScript. */
export function setWasmLayerNorm(enabled: boolean): void {
  lnKernel.enabled = enabled;
}

/**
 * The wasm SIMD layerNorm rows (../wasm/layernorm.ts) when every array is float32 and the row
 * length is a multiple of 4 that fits; null otherwise (the float64 backend, odd rows, no
 * WebAssembly SIMD).
 */
function wasmLayerNorm(D: number, ...arrays: ArrayLike<number>[]): WasmLayerNorm | null {
  return D > 0 && D % 4 === 0 && D <= LN_FLOATS && allFloat32(arrays) ? lnKernel.get() : null;
}

/** Rows and row length of a contiguous view whose last dim is the row. */
function rowsOf(v: CpuView): [number, number] {
  const D = v.shape.length ? v.shape[v.shape.length - 1] : 1;
  let n = 1;
  for (const s of v.shape) n *= s;
  return [D === 0 ? 0 : n / D, D];
}

/** The max of a row; NaN if any element is NaN (so NaN propagates to the whole row, as PyTorch). */
function rowMax(a: ArrayLike<number>, o: number, D: number): number {
  let m = -Infinity;
  for (let j = 0; j < D; j++) {
    const v = a[o + j];
    if (v !== v) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/**
 * log(sum(exp(row))) with the max subtracted first. A row of all -inf gives -inf (its
 * softmax is then NaN, as PyTorch); a +inf entry gives NaN through inf - inf.
 */
function rowLogSumExp(a: ArrayLike<number>, o: number, D: number, w: WasmExp | null = null): number {
  const m = rowMax(a, o, D);
  if (m === -Infinity) return -Infinity;
  if (w && Number.isFinite(m)) return m + Math.log(rowExp(w, a as Float32Array, o, D, m));
  let s = 0;
  for (let j = 0; j < D; j++) s += Math.exp(a[o + j] - m);
  return m + Math.log(s);
}

/** x[R,D] → y[R,D]: softmax, or log-softmax when `log`. */
export const softmax: CpuRoutine<'softmax'> = ({ log, causal }, [x], [y]) => {
  const [R, D] = rowsOf(x);
  // causal: row r of each [L, D] matrix keeps columns j <= r % L; the rest are -inf (weight 0)
  const L = causal ? x.shape[x.shape.length - 2] : 0;
  const xa = x.data, ya = y.data;
  const w = wasmExp(D, xa, ya);
  // each exp once: kept in float64 for the normalising pass (the same values as recomputing them)
  const e = new Float64Array(D);
  for (let r = 0; r < R; r++) {
    const xo = x.offset + r * D, yo = y.offset + r * D;
    const n = causal ? Math.min(D, (r % L) + 1) : D;
    const m = w ? rowMaxWasm(w, xa as Float32Array, xo, n) : rowMax(xa, xo, n);
    if (w && Number.isFinite(m)) {
      // float32 rows: max, exps and scaling in wasm, the sum in float64
      const s = rowExp(w, xa as Float32Array, xo, n, m, true), f = w.f32;
      if (log) {
        const lse = m + Math.log(s);
        for (let j = 0; j < n; j++) ya[yo + j] = xa[xo + j] - lse;
      } else {
        const inv = 1 / s, n4 = n >> 2;
        if (n4) w.scale(0, n4, inv);
        for (let j = n4 * 4; j < n; j++) f[j] *= inv;
        (ya as Float32Array).set(f.subarray(0, n), yo);
      }
      for (let j = n; j < D; j++) ya[yo + j] = log ? -Infinity : 0;
      continue;
    }
    let s = 0;
    for (let j = 0; j < n; j++) s += e[j] = Math.exp(xa[xo + j] - m);
    if (log) {
      const lse = m + Math.log(s);
      for (let j = 0; j < n; j++) ya[yo + j] = xa[xo + j] - lse;
    } else {
      const inv = 1 / s;
      for (let j = 0; j < n; j++) ya[yo + j] = e[j] * inv;
    }
    for (let j = n; j < D; j++) ya[yo + j] = log ? -Infinity : 0;
  }
};

/**
 * y[R,D] (forward output), gy[R,D] → gx[R,D].
 * softmax: gx = y * (gy - sum(gy * y)); log-softmax: gx = gy - exp(y) * sum(gy).
 */
export const softmaxBackward: CpuRoutine<'softmaxBackward'> = ({ log }, [y, gy], [gx]) => {
  const [R, D] = rowsOf(y);
  const ya = y.data, ga = gy.data, oa = gx.data;
  for (let r = 0; r < R; r++) {
    const yo = y.offset + r * D, go = gy.offset + r * D, oo = gx.offset + r * D;
    let s = 0;
    if (log) {
      for (let j = 0; j < D; j++) s += ga[go + j];
      for (let j = 0; j < D; j++) oa[oo + j] = ga[go + j] - Math.exp(ya[yo + j]) * s;
    } else {
      for (let j = 0; j < D; j++) s += ga[go + j] * ya[yo + j];
      for (let j = 0; j < D; j++) oa[oo + j] = ya[yo + j] * (ga[go + j] - s);
    }
  }
};

/**
 * logits[R,D], target int32[R] → loss[R] = logsumexp(row) - row[target].
 * A target equal to ignoreIndex gives 0. Any other target outside [0, D) gives NaN: the kernel
 * never reads out of bounds, and NaN makes a bad label visible instead of silently wrong
 * (the front end validates targets on the host when it can read them synchronously).
 */
export const crossEntropy: CpuRoutine<'crossEntropy'> = ({ ignoreIndex }, [logits, target], [loss]) => {
  const [R, D] = rowsOf(logits);
  const la = logits.data, ta = target.data, oa = loss.data;
  const w = wasmExp(D, la);
  for (let r = 0; r < R; r++) {
    const t = ta[target.offset + r];
    const lo = logits.offset + r * D;
    if (t === ignoreIndex) oa[loss.offset + r] = 0;
    else if (t < 0 || t >= D) oa[loss.offset + r] = NaN;
    else oa[loss.offset + r] = rowLogSumExp(la, lo, D, w) - la[lo + t];
  }
};

/**
 * logits[R,D], target int32[R], gloss[R] → glogits[R,D] = (softmax(row) - onehot(target)) * gloss.
 * Ignored rows get 0; rows with an out-of-range target get NaN (matching the forward).
 */
export const crossEntropyBackward: CpuRoutine<'crossEntropyBackward'> = ({ ignoreIndex }, [logits, target, gloss], [glogits]) => {
  const [R, D] = rowsOf(logits);
  const la = logits.data, ta = target.data, ga = gloss.data, oa = glogits.data;
  // gloss at any stride (0: one upstream gradient for every row)
  const gs = gloss.strides[0] ?? 0;
  const w = wasmExp(D, la);
  for (let r = 0; r < R; r++) {
    const t = ta[target.offset + r];
    const lo = logits.offset + r * D, oo = glogits.offset + r * D;
    if (t === ignoreIndex) {
      for (let j = 0; j < D; j++) oa[oo + j] = 0;
      continue;
    }
    if (t < 0 || t >= D) {
      for (let j = 0; j < D; j++) oa[oo + j] = NaN;
      continue;
    }
    const g = ga[gloss.offset + r * gs];
    const lse = rowLogSumExp(la, lo, D, w);
    if (w && Number.isFinite(lse)) {
      // exp(x - lse) is the softmax row itself
      rowExp(w, la as Float32Array, lo, D, lse);
      const f = w.f32;
      for (let j = 0; j < D; j++) oa[oo + j] = (f[j] - (j === t ? 1 : 0)) * g;
      continue;
    }
    for (let j = 0; j < D; j++) oa[oo + j] = (Math.exp(la[lo + j] - lse) - (j === t ? 1 : 0)) * g;
  }
};

/**
 * x[R,D], w?[D], b?[D] → y[R,D], mean[R,2] (m0, m1: storeMean), rstd[R] (w and b both present when `affine`).
 * Two passes in float64: the mean, then the centred sum of squares, which avoids the
 * cancellation of E[x²] - E[x]² on rows with a large offset. Biased variance, as PyTorch.
 */
export const layerNorm: CpuRoutine<'layerNorm'> = ({ eps, affine }, inputs, [y, mean, rstd]) => {
  const [x, w, b] = inputs;
  const [R, D] = rowsOf(x);
  const xa = x.data, ya = y.data;
  const wa = affine ? w.data : null, ba = affine ? b.data : null, wo = affine ? w.offset : 0, bo = affine ? b.offset : 0;
  const k = wasmLayerNorm(D, xa, ya, ...(wa && ba ? [wa, ba] : []));
  if (k) return layerNormWasm(k, R, D, eps, x, y, mean, rstd, wa && ba ? [wa.subarray(wo, wo + D) as Float32Array, ba.subarray(bo, bo + D) as Float32Array] : null);
  for (let r = 0; r < R; r++) {
    const xo = x.offset + r * D, yo = y.offset + r * D;
    let s = 0;
    for (let j = 0; j < D; j++) s += xa[xo + j];
    const mu = s / D;
    let q = 0;
    for (let j = 0; j < D; j++) {
      const d = xa[xo + j] - mu;
      q += d * d;
    }
    const rs = 1 / Math.sqrt(q / D + eps);
    storeMean(mean, r, mu);
    rstd.data[rstd.offset + r] = rs;
    if (wa && ba) {
      for (let j = 0; j < D; j++) ya[yo + j] = (xa[xo + j] - mu) * rs * wa[wo + j] + ba[bo + j];
    } else {
      for (let j = 0; j < D; j++) ya[yo + j] = (xa[xo + j] - mu) * rs;
    }
  }
};

/**
 * A row's (or channel's) mean as the routines' pair (m0, m1) (kernel.ts, Routines.layerNorm):
 * m0 the mean in the array's precision, m1 what it misses, so that m0 + m1 keeps float64's mean
 * through a float32 array.
 */
export function storeMean(mean: CpuView, r: number, mu: number): void {
  const a = mean.data, o = mean.offset + 2 * r;
  a[o] = mu;
  a[o + 1] = mu - a[o];
}

/** The mean stored by {@link storeMean}. */
export function loadMean(mean: CpuView, r: number): number {
  const a = mean.data, o = mean.offset + 2 * r;
  return a[o] + a[o + 1];
}

/**
 * x[R,D], gy[R,D], mean[R,2], rstd[R], w?[D], gres?[R,D] → gx[R,D], then gw[D], gb[D] when affine.
 * With x̂ = (x - mean) * rstd and ĝ = gy * w:  gx = rstd * (ĝ - mean(ĝ) - x̂ * mean(ĝ * x̂)) (+ gres
 * with `residual`, added to the float32 value as the WebGPU kernel does), gw = Σ_rows gy * x̂,
 * gb = Σ_rows gy. gw and gb are overwritten, not accumulated.
 */
export const layerNormBackward: CpuRoutine<'layerNormBackward'> = ({ affine, residual }, inputs, outputs) => {
  const [x, gy, mean, rstd] = inputs;
  const w = inputs[4];
  const [gx, gw, gb] = outputs;
  const [R, D] = rowsOf(x);
  lnBackwardRows(!!affine, R, D, x, gy, mean, rstd, w, gx, gw, gb);
  if (!residual) return;
  const gres = inputs[affine ? 5 : 4], ra = gres.data, oa = gx.data;
  for (let r = 0; r < R; r++) {
    const ro = gres.offset + r * D, oo = gx.offset + r * D;
    for (let j = 0; j < D; j++) oa[oo + j] += ra[ro + j];
  }
};

function lnBackwardRows(affine: boolean, R: number, D: number, x: CpuView, gy: CpuView, mean: CpuView, rstd: CpuView, w: CpuView, gx: CpuView, gw: CpuView, gb: CpuView): void {
  const xa = x.data, ga = gy.data, oa = gx.data;
  const wa = affine ? w.data : null, wo = affine ? w.offset : 0;
  const k = wasmLayerNorm(D, xa, ga, oa, ...(wa ? [wa, gw.data, gb.data] : []));
  if (k) return layerNormBackwardWasm(k, R, D, x, gy, mean, rstd, gx, wa ? { w: wa.subarray(wo, wo + D) as Float32Array, gw, gb } : null);
  const sw = affine ? new Float64Array(D) : null, sb = affine ? new Float64Array(D) : null;
  const gh = new Float64Array(D), xh = new Float64Array(D);
  for (let r = 0; r < R; r++) {
    const xo = x.offset + r * D, go = gy.offset + r * D, oo = gx.offset + r * D;
    const mu = loadMean(mean, r), rs = rstd.data[rstd.offset + r];
    let s1 = 0, s2 = 0;
    for (let j = 0; j < D; j++) {
      const g = ga[go + j];
      const h = (xa[xo + j] - mu) * rs;
      const gg = wa ? g * wa[wo + j] : g;
      xh[j] = h;
      gh[j] = gg;
      s1 += gg;
      s2 += gg * h;
    }
    if (sw && sb) {
      for (let j = 0; j < D; j++) {
        const g = ga[go + j];
        sw[j] += g * xh[j];
        sb[j] += g;
      }
    }
    const m1 = s1 / D, m2 = s2 / D;
    for (let j = 0; j < D; j++) oa[oo + j] = rs * (gh[j] - m1 - xh[j] * m2);
  }
  if (sw) {
    for (let j = 0; j < D; j++) {
      gw.data[gw.offset + j] = sw[j];
      gb.data[gb.offset + j] = sb![j];
    }
  }
}

/** layerNorm's rows in wasm (see wasmLayerNorm): x and each output row copied through its memory. */
function layerNormWasm(k: WasmLayerNorm, R: number, D: number, eps: number, x: CpuView, y: CpuView, mean: CpuView, rstd: CpuView, wb: [Float32Array, Float32Array] | null): void {
  const { at, f32 } = k, n4 = D >> 2, xa = x.data as Float32Array, ya = y.data as Float32Array;
  const out = f32.subarray(at.out >> 2, (at.out >> 2) + D);
  if (wb) {
    f32.set(wb[0], at.w >> 2);
    f32.set(wb[1], at.b >> 2);
  }
  for (let r = 0; r < R; r++) {
    const xo = x.offset + r * D;
    f32.set(xa.subarray(xo, xo + D), at.x >> 2);
    const mu = k.lnSum(at.x, n4) / D;
    const rs = 1 / Math.sqrt(k.lnSqDev(at.x, n4, mu) / D + eps);
    storeMean(mean, r, mu);
    rstd.data[rstd.offset + r] = rs;
    if (wb) k.lnNorm(at.x, at.out, at.w, at.b, n4, mu, rs);
    else k.lnNormPlain(at.x, at.out, n4, mu, rs);
    ya.set(out, y.offset + r * D);
  }
}

/** layerNormBackward's rows in wasm; the weight and bias gradients in float64 columns there. */
function layerNormBackwardWasm(k: WasmLayerNorm, R: number, D: number, x: CpuView, gy: CpuView, mean: CpuView, rstd: CpuView, gx: CpuView, aff: { w: Float32Array; gw: CpuView; gb: CpuView } | null): void {
  const { at, f32, f64 } = k, n4 = D >> 2;
  const xa = x.data as Float32Array, ga = gy.data as Float32Array, oa = gx.data as Float32Array;
  const out = f32.subarray(at.out >> 2, (at.out >> 2) + D);
  if (aff) {
    f32.set(aff.w, at.w >> 2);
    f64.fill(0, at.sw >> 3, (at.sw >> 3) + D);
    f64.fill(0, at.sb >> 3, (at.sb >> 3) + D);
  }
  for (let r = 0; r < R; r++) {
    const xo = x.offset + r * D, go = gy.offset + r * D;
    f32.set(xa.subarray(xo, xo + D), at.x >> 2);
    f32.set(ga.subarray(go, go + D), at.g >> 2);
    const mu = loadMean(mean, r), rs = rstd.data[rstd.offset + r];
    const [s1, s2] = aff ? k.lnBackSums(at.x, at.g, at.w, n4, mu, rs) : k.lnBackSumsPlain(at.x, at.g, n4, mu, rs);
    if (aff) k.lnBackOut(at.x, at.g, at.w, at.out, at.sw, at.sb, n4, mu, rs, s1 / D, s2 / D);
    else k.lnBackOutPlain(at.x, at.g, at.out, n4, mu, rs, s1 / D, s2 / D);
    oa.set(out, gx.offset + r * D);
  }
  if (aff) {
    aff.gw.data.set(f64.subarray(at.sw >> 3, (at.sw >> 3) + D), aff.gw.offset);
    aff.gb.data.set(f64.subarray(at.sb >> 3, (at.sb >> 3) + D), aff.gb.offset);
  }
}
