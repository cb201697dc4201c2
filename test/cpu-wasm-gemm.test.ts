/**
 * The float32 CPU GEMM in WebAssembly SIMD (src/backend/cpu/wasm/, driven by
 * src/backend/cpu/routines/matmul.ts) against float64 references, through the CPU routines
 * directly: odd sizes (M, N not multiples of the 4×8 micro-tile; K across several 256-deep
 * blocks; N across several 1024-wide panels), transposed / strided / offset views, broadcast
 * batches, bias, and conv2d with its two backward routines (stride,
 * padding, dilation, groups, pixel runs that cross images). Each case runs on the default wasm
 * kernel (6×8 with f32x4.relaxed_madd where the engine has relaxed SIMD: vitest.config.ts turns
 * it on for Node 20, as Chrome and Node 22 have it), on the 4×8 mul + add kernel (what engines
 * without relaxed SIMD run), on the JS kernel (setWasmGemm(false)) and on float64 storage (the
 * gradcheck backend), which must keep its float64 accumulation.
 *
 * Tolerance: |got − ref| ≤ 2e-6·Σ|terms| + 1e-7 per element, about 30 float32 ulps of the sum
 * of magnitudes: float32 products and float32 accumulation of K terms (the wasm kernel) stay
 * well inside it on random data; an indexing bug is off by a whole term. Float64 storage must
 * agree to 1e-12·Σ|terms|.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cpuRoutines, type CpuView } from '../src/backend/cpu/routines/index.js';
import { setWasmGemm, wasmGemmActive, wasmGemmShape } from '../src/backend/cpu/routines/matmul.js';
import { gemmFunction, gemmModuleBytes, relaxedSimdSupported } from '../src/backend/cpu/wasm/gemm.js';
import { sleb, uleb } from '../src/backend/cpu/wasm/emit.js';
import type { Pair } from '../src/kernel/kernel.js';
import { IR } from '../src/kernel/ir.js';
import { operandLayout, rng, type Layout } from './helpers.js';

afterEach(() => setWasmGemm(true));

type Storage = Float32Array | Float64Array;
type Mode = 'wasm' | 'wasm-mul-add' | 'js' | 'float64';
const MODES: Mode[] = ['wasm', 'wasm-mul-add', 'js', 'float64'];

/** A view over `data` as the CPU routines see it (the buffer handle is unused there). */
function view(data: Storage, shape: number[], strides: number[], offset = 0): CpuView {
  return { buf: null as never, dtype: 'float32', shape, strides, offset, data };
}

function rowMajor(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, a = 1; i >= 0; i--) { s[i] = a; a *= shape[i]; }
  return s;
}

/** n seeded values in [-1, 1), exactly representable in float32. */
function values(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.fround(2 * r() - 1));
}

/** Storage of the mode's type holding `v`. */
function store(v: ArrayLike<number>, mode: Mode): Storage {
  return mode === 'float64' ? Float64Array.from(v) : Float32Array.from(v);
}

function expectNear(got: ArrayLike<number>, ref: Float64Array, mag: Float64Array, mode: Mode, what: string): void {
  const rel = mode === 'float64' ? 1e-12 : 2e-6, abs = mode === 'float64' ? 0 : 1e-7;
  for (let i = 0; i < ref.length; i++) {
    const tol = rel * mag[i] + abs;
    if (!(Math.abs(got[i] - ref[i]) <= tol)) throw new Error(`${what} [${mode}] at ${i}: got ${got[i]}, expected ${ref[i]} (tol ${tol})`);
  }
}

function useMode(mode: Mode): void {
  setWasmGemm(mode !== 'js', { fma: mode !== 'wasm-mul-add' });
}


// ---- matmul --------------------------------------------------------------------------------------

/**
 * A [Z, R, C] operand: row-major, column-major (a transposed view) or with every stride > 1,
 * starting at `offset`; `broadcast` gives the batch stride 0. Returns the backing values and an
 * accessor for element (z, r, c).
 */
function operand(Z: number, R: number, C: number, layout: Layout, seed: number, offset: number, broadcast: boolean) {
  const { strides, size } = operandLayout(Z, R, C, layout, offset, broadcast);
  const v = values(size, seed);
  const at = (z: number, r: number, c: number) => v[offset + z * strides[0] + r * strides[1] + c * strides[2]];
  return { v, strides, at, offset };
}

interface MatmulCase {
  Z: number; M: number; K: number; N: number;
  la?: Layout; lb?: Layout; offA?: number; offB?: number; bcA?: boolean; bcB?: boolean;
  bias?: boolean;
}

function runMatmul(c: MatmulCase, mode: Mode, seed: number): void {
  const { Z, M, K, N } = c;
  const a = operand(Z, M, K, c.la ?? 'row', seed, c.offA ?? 0, c.bcA ?? false);
  const b = operand(Z, K, N, c.lb ?? 'row', seed + 1, c.offB ?? 0, c.bcB ?? false);
  const bias = c.bias ? values(N, seed + 2) : null;
  const ref = new Float64Array(Z * M * N), mag = new Float64Array(Z * M * N);
  for (let z = 0; z < Z; z++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = bias ? bias[j] : 0, m = bias ? Math.abs(bias[j]) : 0;
    for (let k = 0; k < K; k++) {
      const p = a.at(z, i, k) * b.at(z, k, j);
      s += p;
      m += Math.abs(p);
    }
    ref[(z * M + i) * N + j] = s;
    mag[(z * M + i) * N + j] = 1.2 * m;
  }
  useMode(mode);
  const out = store(new Float64Array(Z * M * N).fill(NaN), mode);
  const inputs = [view(store(a.v, mode), [Z, M, K], a.strides, a.offset), view(store(b.v, mode), [Z, K, N], b.strides, b.offset)];
  if (bias) inputs.push(view(store(bias, mode), [N], [1]));
  cpuRoutines.matmul({ bias: !!bias }, inputs, [view(out, [Z, M, N], rowMajor([Z, M, N]))]);
  expectNear(out, ref, mag, mode, `matmul ${JSON.stringify(c)}`);
}

/**
 * A matmul with an epilogue (kernel.ts MatmulEpilogue): out0 = r + relu(p), out1 = p·w (strided,
 * at an offset), p = a@b + bias; r read transposed, w a row broadcast over z and m. The product is
 * rounded to the storage type before the epilogue (as the GPU's f32 register), then the epilogue in
 * that type's arithmetic.
 */
function runEpilogue(c: MatmulCase, mode: Mode, seed: number): void {
  const { Z, M, K, N } = c;
  const a = operand(Z, M, K, c.la ?? 'row', seed, c.offA ?? 0, c.bcA ?? false);
  const b = operand(Z, K, N, c.lb ?? 'row', seed + 1, c.offB ?? 0, c.bcB ?? false);
  const bias = c.bias ? values(N, seed + 2) : null;
  const r = operand(Z, M, N, 'col', seed + 3, 1, false), w = values(N, seed + 4);
  const ref = [new Float64Array(Z * M * N), new Float64Array(Z * M * N)], mag = new Float64Array(Z * M * N);
  for (let z = 0; z < Z; z++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = bias ? bias[j] : 0, m = bias ? Math.abs(bias[j]) : 0;
    for (let k = 0; k < K; k++) {
      const p = a.at(z, i, k) * b.at(z, k, j);
      s += p;
      m += Math.abs(p);
    }
    const at = (z * M + i) * N + j;
    ref[0][at] = r.at(z, i, j) + Math.max(s, 0);
    ref[1][at] = s * w[j];
    mag[at] = 1.2 * m + 1e-6 + Math.abs(r.at(z, i, j));
  }
  useMode(mode);
  const out0 = store(new Float64Array(Z * M * N).fill(NaN), mode), out1 = store(new Float64Array(2 * Z * M * N + 3).fill(NaN), mode);
  const inputs = [view(store(a.v, mode), [Z, M, K], a.strides, a.offset), view(store(b.v, mode), [Z, K, N], b.strides, b.offset)];
  if (bias) inputs.push(view(store(bias, mode), [N], [1]));
  inputs.push(view(store(r.v, mode), [Z, M, N], r.strides, r.offset), view(store(w, mode), [Z, M, N], [0, 0, 1]));
  const x = IR.load(0, 'float32');
  const relu = IR.where(IR.binary('lt', x, IR.const(0)), IR.const(0), x);
  const epilogue = { exprs: [IR.binary('add', IR.load(1, 'float32'), relu), IR.binary('mul', x, IR.load(2, 'float32'))] };
  // with the row sums of a too (rowSums: the last output), at a stride
  const rs = store(new Float64Array(2 * Z * M).fill(NaN), mode);
  cpuRoutines.matmul({ bias: !!bias, epilogue, rowSums: true }, inputs, [view(out0, [Z, M, N], rowMajor([Z, M, N])), view(out1, [Z, M, N], [2 * M * N, 2 * N, 2], 3), view(rs, [Z, M], [2 * M, 2])]);
  const refRs = new Float64Array(Z * M), magRs = new Float64Array(Z * M);
  for (let z = 0; z < Z; z++) for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) {
    refRs[z * M + i] += a.at(z, i, k);
    magRs[z * M + i] += Math.abs(a.at(z, i, k));
  }
  expectNear(Float64Array.from({ length: Z * M }, (_, i) => rs[2 * i]), refRs, magRs, mode, `matmul row sums ${JSON.stringify(c)}`);
  expectNear(out0, ref[0], mag, mode, `matmul epilogue out0 ${JSON.stringify(c)}`);
  const got1 = Float64Array.from({ length: Z * M * N }, (_, at) => out1[3 + 2 * at]);
  const mag1 = mag.map((m, at) => m * Math.abs(w[at % N]) + 1e-6);
  expectNear(got1, ref[1], mag1, mode, `matmul epilogue out1 ${JSON.stringify(c)}`);
  // the gaps of the strided output are untouched
  expect(Number.isNaN(out1[4]) && Number.isNaN(out1[0])).toBe(true);
}

describe('matmul epilogues on the CPU', () => {
  it('every kernel (wasm, JS, float64), odd sizes, transposed and broadcast operands, direct and blocked paths', () => {
    let seed = 50;
    for (const mode of MODES) {
      for (const [M, K, N] of [[1, 5, 9], [7, 3, 1], [13, 37, 21], [66, 300, 70], [4, 4, 4]]) runEpilogue({ Z: 1, M, K, N, bias: true }, mode, seed++);
      runEpilogue({ Z: 3, M: 9, K: 20, N: 11, la: 'col', lb: 'strided', bcB: true }, mode, seed++);
      runEpilogue({ Z: 2, M: 17, K: 5, N: 33, offA: 3, offB: 1, bias: true }, mode, seed++);
    }
  });
});

describe('wasm SIMD GEMM: matmul', () => {
  it('is the float32 path in Node 20 (V8 has WebAssembly SIMD); relaxed SIMD picks the 6×8 multiply-add kernel', () => {
    expect(wasmGemmActive()).toBe(true);
    // vitest.config.ts passes --experimental-wasm-relaxed-simd where the engine lacks it by default
    expect(relaxedSimdSupported()).toBe(true);
    expect(wasmGemmShape()).toEqual({ MR: 6, NR: 8, fma: true });
    setWasmGemm(true, { fma: false });
    expect(wasmGemmShape()).toEqual({ MR: 4, NR: 8 });
    setWasmGemm(false);
    expect(wasmGemmActive()).toBe(false);
  });

  it('odd sizes: M, N off the 4×8 tile, K across several 256-deep blocks', () => {
    const dims = [1, 3, 5, 8, 17, 33, 65, 130];
    let seed = 1;
    for (const M of dims) for (const N of [1, 7, 9, 31, 64, 129]) {
      const K = [1, 6, 67, 300, 600][(M + N) % 5];
      for (const mode of MODES) runMatmul({ Z: 1, M, K, N }, mode, seed);
      seed += 3;
    }
  });

  it('K spanning three blocks and N spanning two 1024-wide panels', () => {
    for (const mode of MODES) {
      runMatmul({ Z: 1, M: 9, K: 777, N: 21 }, mode, 5);
      runMatmul({ Z: 1, M: 6, K: 40, N: 1100 }, mode, 6);
      runMatmul({ Z: 1, M: 133, K: 260, N: 70 }, mode, 7);
    }
  });

  it('transposed, strided and offset views, and broadcast batches', () => {
    const layouts: Layout[] = ['row', 'col', 'strided'];
    let seed = 100;
    for (const la of layouts) for (const lb of layouts) {
      for (const mode of MODES) {
        runMatmul({ Z: 2, M: 37, K: 45, N: 19, la, lb, offA: 3, offB: 5 }, mode, seed);
        runMatmul({ Z: 3, M: 21, K: 300, N: 13, la, lb, bcA: true }, mode, seed + 1);
        runMatmul({ Z: 3, M: 12, K: 29, N: 40, la, lb, bcB: true }, mode, seed + 2);
      }
      seed += 3;
    }
  });

  it('bias, on the blocked path and the small direct loops', () => {
    const seed = 200;
    for (const mode of MODES) {
      runMatmul({ Z: 2, M: 50, K: 270, N: 23, bias: true }, mode, seed);
      runMatmul({ Z: 2, M: 150, K: 70, N: 75, bias: true }, mode, seed + 4); // one K block: the wasm epilogue, two row blocks, a 64 + 11 column split
      runMatmul({ Z: 1, M: 70, K: 33, N: 9, lb: 'col', bias: false }, mode, seed + 1);
      runMatmul({ Z: 1, M: 3, K: 5, N: 4, bias: true }, mode, seed + 2);
      runMatmul({ Z: 1, M: 1, K: 300, N: 40, bias: true }, mode, seed + 3);
    }
  });

  it('an empty sum (K = 0) gives the bias', () => {
    for (const mode of MODES) runMatmul({ Z: 1, M: 5, K: 0, N: 9, bias: true }, mode, 300);
  });

  it('wasm and JS kernels agree to float32 rounding on a product with cancellation', () => {
    const M = 40, K = 513, N = 36;
    const a = values(M * K, 400), b = values(K * N, 401);
    const outs: Float32Array[] = [];
    for (const mode of ['wasm', 'js', 'wasm-mul-add'] as Mode[]) {
      useMode(mode);
      const out = new Float32Array(M * N);
      cpuRoutines.matmul({ bias: false }, [view(Float32Array.from(a), [1, M, K], [M * K, K, 1]), view(Float32Array.from(b), [1, K, N], [K * N, N, 1])], [view(out, [1, M, N], [M * N, N, 1])]);
      outs.push(out);
    }
    // each within the reference tolerance of the JS kernel (|Σ| ≤ Σ|a·b| ≤ K here)
    for (let i = 0; i < M * N; i++) {
      expect(Math.abs(outs[0][i] - outs[1][i])).toBeLessThanOrEqual(4e-6 * K);
      expect(Math.abs(outs[2][i] - outs[1][i])).toBeLessThanOrEqual(4e-6 * K);
    }
  });
});

// ---- conv2d ----------------------------------------------------------------------------------

interface ConvCase {
  N: number; C: number; H: number; W: number; O: number; kh: number; kw: number;
  stride: Pair; padding: Pair; dilation: Pair; groups: number; bias?: boolean;
}

/** Direct float64 conv2d, its input and weight gradients for gy, and Σ|terms| for each. */
function convRef(c: ConvCase, x: Float64Array, w: Float64Array, b: Float64Array | null, gy: (ho: number, wo: number) => Float64Array) {
  const { N, C, H, W, O, kh, kw, groups: G } = c;
  const Cg = C / G, Og = O / G;
  const Ho = Math.floor((H + 2 * c.padding[0] - c.dilation[0] * (kh - 1) - 1) / c.stride[0]) + 1;
  const Wo = Math.floor((W + 2 * c.padding[1] - c.dilation[1] * (kw - 1) - 1) / c.stride[1]) + 1;
  const g = gy(Ho, Wo);
  const y = new Float64Array(N * O * Ho * Wo), ym = new Float64Array(y.length);
  const gx = new Float64Array(x.length), gxm = new Float64Array(x.length);
  const gw = new Float64Array(w.length), gwm = new Float64Array(w.length);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
    const gr = Math.floor(o / Og), yi = ((n * O + o) * Ho + oh) * Wo + ow;
    if (b) { y[yi] += b[o]; ym[yi] += Math.abs(b[o]); }
    for (let cc = 0; cc < Cg; cc++) for (let ki = 0; ki < kh; ki++) for (let kj = 0; kj < kw; kj++) {
      const ih = oh * c.stride[0] - c.padding[0] + ki * c.dilation[0], iw = ow * c.stride[1] - c.padding[1] + kj * c.dilation[1];
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const xi = ((n * C + gr * Cg + cc) * H + ih) * W + iw, wi = ((o * Cg + cc) * kh + ki) * kw + kj;
      y[yi] += x[xi] * w[wi]; ym[yi] += Math.abs(x[xi] * w[wi]);
      gx[xi] += g[yi] * w[wi]; gxm[xi] += Math.abs(g[yi] * w[wi]);
      gw[wi] += g[yi] * x[xi]; gwm[wi] += Math.abs(g[yi] * x[xi]);
    }
  }
  return { Ho, Wo, g, y, ym, gx, gxm, gw, gwm };
}

function runConv(c: ConvCase, mode: Mode, seed: number): void {
  const { N, C, H, W, O, kh, kw } = c;
  const wShape = [O, C / c.groups, kh, kw];
  const x = values(N * C * H * W, seed), w = values(wShape.reduce((p, q) => p * q), seed + 1);
  const b = c.bias ? values(O, seed + 2) : null;
  const r = convRef(c, x, w, b, (Ho, Wo) => values(N * O * Ho * Wo, seed + 3));
  const cfg = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
  const xs = [N, C, H, W], ys = [N, O, r.Ho, r.Wo];
  const xv = view(store(x, mode), xs, rowMajor(xs)), wv = view(store(w, mode), wShape, rowMajor(wShape));
  const gyv = view(store(r.g, mode), ys, rowMajor(ys));
  useMode(mode);
  const what = `conv ${JSON.stringify(c)}`;

  const y = store(new Float64Array(r.y.length).fill(NaN), mode);
  cpuRoutines.conv2d({ ...cfg, bias: !!b }, b ? [xv, wv, view(store(b, mode), [O], [1])] : [xv, wv], [view(y, ys, rowMajor(ys))]);
  expectNear(y, r.y, r.ym, mode, `${what} forward`);

  const gx = store(new Float64Array(r.gx.length).fill(NaN), mode);
  cpuRoutines.conv2dBackwardInput(cfg, [gyv, wv], [view(gx, xs, rowMajor(xs))]);
  expectNear(gx, r.gx, r.gxm, mode, `${what} input gradient`);

  const gw = store(new Float64Array(r.gw.length).fill(NaN), mode);
  cpuRoutines.conv2dBackwardWeight(cfg, [xv, gyv], [view(gw, wShape, rowMajor(wShape))]);
  expectNear(gw, r.gw, r.gwm, mode, `${what} weight gradient`);
}

describe('wasm SIMD GEMM: conv2d and its gradients', () => {
  const one: Pair = [1, 1];
  const cases: ConvCase[] = [
    // 3×3 'same': the MNIST CNN's shape, small
    { N: 2, C: 3, H: 9, W: 11, O: 5, kh: 3, kw: 3, stride: one, padding: one, dilation: one, groups: 1, bias: true },
    // K = 32·9 = 288 crosses a depth block; 35×35 = 1225 pixels cross a 1024-wide panel
    { N: 1, C: 32, H: 35, W: 35, O: 6, kh: 3, kw: 3, stride: one, padding: one, dilation: one, groups: 1 },
    // stride 2 (the input gradient splits into phases), rectangular kernel and padding
    { N: 3, C: 4, H: 13, W: 10, O: 7, kh: 3, kw: 2, stride: [2, 2], padding: [1, 0], dilation: one, groups: 1, bias: true },
    // dilation, asymmetric stride, groups
    { N: 2, C: 6, H: 12, W: 14, O: 9, kh: 3, kw: 3, stride: [1, 2], padding: [2, 1], dilation: [2, 1], groups: 3 },
    // 1×1 conv; the weight gradient's depth (N·H·W = 4·17·17) crosses images inside 256-deep blocks
    { N: 4, C: 5, H: 17, W: 17, O: 10, kh: 1, kw: 1, stride: one, padding: [0, 0], dilation: one, groups: 1, bias: true },
    // a kernel wider than the padded input in places: runs that are all padding
    { N: 1, C: 2, H: 3, W: 4, O: 3, kh: 5, kw: 5, stride: one, padding: [2, 2], dilation: one, groups: 1 },
  ];
  for (const [i, c] of cases.entries()) {
    it(`case ${i}: ${c.N}×${c.C}×${c.H}×${c.W} → ${c.O}, k${c.kh}×${c.kw} s${c.stride} p${c.padding} d${c.dilation} g${c.groups}`, () => {
      for (const mode of MODES) runConv(c, mode, 500 + 10 * i);
    });
  }
});

// ---- the emitter -----------------------------------------------------------------------------

describe('wasm emitter', () => {
  it('LEB128 encodings', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([127]);
    expect(uleb(128)).toEqual([0x80, 1]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([63]);
    expect(sleb(64)).toEqual([0xc0, 0]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  it('kernel modules validate, and stay under the 4 KB Chrome compiles synchronously on its main thread', () => {
    for (const [MR, NR] of [[4, 8], [1, 4], [6, 8], [3, 16]]) {
      const bytes = gemmModuleBytes({ MR, NR });
      expect(WebAssembly.validate(bytes), `${MR}×${NR}`).toBe(true);
      if (MR === 4 && NR === 8) expect(bytes.length).toBeLessThan(4096);
    }
    expect(gemmFunction({ MR: 4, NR: 8 }).locals.length).toBe(10 + 1 + 2 + 8);
    const fma = gemmModuleBytes({ MR: 6, NR: 8, fma: true });
    expect(WebAssembly.validate(fma)).toBe(true);
    expect(fma.length).toBeLessThan(4096);
  });
});
