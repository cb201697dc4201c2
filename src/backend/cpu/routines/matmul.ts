/**
 * The CPU GEMM: a cache-blocked, register-blocked matrix multiply (the GotoBLAS scheme) used by
 * the `matmul` routine and, with custom packers, by the conv routines (conv.ts).
 *
 * C[M,N] = A[M,K] @ B[K,N] is computed in blocks: a KC×NC panel of B is packed into NR-wide
 * column strips (kept in L2), then for each MC×KC block of A (packed into MR-tall row strips)
 * a 4×4 micro-kernel multiplies one A strip by one B strip, holding the 16 accumulators in
 * registers for the whole KC loop. Packing makes every inner-loop read sequential whatever the
 * operands' strides, so transposed views cost nothing extra, and the packed panels are float64
 * so the micro-kernel sees one array type (V8 keeps it monomorphic) and float64 inputs (the
 * gradcheck backend) lose no precision. Accumulation is in float64 (JS numbers); on the float32
 * backend results round once per KC block when stored.
 */
import type { Activation } from '../../../kernel/kernel.js';
import { erf } from '../../../kernel/math.js';
import type { StorageArray } from '../../../dtype.js';
import type { CpuRoutine } from './index.js';

/** Micro-tile height (rows of A) and width (columns of B). */
export const MR = 4;
export const NR = 4;
/** Block sizes: KC×NR strips of B stay in L1, MC×KC of A and KC×NC of B in L2 (4 MiB here). */
const KC = 256;
const MC = 128;
const NC = 1024;

/**
 * Packs part of an operand into strips of width S (MR for A, NR for B): for strip indices
 * s0..s0+sc (rows of A / columns of B) and depth indices p0..p0+pc (the K dim), writes strip t
 * as pc groups of S values, zero-padding a short last strip.
 */
export type Packer = (dst: Float64Array, s0: number, sc: number, p0: number, pc: number) => void;

/** A packer for a plain strided operand: element (s, p) at base + s*sS + p*sP. */
export function stridedPacker(data: StorageArray, base: number, sS: number, sP: number, S: number): Packer {
  return (dst, s0, sc, p0, pc) => {
    let d = 0;
    for (let t = 0; t < sc; t += S) {
      const w = Math.min(S, sc - t);
      let o = base + (s0 + t) * sS + p0 * sP;
      for (let p = 0; p < pc; p++, o += sP) {
        let u = 0;
        for (; u < w; u++) dst[d + u] = data[o + u * sS];
        for (; u < S; u++) dst[d + u] = 0;
        d += S;
      }
    }
  };
}

/**
 * A packer for an operand whose offsets split into a strip part and a depth part:
 * element (s, p) at base + sOff[s] + pOff[p] (e.g. a conv weight read transposed).
 */
export function tablePacker(data: StorageArray, base: number, sOff: Int32Array, pOff: Int32Array, S: number): Packer {
  return (dst, s0, sc, p0, pc) => {
    let d = 0;
    for (let t = 0; t < sc; t += S) {
      const w = Math.min(S, sc - t);
      const sb = s0 + t;
      for (let p = 0; p < pc; p++) {
        const o = base + pOff[p0 + p];
        let u = 0;
        for (; u < w; u++) dst[d + u] = data[o + sOff[sb + u]];
        for (; u < S; u++) dst[d + u] = 0;
        d += S;
      }
    }
  };
}

/** One GEMM: sizes, how to pack A and B, where C lives (row-major, row stride ldc), epilogue. */
export interface GemmSpec {
  M: number;
  N: number;
  K: number;
  packA: Packer;
  packB: Packer;
  c: StorageArray;
  cOff: number;
  ldc: number;
  /** column j of C at offset cCols[j] within its row (scattered columns), else at j */
  cCols?: Int32Array | null;
  /** added after the full sum: bias[off + i*stride] per row (perRow) or per column */
  bias?: { data: StorageArray; off: number; stride: number; perRow: boolean } | null;
  act?: Activation;
}

let aBuf = new Float64Array(MC * KC);
let bBuf = new Float64Array(0);
const tile = new Float64Array(MR * NR);

/**
 * The 4×4 micro-kernel: tile = Ap strip (kc×4) ^T · Bp strip (kc×4). Four A values stay in
 * registers and B values stream one at a time, so 16 accumulators + 5 operands roughly fit
 * x86-64's 16 vector registers (what V8 spills, it spills to L1).
 */
function kernel4x4(ap: Float64Array, pa: number, bp: Float64Array, pb: number, kc: number, out: Float64Array): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0; p < kc; p++) {
    const a0 = ap[pa], a1 = ap[pa + 1], a2 = ap[pa + 2], a3 = ap[pa + 3];
    let b = bp[pb];
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
    b = bp[pb + 1];
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
    b = bp[pb + 2];
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
    b = bp[pb + 3];
    c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b;
    pa += 4;
    pb += 4;
  }
  out[0] = c00; out[1] = c01; out[2] = c02; out[3] = c03;
  out[4] = c10; out[5] = c11; out[6] = c12; out[7] = c13;
  out[8] = c20; out[9] = c21; out[10] = c22; out[11] = c23;
  out[12] = c30; out[13] = c31; out[14] = c32; out[15] = c33;
}

/** Applies an activation to one value (NaN propagates through every branch). */
export function activate(v: number, act: Activation): number {
  switch (act) {
    case 'none': return v;
    case 'relu': return v < 0 ? 0 : v;
    case 'gelu': return 0.5 * v * (1 + erf(v * Math.SQRT1_2));
    case 'sigmoid': return 1 / (1 + Math.exp(-v));
    case 'tanh': return Math.tanh(v);
  }
}

/** Writes (or adds, after the first K block) an mr×nr tile into C, with the epilogue on the last block. */
function storeTile(s: GemmSpec, i: number, mr: number, j: number, nr: number, first: boolean, last: boolean): void {
  const c = s.c, cols = s.cCols;
  const epi = last && (!!s.bias || (s.act !== undefined && s.act !== 'none'));
  for (let ii = 0; ii < mr; ii++) {
    const t = ii * NR;
    if (cols) {
      const row = s.cOff + (i + ii) * s.ldc;
      for (let jj = 0; jj < nr; jj++) {
        const at = row + cols[j + jj];
        const v = first ? tile[t + jj] : c[at] + tile[t + jj];
        c[at] = epi ? epilogue(s, v, i + ii, j + jj) : v;
      }
      continue;
    }
    const row = s.cOff + (i + ii) * s.ldc + j;
    if (!epi) {
      if (first) for (let jj = 0; jj < nr; jj++) c[row + jj] = tile[t + jj];
      else for (let jj = 0; jj < nr; jj++) c[row + jj] += tile[t + jj];
      continue;
    }
    for (let jj = 0; jj < nr; jj++) c[row + jj] = epilogue(s, first ? tile[t + jj] : c[row + jj] + tile[t + jj], i + ii, j + jj);
  }
}

function epilogue(s: GemmSpec, v: number, i: number, j: number): number {
  const b = s.bias;
  if (b) v += b.data[b.off + (b.perRow ? i : j) * b.stride];
  return s.act ? activate(v, s.act) : v;
}

/** Runs one GEMM as described by `s`. */
export function gemm(s: GemmSpec): void {
  const { M, N, K } = s;
  if (M === 0 || N === 0) return;
  if (K === 0) {
    // an empty sum: C is the epilogue of zero
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) s.c[s.cOff + i * s.ldc + (s.cCols ? s.cCols[j] : j)] = epilogue(s, 0, i, j);
    return;
  }
  const nb = Math.ceil(Math.min(NC, N) / NR) * NR * Math.min(KC, K);
  if (bBuf.length < nb) bBuf = new Float64Array(nb);
  const ap = aBuf, bp = bBuf;
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = Math.min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = Math.min(KC, K - k0);
      const first = k0 === 0, last = k0 + kc >= K;
      s.packB(bp, j0, nc, k0, kc);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        s.packA(ap, i0, mc, k0, kc);
        // j outer, i inner: one B strip (kc×NR, ~8 KiB) stays in L1 while A strips stream from L2
        for (let j = 0; j < nc; j += NR) {
          const pb = (j / NR) * kc * NR, nr = Math.min(NR, nc - j);
          for (let i = 0; i < mc; i += MR) {
            kernel4x4(ap, (i / MR) * kc * MR, bp, pb, kc, tile);
            storeTile(s, i0 + i, Math.min(MR, mc - i), j0 + j, nr, first, last);
          }
        }
      }
    }
  }
}

/**
 * Small products (or a single row / column) skip packing: a direct loop whose order follows
 * the operands' strides, accumulating each output in a float64.
 */
function smallGemm(M: number, N: number, K: number, a: StorageArray, ao: number, sam: number, sak: number, b: StorageArray, bo: number, sbk: number, sbn: number, s: GemmSpec): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      let pa = ao + i * sam, pb = bo + j * sbn;
      for (let k = 0; k < K; k++, pa += sak, pb += sbk) acc += a[pa] * b[pb];
      s.c[s.cOff + i * s.ldc + j] = epilogue(s, acc, i, j);
    }
  }
}

/** Row-by-row axpy for one A row against a wide B (row-major B reads stay sequential). */
function rowGemm(N: number, K: number, a: StorageArray, ao: number, sak: number, b: StorageArray, bo: number, sbk: number, sbn: number, s: GemmSpec, i: number): void {
  const acc = new Float64Array(N);
  for (let k = 0; k < K; k++) {
    const av = a[ao + k * sak];
    const rb = bo + k * sbk;
    for (let j = 0; j < N; j++) acc[j] += av * b[rb + j * sbn];
  }
  for (let j = 0; j < N; j++) s.c[s.cOff + i * s.ldc + j] = epilogue(s, acc[j], i, j);
}

const noPack: Packer = () => {};

/**
 * matmul routine: a[B,M,K] (any strides; a batch dim of size 1 broadcasts), b[B,K,N] (any
 * strides), bias?[N] → out[B,M,N] (contiguous) = act(a@b + bias).
 */
export const matmul: CpuRoutine<'matmul'> = (cfg, inputs, outputs) => {
  const [a, b] = inputs;
  const bias = cfg.bias ? inputs[2] : null;
  const out = outputs[0];
  const [nb, M, N] = out.shape;
  const K = a.shape[2];
  const sab = a.shape[0] === 1 ? 0 : a.strides[0], sbb = b.shape[0] === 1 ? 0 : b.strides[0];
  const [, sam, sak] = a.strides, [, sbk, sbn] = b.strides;
  const biasSpec = bias ? { data: bias.data, off: bias.offset, stride: bias.strides[0] ?? 1, perRow: false } : null;
  const direct = K > 0 && (M * N * K < 8192 || M === 1 || N === 1);
  for (let bi = 0; bi < nb; bi++) {
    const ao = a.offset + bi * sab, bo = b.offset + bi * sbb;
    const spec: GemmSpec = {
      M, N, K,
      // packing only pays off for the blocked path; the direct loops read the views as they are
      packA: direct ? noPack : stridedPacker(a.data, ao, sam, sak, MR),
      packB: direct ? noPack : stridedPacker(b.data, bo, sbn, sbk, NR),
      c: out.data, cOff: out.offset + bi * M * N, ldc: N, bias: biasSpec, act: cfg.activation,
    };
    if (!direct) gemm(spec);
    else if (M === 1 && sbn === 1 && M * N * K >= 8192) rowGemm(N, K, a.data, ao, sak, b.data, bo, sbk, sbn, spec, 0);
    else smallGemm(M, N, K, a.data, ao, sam, sak, b.data, bo, sbk, sbn, spec);
  }
};
