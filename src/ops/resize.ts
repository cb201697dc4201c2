/**
 * Resizing: interpolate (torch.nn.functional.interpolate) over [N, C, L], [N, C, H, W] and
 * [N, C, D, H, W] with modes 'nearest', 'nearest-exact', 'linear' / 'bilinear' / 'trilinear'
 * and 'bicubic'.
 *
 * No routine of its own: each resized dim is indexSelects with index lists built on the host
 * (one for nearest; two taps for the linear modes, four for bicubic) and a weighted sum of the
 * taps with per-position weights, so the gradient is the indexSelects' (an index-add) and the
 * sum's. The dims are resized last first, which is PyTorch's order of arithmetic (rows blended
 * across W, then across H).
 *
 * Source positions follow PyTorch 1.13's CPU kernels exactly, in float32 arithmetic:
 * - scale = 1/scaleFactor when a scale factor is given (and recomputeScaleFactor is not set),
 *   else in/out; with alignCorners, (in-1)/(out-1) (0 when out is 1);
 * - nearest: src = min(floor(dst·scale), in-1) (same size: identity; twice the size: dst>>1);
 * - nearest-exact: src = min(floor((dst+0.5)·scale), in-1);
 * - linear: src = scale·(dst+0.5)-0.5 clamped at 0 (alignCorners: scale·dst), blended between
 *   floor(src) and the next position (the last one repeats);
 * - bicubic: the same src without the clamp, over positions floor(src)-1 .. floor(src)+2
 *   (clamped to the edges) with the cubic convolution weights of A = -0.75;
 * - area: the mean over positions floor(dst·in/out) .. ceil((dst+1)·in/out)-1 (adaptive average
 *   pooling).
 */
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { MAX_NUMEL } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkFloat, checkOneOf, checkOptions, describeValue } from '../validate.js';
import { tensor } from './creation.js';
import { indexSelect } from './indexing.js';

export type InterpolateMode = 'nearest' | 'nearest-exact' | 'linear' | 'bilinear' | 'bicubic' | 'trilinear' | 'area';

export interface InterpolateOptions {
  /** the output's spatial size: one int for every spatial dim, or one per dim */
  size?: number | readonly number[] | null;
  /** multiplier of the spatial size (output = floor(input · scaleFactor)); one, or one per dim */
  scaleFactor?: number | readonly number[] | null;
  /** default 'nearest'; 'linear' takes 3-D input, 'bilinear' and 'bicubic' 4-D, 'trilinear' 5-D; 'area' is adaptive average pooling */
  mode?: InterpolateMode;
  /** interpolating modes only: map the corner pixels' centres onto each other (default false) */
  alignCorners?: boolean | null;
  /** with scaleFactor: compute positions from the output size rather than the factor (default false) */
  recomputeScaleFactor?: boolean | null;
}

/** @internal */
export const INTERPOLATE_MODES: readonly InterpolateMode[] = ['nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area'];
/** The input rank of each interpolating mode. */
const RANK: Partial<Record<InterpolateMode, number>> = { linear: 3, bilinear: 4, bicubic: 4, trilinear: 5 };
const f32 = Math.fround;

/** One number per spatial dim from a number or a list of `n` numbers. */
function perDim(op: string, arg: string, v: unknown, n: number, ok: (d: number) => boolean, what: string): number[] {
  const list = typeof v === 'number' ? new Array<number>(n).fill(v) : Array.isArray(v) ? [...v] : null;
  if (!list || list.length !== n || !list.every((d) => typeof d === 'number' && ok(d))) {
    throw new ArgumentError(`${op}: ${arg} must be ${what} or a list of ${n} (one per spatial dim), got ${describeValue(v)}`);
  }
  return list;
}

/**
 * Resizes the spatial dims (all after the first two) of x, as torch.nn.functional.interpolate.
 * Give exactly one of `size` and `scaleFactor`.
 *
 * @example
 * const up = wt.F.interpolate(x, { scaleFactor: 2, mode: 'bilinear' }); // [N, C, 2H, 2W]
 * const y = wt.F.interpolate(x, { size: [17, 31], mode: 'nearest' });
 */
export function interpolate(x: Tensor, o: InterpolateOptions = {}): Tensor {
  return interpolateAs('interpolate', x, o);
}

/** interpolate under the name the user called it by (`Upsample.forward`). @internal */
export function interpolateAs(op: string, x: Tensor, o: InterpolateOptions = {}): Tensor {
  checkOptions(op, o, ['size', 'scaleFactor', 'mode', 'alignCorners', 'recomputeScaleFactor']);
  checkFloat(op, 'input', x);
  if (x.ndim < 3 || x.ndim > 5) throw new ShapeError(`${op}: input must be 3-D [N, C, L], 4-D [N, C, H, W] or 5-D [N, C, D, H, W], got ${fmt(x.shape)}`);
  const mode = checkOneOf(op, 'mode', o.mode ?? 'nearest', INTERPOLATE_MODES);
  const linear = mode in RANK;
  if (linear && RANK[mode] !== x.ndim) {
    const r = RANK[mode]!;
    throw new ShapeError(`${op}: mode '${mode}' needs ${r}-D input ([N, C${r === 3 ? ', L' : r === 4 ? ', H, W' : ', D, H, W'}]), got ${fmt(x.shape)}`);
  }
  const align = o.alignCorners ?? null;
  if (align !== null) {
    checkBoolean(op, 'alignCorners', align);
    if (!linear) throw new ArgumentError(`${op}: alignCorners can only be set with the interpolating modes (linear, bilinear, bicubic, trilinear), not mode '${mode}'`);
  }
  const recompute = o.recomputeScaleFactor ?? null;
  if (recompute !== null) checkBoolean(op, 'recomputeScaleFactor', recompute);
  const size = o.size ?? null, sf = o.scaleFactor ?? null;
  if ((size === null) === (sf === null)) {
    throw new ArgumentError(`${op}: give exactly one of size and scaleFactor, got ${size === null ? 'neither' : 'both'}`);
  }
  if (recompute && sf === null) throw new ArgumentError(`${op}: recomputeScaleFactor needs scaleFactor (size was given)`);
  const sd = x.ndim - 2, inSize = x.shape.slice(2);
  let outSize: number[];
  let scales: (number | null)[];
  if (size !== null) {
    outSize = perDim(op, 'size', size, sd, (d) => Number.isInteger(d) && d >= 1 && d <= MAX_NUMEL, 'a positive integer');
    scales = new Array<number | null>(sd).fill(null);
  } else {
    const f = perDim(op, 'scaleFactor', sf, sd, (d) => Number.isFinite(d) && d > 0, 'a positive number');
    outSize = inSize.map((n, i) => Math.floor(n * f[i]));
    const zero = outSize.findIndex((n, i) => n < 1 && inSize[i] > 0);
    if (zero >= 0) throw new ShapeError(`${op}: scaleFactor ${describeValue(sf)} makes spatial dim ${zero} of input ${fmt(x.shape)} empty (output size ${fmt(outSize)})`);
    scales = recompute ? f.map(() => null) : f;
  }
  const empty = inSize.findIndex((n) => n === 0);
  if (empty >= 0) throw new ShapeError(`${op}: input ${fmt(x.shape)} has an empty spatial dim ${empty}`);
  if (x.shape[0] * x.shape[1] * outSize.reduce((a, b) => a * b, 1) > MAX_NUMEL) {
    throw new ShapeError(`${op}: output ${fmt([...x.shape.slice(0, 2), ...outSize])} has more elements than a tensor holds (${MAX_NUMEL})`);
  }
  return tidy(() => {
    let y = x;
    for (let d = sd - 1; d >= 0; d--) {
      const n = inSize[d], m = outSize[d], axis = 2 + d;
      const identity = (idx: Int32Array) => m === n && idx.every((v, j) => v === j);
      if (!linear && mode !== 'area') {
        const idx = nearestIndex(n, m, scales[d], mode === 'nearest-exact');
        if (!identity(idx)) y = indexSelect(y, axis, tensor(idx, { dtype: 'int32' }));
        continue;
      }
      const taps = (mode === 'area' ? areaTaps : mode === 'bicubic' ? cubicTaps : linearTaps)(n, m, scales[d], align ?? false).filter((t) => t.w.some((v) => v !== 0));
      if (taps.length === 1 && taps[0].w.every((v) => v === 1)) {
        // every output sits on an input position
        if (!identity(taps[0].idx)) y = indexSelect(y, axis, tensor(taps[0].idx, { dtype: 'int32' }));
        continue;
      }
      const trail = new Array<number>(sd - 1 - d).fill(1);
      const src = y;
      y = taps.map(({ idx, w }) => indexSelect(src, axis, tensor(idx, { dtype: 'int32' })).mul(tensor(w, { shape: [m, ...trail] })))
        .reduce((acc, t) => acc.add(t));
    }
    return y === x ? x.clone() : y;
  });
}

/** float32 scale of a dim: 1/scaleFactor when one is used, else in/out (PyTorch's compute_scales_value). */
function scaleOf(n: number, m: number, scale: number | null): number {
  return scale !== null && scale > 0 ? f32(1 / scale) : f32(n / m);
}

/** The source position of each of m outputs for nearest / nearest-exact. */
function nearestIndex(n: number, m: number, scale: number | null, exact: boolean): Int32Array {
  const s = scaleOf(n, m, scale);
  return Int32Array.from({ length: m }, (_, j) => {
    if (exact) return Math.min(Math.floor(f32((j + 0.5) * s)), n - 1);
    if (m === n) return j;
    if (m === 2 * n) return j >> 1;
    return Math.min(Math.floor(f32(j * s)), n - 1);
  });
}

interface Tap { idx: Int32Array; w: Float32Array }

/** The source scale of the interpolating modes (alignCorners: (in-1)/(out-1), 0 for one output). */
function interpScale(n: number, m: number, scale: number | null, align: boolean): number {
  return align ? (m > 1 ? f32((n - 1) / (m - 1)) : 0) : scaleOf(n, m, scale);
}

/** The source coordinate of output j (float32, as PyTorch's area_pixel_compute_source_index). */
function sourceOf(s: number, j: number, align: boolean, cubic: boolean): number {
  if (align) return f32(s * j);
  const src = f32(f32(s * (j + 0.5)) - 0.5);
  return !cubic && src < 0 ? 0 : src;
}

/** The two source positions of each of m outputs and their weights, for the linear modes. */
function linearTaps(n: number, m: number, scale: number | null, align: boolean): Tap[] {
  const s = interpScale(n, m, scale, align);
  const i0 = new Int32Array(m), i1 = new Int32Array(m), l0 = new Float32Array(m), l1 = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    const src = sourceOf(s, j, align, false);
    const a = Math.min(Math.floor(src), n - 1);
    const w = Math.min(Math.max(f32(src - a), 0), 1);
    i0[j] = a;
    i1[j] = a < n - 1 ? a + 1 : a;
    l1[j] = w;
    l0[j] = f32(1 - w);
  }
  return [{ idx: i0, w: l0 }, { idx: i1, w: l1 }];
}

/** The four source positions (clamped to the edges) of each of m outputs and their cubic convolution weights (A = -0.75). */
function cubicTaps(n: number, m: number, scale: number | null, align: boolean): Tap[] {
  const A = -0.75;
  const near = (x: number) => f32(f32(f32(f32(f32(A + 2) * x) - (A + 3)) * x) * x) + 1; // |x| <= 1
  const far = (x: number) => f32(f32(f32(f32(f32(f32(A * x) - 5 * A) * x) + 8 * A) * x) - 4 * A); // 1 < |x| < 2
  const s = interpScale(n, m, scale, align);
  const taps = [0, 1, 2, 3].map(() => ({ idx: new Int32Array(m), w: new Float32Array(m) }));
  for (let j = 0; j < m; j++) {
    const src = sourceOf(s, j, align, true);
    const a = Math.floor(src), t = f32(src - a);
    const w = [far(f32(t + 1)), near(t), near(f32(1 - t)), far(f32(f32(1 - t) + 1))];
    for (let k = 0; k < 4; k++) {
      taps[k].idx[j] = Math.min(Math.max(a - 1 + k, 0), n - 1);
      taps[k].w[j] = w[k];
    }
  }
  return taps;
}

/** Adaptive average pooling as taps: tap k of output j is position start+k of its window (weight 1/length), or nothing. */
function areaTaps(n: number, m: number): Tap[] {
  const start = (j: number) => Math.floor((j * n) / m), end = (j: number) => Math.ceil(((j + 1) * n) / m);
  let len = 0;
  for (let j = 0; j < m; j++) len = Math.max(len, end(j) - start(j));
  return Array.from({ length: len }, (_, k) => {
    const idx = new Int32Array(m), w = new Float32Array(m);
    for (let j = 0; j < m; j++) {
      const a = start(j), l = end(j) - a;
      idx[j] = Math.min(a + k, a + l - 1);
      w[j] = k < l ? 1 / l : 0;
    }
    return { idx, w };
  });
}
