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
 *
 * The B packers write the GEMM's row-major B panel with gatherWindow: runs along a row of the
 * image with the padding bounds worked out once per run, not per value. With the wasm GEMM doing
 * the multiplies, packing is most of a conv's time, and these loops are several times faster
 * than a per-value gather through index tables.
 */
import type { StorageArray } from '../../../dtype.js';
import type { CpuRoutine, CpuView } from './view.js';
import { gemm, stridedPacker, tablePacker, type PackBuffer, type PanelPacker } from './matmul.js';

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

/**
 * A 2-D plane (rows×cols values, rowStride apart) seen through a grid of gridW columns: grid
 * position (a, b) reads plane row a·rs + r0, column b·cs + c0 (r0, c0 given per gather), and
 * reads 0 outside the plane (the padding).
 */
interface Window {
  data: StorageArray;
  gridW: number;
  rs: number;
  cs: number;
  rows: number;
  cols: number;
  rowStride: number;
}

/**
 * Writes the window's values at grid positions s0..s0+len (row-major over the grid) for the
 * plane at `base` and tap offsets r0, c0 to dst[at], dst[at + step], … (a run of a panel row
 * with step 1, of a panel column with step ldb).
 */
function gatherWindow(dst: PackBuffer, at: number, step: number, w: Window, base: number, r0: number, c0: number, s0: number, len: number): void {
  const { data, gridW, rs, cs, rows, cols, rowStride } = w;
  // the grid columns that land inside the plane: b·cs + c0 ∈ [0, cols)
  const bLo = c0 >= 0 ? 0 : Math.ceil(-c0 / cs);
  const bHi = Math.min(gridW, Math.floor((cols - 1 - c0) / cs) + 1);
  let a = Math.floor(s0 / gridW), b = s0 - a * gridW, d = at;
  for (let left = len; left > 0; a++, b = 0) {
    const n = Math.min(left, gridW - b), bEnd = b + n;
    left -= n;
    const r = a * rs + r0;
    // unsigned compare: a negative row wraps to a huge one
    if (r >>> 0 < rows) {
      const lo = Math.min(Math.max(b, bLo), bEnd), hi = Math.max(lo, Math.min(bEnd, bHi));
      for (; b < lo; b++, d += step) dst[d] = 0;
      let src = base + r * rowStride + lo * cs + c0;
      if (step === 1 && cs === 1) for (; b < hi; b++) dst[d++] = data[src++];
      else for (; b < hi; b++, d += step, src += cs) dst[d] = data[src];
    }
    for (; b < bEnd; b++, d += step) dst[d] = 0;
  }
}

/** The im2col packer for batch n, group g: B[(c,ki,kj), (oh,ow)] = x[n, g·Cg+c, ih, iw] or 0. */
function im2colPacker(x: CpuView, q: Geometry, n: number, g: number): PanelPacker {
  const { H, W, kw } = q;
  const KK = q.kh * kw, HW = H * W;
  const win: Window = { data: x.data, gridW: q.Wo, rs: q.sh, cs: q.sw, rows: H, cols: W, rowStride: W };
  const xBase = x.offset + (n * q.C + g * q.Cg) * HW;
  return (dst, j0, nc, p0, pc, ldb) => {
    for (let p = 0; p < pc; p++) {
      const k = p0 + p, c = (k / KK) | 0, r = k - c * KK, ki = (r / kw) | 0, kj = r - ki * kw;
      gatherWindow(dst, p * ldb, 1, win, xBase + c * HW, ki * q.dh - q.ph, kj * q.dw - q.pw, j0, nc);
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
  for (let n = 0; n < q.N; n++) {
    for (let g = 0; g < q.G; g++) {
      gemm({
        M: q.Og, N: HoWo, K,
        packA: stridedPacker(w.data, w.offset + g * q.Og * K, K, 1),
        packB: im2colPacker(x, q, n, g),
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
  const sOff = new Int32Array(Cg);
  for (let c = 0; c < Cg; c++) sOff[c] = c * KK;
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const th = phaseTaps(q.kh, q.dh, sh, rh), tw = phaseTaps(kw, q.dw, sw, rw);
      const ph = phasePixels(H, q.ph, sh, rh), pw = phasePixels(W, q.pw, sw, rw);
      const NP = ph.idx.length * pw.idx.length, nt = th.taps.length * tw.taps.length, K = Og * nt;
      if (NP === 0) continue;
      // columns: this phase's pixels, a grid of ph × pw whose gy row / column (before the tap
      // shift) count up by one from ph.q[0] / pw.q[0]; rows: (o, ki, kj) over this phase's taps
      const cCols = new Int32Array(NP);
      for (let a = 0, j = 0; a < ph.idx.length; a++) for (let b = 0; b < pw.idx.length; b++, j++) cCols[j] = ph.idx[a] * W + pw.idx[b];
      const pOff = new Int32Array(K), rowO = new Int32Array(K), rowR0 = new Int32Array(K), rowC0 = new Int32Array(K);
      for (let o = 0, k = 0; o < Og; o++) for (let u = 0; u < th.taps.length; u++) for (let v = 0; v < tw.taps.length; v++, k++) {
        pOff[k] = o * Cg * KK + th.taps[u] * kw + tw.taps[v];
        rowO[k] = o * HoWo;
        rowR0[k] = ph.q[0] - th.shift[u];
        rowC0[k] = pw.q[0] - tw.shift[v];
      }
      const win: Window = { data: gy.data, gridW: pw.idx.length, rs: 1, cs: 1, rows: Ho, cols: Wo, rowStride: Wo };
      for (let n = 0; n < q.N; n++) {
        for (let g = 0; g < q.G; g++) {
          const gyBase = gy.offset + (n * q.O + g * Og) * HoWo;
          // B[(o,ki,kj), pixel j] = gy[n, g·Og+o, q_h(j) − t(ki), q_w(j) − t(kj)] or 0
          const packB: PanelPacker = (dst, j0, nc, p0, pc, ldb) => {
            for (let p = 0; p < pc; p++) {
              const k = p0 + p;
              gatherWindow(dst, p * ldb, 1, win, gyBase + rowO[k], rowR0[k], rowC0[k], j0, nc);
            }
          };
          gemm({
            M: Cg, N: NP, K,
            packA: tablePacker(w.data, w.offset + g * Og * Cg * KK, sOff, pOff),
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
  const win: Window = { data: x.data, gridW: Wo, rs: sh, cs: sw, rows: H, cols: W, rowStride: W };
  for (let g = 0; g < q.G; g++) {
    const xg = x.offset + g * Cg * HW;
    // B[(n,oh,ow), (c,ki,kj)] = x[n, g·Cg+c, oh·sh-ph+ki·dh, ow·sw-pw+kj·dw] or 0, packed one
    // panel column at a time: its depth run is a run of pixels, image by image
    const packB: PanelPacker = (dst, j0, nc, p0, pc, ldb) => {
      for (let jj = 0; jj < nc; jj++) {
        const j = j0 + jj, c = (j / KK) | 0, r = j - c * KK, ki = (r / kw) | 0, kj = r - ki * kw;
        for (let i = 0; i < pc;) {
          const k = p0 + i, n = (k / HoWo) | 0, s0 = k - n * HoWo, len = Math.min(HoWo - s0, pc - i);
          gatherWindow(dst, i * ldb + jj, ldb, win, xg + (n * q.C + c) * HW, ki * dh - ph, kj * dw - pw, s0, len);
          i += len;
        }
      }
    };
    gemm({
      M: Og, N: NCols, K,
      packA: tablePacker(gy.data, gy.offset + g * Og * HoWo, sOff, pOff),
      packB,
      c: gw.data, cOff: gw.offset + g * Og * NCols, ldc: NCols,
    });
  }
};
