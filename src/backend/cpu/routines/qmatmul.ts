/**
 * The quantized matmul on the CPU (src/kernel/kernel.ts `qmatmul`, `QuantConfig`): for each
 * output row n, a K-group of codes is dequantized into a small float64 scratch (never the whole
 * weight) and multiplied into every row of x. Accumulates in float64: exact against the
 * dequantize-then-matmul reference up to the final float32 rounding. From
 * {@link QMATMUL_BLOCKED_ROWS} rows of x (prefill), a panel of W is dequantized into a float32
 * scratch (at most 1 MiB, never the whole weight) and multiplied by the blocked GEMM of
 * ./matmul.ts (wasm SIMD where available): float32 summation there.
 *
 * With WebAssembly SIMD (../wasm/qgemv.ts) the forward product of float32 data runs there: below
 * that many rows a decode loop (the codes widened to f32x4 in the loop; float32 within a group,
 * float64 across groups), from it the panels dequantized in wasm. The JavaScript loops below
 * remain for engines without it, for float64 storage and for the transpose.
 */
import { BackendError } from '../../../errors.js';
import type { CpuRoutine, CpuView } from './view.js';
import { gemm, stridedPacker, stridedPanel } from './matmul.js';
import { instantiateDequant, instantiateQgemv, type QgemvFn } from '../wasm/qgemv.js';

/** Floats of the dequantized panel the blocked path hands to the GEMM (1 MiB). */
const PANEL = 1 << 18;
/** Rows of x from which the blocked path (a dequantized panel through the float32 GEMM) is taken. */
export const QMATMUL_BLOCKED_ROWS = 4;

/** Bytes of codes copied into wasm memory per call of the decode kernel (an L2-sized chunk of rows). */
const WASM_CHUNK = 1 << 17;

let qgemvEnabled = true;
let qgemvMemory: WebAssembly.Memory | null = null;
/** Compiled variants by `bits|mins|rows` (rows 0: the dequantizer); null where compiling failed (then the JS loops run). */
const qgemvFns = new Map<string, QgemvFn | null>();

/**
 * Turns the WebAssembly decode loop of the quantized matmul on or off (tests compare it with the
 * JavaScript loops it replaces; on is the default, and without WebAssembly SIMD it is off anyway).
 */
export function setWasmQmatmul(enabled: boolean): void {
  qgemvEnabled = enabled;
}

/** The decode kernel for `rows` rows (0: the prefill path's dequantizer), compiled on first use. */
function qgemv(bits: 4 | 8, mins: boolean, rows: number): QgemvFn | null {
  const key = `${bits}|${mins}|${rows}`;
  if (!qgemvFns.has(key)) {
    let fn: QgemvFn | null = null;
    try {
      qgemvMemory ??= new WebAssembly.Memory({ initial: 16 });
      fn = rows ? instantiateQgemv({ bits, mins, rows }, qgemvMemory) : instantiateDequant(bits, mins, qgemvMemory);
    } catch {
      fn = null;
    }
    qgemvFns.set(key, fn);
  }
  return qgemvFns.get(key)!;
}

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

/**
 * out[M, N] = x[M, K] @ Wᵀ for M < {@link QMATMUL_BLOCKED_ROWS} in wasm: x interleaved (and its
 * group sums, with minimums) copied in once, then the codes, scales and minimums of WASM_CHUNK
 * bytes of rows at a time. False (nothing written) where the wasm kernel cannot run.
 */
function wasmDecode(
  bits: 4 | 8, G: number, M: number, N: number, K: number, Wd: number, Gn: number,
  x: Float32Array, xo: number, q: Int32Array, qo: number, sc: Float32Array, so: number,
  mn: Float32Array | undefined, mo: number, out: Float32Array, oo: number,
): boolean {
  if (!qgemvEnabled || G % 16 !== 0 || M < 1 || M > 3) return false;
  const fn = qgemv(bits, mn !== undefined, M);
  if (!fn || !qgemvMemory) return false;
  const Kp = Gn * G, NB = Math.max(1, Math.min(N, Math.floor(WASM_CHUNK / (Wd * 4))));
  const xAt = 0, xsAt = xAt + align64(M * Kp * 4), qAt = xsAt + align64(mn ? Gn * M * 8 : 0);
  const sAt = qAt + align64(NB * Wd * 4), mAt = sAt + align64(NB * Gn * 4), oAt = mAt + align64(mn ? NB * Gn * 4 : 0);
  const end = oAt + align64(M * NB * 4);
  const buf = wasmBuffer(end);
  const f32 = new Float32Array(buf), i32 = new Int32Array(buf);
  // x as [Kp/4][M][4], zero past K; with minimums its group sums [Gn][M] in float64
  const xf = xAt >> 2;
  f32.fill(0, xf, xf + M * Kp);
  for (let r = 0; r < M; r++) {
    const xb = xo + r * K;
    for (let k = 0; k < K; k++) f32[xf + ((k >> 2) * M + r) * 4 + (k & 3)] = x[xb + k];
  }
  if (mn) {
    const xs = new Float64Array(buf, xsAt, Gn * M);
    xs.fill(0);
    for (let r = 0; r < M; r++) for (let k = 0; k < K; k++) xs[((k / G) | 0) * M + r] += x[xo + r * K + k];
  }
  for (let n0 = 0; n0 < N; n0 += NB) {
    const nb = Math.min(NB, N - n0);
    i32.set(q.subarray(qo + n0 * Wd, qo + (n0 + nb) * Wd), qAt >> 2);
    f32.set(sc.subarray(so + n0 * Gn, so + (n0 + nb) * Gn), sAt >> 2);
    if (mn) f32.set(mn.subarray(mo + n0 * Gn, mo + (n0 + nb) * Gn), mAt >> 2);
    fn(xAt, xsAt, qAt, sAt, mAt, oAt, nb, Gn, G / 16, nb * 4);
    for (let r = 0; r < M; r++) out.set(f32.subarray((oAt >> 2) + r * nb, (oAt >> 2) + r * nb + nb), oo + r * N + n0);
  }
  return true;
}

/** Grows the wasm memory to at least `bytes`; returns its buffer (views must be made after). */
function wasmBuffer(bytes: number): ArrayBuffer {
  const have = qgemvMemory!.buffer.byteLength;
  if (bytes > have) qgemvMemory!.grow(Math.ceil((bytes - have) / 65536));
  return qgemvMemory!.buffer;
}

/**
 * The forward prefill path with the panels dequantized in wasm: rows of codes, scales (and
 * minimums) copied into wasm memory a panel at a time, decoded there into a float32 [rows][Kp]
 * panel that the GEMM packs from. False (nothing written) where the wasm dequantizer cannot run.
 */
function wasmPanels(
  bits: 4 | 8, G: number, M: number, N: number, K: number, Wd: number, Gn: number,
  x: Float32Array, xo: number, q: Int32Array, qo: number, sc: Float32Array, so: number,
  mn: Float32Array | undefined, mo: number, out: Float32Array, oo: number,
): boolean {
  if (!qgemvEnabled || G % 16 !== 0) return false;
  const fn = qgemv(bits, mn !== undefined, 0);
  if (!fn || !qgemvMemory) return false;
  const Kp = Gn * G, NB = Math.max(4, Math.min(N, Math.floor(PANEL / Kp)));
  const qAt = 0, sAt = align64(NB * Wd * 4), mAt = sAt + align64(NB * Gn * 4), pAt = mAt + align64(mn ? NB * Gn * 4 : 0);
  const buf = wasmBuffer(pAt + NB * Kp * 4);
  const f32 = new Float32Array(buf), i32 = new Int32Array(buf);
  for (let n0 = 0; n0 < N; n0 += NB) {
    const nb = Math.min(NB, N - n0);
    i32.set(q.subarray(qo + n0 * Wd, qo + (n0 + nb) * Wd), qAt >> 2);
    f32.set(sc.subarray(so + n0 * Gn, so + (n0 + nb) * Gn), sAt >> 2);
    if (mn) f32.set(mn.subarray(mo + n0 * Gn, mo + (n0 + nb) * Gn), mAt >> 2);
    fn(0, 0, qAt, sAt, mAt, pAt, nb, Gn, G / 16, 0);
    const panel = new Float32Array(buf, pAt, nb * Kp);
    gemm({ M, N: nb, K, packA: stridedPacker(x, xo, K, 1), packB: stridedPanel(panel, 0, 1, Kp), c: out, cOff: oo + n0, ldc: N });
  }
  return true;
}

function dims(v: CpuView): [number, number] {
  const s = v.shape;
  const C = s.length ? s[s.length - 1] : 1;
  let R = 1;
  for (let i = 0; i < s.length - 1; i++) R *= s[i];
  return [R, C];
}

export const qmatmul: CpuRoutine<'qmatmul'> = (cfg, inputs, outputs) => {
  const { bits, groupSize: G, mins, transpose } = cfg;
  const [x, q, sc, mn] = inputs;
  const [out] = outputs;
  if (inputs.length !== (mins ? 4 : 3)) throw new BackendError(`qmatmul (cpu): expected ${mins ? 4 : 3} inputs, got ${inputs.length}`);
  const [M, xc] = dims(x);
  const [Mo, oc] = dims(out);
  const N = q.shape[0], K = transpose ? oc : xc;
  if (Mo !== M || (transpose ? xc !== N : oc !== N)) throw new BackendError(`qmatmul (cpu): shapes x [${x.shape}], q [${q.shape}], out [${out.shape}] do not agree`);
  const P = 32 / bits, mask = (1 << bits) - 1, zero = 1 << (bits - 1);
  const Gn = Math.ceil(K / G), Wd = (Gn * G) / P;
  if (q.shape[1] !== Wd || sc.shape[0] !== N || sc.shape[1] !== Gn) throw new BackendError(`qmatmul (cpu): q [${q.shape}] / scales [${sc.shape}] do not fit N ${N}, K ${K}, group ${G}`);
  const xd = x.data, qd = q.data, sd = sc.data, md = mn?.data, od = out.data;
  const xo = x.offset, qo = q.offset, so = sc.offset, mo = mn?.offset ?? 0, oo = out.offset;
  if (M >= QMATMUL_BLOCKED_ROWS && od instanceof Float32Array && xd instanceof Float32Array) {
    // prefill: a panel of W dequantized into a float32 scratch at a time (rows n0.. for the
    // forward, columns k0.. of every row for the transpose), multiplied by the blocked GEMM
    const row = (n: number, k0: number, kn: number, dst: Float32Array, d: number): void => {
      for (let g = k0 / G; g * G < k0 + kn; g++) {
        const s = sd[so + n * Gn + g], m = md ? md[mo + n * Gn + g] : -s * zero;
        const a = g * G, e = Math.min(a + G, k0 + kn);
        for (let k = a, j = 0; k < e; j++) {
          let word = qd[qo + n * Wd + a / P + j] >>> 0;
          for (let i = 0; i < P && k < e; i++, k++, word >>>= bits) dst[d + k - k0] = md ? s * (word & mask) + m : s * ((word & mask) - zero);
        }
      }
    };
    if (!transpose && qd instanceof Int32Array && sd instanceof Float32Array && (!md || md instanceof Float32Array)
      && wasmPanels(bits, G, M, N, K, Wd, Gn, xd, xo, qd, qo, sd, so, md, mo, od, oo)) return;
    if (!transpose) {
      const NB = Math.max(4, Math.floor(PANEL / K));
      const panel = new Float32Array(Math.min(NB, N) * K);
      for (let n0 = 0; n0 < N; n0 += NB) {
        const nb = Math.min(NB, N - n0);
        for (let j = 0; j < nb; j++) row(n0 + j, 0, K, panel, j * K);
        gemm({ M, N: nb, K, packA: stridedPacker(xd, xo, K, 1), packB: stridedPanel(panel, 0, 1, K), c: od, cOff: oo + n0, ldc: N });
      }
    } else {
      const KB = Math.max(G, Math.floor(PANEL / N / G) * G);
      const panel = new Float32Array(N * Math.min(KB, K));
      for (let k0 = 0; k0 < K; k0 += KB) {
        const kb = Math.min(KB, K - k0);
        for (let n = 0; n < N; n++) row(n, k0, kb, panel, n * kb);
        gemm({ M, N: kb, K: N, packA: stridedPacker(xd, xo, N, 1), packB: stridedPanel(panel, 0, kb, 1), c: od, cOff: oo + k0, ldc: K });
      }
    }
    return;
  }
  if (!transpose && od instanceof Float32Array && xd instanceof Float32Array && qd instanceof Int32Array && sd instanceof Float32Array
    && (!md || md instanceof Float32Array) && wasmDecode(bits, G, M, N, K, Wd, Gn, xd, xo, qd, qo, sd, so, md, mo, od, oo)) return;
  if (!transpose && M === 1) {
    // decode (a matrix-vector product): each group's dot Σ x·u straight from the codes, then
    // s·dot + m·Σx (m = -s·2^(bits-1) symmetric) with x's group sums taken once; float64
    const xs = new Float64Array(Gn);
    for (let k = 0; k < K; k++) xs[(k / G) | 0] += xd[xo + k];
    for (let n = 0; n < N; n++) {
      let a = 0;
      for (let g = 0; g < Gn; g++) {
        const s = sd[so + n * Gn + g], m = md ? md[mo + n * Gn + g] : -s * zero;
        const k0 = g * G, e = Math.min(k0 + G, K), wb = qo + n * Wd + k0 / P;
        let d = 0;
        for (let j = 0, k = k0; k < e; j++) {
          let word = qd[wb + j] >>> 0;
          for (let i = 0; i < P && k < e; i++, k++, word >>>= bits) d += xd[xo + k] * (word & mask);
        }
        a += s * d + m * xs[g];
      }
      od[oo + n] = a;
    }
    return;
  }
  const w = new Float64Array(G);
  const acc = new Float64Array(M * (transpose ? K : N));
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < Gn; g++) {
      const s = sd[so + n * Gn + g];
      const m = md ? md[mo + n * Gn + g] : -s * zero;
      const k0 = g * G, kn = Math.min(G, K - k0);
      // a word at a time (G is a multiple of P: a group starts on a word), codes by shifts
      const wb = qo + n * Wd + k0 / P;
      for (let j = 0, k = 0; k < kn; j++) {
        let word = qd[wb + j] >>> 0;
        for (let i = 0; i < P && k < kn; i++, k++, word >>>= bits) {
          const u = word & mask;
          w[k] = md ? s * u + m : s * (u - zero);
        }
      }
      if (!transpose) {
        for (let i = 0; i < M; i++) {
          let a = 0;
          const xb = xo + i * K + k0;
          for (let k = 0; k < kn; k++) a += xd[xb + k] * w[k];
          acc[i * N + n] += a;
        }
      } else {
        // out[i, k] += g[i, n] · W[n, k]
        for (let i = 0; i < M; i++) {
          const gv = xd[xo + i * N + n];
          const ab = i * K + k0;
          for (let k = 0; k < kn; k++) acc[ab + k] += gv * w[k];
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) od[oo + i] = acc[i];
};

/**
 * Gather-dequantize (src/kernel/kernel.ts `qembedding`): out[r, k] = W[ids[r], k], each value
 * s·(u - 2^(bits-1)) or s·u + m in float64 and stored once, as the transposed product above
 * computes a dequantized value (so `dequantize` then a gather gives the same floats).
 */
export const qembedding: CpuRoutine<'qembedding'> = (cfg, inputs, outputs) => {
  const { bits, groupSize: G, mins } = cfg;
  const [ids, q, sc, mn] = inputs;
  const [out] = outputs;
  if (inputs.length !== (mins ? 4 : 3)) throw new BackendError(`qembedding (cpu): expected ${mins ? 4 : 3} inputs, got ${inputs.length}`);
  const [R, K] = dims(out);
  const N = q.shape[0];
  const P = 32 / bits, mask = (1 << bits) - 1, zero = 1 << (bits - 1);
  const Gn = Math.ceil(K / G), Wd = (Gn * G) / P;
  if (numelOf(ids) !== R || q.shape[1] !== Wd || sc.shape[0] !== N || sc.shape[1] !== Gn) throw new BackendError(`qembedding (cpu): ids [${ids.shape}], q [${q.shape}], scales [${sc.shape}], out [${out.shape}] do not agree (group ${G})`);
  const idd = ids.data, qd = q.data, sd = sc.data, md = mn?.data, od = out.data;
  const io = ids.offset, qo = q.offset, so = sc.offset, mo = mn?.offset ?? 0, oo = out.offset;
  for (let r = 0; r < R; r++) {
    const n = Math.min(N - 1, Math.max(0, idd[io + r]));
    const ob = oo + r * K;
    for (let g = 0; g < Gn; g++) {
      const s = sd[so + n * Gn + g], m = md ? md[mo + n * Gn + g] : 0;
      const k0 = g * G, e = Math.min(k0 + G, K), wb = qo + n * Wd + k0 / P;
      for (let j = 0, k = k0; k < e; j++) {
        let word = qd[wb + j] >>> 0;
        for (let i = 0; i < P && k < e; i++, k++, word >>>= bits) od[ob + k] = md ? s * (word & mask) + m : s * ((word & mask) - zero);
      }
    }
  }
};

function numelOf(v: CpuView): number {
  let n = 1;
  for (const d of v.shape) n *= d;
  return n;
}
