/**
 * The CPU GEMM: a cache-blocked, register-blocked matrix multiply (the GotoBLAS scheme) used by
 * the `matmul` routine and, with custom packers, by the conv routines (conv.ts).
 *
 * C[M,N] = A[M,K] @ B[K,N] is computed in blocks: a KC×NC panel of B is copied into a row-major
 * buffer (kept in L2), then for each MC×KC block of A (packed into MR-tall row strips, k-major)
 * a micro-kernel multiplies one A strip by an NR-wide column strip of the B panel, holding the
 * MR×NR accumulators in registers for the whole KC loop. Packing makes every inner-loop read
 * sequential whatever the operands' strides, so transposed views cost nothing extra. B is
 * packed as plain rows (not in strips) so that its packers — the conv routines' im2col gathers
 * above all — write runs of consecutive values; the micro-kernel reads each k's NR values from
 * the next row instead (row stride padded to an odd number of cache lines, so the kc rows of a
 * column strip spread over L1's sets).
 *
 * Two kernels share the blocking and the packers:
 *
 * - float32 output (the float32 backend) with WebAssembly SIMD available: a wasm macro-kernel
 *   (../wasm/gemm.ts) with a 4×8 f32x4 micro-kernel. The packers write float32 panels into the
 *   module's memory; wasm writes each chunk of C into a scratch block that JS stores into C with
 *   the epilogue. Accumulation is in float32, as in PyTorch's CPU GEMM: about 5x the JS kernel.
 * - otherwise (the float64 backend that gradcheck uses, no WebAssembly SIMD, or after
 *   `setWasmGemm(false)`): a 4×4 JS micro-kernel over float64 panels, so it sees one array type
 *   (V8 keeps it monomorphic) and float64 inputs lose no precision. Accumulation is in float64
 *   (JS numbers); results round once per KC block when stored.
 */
import { matmulBatch } from '../../../kernel/kernel.js';
import type { StorageArray } from '../../../dtype.js';
import type { CpuRoutine, CpuView } from './view.js';
import { compile } from '../program.js';
import { runElementwise } from '../expr.js';
import { contiguousStrides } from '../../../shape.js';
import { instantiateGemm, relaxedSimdSupported, wasmSimdSupported, type KernelShape, type WasmGemm } from '../wasm/gemm.js';

/** Micro-tile height (rows of A) and width (columns of B) of the JS kernel. */
const MR = 4;
const NR = 4;
/** Block sizes of the JS kernel: KC×NR strips of B stay in L1, MC×KC of A and KC×NC of B in L2. */
const KC = 256;
const MC = 128;
const NC = 1024;

/** Where packers write: float64 panels for the JS kernel, float32 (wasm memory) for the wasm one. */
export type PackBuffer = Float64Array | Float32Array;

/**
 * Packs rows s0..s0+sc of A, depth p0..p0+pc (the K dim), into strips of S rows (the kernel's
 * MR): strip t is pc groups of S values, one per depth; a short last strip is zero-padded.
 */
export type Packer = (dst: PackBuffer, s0: number, sc: number, p0: number, pc: number, S: number) => void;

/**
 * Copies the block of B at depth p0..p0+pc, columns j0..j0+nc into a row-major panel: B(p0+p,
 * j0+j) goes to dst[p·ldb + j]. Columns nc..ldb of a row are left as they were (the kernel
 * computes them into C scratch columns that are never stored).
 */
export type PanelPacker = (dst: PackBuffer, j0: number, nc: number, p0: number, pc: number, ldb: number) => void;

/**
 * A packer for a plain strided operand: element (s, p) at base + s*sS + p*sP. Full strips (4 or
 * 6 rows: the wasm kernels' MR) take unrolled loops over 4 and 2 lanes at a time (three times
 * faster in V8 than the generic one, which matters once the wasm kernel has made the multiplies
 * cheap).
 */
export function stridedPacker(data: StorageArray, base: number, sS: number, sP: number): Packer {
  return (dst, s0, sc, p0, pc, S) => {
    for (let t = 0, d = 0; t < sc; t += S, d += pc * S) {
      const w = Math.min(S, sc - t), o = base + (s0 + t) * sS + p0 * sP;
      if (w !== S || S % 2 !== 0) {
        stripAny(dst, d, data, o, sS, sP, pc, w, S);
        continue;
      }
      let u = 0;
      for (; u + 4 <= S; u += 4) lanes4(dst, d + u, S, data, o + u * sS, sS, sP, pc);
      if (u < S) lanes2(dst, d + u, S, data, o + u * sS, sS, sP, pc);
    }
  };
}

/** Lanes 0..3 of a strip S wide: pc groups of data[o + u*sS] (u < 4) at d, d + S, ..., o advancing by sP. */
function lanes4(dst: PackBuffer, d: number, S: number, data: StorageArray, o: number, sS: number, sP: number, pc: number): void {
  const o1 = sS, o2 = 2 * sS, o3 = 3 * sS;
  for (let p = 0; p < pc; p++, o += sP, d += S) {
    dst[d] = data[o]; dst[d + 1] = data[o + o1]; dst[d + 2] = data[o + o2]; dst[d + 3] = data[o + o3];
  }
}

/** Two lanes of a strip S wide (as lanes4). */
function lanes2(dst: PackBuffer, d: number, S: number, data: StorageArray, o: number, sS: number, sP: number, pc: number): void {
  for (let p = 0; p < pc; p++, o += sP, d += S) {
    dst[d] = data[o]; dst[d + 1] = data[o + sS];
  }
}

/** A strip of width S holding w ≤ S values, zero-padded. */
function stripAny(dst: PackBuffer, d: number, data: StorageArray, o: number, sS: number, sP: number, pc: number, w: number, S: number): void {
  for (let p = 0; p < pc; p++, o += sP, d += S) {
    let u = 0;
    for (; u < w; u++) dst[d + u] = data[o + u * sS];
    for (; u < S; u++) dst[d + u] = 0;
  }
}

/**
 * A packer for an operand whose offsets split into a strip part and a depth part:
 * element (s, p) at base + sOff[s] + pOff[p] (e.g. a conv weight read transposed).
 */
export function tablePacker(data: StorageArray, base: number, sOff: Int32Array, pOff: Int32Array): Packer {
  return (dst, s0, sc, p0, pc, S) => {
    for (let t = 0, d = 0; t < sc; t += S, d += pc * S) {
      const w = Math.min(S, sc - t), sb = s0 + t;
      if (w !== S || S % 2 !== 0) {
        tableStripAny(dst, d, data, base, sOff, sb, pOff, p0, pc, w, S);
        continue;
      }
      let u = 0;
      for (; u + 4 <= S; u += 4) tableLanes4(dst, d + u, S, data, base, sOff[sb + u], sOff[sb + u + 1], sOff[sb + u + 2], sOff[sb + u + 3], pOff, p0, pc);
      if (u < S) tableLanes2(dst, d + u, S, data, base, sOff[sb + u], sOff[sb + u + 1], pOff, p0, pc);
    }
  };
}

/** Lanes 0..3 of a table-packer strip S wide: lanes at base + s0..s3, depth p at + pOff[p0 + p]. */
function tableLanes4(dst: PackBuffer, d: number, S: number, data: StorageArray, base: number, s0: number, s1: number, s2: number, s3: number, pOff: Int32Array, p0: number, pc: number): void {
  for (let p = 0; p < pc; p++, d += S) {
    const o = base + pOff[p0 + p];
    dst[d] = data[o + s0]; dst[d + 1] = data[o + s1]; dst[d + 2] = data[o + s2]; dst[d + 3] = data[o + s3];
  }
}

/** Two lanes of a table-packer strip S wide (as tableLanes4). */
function tableLanes2(dst: PackBuffer, d: number, S: number, data: StorageArray, base: number, s0: number, s1: number, pOff: Int32Array, p0: number, pc: number): void {
  for (let p = 0; p < pc; p++, d += S) {
    const o = base + pOff[p0 + p];
    dst[d] = data[o + s0]; dst[d + 1] = data[o + s1];
  }
}

/** A table-packer strip of width S holding w ≤ S values, zero-padded. */
function tableStripAny(dst: PackBuffer, d: number, data: StorageArray, base: number, sOff: Int32Array, sb: number, pOff: Int32Array, p0: number, pc: number, w: number, S: number): void {
  for (let p = 0; p < pc; p++, d += S) {
    const o = base + pOff[p0 + p];
    let u = 0;
    for (; u < w; u++) dst[d + u] = data[o + sOff[sb + u]];
    for (; u < S; u++) dst[d + u] = 0;
  }
}

/**
 * A panel packer for a plain strided operand: element (p, j) at base + p*sP + j*sJ. Rows of B
 * (unit stride along j) are block copies; Bᵀ (unit stride along p) is gathered eight columns at a
 * time, so each packed row gets eight neighbouring values from eight sequential read streams
 * (one column at a time wrote every packed row once per column, a cache line apart).
 */
export function stridedPanel(data: StorageArray, base: number, sP: number, sJ: number): PanelPacker {
  return (dst, j0, nc, p0, pc, ldb) => {
    const o = base + p0 * sP + j0 * sJ;
    if (sJ === 1 && nc >= 32) for (let p = 0, r = o; p < pc; p++, r += sP) dst.set(data.subarray(r, r + nc), p * ldb);
    else if (Math.abs(sJ) <= Math.abs(sP)) for (let p = 0; p < pc; p++) copyRun(dst, p * ldb, 1, data, o + p * sP, sJ, nc);
    else {
      let j = 0;
      for (; j + 8 <= nc; j += 8) gather8(dst, j, ldb, data, o + j * sJ, sJ, sP, pc);
      for (; j < nc; j++) copyRun(dst, j, ldb, data, o + j * sJ, sP, pc);
    }
  };
}

/** dst[d + p·ldb + u] = data[o + u·sJ + p·sP] for u < 8, p < pc. */
function gather8(dst: PackBuffer, d: number, ldb: number, data: StorageArray, o: number, sJ: number, sP: number, pc: number): void {
  const o1 = sJ, o2 = 2 * sJ, o3 = 3 * sJ, o4 = 4 * sJ, o5 = 5 * sJ, o6 = 6 * sJ, o7 = 7 * sJ;
  for (let p = 0; p < pc; p++, o += sP, d += ldb) {
    dst[d] = data[o]; dst[d + 1] = data[o + o1]; dst[d + 2] = data[o + o2]; dst[d + 3] = data[o + o3];
    dst[d + 4] = data[o + o4]; dst[d + 5] = data[o + o5]; dst[d + 6] = data[o + o6]; dst[d + 7] = data[o + o7];
  }
}

/** dst[d + e·dStep] = data[o + e·oStep] for e < n. */
export function copyRun(dst: PackBuffer, d: number, dStep: number, data: StorageArray, o: number, oStep: number, n: number): void {
  for (let e = 0; e < n; e++, d += dStep, o += oStep) dst[d] = data[o];
}

/**
 * The row stride of a B panel nc columns wide, for a kernel nr columns wide: nc rounded up to
 * whole cache lines (16 floats), plus one if that is an even number of lines — with a stride of
 * a power of two lines, the kc rows of a column strip would share a few of L1's sets.
 */
function panelStride(nc: number, nr: number): number {
  const lines = Math.ceil(Math.ceil(nc / nr) * nr / 16);
  return (lines % 2 === 0 ? lines + 1 : lines) * 16;
}

/** One GEMM: sizes, how to pack A and B, where C lives (row-major, row stride ldc), epilogue. */
export interface GemmSpec {
  M: number;
  N: number;
  K: number;
  packA: Packer;
  packB: PanelPacker;
  c: StorageArray;
  cOff: number;
  ldc: number;
  /** column j of C at offset cCols[j] within its row (scattered columns), else at j */
  cCols?: Int32Array | null;
  /** added after the full sum: bias[off + i*stride] per row (perRow) or per column */
  bias?: { data: StorageArray; off: number; stride: number; perRow: boolean } | null;
}

const aBuf = new Float64Array(MC * KC);
let bRows = new Float64Array(0);
let bBuf = new Float64Array(0);
const tile = new Float64Array(MR * NR);

/** A kc×nc row panel (row stride ldb) as NR-wide strips: strip t is kc groups of NR values. */
function rowsToStrips(dst: Float64Array, rows: Float64Array, nc: number, kc: number, ldb: number): void {
  // columns nc..ldb of the rows are stale, but they only reach tile columns that are never stored
  for (let j = 0, d = 0; j < nc; j += NR) {
    for (let p = 0, o = j; p < kc; p++, o += ldb, d += 4) {
      dst[d] = rows[o]; dst[d + 1] = rows[o + 1]; dst[d + 2] = rows[o + 2]; dst[d + 3] = rows[o + 3];
    }
  }
}

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
/** Writes (or adds, after the first K block) an mr×nr tile into C, with the epilogue on the last block. */
function storeTile(s: GemmSpec, i: number, mr: number, j: number, nr: number, first: boolean, last: boolean): void {
  const c = s.c, cols = s.cCols;
  const epi = last && !!s.bias;
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

/** v plus the bias of C's (i, j), if any. */
function epilogue(s: GemmSpec, v: number, i: number, j: number): number {
  const b = s.bias;
  return b ? v + b.data[b.off + (b.perRow ? i : j) * b.stride] : v;
}

/** Runs one GEMM as described by `s`: in wasm when C is float32 and WebAssembly SIMD is there. */
export function gemm(s: GemmSpec): void {
  const { M, N, K } = s;
  if (M === 0 || N === 0) return;
  if (K === 0) {
    // an empty sum: C is the epilogue of zero
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) s.c[s.cOff + i * s.ldc + (s.cCols ? s.cCols[j] : j)] = epilogue(s, 0, i, j);
    return;
  }
  const w = s.c instanceof Float32Array ? wasmGemm() : null;
  if (w) gemmWasm(s, s.c as Float32Array, w);
  else gemmJs(s);
}

/**
 * The JS path: float64 panels and the 4×4 kernel. Its B panel is re-packed from rows into NR-wide
 * strips (kc×NR values each, contiguous): one more pass over B, but the JS kernel then reads B
 * sequentially, which measured about 1.5x faster (float64 backend, 256³ and 512³) than reading
 * it down the rows.
 */
function gemmJs(s: GemmSpec): void {
  const { M, N, K } = s;
  const ldb = panelStride(Math.min(NC, N), NR), nb = ldb * Math.min(KC, K);
  if (bRows.length < nb) {
    bRows = new Float64Array(nb);
    bBuf = new Float64Array(nb);
  }
  const ap = aBuf, bp = bBuf;
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = Math.min(NC, N - j0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = Math.min(KC, K - k0);
      const first = k0 === 0, last = k0 + kc >= K;
      s.packB(bRows, j0, nc, k0, kc, ldb);
      rowsToStrips(bp, bRows, nc, kc, ldb);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        s.packA(ap, i0, mc, k0, kc, MR);
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

// ---- the WebAssembly SIMD path (float32 C) ------------------------------------------------------

/**
 * The wasm kernel's micro-tile, chosen by measurement (scratch kernel timings on packed L1/L2
 * data, 2-core Xeon VM): with f32x4.mul + f32x4.add, 4×8 (8 f32x4 accumulators) ran at about
 * 30 GFLOP/s in Node 20 and Chromium 156, against 25–27 for 6×8, 5×8, 4×12 and 3×16 (which
 * spill). Where the engine has relaxed SIMD (Chrome 114+, Node 22+), f32x4.relaxed_madd frees the
 * product's register: 6×8 (12 accumulators) ran at 36 (Node, flag on) and 41–43 (Chromium).
 */
const WASM_SHAPE: KernelShape = { MR: 4, NR: 8 };
const WASM_SHAPE_FMA: KernelShape = { MR: 6, NR: 8, fma: true };
/**
 * Block sizes of the wasm path. Per wasm call, C is written JC columns at a time into a scratch
 * of MC×JC floats that stays in L1 until JS has stored it into the output. KC 256/384/512, MC
 * 64/128/256, NC 256/512/1024 and JC 32/64/128 all measured within ±5% of each other (CPU time,
 * 256³–1024³ and the bench's convs); KC 256 keeps a B column strip (kc rows of one cache line)
 * at 16 KiB, half of the 32 KiB L1 that most x86 cores have (this Xeon has 48).
 */
const W_KC = 256;
const W_MC = 128;
const W_NC = 1024;
const W_JC = 64;

/** An instantiated kernel with float32 views of its A block, B panel and C scratch regions. */
interface WasmState {
  kernel: WasmGemm;
  /** rows per A block: W_MC rounded down to whole strips */
  mc: number;
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
}

/** undefined: not tried yet; null: unavailable (no WebAssembly SIMD, or the compile threw). */
let wasmState: WasmState | null | undefined;
let wasmEnabled = true;
/** Whether the fused multiply-add kernel may be used where relaxed SIMD is available. */
let wasmFma = true;

/**
 * Turns the wasm GEMM on or off for float32 outputs (tests compare the two paths; off, the
 * float32 backend uses the JS kernel). On is the default; it has no effect where WebAssembly
 * SIMD is unavailable. `fma: false` keeps the mul + add kernel where relaxed SIMD would allow
 * the multiply-add one (tests compare the two).
 */
export function setWasmGemm(enabled: boolean, opts: { fma?: boolean } = {}): void {
  wasmEnabled = enabled;
  const fma = opts.fma ?? true;
  if (fma !== wasmFma) {
    wasmFma = fma;
    wasmState = undefined;
  }
}

/** The micro-tile of the wasm kernel in use (null: the JS kernel runs). */
export function wasmGemmShape(): KernelShape | null {
  return wasmGemm()?.kernel.shape ?? null;
}

/** Whether float32 GEMMs run in wasm now (enabled, supported and compiled). */
export function wasmGemmActive(): boolean {
  return wasmGemm() !== null;
}

/**
 * The kernel, compiled on first use rather than at import (a page that never multiplies on the
 * CPU pays nothing). Any failure — no WebAssembly, no SIMD, a refused synchronous compile —
 * leaves the JS kernel in charge for good.
 */
function wasmGemm(): WasmState | null {
  if (!wasmEnabled) return null;
  if (wasmState === undefined) {
    wasmState = null;
    if (wasmSimdSupported()) {
      try {
        const shape = wasmFma && relaxedSimdSupported() ? WASM_SHAPE_FMA : WASM_SHAPE;
        const { MR: mr, NR: nr } = shape;
        const mc = Math.floor(W_MC / mr) * mr;
        const nb = W_KC * panelStride(W_NC, nr);
        const kernel = instantiateGemm(shape, mc * W_KC, nb, mc * W_JC, Math.max(mc, W_JC));
        const buf = kernel.f32.buffer;
        wasmState = {
          kernel,
          mc,
          a: new Float32Array(buf, kernel.a, mc * W_KC),
          b: new Float32Array(buf, kernel.b, nb),
          c: new Float32Array(buf, kernel.c, mc * W_JC),
        };
      } catch {
        wasmState = null;
      }
    }
  }
  return wasmState;
}

/** The wasm path: the JS path's blocking, float32 panels in wasm memory, wasm macro-kernels. */
function gemmWasm(s: GemmSpec, c: Float32Array, w: WasmState): void {
  const { M, N, K } = s;
  const { kernel } = w, { MR: mr, NR: nr } = kernel.shape;
  for (let j0 = 0; j0 < N; j0 += W_NC) {
    const nc = Math.min(W_NC, N - j0), ldb = panelStride(nc, nr);
    for (let k0 = 0; k0 < K; k0 += W_KC) {
      const kc = Math.min(W_KC, K - k0);
      const first = k0 === 0, last = k0 + kc >= K;
      s.packB(w.b, j0, nc, k0, kc, ldb);
      for (let i0 = 0; i0 < M; i0 += w.mc) {
        const mc = Math.min(w.mc, M - i0), mStrips = Math.ceil(mc / mr);
        s.packA(w.a, i0, mc, k0, kc, mr);
        for (let jc = 0; jc < nc; jc += W_JC) {
          const ncc = Math.min(W_JC, nc - jc);
          kernel.run(kernel.a, kernel.b + jc * 4, kernel.c, kc, mStrips, Math.ceil(ncc / nr), ldb * 4, W_JC * 4);
          if (first && last && wasmEpilogue(s, w, i0, mc, j0 + jc, ncc)) storeScratch(s, c, w.c, i0, mc, j0 + jc, ncc, true, false);
          else storeScratch(s, c, w.c, i0, mc, j0 + jc, ncc, first, last);
        }
      }
    }
  }
}

/**
 * A single K block's bias applied to the C scratch in wasm, where the JavaScript store would
 * spend several ns per value on it: the same single float32 add (the store rounds scratch + bias
 * once either way), so the same bits. False: not this case (no bias, scattered columns), and
 * storeScratch applies the epilogue itself.
 */
function wasmEpilogue(s: GemmSpec, w: WasmState, i: number, mr: number, j: number, nr: number): boolean {
  const { bias } = s;
  if (!bias || s.cCols) return false;
  const k = w.kernel, f = k.f32, at = k.bias / 4;
  const [from, n] = bias.perRow ? [i, mr] : [j, nr];
  for (let t = 0; t < n; t++) f[at + t] = bias.data[bias.off + (from + t) * bias.stride];
  k.epilogue[bias.perRow ? 'rows' : 'cols'](k.c, W_JC * 4, mr, Math.ceil(nr / 4), k.bias);
  return true;
}

/**
 * Writes (or adds, after the first K block) an mr×nr block of the C scratch (row stride W_JC)
 * into C at (i, j), with the bias on the last K block, read once here rather than per value (a
 * conv's per-channel bias is on every store).
 */
function storeScratch(s: GemmSpec, c: Float32Array, scr: Float32Array, i: number, mr: number, j: number, nr: number, first: boolean, last: boolean): void {
  const cols = s.cCols, ldc = s.ldc;
  const bias = last ? s.bias : null;
  for (let ii = 0, t = 0; ii < mr; ii++, t += W_JC) {
    const row = s.cOff + (i + ii) * ldc;
    if (!bias && !cols) {
      const r = row + j;
      // a block copy costs a subarray (~0.1 µs in V8): short rows (attention's heads) take a loop
      if (first && nr >= 32) c.set(scr.subarray(t, t + nr), r);
      else if (first) for (let jj = 0; jj < nr; jj++) c[r + jj] = scr[t + jj];
      else for (let jj = 0; jj < nr; jj++) c[r + jj] += scr[t + jj];
      continue;
    }
    const rowBias = bias && bias.perRow ? bias.data[bias.off + (i + ii) * bias.stride] : 0;
    for (let jj = 0; jj < nr; jj++) {
      const at = cols ? row + cols[j + jj] : row + j + jj;
      let v = first ? scr[t + jj] : c[at] + scr[t + jj];
      if (bias) v += bias.perRow ? rowBias : bias.data[bias.off + (j + jj) * bias.stride];
      c[at] = v;
    }
  }
}

/**
 * Small products (or a single row / column) skip packing: a direct loop whose order follows
 * the operands' strides, accumulating each output in a float64.
 */
function smallGemm(M: number, N: number, K: number, a: StorageArray, ao: number, sam: number, sak: number, b: StorageArray, bo: number, sbk: number, sbn: number, s: GemmSpec): void {
  // four partial sums (k mod 4) break the chain of dependent adds: a decoding language model's
  // vocabulary projection ([1, C] @ Wᵀ, Wᵀ read down its rows) ran about 3x faster
  const K4 = K - (K % 4);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      let pa = ao + i * sam, pb = bo + j * sbn;
      let k = 0;
      for (; k < K4; k += 4, pa += 4 * sak, pb += 4 * sbk) {
        a0 += a[pa] * b[pb];
        a1 += a[pa + sak] * b[pb + sbk];
        a2 += a[pa + 2 * sak] * b[pb + 2 * sbk];
        a3 += a[pa + 3 * sak] * b[pb + 3 * sbk];
      }
      for (; k < K; k++, pa += sak, pb += sbk) a0 += a[pa] * b[pb];
      s.c[s.cOff + i * s.ldc + j] = epilogue(s, (a0 + a1) + (a2 + a3), i, j);
    }
  }
}

/** Row-by-row axpy for one A row against a wide B (row-major B reads stay sequential). */
function rowGemm(N: number, K: number, a: StorageArray, ao: number, sak: number, b: StorageArray, bo: number, sbk: number, sbn: number, s: GemmSpec, i: number): void {
  const acc = new Float64Array(N);
  if (sbn === 1) {
    // contiguous rows of B (a GPT-2 Conv1D weight, [in, out]): plain indexing, two rows per pass
    // (half the passes over acc)
    let k = 0;
    for (; k + 1 < K; k += 2) {
      const av0 = a[ao + k * sak], av1 = a[ao + (k + 1) * sak];
      const r0 = bo + k * sbk, r1 = r0 + sbk;
      for (let j = 0; j < N; j++) acc[j] += av0 * b[r0 + j] + av1 * b[r1 + j];
    }
    if (k < K) {
      const av = a[ao + k * sak], rb = bo + k * sbk;
      for (let j = 0; j < N; j++) acc[j] += av * b[rb + j];
    }
  } else {
    for (let k = 0; k < K; k++) {
      const av = a[ao + k * sak];
      const rb = bo + k * sbk;
      for (let j = 0; j < N; j++) acc[j] += av * b[rb + j * sbn];
    }
  }
  for (let j = 0; j < N; j++) s.c[s.cOff + i * s.ldc + j] = epilogue(s, acc[j], i, j);
}

const noPack: Packer = () => {};
const noPanel: PanelPacker = () => {};

/**
 * matmul routine: a[B,M,K] (any strides; a batch dim of size 1 broadcasts), b[B,K,N] (any
 * strides), bias?[N] → out[B,M,N] (contiguous) = a@b + bias. B may be two dims [Bo,Bi].
 * With an epilogue (kernel.ts MatmulEpilogue) the product goes to a scratch array of the output's
 * type and the epilogue runs over it as an elementwise program (the same values as the GPU's,
 * where the product is a float32 register; the CPU gains nothing from fusing it into the stores).
 */
export const matmul: CpuRoutine<'matmul'> = (cfg, inputs, outputs) => {
  const epi = cfg.epilogue;
  if (cfg.rowSums) rowSums(inputs[0], outputs[epi ? epi.exprs.length : 1]);
  if (!epi) return product(cfg.bias, inputs, outputs[0]);
  // the product into a scratch array of the output's type (so float32 rounds it as the GPU's
  // store does), then the epilogue over it and its inputs as one elementwise program
  const out = outputs[0], nOps = cfg.bias ? 3 : 2;
  const size = out.shape.reduce((x, y) => x * y, 1);
  const scr = out.data instanceof Float64Array ? new Float64Array(size) : new Float32Array(size);
  const strides = contiguousStrides(out.shape);
  product(cfg.bias, inputs, { ...out, data: scr, offset: 0, strides });
  const acc = { data: scr, shape: out.shape, strides, offset: 0 };
  runElementwise(compile(epi.exprs), [acc, ...inputs.slice(nOps)], outputs.slice(0, epi.exprs.length), [], scr instanceof Float64Array);
};

/** out[z, m] (a [Z, M] or [M] view) = Σ_k a[z, m, k], each summed in a float64 (one batch level). */
function rowSums(a: CpuView, out: CpuView): void {
  const [M, K] = a.shape.slice(-2), Z = a.shape.length === 3 ? a.shape[0] : 1;
  const [sm, sk] = a.strides.slice(-2), sz = a.shape.length === 3 ? a.strides[0] : 0;
  const oz = out.shape.length === 2 ? out.strides[0] : 0, om = out.strides[out.shape.length - 1];
  const acc = new Float64Array(M);
  for (let z = 0; z < Z; z++) {
    const base = a.offset + z * sz;
    if (Math.abs(sm) < Math.abs(sk)) {
      // gᵀ (a column-major view): k outer, so that the inner loop walks memory in order
      acc.fill(0);
      for (let k = 0; k < K; k++) for (let m = 0, p = base + k * sk; m < M; m++, p += sm) acc[m] += a.data[p];
    } else {
      for (let m = 0; m < M; m++) {
        let s = 0;
        for (let k = 0, p = base + m * sm; k < K; k++, p += sk) s += a.data[p];
        acc[m] = s;
      }
    }
    for (let m = 0; m < M; m++) out.data[out.offset + z * oz + m * om] = acc[m];
  }
}

/** a @ b (+ bias) into `out` (contiguous). */
function product(hasBias: boolean, inputs: readonly CpuView[], out: CpuView): void {
  const [a, b] = inputs;
  const bias = hasBias ? inputs[2] : null;
  // the batch may be one dim or two ([Zo, Zi, ..]: see matmulBatch)
  const nd = out.shape.length, zIn = nd === 4 ? out.shape[1] : 1;
  const nb = out.shape.slice(0, -2).reduce((x, y) => x * y, 1), [M, N] = out.shape.slice(-2);
  const K = a.shape[a.shape.length - 1];
  const ab = matmulBatch(a.shape, a.strides, zIn), bb = matmulBatch(b.shape, b.strides, zIn);
  const [sam, sak] = a.strides.slice(-2), [sbk, sbn] = b.strides.slice(-2);
  const biasSpec = bias ? { data: bias.data, off: bias.offset, stride: bias.strides[0] ?? 1, perRow: false } : null;
  // below this many multiply-adds the direct loops beat packing for the JS kernel; the wasm kernel
  // wins at every size (measured down to 4³), except a single row or column (memory-bound either way)
  const minBlocked = out.data instanceof Float32Array && wasmGemmActive() ? 0 : 8192;
  const direct = K > 0 && (M * N * K < minBlocked || M === 1 || N === 1);
  for (let bi = 0; bi < nb; bi++) {
    const zo = Math.floor(bi / zIn), zi = bi % zIn;
    const ao = a.offset + zo * ab.outer + zi * ab.inner, bo = b.offset + zo * bb.outer + zi * bb.inner;
    const spec: GemmSpec = {
      M, N, K,
      // packing only pays off for the blocked path; the direct loops read the views as they are
      packA: direct ? noPack : stridedPacker(a.data, ao, sam, sak),
      packB: direct ? noPanel : stridedPanel(b.data, bo, sbk, sbn),
      c: out.data, cOff: out.offset + bi * M * N, ldc: N, bias: biasSpec,
    };
    if (!direct) gemm(spec);
    else if (M === 1 && sbn === 1 && M * N * K >= 8192) rowGemm(N, K, a.data, ao, sak, b.data, bo, sbk, sbn, spec, 0);
    else smallGemm(M, N, K, a.data, ao, sam, sak, b.data, bo, sbk, sbn, spec);
  }
}
