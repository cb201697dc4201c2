/**
 * CPU routines for batch normalisation in training mode: the per-channel statistics and the
 * normalisation in one routine, and its backward (input, weight and bias gradients) in another.
 * Plain loops with float64 accumulators (JS numbers), so on the float32 backend only the stores
 * round; this is the reference the WebGPU shaders (shaders/batchnorm.wgsl) are compared against.
 *
 * Legend: N batch, C channels, S spatial size (H·W·…; 1 for a [N,C] input). Views are
 * contiguous [N,C,S] (the front end reshapes to that) and may start at an `offset`. A channel's
 * values are N runs of S contiguous elements, C·S apart, so every loop below walks a channel as
 * `for n, for s` over those runs: sequential reads, no index arithmetic per element.
 */
import type { CpuRoutine, CpuView } from './view.js';
import { loadMean, storeMean } from './norm.js';

/** [N, C, S] of a view of shape [N, C] or [N, C, S]. */
function dimsOf(v: CpuView): [number, number, number] {
  const [N, C, S = 1] = v.shape;
  return [N, C, S];
}

/**
 * x[N,C,S], w?[C], b?[C] → y[N,C,S], mean[C,2] (m0, m1: storeMean), invstd[C] (w and b both present when `affine`).
 * Two passes over each channel in float64: the mean, then the centred sum of squares (no
 * E[x²] - E[x]² cancellation when the channel has a large offset). Biased variance, as PyTorch
 * normalises with; the front end derives the unbiased one for the running statistics.
 */
export const batchNorm: CpuRoutine<'batchNorm'> = ({ eps, affine }, inputs, [y, mean, invstd]) => {
  const [x, w, b] = inputs;
  const [N, C, S] = dimsOf(x);
  const xa = x.data, ya = y.data;
  const count = N * S;
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) {
      const o = x.offset + (n * C + c) * S;
      for (let i = 0; i < S; i++) s += xa[o + i];
    }
    const mu = s / count;
    let q = 0;
    for (let n = 0; n < N; n++) {
      const o = x.offset + (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = xa[o + i] - mu;
        q += d * d;
      }
    }
    const is = 1 / Math.sqrt(q / count + eps);
    storeMean(mean, c, mu);
    invstd.data[invstd.offset + c] = is;
    // y = (x - mu) * scale + shift: the affine parameters fold into one multiply-add per element
    const scale = affine ? is * w.data[w.offset + c] : is;
    const shift = affine ? b.data[b.offset + c] : 0;
    for (let n = 0; n < N; n++) {
      const xo = x.offset + (n * C + c) * S, yo = y.offset + (n * C + c) * S;
      for (let i = 0; i < S; i++) ya[yo + i] = (xa[xo + i] - mu) * scale + shift;
    }
  }
};

/**
 * x[N,C,S], gy[N,C,S], mean[C,2], invstd[C], w?[C] → gx[N,C,S], gw[C], gb[C].
 * With x̂ = (x - mean)·invstd and m = N·S values per channel:
 *   gb = Σ gy,  gw = Σ gy·x̂,  gx = w·invstd·(gy - gb/m - x̂·gw/m)
 * (w = 1 without `affine`). One pass for the two sums, one to write gx. gw and gb are written
 * even without `affine`: they are the sums gx needs, and cost nothing extra.
 */
export const batchNormBackward: CpuRoutine<'batchNormBackward'> = ({ affine }, inputs, [gx, gw, gb]) => {
  const [x, gy, mean, invstd, w] = inputs;
  const [N, C, S] = dimsOf(x);
  const xa = x.data, ga = gy.data, oa = gx.data;
  const count = N * S;
  for (let c = 0; c < C; c++) {
    const mu = loadMean(mean, c), is = invstd.data[invstd.offset + c];
    let sg = 0, sgh = 0;
    for (let n = 0; n < N; n++) {
      const xo = x.offset + (n * C + c) * S, go = gy.offset + (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const g = ga[go + i];
        sg += g;
        sgh += g * (xa[xo + i] - mu) * is;
      }
    }
    gb.data[gb.offset + c] = sg;
    gw.data[gw.offset + c] = sgh;
    const scale = affine ? is * w.data[w.offset + c] : is;
    const m1 = sg / count, m2 = sgh / count;
    for (let n = 0; n < N; n++) {
      const xo = x.offset + (n * C + c) * S, go = gy.offset + (n * C + c) * S, oo = gx.offset + (n * C + c) * S;
      for (let i = 0; i < S; i++) oa[oo + i] = scale * (ga[go + i] - m1 - (xa[xo + i] - mu) * is * m2);
    }
  }
};
