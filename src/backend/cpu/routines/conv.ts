/**
 * CPU conv2d and its two backward routines, each an implicit GEMM on the blocked kernel of
 * matmul.ts: the im2col matrix is never materialised, its values are gathered straight into
 * the packed B panels by a custom packer (zero where a tap falls in the padding).
 *
 * All three are gather formulations, as the WebGPU shaders are: every output element is one
 * dot product, written once (no scatter-add). Legend: N batch, C in channels, O out channels, G groups
 * (Cg = C/G, Og = O/G), kh×kw kernel, KK = kh*kw, H×W input, Ho×Wo output. Views are
 * contiguous but may start at an offset.
 *
 *   forward         y[n, g·Og+o, :]  = W_g[o, (c,ki,kj)]        @ im2col(x)[(c,ki,kj), (oh,ow)]
 *   backward input  gx[n, g·Cg+c, :] = W_gᵀ[c, (o,ki,kj)]       @ gather(gy)[(o,ki,kj), (ih,iw)]
 *   backward weight gw[g·Og+o, :]    = gy_g[o, (n,oh,ow)]       @ im2colᵀ(x)[(n,oh,ow), (c,ki,kj)]
 *
 * With a stride, the backward-input gather is split by phase (see conv2dBackwardInput) so the
 * GEMMs never multiply the structural zeros of a strided conv.
 */
import type { CpuRoutine, CpuView } from './index.js';
import { gemm, stridedPacker, tablePacker, MR, NR, type Packer } from './matmul.js';

interface Geometry {
  N: number; C: number; H: number; W: number;
  O: number; kh: number; kw: number; Ho: number; Wo: number;
  G: number; Cg: number; Og: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

function geometry(x: CpuView, wShape: readonly number[], y: CpuView, cfg: { stride: readonly number[]; padding: readonly number[]; dilation: readonly number[]; groups: number }): Geometry {
  const [N, C, H, W] = x.shape;
  const [O, , kh, kw] = wShape;
  const G = cfg.groups;
  return {
    N, C, H, W, O, kh, kw, Ho: y.shape[2], Wo: y.shape[3], G, Cg: C / G, Og: O / G,
    sh: cfg.stride[0], sw: cfg.stride[1], ph: cfg.padding[0], pw: cfg.padding[1], dh: cfg.dilation[0], dw: cfg.dilation[1],
  };
}

/** The im2col packer for batch n, group g: B[(c,ki,kj), (oh,ow)] = x[n, g·Cg+c, ih, iw] or 0. */
function im2colPacker(x: CpuView, q: Geometry, n: number, g: number, ihBase: Int32Array, iwBase: Int32Array): Packer {
  const { H, W, kh, kw, dh, dw } = q;
  const KK = kh * kw, HW = H * W, data = x.data;
  const xBase = x.offset + (n * q.C + g * q.Cg) * HW;
  return (dst, j0, nc, p0, pc) => {
    const jEnd = j0 + nc, strips = Math.ceil(nc / NR);
    for (let p = 0; p < pc; p++) {
      const k = p0 + p, c = (k / KK) | 0, r = k - c * KK, ki = (r / kw) | 0, kj = r - ki * kw;
      const base = xBase + c * HW, oh = ki * dh, ow = kj * dw;
      for (let t = 0, d = p * NR; t < strips; t++, d += pc * NR) {
        for (let u = 0; u < NR; u++) {
          const j = j0 + t * NR + u;
          let v = 0;
          if (j < jEnd) {
            const ih = ihBase[j] + oh, iw = iwBase[j] + ow;
            // unsigned compare: a negative index wraps to a huge one
            if (ih >>> 0 < H && iw >>> 0 < W) v = data[base + ih * W + iw];
          }
          dst[d + u] = v;
        }
      }
    }
  };
}

/** conv2d: x[N,C,H,W], w[O,C/g,kh,kw], bias?[O] → y[N,O,Ho,Wo]. */
export const conv2d: CpuRoutine<'conv2d'> = (cfg, inputs, outputs) => {
  const [x, w] = inputs;
  const bias = cfg.bias ? inputs[2] : null;
  const y = outputs[0];
  const q = geometry(x, w.shape, y, cfg);
  const HoWo = q.Ho * q.Wo, K = q.Cg * q.kh * q.kw;
  // per output pixel, the input row/col of its window's top-left tap
  const ihBase = new Int32Array(HoWo), iwBase = new Int32Array(HoWo);
  for (let oh = 0; oh < q.Ho; oh++) for (let ow = 0; ow < q.Wo; ow++) {
    ihBase[oh * q.Wo + ow] = oh * q.sh - q.ph;
    iwBase[oh * q.Wo + ow] = ow * q.sw - q.pw;
  }
  for (let n = 0; n < q.N; n++) {
    for (let g = 0; g < q.G; g++) {
      gemm({
        M: q.Og, N: HoWo, K,
        packA: stridedPacker(w.data, w.offset + g * q.Og * K, K, 1, MR),
        packB: im2colPacker(x, q, n, g, ihBase, iwBase),
        c: y.data, cOff: y.offset + (n * q.O + g * q.Og) * HoWo, ldc: HoWo,
        bias: bias ? { data: bias.data, off: bias.offset + g * q.Og * bias.strides[0], stride: bias.strides[0], perRow: true } : null,
      });
    }
  }
};

/** The taps k < kn whose offset k·d is ≡ r (mod s), with (k·d − r) / s for each. */
function phaseTaps(kn: number, d: number, s: number, r: number): { taps: number[]; shift: number[] } {
  const taps: number[] = [], shift: number[] = [];
  for (let k = 0; k < kn; k++) if ((k * d) % s === r) { taps.push(k); shift.push((k * d - r) / s); }
  return { taps, shift };
}

/** The input indices i < n with (i + p) ≡ r (mod s), with (i + p − r) / s for each. */
function phasePixels(n: number, p: number, s: number, r: number): { idx: number[]; q: number[] } {
  const idx: number[] = [], q: number[] = [];
  for (let i = 0; i < n; i++) if ((i + p) % s === r) { idx.push(i); q.push((i + p - r) / s); }
  return { idx, q };
}

/**
 * conv2dBackwardInput: gy[N,O,Ho,Wo], w[O,C/g,kh,kw] → gx[N,C,H,W].
 *
 * gx[ih] gathers gy[oh] through the taps with oh·sh = ih + ph − ki·dh. With a stride, which
 * taps qualify depends only on (ih + ph) mod sh, so the input pixels split into sh·sw phases;
 * each phase is one GEMM over just its taps (no multiplications by structural zeros), with oh =
 * q(ih) − t(ki) and no division in the packer. Its output columns are scattered (cCols).
 */
export const conv2dBackwardInput: CpuRoutine<'conv2dBackwardInput'> = (cfg, inputs, outputs) => {
  const [gy, w] = inputs;
  const gx = outputs[0];
  const q = geometry(gx, w.shape, gy, cfg);
  const { H, W, Ho, Wo, kw, sh, sw, Cg, Og } = q;
  const KK = q.kh * kw, HW = H * W, HoWo = Ho * Wo;
  const data = gy.data;
  const sOff = new Int32Array(Cg);
  for (let c = 0; c < Cg; c++) sOff[c] = c * KK;
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const th = phaseTaps(q.kh, q.dh, sh, rh), tw = phaseTaps(kw, q.dw, sw, rw);
      const ph = phasePixels(H, q.ph, sh, rh), pw = phasePixels(W, q.pw, sw, rw);
      const NP = ph.idx.length * pw.idx.length, nt = th.taps.length * tw.taps.length, K = Og * nt;
      if (NP === 0) continue;
      // columns: this phase's pixels; rows: (o, ki, kj) over this phase's taps
      const cCols = new Int32Array(NP), qh = new Int32Array(NP), qw = new Int32Array(NP);
      for (let a = 0, j = 0; a < ph.idx.length; a++) for (let b = 0; b < pw.idx.length; b++, j++) {
        cCols[j] = ph.idx[a] * W + pw.idx[b];
        qh[j] = ph.q[a];
        qw[j] = pw.q[b];
      }
      const pOff = new Int32Array(K), rowO = new Int32Array(K), rowTh = new Int32Array(K), rowTw = new Int32Array(K);
      for (let o = 0, k = 0; o < Og; o++) for (let u = 0; u < th.taps.length; u++) for (let v = 0; v < tw.taps.length; v++, k++) {
        pOff[k] = o * Cg * KK + th.taps[u] * kw + tw.taps[v];
        rowO[k] = o * HoWo;
        rowTh[k] = th.shift[u];
        rowTw[k] = tw.shift[v];
      }
      for (let n = 0; n < q.N; n++) {
        for (let g = 0; g < q.G; g++) {
          const gyBase = gy.offset + (n * q.O + g * Og) * HoWo;
          const packB: Packer = (dst, j0, nc, p0, pc) => {
            const jEnd = j0 + nc, strips = Math.ceil(nc / NR);
            for (let p = 0; p < pc; p++) {
              const k = p0 + p, base = gyBase + rowO[k], t0 = rowTh[k], t1 = rowTw[k];
              for (let t = 0, d = p * NR; t < strips; t++, d += pc * NR) {
                for (let u = 0; u < NR; u++) {
                  const j = j0 + t * NR + u;
                  let v = 0;
                  if (j < jEnd) {
                    const oh = qh[j] - t0, ow = qw[j] - t1;
                    if (oh >>> 0 < Ho && ow >>> 0 < Wo) v = data[base + oh * Wo + ow];
                  }
                  dst[d + u] = v;
                }
              }
            }
          };
          gemm({
            M: Cg, N: NP, K,
            packA: tablePacker(w.data, w.offset + g * Og * Cg * KK, sOff, pOff, MR),
            packB,
            c: gx.data, cOff: gx.offset + (n * q.C + g * Cg) * HW, ldc: HW, cCols,
          });
        }
      }
    }
  }
};

/** conv2dBackwardWeight: x[N,C,H,W], gy[N,O,Ho,Wo] → gw[O,C/g,kh,kw]; the batch folds into K. */
export const conv2dBackwardWeight: CpuRoutine<'conv2dBackwardWeight'> = (cfg, inputs, outputs) => {
  const [x, gy] = inputs;
  const gw = outputs[0];
  const q = geometry(x, gw.shape, gy, cfg);
  const { H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw, Cg, Og } = q;
  const KK = kh * kw, HW = H * W, HoWo = Ho * Wo, NCols = Cg * KK, K = q.N * HoWo;
  // A[o, (n,s)] = gy[n, g·Og+o, s]
  const sOff = new Int32Array(Og), pOff = new Int32Array(K);
  for (let o = 0; o < Og; o++) sOff[o] = o * HoWo;
  for (let n = 0; n < q.N; n++) for (let s = 0; s < HoWo; s++) pOff[n * HoWo + s] = n * q.O * HoWo + s;
  // per column (c,ki,kj): channel offset and tap offsets
  const cOff = new Int32Array(NCols), kiOff = new Int32Array(NCols), kjOff = new Int32Array(NCols);
  for (let c = 0; c < Cg; c++) for (let ki = 0; ki < kh; ki++) for (let kj = 0; kj < kw; kj++) {
    const j = c * KK + ki * kw + kj;
    cOff[j] = c * HW;
    kiOff[j] = ki * dh;
    kjOff[j] = kj * dw;
  }
  const data = x.data;
  for (let g = 0; g < q.G; g++) {
    const xg = x.offset + g * Cg * HW;
    // B[(n,oh,ow), (c,ki,kj)] = x[n, g·Cg+c, oh·sh-ph+ki·dh, ow·sw-pw+kj·dw] or 0
    const packB: Packer = (dst, j0, nc, p0, pc) => {
      const jEnd = j0 + nc, strips = Math.ceil(nc / NR);
      for (let p = 0; p < pc; p++) {
        const k = p0 + p, n = (k / HoWo) | 0, s = k - n * HoWo, oh = (s / Wo) | 0, ow = s - oh * Wo;
        const base = xg + n * q.C * HW, ih0 = oh * sh - ph, iw0 = ow * sw - pw;
        for (let t = 0, d = p * NR; t < strips; t++, d += pc * NR) {
          for (let u = 0; u < NR; u++) {
            const j = j0 + t * NR + u;
            let v = 0;
            if (j < jEnd) {
              const ih = ih0 + kiOff[j], iw = iw0 + kjOff[j];
              if (ih >>> 0 < H && iw >>> 0 < W) v = data[base + cOff[j] + ih * W + iw];
            }
            dst[d + u] = v;
          }
        }
      }
    };
    gemm({
      M: Og, N: NCols, K,
      packA: tablePacker(gy.data, gy.offset + g * Og * HoWo, sOff, pOff, MR),
      packB,
      c: gw.data, cOff: gw.offset + g * Og * NCols, ldc: NCols,
    });
  }
};
