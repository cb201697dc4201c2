/**
 * WebGPU routines against float64 references, through the standalone harness (no dispatcher).
 * Sizes that do not divide the 64x64x16 GEMM tile (1, 3, 17, 33, 65, 127), every operand layout
 * the matmul picks a loader for, broadcast batches, odd offsets, conv stride / padding /
 * dilation / groups. SwiftShader runs at about a GFLOP/s, so shapes stay small.
 *
 * matmul and conv are checked against float64 loops written here; pooling, the row routines and
 * the indexing routines against the CPU routines (float64 accumulation, float32 stores) on copies
 * of the same buffers, comparing whole output buffers (writes outside a view are caught).
 *
 * Tolerances (|err| <= atol + rtol*|ref|): matmul atol 2e-5*sqrt(K+1), rtol 1e-5 (inputs in
 * [-1, 1), f32 accumulation of K products); conv atol 1e-4 (2e-4 for the weight gradient, which
 * sums N*Ho*Wo terms); max pooling and the gathers exact; average pooling 1e-6; softmax and
 * cross-entropy atol 1e-6, rtol 2e-5 (GPU exp/log are a few ulp off); layer norm 1e-4 (rows
 * centred near 100: x - mean in f32 is off by ulp(100)/2, about 1e-5 of the output);
 * scatter-adds 1e-5 (float atomics in any order); scans 2e-6 per element of the row (f32 partial
 * sums in a tree against the CPU's float64 loop; int32 scans exact, wrapping alike); sorts exact
 * (values and indices).
 */
import { describe, expect, it } from 'vitest';
import { createHarness, vsCpu, rowMajor, type Harness, type Launcher, type Operand } from './harness.js';
import { maxPool2dBackwardLaunches } from '../../src/backend/webgpu/routines/pool.js';
import { rng, expectClose, operandLayout, type Layout } from '../helpers.js';
import type { View } from '../../src/backend/backend.js';
import { convLaunches, type ConvPlan } from '../../src/backend/webgpu/routines/conv.js';
import { matmulLaunches, type MatmulPlan } from '../../src/backend/webgpu/routines/matmul.js';
import { rowPlan, THREAD_ROW_MAX } from '../../src/backend/webgpu/routines/norm.js';
import type { GpuContext } from '../../src/backend/webgpu/launch.js';
import { f16ToF32, f32ToF16 } from '../../src/io/float16.js';
import { IR, math } from '../../src/kernel/ir.js';

const h = (await createHarness()) as Harness;
const suite = h ? describe : describe.skip;

/** A float32 buffer of seeded values in [-1, 1), and its contents as numbers. */
function randomBuffer(n: number, seed: number): { buf: ReturnType<Harness['upload']>; data: Float32Array } {
  const r = rng(seed);
  const data = Float32Array.from({ length: n }, () => 2 * r() - 1);
  return { buf: h.upload(data), data };
}

/** Reads element (z, i, j) of a rank-3 view from its backing data. */
const at3 = (v: View, data: Float32Array, z: number, i: number, j: number): number =>
  data[v.offset + z * v.strides[0] + i * v.strides[1] + j * v.strides[2]];

/**
 * A [Z, R, C] operand in the given layout: row-major, column-major (the transposed view of a
 * row-major [Z, C, R]) or with every stride > 1 (every other element of a wider buffer).
 * `broadcast` makes Z a stride-0 batch; `offset` shifts the view inside its buffer.
 */
function operand(Z: number, R: number, C: number, layout: Layout, seed: number, offset = 0, broadcast = false): { v: View; data: Float32Array } {
  const { strides, size } = operandLayout(Z, R, C, layout, offset, broadcast);
  const { buf, data } = randomBuffer(size, seed);
  return { v: h.view(buf, [Z, R, C], { strides, offset }), data };
}


interface MatmulCase { Z: number; M: number; N: number; K: number; la: Layout; lb: Layout; offA?: number; offB?: number; bcastA?: boolean; bcastB?: boolean; bias?: boolean }

/**
 * One matmul against float64. Without `plan` the backend picks the core (as for the adapter at
 * hand); with one, that core runs whatever the adapter, so every variant is tested everywhere.
 */
async function checkMatmul(c: MatmulCase, seed: number, plan?: MatmulPlan, half = false): Promise<void> {
  const a = operand(c.Z, c.M, c.K, c.la, seed, c.offA ?? 0, c.bcastA);
  const b = operand(c.Z, c.K, c.N, c.lb, seed + 1, c.offB ?? 0, c.bcastB);
  const bias = randomBuffer(c.N + 1, seed + 2);
  const biasView = h.view(bias.buf, [c.N], { offset: 1 });
  const out = h.zeros(c.Z * c.M * c.N + 3);
  const outView = h.view(out, [c.Z, c.M, c.N], { offset: 3 });
  const cfg = { bias: !!c.bias };
  // half: f16 tiles (emulated, so any adapter runs them); the reference rounds the operands alike
  const ctx: GpuContext = half ? { ...h.ctx, gemmHalf: 'emulate' } : h.ctx;
  const launcher: Launcher | undefined = plan && ((ins, outs) => matmulLaunches(cfg, ins, outs, ctx, plan));
  h.run('matmul', cfg, c.bias ? [a.v, b.v, biasView] : [a.v, b.v], [outView], launcher);
  const got = (await h.read(out)).subarray(3);
  const want = new Float64Array(c.Z * c.M * c.N), exact = new Float64Array(c.Z * c.M * c.N);
  const r = half ? round16 : (x: number): number => x;
  for (let z = 0; z < c.Z; z++) {
    for (let m = 0; m < c.M; m++) {
      for (let n = 0; n < c.N; n++) {
        let s = c.bias ? bias.data[1 + n] : 0, e = s;
        for (let k = 0; k < c.K; k++) {
          const x = at3(a.v, a.data, z, m, k), y = at3(b.v, b.data, z, k, n);
          s += r(x) * r(y);
          e += x * y;
        }
        want[(z * c.M + m) * c.N + n] = s;
        exact[(z * c.M + m) * c.N + n] = e;
      }
    }
  }
  const what = `matmul ${JSON.stringify(c)}${plan ? ` plan ${JSON.stringify(plan)}` : ''}${half ? ' f16 tiles' : ''}`;
  expectClose(got, want, 2e-5 * Math.sqrt(c.K + 1), 1e-5, what);
  // the f16 rounding really happened: somewhere the result is off the float32 product
  if (half && c.K >= 16) expect(Math.max(...got.map((g, i) => Math.abs(g - exact[i]))), what).toBeGreaterThan(1e-5);
}

/** x rounded to the nearest f16 (ties to even), as a number. */
const round16 = (x: number): number => f16ToF32(f32ToF16(x));

// the tiled core (64x64 and 128x128 tiles), and the direct core without split-K (both workgroup
// sizes) and with it
const matmulPlans: MatmulPlan[] = [
  { kernel: 'tiled' },
  { kernel: 'tiled', tile: 128 },
  { kernel: 'direct', ks: 1, wg: 16 },
  { kernel: 'direct', ks: 4, wg: 64 },
];

suite('webgpu matmul cores', () => {
  for (const plan of matmulPlans) {
    it(`${JSON.stringify(plan)}: odd sizes, every operand layout, batches, epilogues`, async () => {
      let seed = 300;
      // odd sizes 1..130, M or N = 1, K not a multiple of 4 (the direct core's tail) or of 16
      for (const [M, N, K] of [[1, 1, 1], [1, 130, 7], [130, 1, 33], [5, 9, 130], [130, 66, 3], [17, 4, 64], [64, 64, 18], [3, 2, 257]]) {
        await checkMatmul({ Z: 1, M, N, K, la: 'row', lb: 'row' }, seed++, plan);
      }
      // every load of each operand: vec4 along k or along the rows (multiples of 4), scalar
      // (col/strided, or sizes that forbid vec4)
      const layouts: Layout[] = ['row', 'col', 'strided'];
      for (const la of layouts) for (const lb of layouts) {
        await checkMatmul({ Z: 2, M: 12, N: 20, K: 36, la, lb }, seed++, plan);
        await checkMatmul({ Z: 2, M: 13, N: 21, K: 37, la, lb }, seed++, plan);
      }
      await checkMatmul({ Z: 3, M: 17, N: 33, K: 65, la: 'row', lb: 'row', bcastB: true }, seed++, plan);
      await checkMatmul({ Z: 5, M: 3, N: 17, K: 8, la: 'col', lb: 'col', bcastA: true }, seed++, plan);
      await checkMatmul({ Z: 4, M: 8, N: 12, K: 100, la: 'col', lb: 'row', offA: 4, offB: 8 }, seed++, plan);
      await checkMatmul({ Z: 1, M: 8, N: 8, K: 8, la: 'row', lb: 'row', offA: 1, offB: 2 }, seed++, plan);
      await checkMatmul({ Z: 2, M: 10, N: 7, K: 50, la: 'row', lb: 'col', bias: true }, seed++, plan);
      // a single row (the direct core's 1 x 4 blocks, ROW1): every layout, batches, the k tail, bias
      for (const la of layouts) for (const lb of layouts) {
        await checkMatmul({ Z: 2, M: 1, N: 20, K: 36, la, lb }, seed++, plan);
        await checkMatmul({ Z: 3, M: 1, N: 21, K: 37, la, lb, bias: true }, seed++, plan);
      }
    });
  }
  for (const plan of [{ kernel: 'tiled' }, { kernel: 'tiled', tile: 128 }] as MatmulPlan[]) {
    it(`${JSON.stringify(plan)} with f16 tiles (medium precision, emulated): operands rounded to f16, sums in f32`, async () => {
      let seed = 700;
      for (const [M, N, K] of [[1, 1, 1], [130, 66, 3], [17, 33, 65], [64, 64, 18], [5, 9, 130], [131, 129, 40]]) {
        await checkMatmul({ Z: 1, M, N, K, la: 'row', lb: 'row' }, seed++, plan, true);
      }
      for (const la of ['row', 'col', 'strided'] as Layout[]) {
        await checkMatmul({ Z: 2, M: 12, N: 20, K: 36, la, lb: 'col', bias: true }, seed++, plan, true);
        await checkMatmul({ Z: 2, M: 13, N: 21, K: 37, la, lb: 'row', bcastB: true }, seed++, plan, true);
      }
    });
  }
  it('split-K sums over long K with a small output', async () => {
    for (const plan of [{ kernel: 'direct', ks: 16, wg: 64 }, { kernel: 'direct', ks: 8, wg: 16 }, { kernel: 'direct', ks: 1, wg: 64 }] as MatmulPlan[]) {
      await checkMatmul({ Z: 1, M: 10, N: 6, K: 1000, la: 'col', lb: 'row', bias: true }, 400, plan);
      await checkMatmul({ Z: 2, M: 3, N: 5, K: 999, la: 'row', lb: 'row' }, 401, plan);
      await checkMatmul({ Z: 2, M: 1, N: 9, K: 1000, la: 'row', lb: 'col', bias: true }, 402, plan);
    }
  });
});

/**
 * A matmul with an elementwise epilogue (kernel.ts MatmulEpilogue) against float64: three outputs
 * (r + gelu(p), p·w, p where p = a@b + bias) in strided layouts at offsets, r an epilogue input
 * read transposed (strides), w a row broadcast over z and m (stride 0).
 */
async function checkMatmulEpilogue(c: MatmulCase, seed: number, plan?: MatmulPlan, half = false): Promise<void> {
  const a = operand(c.Z, c.M, c.K, c.la, seed, c.offA ?? 0, c.bcastA);
  const b = operand(c.Z, c.K, c.N, c.lb, seed + 1, c.offB ?? 0, c.bcastB);
  const bias = randomBuffer(c.N + 1, seed + 2);
  const biasView = h.view(bias.buf, [c.N], { offset: 1 });
  const r = operand(c.Z, c.M, c.N, 'col', seed + 3, 2);
  const w = randomBuffer(c.N, seed + 4);
  const wView = h.view(w.buf, [c.Z, c.M, c.N], { strides: [0, 0, 1] });
  const size = c.Z * c.M * c.N;
  const outs = [h.zeros(size + 3), h.zeros(size * 2 + 1), h.zeros(size + 5)];
  const outViews = [
    h.view(outs[0], [c.Z, c.M, c.N], { offset: 3 }),
    h.view(outs[1], [c.Z, c.M, c.N], { offset: 1, strides: [2 * c.M * c.N, 2 * c.N, 2] }),
    h.view(outs[2], [c.Z, c.M, c.N], { offset: 5, strides: [c.M * c.N, 1, c.M] }),
  ];
  const x = IR.load(0, 'float32');
  const gelu = math.mul(math.mul(math.num(0.5), x), math.add(math.num(1), IR.unary('erf', math.mul(x, math.num(Math.SQRT1_2)))));
  const cfg = { bias: !!c.bias, epilogue: { exprs: [math.add(IR.load(1, 'float32'), gelu), math.mul(x, IR.load(2, 'float32')), x] } };
  const ctx: GpuContext = half ? { ...h.ctx, gemmHalf: 'emulate' } : h.ctx;
  const launcher: Launcher | undefined = plan && ((ins, os) => matmulLaunches(cfg, ins, os, ctx, plan));
  h.run('matmul', cfg, [a.v, b.v, ...(c.bias ? [biasView] : []), r.v, wView], outViews, launcher);
  const got = await Promise.all(outs.map((o) => h.read(o)));
  const rd = half ? round16 : (v: number): number => v;
  const erf = (v: number): number => { // Abramowitz-Stegun 7.1.26 is too coarse: integrate instead
    let s = 0;
    const n = 200, d = v / n;
    for (let i = 0; i < n; i++) { const t = (i + 0.5) * d; s += Math.exp(-t * t) * d; }
    return (2 / Math.sqrt(Math.PI)) * s;
  };
  const want = [new Float64Array(size), new Float64Array(size), new Float64Array(size)];
  const got3 = [new Float64Array(size), new Float64Array(size), new Float64Array(size)];
  for (let z = 0; z < c.Z; z++) for (let m = 0; m < c.M; m++) for (let n = 0; n < c.N; n++) {
    let p = c.bias ? bias.data[1 + n] : 0;
    for (let k = 0; k < c.K; k++) p += rd(at3(a.v, a.data, z, m, k)) * rd(at3(b.v, b.data, z, k, n));
    const i = (z * c.M + m) * c.N + n;
    want[0][i] = at3(r.v, r.data, z, m, n) + 0.5 * p * (1 + erf(p * Math.SQRT1_2));
    want[1][i] = p * w.data[n];
    want[2][i] = p;
    got3.forEach((g, k) => { const v = outViews[k]; g[i] = got[k][v.offset + z * v.strides[0] + m * v.strides[1] + n * v.strides[2]]; });
  }
  const what = `matmul epilogue ${JSON.stringify(c)}${plan ? ` plan ${JSON.stringify(plan)}` : ''}${half ? ' f16 tiles' : ''}`;
  got3.forEach((g, k) => expectClose(g, want[k], 2e-5 * Math.sqrt(c.K + 1), 2e-5, `${what}: output ${k}`));
  // nothing was written outside the views: the first output's offset and the stride-2 gaps stay 0
  expect(Array.from(got[0].subarray(0, 3)), what).toEqual([0, 0, 0]);
  expect(got[1].filter((_, i) => i % 2 === 0).every((v) => v === 0), what).toBe(true);
}

/**
 * A matmul with row sums (config.rowSums: rowsum[z, m] = Σ_k a[z, m, k], the last output), with
 * or without an epilogue, against float64; the row sums go to a strided [Z, M] view at an offset.
 */
async function checkRowSums(c: MatmulCase, seed: number, plan?: MatmulPlan, half = false, withEpi = false): Promise<void> {
  const a = operand(c.Z, c.M, c.K, c.la, seed, c.offA ?? 0, c.bcastA);
  const b = operand(c.Z, c.K, c.N, c.lb, seed + 1, c.offB ?? 0, c.bcastB);
  const out = h.zeros(c.Z * c.M * c.N), rs = h.zeros(2 * c.Z * c.M + 2);
  const outView = h.view(out, [c.Z, c.M, c.N]);
  const rsView = h.view(rs, [c.Z, c.M], { offset: 2, strides: [2 * c.M, 2] });
  const x = IR.load(0, 'float32');
  const cfg = { bias: false, rowSums: true, ...(withEpi ? { epilogue: { exprs: [math.mul(x, x)] } } : {}) };
  const ctx: GpuContext = half ? { ...h.ctx, gemmHalf: 'emulate' } : h.ctx;
  const launcher: Launcher | undefined = plan && ((ins, os) => matmulLaunches(cfg, ins, os, ctx, plan));
  h.run('matmul', cfg, [a.v, b.v], [outView, rsView], launcher);
  const [got, gotRs] = [await h.read(out), await h.read(rs)];
  // the tiled core sums the tile's (f16-rounded under half tiles) values; the direct core reads a
  const rd = half && plan?.kernel === 'tiled' ? round16 : (v: number): number => v;
  const want = new Float64Array(c.Z * c.M * c.N), wantRs = new Float64Array(c.Z * c.M), gotR = new Float64Array(c.Z * c.M);
  for (let z = 0; z < c.Z; z++) for (let m = 0; m < c.M; m++) {
    let r = 0;
    for (let k = 0; k < c.K; k++) r += rd(at3(a.v, a.data, z, m, k));
    wantRs[z * c.M + m] = r;
    gotR[z * c.M + m] = gotRs[2 + z * 2 * c.M + 2 * m];
    for (let n = 0; n < c.N; n++) {
      let p = 0;
      for (let k = 0; k < c.K; k++) p += rd(at3(a.v, a.data, z, m, k)) * rd(at3(b.v, b.data, z, k, n));
      want[(z * c.M + m) * c.N + n] = withEpi ? p * p : p;
    }
  }
  const what = `matmul row sums ${JSON.stringify(c)}${plan ? ` plan ${JSON.stringify(plan)}` : ''}${half ? ' f16 tiles' : ''}${withEpi ? ' + epilogue' : ''}`;
  expectClose(gotR, wantRs, 2e-5 * Math.sqrt(c.K + 1), 1e-5, what);
  expectClose(got, want, 4e-5 * Math.sqrt(c.K + 1), 2e-5, what);
  // the gaps between the strided row sums stay 0
  expect(Array.from(gotRs).filter((_, i) => i % 2 === 1).every((v) => v === 0), what).toBe(true);
}

suite('webgpu matmul row sums', () => {
  for (const plan of [...matmulPlans, { kernel: 'direct', ks: 16, wg: 64 } as MatmulPlan, undefined]) {
    it(`${plan ? JSON.stringify(plan) : 'the adapter\'s choice'}: odd sizes, layouts, batches, with an epilogue`, async () => {
      let seed = 1100;
      for (const [M, N, K] of [[1, 1, 1], [1, 70, 9], [67, 1, 33], [13, 21, 37], [130, 66, 3], [9, 5, 1000]]) {
        await checkRowSums({ Z: 1, M, N, K, la: 'col', lb: 'row' }, seed++, plan);
      }
      await checkRowSums({ Z: 3, M: 12, N: 20, K: 36, la: 'row', lb: 'col' }, seed++, plan, false, true);
      await checkRowSums({ Z: 2, M: 17, N: 9, K: 20, la: 'strided', lb: 'row', bcastB: true }, seed++, plan);
      if (plan?.kernel === 'tiled') await checkRowSums({ Z: 2, M: 33, N: 20, K: 40, la: 'row', lb: 'row' }, seed++, plan, true, true);
    });
  }
});

suite('webgpu matmul epilogues', () => {
  for (const plan of [...matmulPlans, undefined]) {
    it(`${plan ? JSON.stringify(plan) : 'the adapter\'s choice'}: three outputs, a strided and a broadcast epilogue input, odd sizes`, async () => {
      let seed = 900;
      for (const [M, N, K] of [[1, 1, 1], [1, 70, 9], [67, 1, 33], [13, 21, 37], [130, 66, 3], [64, 64, 16]]) {
        await checkMatmulEpilogue({ Z: 1, M, N, K, la: 'row', lb: 'col', bias: true }, seed++, plan);
      }
      await checkMatmulEpilogue({ Z: 3, M: 12, N: 20, K: 36, la: 'col', lb: 'row' }, seed++, plan);
      await checkMatmulEpilogue({ Z: 2, M: 17, N: 9, K: 20, la: 'strided', lb: 'row', bcastB: true, bias: true }, seed++, plan);
      if (plan?.kernel === 'tiled') await checkMatmulEpilogue({ Z: 2, M: 33, N: 20, K: 40, la: 'row', lb: 'row', bias: true }, seed++, plan, true);
    });
  }
});

/**
 * Two batch levels (rank-4 views, [Zo, Zi, ..]): a and b are head-split views of [Zo, R, Zi, C]
 * buffers (attention's q, k, v), b optionally transposed (kᵀ), either one optionally broadcast in
 * one level (stride 0); the output [Zo, Zi, M, N] is contiguous after an offset.
 */
async function checkMatmul2(Zo: number, Zi: number, M: number, N: number, K: number, o: { bT?: boolean; bcastA?: 'outer' | 'inner'; bcastB?: 'outer' | 'inner' }, seed: number, plan?: MatmulPlan): Promise<void> {
  // a buffer [Zo, R, Zi, C] read as [Zo, Zi, R, C]; with T, [Zo, C, Zi, R] read as [Zo, Zi, R, C]
  const split = (R: number, C: number, T: boolean, bcast: 'outer' | 'inner' | undefined, sd: number) => {
    const { buf, data } = randomBuffer(Zo * R * Zi * C, sd);
    const strides = T ? [R * Zi * C, R, 1, Zi * R] : [R * Zi * C, C, Zi * C, 1];
    if (bcast === 'outer') strides[0] = 0;
    if (bcast === 'inner') strides[1] = 0;
    return { v: h.view(buf, [Zo, Zi, R, C], { strides }), data };
  };
  const a = split(M, K, false, o.bcastA, seed), b = split(K, N, !!o.bT, o.bcastB, seed + 1);
  const out = h.zeros(Zo * Zi * M * N + 3);
  const outView = h.view(out, [Zo, Zi, M, N], { offset: 3 });
  const cfg = { bias: false };
  const launcher: Launcher | undefined = plan && ((ins, outs) => matmulLaunches(cfg, ins, outs, h.ctx, plan));
  h.run('matmul', cfg, [a.v, b.v], [outView], launcher);
  const got = (await h.read(out)).subarray(3);
  const at4 = (x: { v: View; data: Float32Array }, p: number, q: number, i: number, j: number) =>
    x.data[x.v.offset + p * x.v.strides[0] + q * x.v.strides[1] + i * x.v.strides[2] + j * x.v.strides[3]];
  const want = new Float64Array(Zo * Zi * M * N);
  for (let p = 0; p < Zo; p++) for (let q = 0; q < Zi; q++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += at4(a, p, q, m, k) * at4(b, p, q, k, n);
    want[((p * Zi + q) * M + m) * N + n] = s;
  }
  expectClose(got, want, 2e-5 * Math.sqrt(K + 1), 1e-5, `matmul two-level ${JSON.stringify({ Zo, Zi, M, N, K, ...o })}${plan ? ` plan ${JSON.stringify(plan)}` : ''}`);
}

suite('webgpu matmul, two batch levels', () => {
  for (const plan of [...matmulPlans, undefined]) {
    it(`${plan ? JSON.stringify(plan) : 'the adapter\'s choice'}: head-split operands read in place`, async () => {
      let seed = 600;
      await checkMatmul2(2, 3, 5, 7, 9, {}, seed++, plan); // odd: scalar loads
      await checkMatmul2(3, 2, 8, 12, 16, {}, seed++, plan); // multiples of 4: vec4 loads
      await checkMatmul2(2, 4, 8, 8, 4, { bT: true }, seed++, plan); // q @ kᵀ
      await checkMatmul2(2, 3, 7, 5, 3, { bT: true }, seed++, plan);
      await checkMatmul2(3, 2, 4, 6, 5, { bcastA: 'inner' }, seed++, plan);
      await checkMatmul2(2, 5, 3, 4, 8, { bcastB: 'outer', bT: true }, seed++, plan);
      await checkMatmul2(1, 1, 3, 3, 3, {}, seed++, plan);
    });
  }
});

suite('webgpu matmul', () => {
  it('matches float64 on sizes that do not divide the tile, row-major operands', async () => {
    const sizes = [1, 3, 17, 33, 65, 127];
    let seed = 1;
    for (const M of sizes) for (const N of [1, 17, 65, 127]) for (const K of [1, 3, 33, 127]) {
      if (M * N * K > 300_000) continue;
      await checkMatmul({ Z: 1, M, N, K, la: 'row', lb: 'row' }, seed++);
    }
  });

  it('reads transposed and strided operands in place (every tile loader)', async () => {
    const layouts: Layout[] = ['row', 'col', 'strided'];
    let seed = 100;
    for (const la of layouts) for (const lb of layouts) {
      await checkMatmul({ Z: 2, M: 33, N: 65, K: 17, la, lb }, seed++); // scalar loaders
      await checkMatmul({ Z: 2, M: 68, N: 36, K: 20, la, lb }, seed++); // vec4 loaders where the layout allows
    }
  });

  it('falls back from vec4 when the offset is not a multiple of 4', async () => {
    await checkMatmul({ Z: 1, M: 8, N: 8, K: 8, la: 'row', lb: 'row', offA: 1, offB: 2 }, 7);
    await checkMatmul({ Z: 1, M: 8, N: 8, K: 8, la: 'col', lb: 'col', offA: 4, offB: 3 }, 8);
  });

  it('batches, with a broadcast (stride 0) operand on either side', async () => {
    await checkMatmul({ Z: 3, M: 17, N: 33, K: 65, la: 'row', lb: 'row', bcastB: true }, 11);
    await checkMatmul({ Z: 5, M: 3, N: 17, K: 8, la: 'col', lb: 'col', bcastA: true }, 12);
    await checkMatmul({ Z: 4, M: 64, N: 64, K: 64, la: 'row', lb: 'col' }, 13);
  });

  it('fuses the bias', async () => {
    await checkMatmul({ Z: 2, M: 17, N: 33, K: 9, la: 'row', lb: 'col', bias: true }, 20);
    await checkMatmul({ Z: 1, M: 5, N: 7, K: 3, la: 'row', lb: 'row', bias: false }, 21);
  });
});

interface ConvCase { N: number; C: number; H: number; W: number; O: number; KH: number; KW: number; stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number; bias?: boolean }

/** Output size of a convolution along one axis. */
const outSize = (n: number, k: number, s: number, p: number, d: number): number => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

/** Calls fn for every (b, o, oh, ow, c, kh, kw) term of the convolution with an in-image input pixel. */
function forEachTap(c: ConvCase, Ho: number, Wo: number, fn: (xi: number, wi: number, yi: number) => void): void {
  const Cg = c.C / c.groups, Og = c.O / c.groups;
  for (let b = 0; b < c.N; b++) for (let o = 0; o < c.O; o++) for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
    const g = Math.floor(o / Og);
    for (let ci = 0; ci < Cg; ci++) for (let kh = 0; kh < c.KH; kh++) for (let kw = 0; kw < c.KW; kw++) {
      const ih = oh * c.stride[0] - c.padding[0] + kh * c.dilation[0];
      const iw = ow * c.stride[1] - c.padding[1] + kw * c.dilation[1];
      if (ih < 0 || iw < 0 || ih >= c.H || iw >= c.W) continue;
      const xi = ((b * c.C + g * Cg + ci) * c.H + ih) * c.W + iw;
      const wi = ((o * Cg + ci) * c.KH + kh) * c.KW + kw;
      fn(xi, wi, ((b * c.O + o) * Ho + oh) * Wo + ow);
    }
  }
}

/**
 * Runs the three conv kernels on seeded data and compares them with float64 loops. Without a
 * plan the backend picks the kernels (as for the adapter at hand); with one, the launches of that
 * plan run whatever the adapter, so the GEMM and every direct variant are tested everywhere.
 */
async function checkConv(c: ConvCase, seed: number, plan?: ConvPlan, half = false): Promise<void> {
  const Ho = outSize(c.H, c.KH, c.stride[0], c.padding[0], c.dilation[0]);
  const Wo = outSize(c.W, c.KW, c.stride[1], c.padding[1], c.dilation[1]);
  const xs = [c.N, c.C, c.H, c.W], ws = [c.O, c.C / c.groups, c.KH, c.KW], ys = [c.N, c.O, Ho, Wo];
  const n = (s: number[]): number => s.reduce((p, q) => p * q, 1);
  const geo = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
  const x = randomBuffer(n(xs) + 1, seed), w = randomBuffer(n(ws), seed + 1), gy = randomBuffer(n(ys), seed + 2), bias = randomBuffer(c.O, seed + 3);
  // x sits at offset 1 to exercise the offsets in the uniforms
  const xv = h.view(x.buf, xs, { offset: 1 }), wv = h.view(w.buf, ws), gyv = h.view(gy.buf, ys), bv = h.view(bias.buf, [c.O]);
  const y = h.zeros(n(ys)), gx = h.zeros(n(xs)), gw = h.zeros(n(ws));
  const yv = h.view(y, ys), gxv = h.view(gx, xs), gwv = h.view(gw, ws);
  if (plan) {
    const ctx: GpuContext = half ? { ...h.ctx, gemmHalf: 'emulate' } : h.ctx;
    const launches = [
      ...convLaunches('conv2d', 'FORWARD', geo, xv, wv, yv, c.bias ? bv : undefined, c.bias ? [xv, wv, bv] : [xv, wv], yv, ctx, plan),
      ...convLaunches('conv2dBackwardInput', 'BACKWARD_INPUT', geo, gxv, wv, gyv, undefined, [gyv, wv], gxv, ctx, plan),
      ...convLaunches('conv2dBackwardWeight', 'BACKWARD_WEIGHT', geo, xv, gwv, gyv, undefined, [xv, gyv], gwv, ctx, plan),
    ];
    for (const l of launches) h.backend.launch(l);
  } else {
    h.run('conv2d', { ...geo, bias: !!c.bias }, c.bias ? [xv, wv, bv] : [xv, wv], [yv]);
    h.run('conv2dBackwardInput', geo, [gyv, wv], [gxv]);
    h.run('conv2dBackwardWeight', geo, [xv, gyv], [gwv]);
  }
  const wantY = new Float64Array(n(ys)), wantGx = new Float64Array(n(xs)), wantGw = new Float64Array(n(ws));
  if (c.bias) for (let i = 0; i < wantY.length; i++) wantY[i] = bias.data[Math.floor(i / (Ho * Wo)) % c.O];
  // f16 tiles (emulated): every GEMM operand rounded to f16
  const r = half ? round16 : (v: number): number => v;
  forEachTap(c, Ho, Wo, (xi, wi, yi) => {
    wantY[yi] += r(x.data[1 + xi]) * r(w.data[wi]);
    wantGx[xi] += r(gy.data[yi]) * r(w.data[wi]);
    wantGw[wi] += r(gy.data[yi]) * r(x.data[1 + xi]);
  });
  const what = `conv ${JSON.stringify(c)}${plan ? ` plan ${JSON.stringify(plan)}` : ''}${half ? ' f16 tiles' : ''}`;
  expectClose(await h.read(y), wantY, 1e-4, 1e-5, `${what} y`);
  expectClose(await h.read(gx), wantGx, 1e-4, 1e-5, `${what} gx`);
  expectClose(await h.read(gw), wantGw, 2e-4, 1e-5, `${what} gw`);
}

suite('webgpu conv2d (forward, backward input, backward weight)', () => {
  const base = { N: 2, C: 3, H: 9, W: 7, O: 5, KH: 3, KW: 3, stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 } as ConvCase;
  it('plain, with bias', async () => {
    await checkConv({ ...base, bias: true }, 1);
    await checkConv({ ...base, N: 1, C: 1, O: 1, H: 1, W: 1, KH: 1, KW: 1 }, 2);
  });
  it('stride, padding, dilation', async () => {
    await checkConv({ ...base, stride: [2, 3], padding: [1, 2] }, 3);
    await checkConv({ ...base, dilation: [2, 1], padding: [2, 1], bias: true }, 4);
    await checkConv({ ...base, H: 17, W: 13, KH: 5, KW: 2, stride: [3, 2], padding: [2, 1], dilation: [2, 3] }, 5);
  });
  it('groups, including depthwise', async () => {
    await checkConv({ ...base, C: 4, O: 6, groups: 2, padding: [1, 1], bias: true }, 6);
    await checkConv({ ...base, C: 5, O: 10, groups: 5, stride: [2, 2], padding: [1, 1] }, 7);
  });
  it('split-K weight gradient: few output tiles, long K (batch x pixels)', async () => {
    await checkConv({ ...base, N: 4, C: 2, O: 3, H: 40, W: 40, padding: [1, 1] }, 9);
    await checkConv({ ...base, N: 3, C: 4, O: 6, H: 31, W: 29, groups: 2, stride: [2, 1], dilation: [1, 2], padding: [2, 2] }, 10);
  });
  it('more channels than one tile', async () => {
    await checkConv({ ...base, N: 2, C: 17, O: 70, H: 5, W: 6, padding: [1, 1], bias: true }, 8);
  });
});

suite('webgpu conv2d, every kernel variant whatever the adapter', () => {
  // the implicit GEMM (with and without split-K, 64 and 128 tiles) and the direct kernels with 4 and 8 channels per
  // thread and the workgroup sizes the plans use; the direct kernels' own edge cases: one input
  // channel, channel counts that fill no block (5, 9, 13), rows narrower than a 4-column block,
  // padding wider than the kernel, stride (the input gradient's STRIDED gather), dilation (no
  // sliding window), groups, batch 1
  const plans: ConvPlan[] = [
    { kernel: 'gemm', splitK: false },
    { kernel: 'gemm', splitK: true },
    { kernel: 'gemm', splitK: false, tile: 128 },
    { kernel: 'gemm', splitK: true, tile: 128 },
    { kernel: 'direct', wg: 64, ch: 4 },
    { kernel: 'direct', wg: 16, ch: 8 },
    { kernel: 'direct', wg: 32, ch: 8 },
  ];
  const base = { N: 2, C: 3, H: 9, W: 7, O: 5, KH: 3, KW: 3, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 } as ConvCase;
  const cases: ConvCase[] = [
    { ...base, C: 1, O: 9, H: 11, W: 13, bias: true },                                   // C_in = 1 (first layers)
    { ...base, C: 9, O: 13, H: 6, W: 5 },                                               // channels past a block, both ways
    { ...base, N: 1, C: 2, O: 3, H: 3, W: 2, padding: [2, 3], bias: true },              // narrow rows, wide padding
    { ...base, C: 4, O: 6, H: 10, W: 9, stride: [2, 2], padding: [0, 1] },              // stride 2: STRIDED input gradient
    { ...base, C: 3, O: 8, H: 12, W: 11, stride: [1, 3], dilation: [2, 2], padding: [2, 1], bias: true }, // stride on one axis, dilation
    { ...base, C: 6, O: 9, H: 8, W: 8, groups: 3, KH: 2, KW: 4, padding: [0, 2] },      // groups, even kernel
    { ...base, N: 3, C: 16, O: 16, H: 7, W: 7, KH: 1, KW: 1, padding: [0, 0] },         // 1x1, full blocks
    { ...base, N: 4, C: 2, O: 12, H: 17, W: 33 },                                       // long rows of the weight-gradient sum
    { ...base, N: 1, C: 3, O: 130, H: 5, W: 4 },                                        // more output channels than a 128 tile
  ];
  for (const plan of plans) {
    it(`${plan.kernel} ${JSON.stringify(plan)}`, async () => {
      let seed = 100;
      for (const c of cases) await checkConv(c, seed++, plan);
    });
  }
  it('implicit GEMM with f16 tiles (medium precision, emulated): operands rounded to f16', async () => {
    let seed = 200;
    for (const tile of [64, 128] as const) for (const splitK of [false, true]) for (const c of cases.slice(0, 4)) await checkConv(c, seed++, { kernel: 'gemm', splitK, tile }, true);
  });
});


/** Seeded float32 values in [lo, hi). */
function f32s(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}
const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
/** A contiguous operand of seeded values, optionally at an offset inside a larger buffer. */
function rand(shape: number[], seed: number, offset = 0, lo = -1, hi = 1): Operand {
  return { data: f32s(offset + numelOf(shape), seed, lo, hi), shape, offset };
}
/** A zero-filled contiguous output (the buffer one element longer, to catch overruns). */
const zerosOf = (shape: number[], offset = 0, int = false): Operand =>
  ({ data: int ? new Int32Array(offset + numelOf(shape) + 1) : new Float32Array(offset + numelOf(shape) + 1), shape, offset });
const ints = (vals: number[], shape = [vals.length]): Operand => ({ data: Int32Array.from(vals), shape });

suite('webgpu pooling', () => {
  const windows = [
    { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] },
    { kernel: [3, 3], stride: [1, 2], padding: [1, 1], dilation: [1, 1] },
    { kernel: [3, 2], stride: [2, 1], padding: [1, 1], dilation: [2, 3] },
    { kernel: [1, 1], stride: [3, 3], padding: [0, 0], dilation: [1, 1] },
    // overlapping windows and cells cut by the padding / the image edge (max backward's cell kernel)
    { kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1] },
    { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1] },
    { kernel: [2, 3], stride: [2, 2], padding: [1, 0], dilation: [2, 1] },
    { kernel: [4, 4], stride: [2, 1], padding: [2, 2], dilation: [1, 1] },
    { kernel: [3, 2], stride: [3, 2], padding: [1, 1], dilation: [1, 1] },
  ] as const;
  const out = (n: number, k: number, s: number, p: number, d: number): number => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

  it('maxPool2d and its backward (argmax, NaN and -inf, padding)', async () => {
    let seed = 1;
    for (const w of windows) {
      const [N, C, H, W] = [2, 3, 11, 9];
      const Ho = out(H, w.kernel[0], w.stride[0], w.padding[0], w.dilation[0]), Wo = out(W, w.kernel[1], w.stride[1], w.padding[1], w.dilation[1]);
      const x = rand([N, C, H, W], seed++, 1);
      (x.data as Float32Array)[5] = NaN;
      (x.data as Float32Array)[40] = -Infinity;
      const cfg = { kernel: [...w.kernel], stride: [...w.stride], padding: [...w.padding], dilation: [...w.dilation] } as never;
      await vsCpu(h, 'maxPool2d', cfg, [x], [zerosOf([N, C, Ho, Wo], 2), zerosOf([N, C, Ho, Wo], 0, true)], [0, 0], `maxPool2d ${JSON.stringify(w)}`);
      // the backward needs a real argmax: take the CPU's (the forward just matched it)
      const am = new Int32Array(N * C * Ho * Wo);
      const yd = new Float32Array(N * C * Ho * Wo);
      const { cpuRoutines } = await import('../../src/backend/cpu/routines/index.js');
      cpuRoutines.maxPool2d(cfg, [{ ...x, data: x.data, buf: { numel: x.data.length }, dtype: 'float32', strides: rowMajor(x.shape), offset: 1 }],
        [{ buf: { numel: yd.length }, data: yd, dtype: 'float32', shape: [N, C, Ho, Wo], strides: rowMajor([N, C, Ho, Wo]), offset: 0 },
          { buf: { numel: am.length }, data: am, dtype: 'int32', shape: [N, C, Ho, Wo], strides: rowMajor([N, C, Ho, Wo]), offset: 0 }]);
      // both kernels: one thread per stride cell (strides <= 2) and one per pixel
      const gy = rand([N, C, Ho, Wo], seed++);
      for (const cell of w.stride[0] <= 2 && w.stride[1] <= 2 ? [true, false] : [false]) {
        const launcher: Launcher = ([g, a], [gx]) => maxPool2dBackwardLaunches(cfg, g, a, gx, h.ctx, cell);
        await vsCpu(h, 'maxPool2dBackward', cfg, [gy, { data: am, shape: [N, C, Ho, Wo] }], [zerosOf([N, C, H, W], 1)], [1e-6, 1e-6], `maxPool2dBackward ${JSON.stringify(w)} cell ${cell}`, launcher);
      }
    }
  });

  it('avgPool2d and its backward, with and without countIncludePad', async () => {
    let seed = 10;
    for (const w of windows) for (const countIncludePad of [true, false]) {
      const [N, C, H, W] = [2, 2, 10, 7];
      const Ho = out(H, w.kernel[0], w.stride[0], w.padding[0], 1), Wo = out(W, w.kernel[1], w.stride[1], w.padding[1], 1);
      const cfg = { kernel: [...w.kernel], stride: [...w.stride], padding: [...w.padding], countIncludePad } as never;
      const what = `avgPool2d ${JSON.stringify(w)} ${countIncludePad}`;
      await vsCpu(h, 'avgPool2d', cfg, [rand([N, C, H, W], seed++, 3)], [zerosOf([N, C, Ho, Wo])], [1e-6, 1e-6], what);
      await vsCpu(h, 'avgPool2dBackward', cfg, [rand([N, C, Ho, Wo], seed++)], [zerosOf([N, C, H, W], 2)], [1e-6, 1e-6], `${what} backward`);
    }
  });
});

const ROW: [number, number] = [1e-6, 2e-5];

/**
 * The layouts of the row routines (src/backend/webgpu/routines/norm.ts rowPlan): a software
 * adapter gets one thread per row up to THREAD_ROW_MAX; with subgroup rows on (and one fixed
 * subgroup size) one subgroup per row; else one workgroup per row. Each is checked here whatever
 * the adapter's defaults are (the subgroup one where the device has subgroups of one size).
 */
const SUBGROUP = h?.ctx.subgroupSize;
const ROW_VARIANTS: [string, GpuContext][] = [
  ['thread-per-row', { ...h?.ctx, software: true } as GpuContext],
  ['workgroup-per-row', { ...h?.ctx, software: false, subgroupSize: undefined } as GpuContext],
  ...(SUBGROUP ? [['subgroup-per-row', { ...h?.ctx, software: false, subgroupSize: SUBGROUP } as GpuContext] as [string, GpuContext]] : []),
];

suite('webgpu softmax and cross-entropy', () => {
  const sizes: [number, number][] = [[1, 1], [3, 3], [5, 17], [4, 31], [4, 33], [3, 65], [70, 100], [2, 127], [3, 256], [3, 300], [2, 1000], [1100, 5]];

  for (const [variant, ctx] of ROW_VARIANTS) {
    it(`${variant}: softmax / log-softmax and backward on odd row lengths, offsets, large logits`, async () => {
      let seed = 1;
      for (const log of [false, true]) for (const [R, D] of sizes) {
        const x = rand([R, D], seed++, 3, -8, 8);
        await vsCpu(h, 'softmax', { log }, [x], [zerosOf([R, D], 1)], ROW, `${variant} softmax ${log} ${R}x${D}`, ctx);
        const y = rand([R, D], seed++, 0, 0, 1);
        await vsCpu(h, 'softmaxBackward', { log }, [y, rand([R, D], seed++, 2)], [zerosOf([R, D])], ROW, `${variant} softmaxBackward ${log} ${R}x${D}`, ctx);
      }
      const big = rand([2, 40], 99, 0, 990, 1000);
      await vsCpu(h, 'softmax', { log: true }, [big], [zerosOf([2, 40])], ROW, `${variant} log-softmax of logits near 1000`, ctx);
    });

    it(`${variant}: causal softmax (row i of each [L, D] matrix reads columns j <= i)`, async () => {
      let seed = 700;
      for (const log of [false, true]) for (const [B, L, D] of [[1, 1, 1], [2, 3, 5], [3, 7, 7], [2, 9, 4], [1, 33, 33], [2, 5, 300]]) {
        const x = rand([B, L, D], seed++, 3, -8, 8);
        await vsCpu(h, 'softmax', { log, causal: true }, [x], [zerosOf([B, L, D], 1)], ROW, `${variant} causal softmax ${log} ${B}x${L}x${D}`, ctx);
      }
    });

    it(`${variant}: NaN, +inf and all -inf rows give NaN; -inf entries give 0`, async () => {
      for (const D of [1, 3, 37, 100]) {
        const x = rand([6, D], 7, 0, -3, 3);
        const d = x.data as Float32Array;
        d[D - 1] = NaN; // row 0
        d[D + D - 1] = Infinity; // row 1
        for (let j = 0; j < D; j++) d[2 * D + j] = -Infinity; // row 2
        d[3 * D] = -Infinity; // row 3: one -inf entry (all of it when D is 1)
        for (let j = 0; j < D; j += 2) d[5 * D + j] = -Infinity; // row 5: masked every other entry
        for (const log of [false, true]) await vsCpu(h, 'softmax', { log }, [x], [zerosOf([6, D])], ROW, `${variant} softmax specials ${log} D=${D}`, ctx);
        // cross-entropy on the same rows: targets on masked and unmasked entries
        const target = ints([0, 0, 0, D - 1, -100, D - 1]);
        await vsCpu(h, 'crossEntropy', { ignoreIndex: -100 }, [x, target], [zerosOf([6], 1)], ROW, `${variant} crossEntropy specials D=${D}`, ctx);
        await vsCpu(h, 'crossEntropyBackward', { ignoreIndex: -100 }, [x, target, rand([6], 8)], [zerosOf([6, D], 1)], ROW, `${variant} crossEntropyBackward specials D=${D}`, ctx);
      }
    });

    it(`${variant}: crossEntropy and backward: ignoreIndex, out-of-range targets, odd sizes`, async () => {
      let seed = 40;
      for (const [R, D] of [[1, 1], [6, 3], [6, 31], [6, 33], [70, 100], [5, 300]] as [number, number][]) {
        const logits = rand([R, D], seed++, 1, -5, 5);
        // valid, ignored (-100), out of range (D and -1); the first row always valid
        const t = Array.from({ length: R }, (_, r) => [r % D, -100, D, -1, (3 * r) % D, 0][r % 6]);
        const target = ints(t);
        await vsCpu(h, 'crossEntropy', { ignoreIndex: -100 }, [logits, target], [zerosOf([R], 1)], ROW, `${variant} crossEntropy ${R}x${D}`, ctx);
        await vsCpu(h, 'crossEntropyBackward', { ignoreIndex: -100 }, [logits, target, rand([R], seed++)], [zerosOf([R, D])], ROW, `${variant} crossEntropyBackward ${R}x${D}`, ctx);
      }
      // an ignoreIndex inside the class range
      await vsCpu(h, 'crossEntropy', { ignoreIndex: 2 }, [rand([4, 5], 3), ints([0, 2, 4, 2])], [zerosOf([4])], ROW, `${variant} crossEntropy ignoreIndex=2`, ctx);
      await vsCpu(h, 'crossEntropyBackward', { ignoreIndex: 2 }, [rand([4, 5], 4), ints([0, 2, 4, 2]), rand([4], 5)], [zerosOf([4, 5], 1)], ROW, `${variant} crossEntropyBackward ignoreIndex=2`, ctx);
      // the upstream gradient broadcast (stride 0: a mean's one value, no copy) and strided
      const bcast: Operand = { data: Float32Array.of(9, 0.37, 9), shape: [7], strides: [0], offset: 1 };
      await vsCpu(h, 'crossEntropyBackward', { ignoreIndex: -100 }, [rand([7, 65], 6), ints([0, 64, 3, 9, 17, 2, 40]), bcast], [zerosOf([7, 65])], ROW, `${variant} crossEntropyBackward broadcast gloss`, ctx);
      const strided: Operand = { data: f32s(16, 7, -1, 1), shape: [7], strides: [2], offset: 2 };
      await vsCpu(h, 'crossEntropyBackward', { ignoreIndex: -100 }, [rand([7, 33], 8), ints([0, 32, 3, 9, 17, 2, 30]), strided], [zerosOf([7, 33])], ROW, `${variant} crossEntropyBackward strided gloss`, ctx);
    });
  }
});

suite('webgpu layerNorm', () => {
  for (const [variant, ctx] of ROW_VARIANTS) {
    it(`${variant}: forward and backward, affine or not, on odd row lengths`, async () => {
      let seed = 1;
      for (const affine of [true, false]) for (const [R, D] of [[1, 1], [3, 3], [5, 17], [4, 31], [4, 33], [4, 65], [20, 100], [3, 127], [3, 256], [2, 700], [70, 33], [1100, 16]] as [number, number][]) {
        const what = `${variant} layerNorm ${affine} ${R}x${D}`;
        // a large common offset: the two-pass variance must not cancel
        const x = rand([R, D], seed++, 2, 99, 101);
        const params = affine ? [rand([D], seed++, 0, 0.5, 1.5), rand([D], seed++, 1)] : [];
        await vsCpu(h, 'layerNorm', { eps: 1e-5, affine }, [x, ...params], [zerosOf([R, D], 1), zerosOf([R, 2]), zerosOf([R], 3)], [1e-4, 1e-4], what, ctx);
        // the mean as the routine's pair (m0, m1): m0 near 100, m1 a small correction
        const mean: Operand = { data: Float32Array.from({ length: 2 * R }, (_, i) => (i % 2 ? 1e-5 * ((i * 7) % 5 - 2) : 99.5 + ((i * 13) % 11) / 11)), shape: [R, 2], offset: 0 };
        const rstd = rand([R], seed++, 1, 0.5, 2);
        const outs = affine ? [zerosOf([R, D]), zerosOf([D], 1), zerosOf([D])] : [zerosOf([R, D])];
        const gy = rand([R, D], seed++);
        await vsCpu(h, 'layerNormBackward', { affine }, [x, gy, mean, rstd, ...params.slice(0, 1)], outs, [1e-4, 1e-4], `${what} backward`, ctx);
        // the gradient x has from elsewhere, added in the same pass (read at an offset)
        const gres = rand([R, D], seed++, 3);
        await vsCpu(h, 'layerNormBackward', { affine, residual: true }, [x, gy, mean, rstd, ...params.slice(0, 1), gres], outs, [1e-4, 1e-4], `${what} backward + residual`, ctx);
      }
    });
  }

  it('row layouts: one thread per short row on emulated adapters, subgroups only at a fixed subgroup size, workgroups whole subgroups', () => {
    // the choice is a heuristic (norm.ts rowPlan); this holds what retuning must keep
    for (const software of [false, true]) for (const subgroupSize of [undefined, 4, 16, 32, 64, 128]) for (const D of [1, 32, 255, THREAD_ROW_MAX, THREAD_ROW_MAX + 1, 4096]) for (const R of [1, 128, 4096]) {
      const p = rowPlan(R, D, { software, subgroupSize } as GpuContext), what = `R ${R} D ${D} software ${software} subgroup ${subgroupSize}`;
      expect(Number.isInteger(Math.log2(p.wg)) && p.wg >= 16 && p.wg <= 256, what).toBe(true);
      if (p.kernel === 'subgroup') expect(subgroupSize !== undefined && p.wg % subgroupSize === 0, what).toBe(true);
      if (p.kernel === 'thread') expect(software && D <= THREAD_ROW_MAX, what).toBe(true);
      if (software && D <= THREAD_ROW_MAX) expect(p.kernel, what).toBe('thread');
      if (!software && subgroupSize === undefined) expect(p.kernel, what).toBe('group');
    }
  });

});

suite('webgpu gather / indexSelect / scatterAdd / indexAdd / embeddingBackward', () => {
  it('gather along every dim, strided x, out-of-range indices read 0', async () => {
    let seed = 1;
    const xs = [4, 5, 6];
    for (let dim = 0; dim < 3; dim++) {
      const ishape = [3, 4, 5];
      const r = rng(seed++);
      const idx = Array.from({ length: numelOf(ishape) }, () => Math.floor(r() * (xs[dim] + 2)) - 1);
      await vsCpu(h, 'gather', { dim }, [rand(xs, seed++, 1), ints(idx, ishape)], [zerosOf(ishape)], [0, 0], `gather dim ${dim}`);
      // x as a transposed view: strides of a [6, 5, 4] buffer, permuted
      const xt: Operand = { data: f32s(120, seed++), shape: xs, strides: [1, 4, 20] };
      await vsCpu(h, 'gather', { dim }, [xt, ints(idx, ishape)], [zerosOf(ishape, 2)], [0, 0], `gather dim ${dim} strided x`);
    }
  });

  it('indexSelect (embedding rows) along dims 0 and 1', async () => {
    const idx = ints([3, 0, 0, 7, 2, -1, 9]);
    await vsCpu(h, 'indexSelect', { dim: 0 }, [rand([8, 5], 1, 1), idx], [zerosOf([7, 5])], [0, 0], 'indexSelect dim 0');
    await vsCpu(h, 'indexSelect', { dim: 1 }, [rand([2, 8, 3], 2), idx], [zerosOf([2, 7, 3], 1)], [0, 0], 'indexSelect dim 1');
  });

  it('scatterAdd and indexAdd accumulate repeated indices into existing values', async () => {
    const ishape = [4, 6];
    const r = rng(5);
    for (let dim = 0; dim < 2; dim++) {
      const idx = Array.from({ length: 24 }, () => Math.floor(r() * 5) - (dim ? 0 : 1)); // some -1
      await vsCpu(h, 'scatterAdd', { dim }, [ints(idx, ishape), rand(ishape, 6 + dim)], [rand([5, 7], 8 + dim, 1)], [1e-5, 1e-5], `scatterAdd dim ${dim}`);
    }
    // many rows hitting few embedding slots: contention on the compare-exchange loop
    const many = ints(Array.from({ length: 300 }, (_, i) => (i * 7) % 3));
    await vsCpu(h, 'indexAdd', { dim: 0 }, [many, rand([300, 4], 11)], [rand([5, 4], 12)], [1e-5, 1e-5], 'indexAdd dim 0');
    await vsCpu(h, 'indexAdd', { dim: 1 }, [ints([2, 0, 2, 9, -3]), rand([3, 5, 2], 13)], [rand([3, 4, 2], 14, 2)], [1e-5, 1e-5], 'indexAdd dim 1');
  });

  it('embeddingBackward writes every row (no zero-fill), sums repeated indices in index order: equal to the CPU bit for bit', async () => {
    // one thread per column and all rows (software adapters), and a thread per column and row
    // block (GPUs: 1 row, or 2 where V·C passes 65,536 threads)
    for (const [mode, c] of [['software', { ...h.ctx, software: true }], ['gpu', { ...h.ctx, software: false }]] as [string, GpuContext][]) {
      let seed = 20;
      for (const [V, C, N] of [[1, 1, 1], [5, 3, 7], [65, 64, 256], [7, 33, 1000], [300, 300, 500], [10, 5, 0]] as [number, number, number][]) {
        const r = rng(seed++);
        // repeated rows, an unused row or more, and (where N > 5) indices outside [0, V): skipped
        const idx = Array.from({ length: N }, (_, i) => (i % 11 === 5 ? (i % 2 ? V : -1) : Math.floor(r() * Math.max(1, V - 1))));
        // the output starts as garbage: every row must be written
        await vsCpu(h, 'embeddingBackward', {}, [ints(idx, [N]), rand([N, C], seed++)], [rand([V, C], seed++, 2)], [0, 0], `${mode} embeddingBackward V ${V} C ${C} N ${N}`, c);
      }
      // g as a transposed view ([C, N] buffer), the index strided
      const N = 40, C = 9, V = 6;
      const gT: Operand = { data: f32s(N * C + 1, 30), shape: [N, C], strides: [1, N], offset: 1 };
      const idx2: Operand = { data: Int32Array.from({ length: 2 * N }, (_, i) => (i * 5) % V), shape: [N], strides: [2] };
      await vsCpu(h, 'embeddingBackward', {}, [idx2, gT], [rand([V, C], 31, 3)], [0, 0], `${mode} embeddingBackward strided`, c);
    }
  });
});

suite('webgpu routines past the per-dimension workgroup limit', () => {
  // a pretend limit of 4 workgroups per dimension: batches split into launches, and every
  // 1-D problem runs on a 2-D grid with a ragged tail of idle workgroups
  const ctx = { limits: { maxComputeWorkgroupsPerDimension: 4 } as GPUSupportedLimits, features: new Set<string>() };
  it('matmul splits the batch and the tile grid', async () => {
    const a: Operand = { data: f32s(9 * 130 * 20, 1), shape: [9, 130, 20] };
    const b: Operand = { data: f32s(20 * 200, 2), shape: [9, 20, 200], strides: [0, 200, 1] };
    await vsCpu(h, 'matmul', { bias: false }, [a, b], [zerosOf([9, 130, 200])], [1e-4, 1e-5], 'matmul limit 4', ctx);
  });
  it('conv, pooling, rows and indexing on 2-D grids', async () => {
    const geo = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2 } as never;
    await vsCpu(h, 'conv2d', { ...(geo as object), bias: true } as never, [rand([2, 4, 9, 9], 1), rand([6, 2, 3, 3], 2), rand([6], 3)], [zerosOf([2, 6, 9, 9])], [1e-4, 1e-5], 'conv2d limit 4', ctx);
    await vsCpu(h, 'avgPool2d', { kernel: [2, 2], stride: [1, 1], padding: [0, 0], countIncludePad: true }, [rand([2, 3, 17, 13], 4)], [zerosOf([2, 3, 16, 12])], [1e-6, 1e-6], 'avgPool2d limit 4', ctx);
    await vsCpu(h, 'softmax', { log: false }, [rand([13, 40], 5)], [zerosOf([13, 40])], ROW, 'softmax limit 4', ctx);
    // one thread per row: 200 rows in 13 groups of 16
    const sw = { ...ctx, software: true };
    await vsCpu(h, 'softmax', { log: false }, [rand([200, 40], 5)], [zerosOf([200, 40])], ROW, 'thread-per-row softmax limit 4', sw);
    await vsCpu(h, 'layerNorm', { eps: 1e-5, affine: false }, [rand([200, 7], 6)], [zerosOf([200, 7]), zerosOf([200, 2]), zerosOf([200])], [1e-4, 1e-4], 'thread-per-row layerNorm limit 4', sw);
    await vsCpu(h, 'layerNormBackward', { affine: true }, [rand([5, 150], 6), rand([5, 150], 7), rand([5, 2], 8), rand([5], 9, 0, 0.5, 2), rand([150], 10)],
      [zerosOf([5, 150]), zerosOf([150]), zerosOf([150])], [1e-4, 1e-4], 'layerNormBackward limit 4', ctx);
    const r = rng(11);
    await vsCpu(h, 'gather', { dim: 1 }, [rand([30, 50], 12), ints(Array.from({ length: 1500 }, () => Math.floor(r() * 50)), [30, 50])], [zerosOf([30, 50])], [0, 0], 'gather limit 4', ctx);
  });
});

suite('webgpu scans and sorts', () => {
  // rows shorter than, equal to and longer than one tile (64 threads x 4) and the thread-per-row
  // cut (32), odd row counts, offsets; sums of values in [-1, 1) accumulate f32 rounding in a
  // different order than the CPU's float64 sum: atol grows with the row
  const lengths = [1, 5, 31, 32, 33, 255, 256, 257, 1000, 2049];
  it('scan: sum, prod, int32 and affine, forwards and reversed', async () => {
    let seed = 1;
    for (const D of lengths) {
      for (const R of [1, 3]) {
        for (const reverse of [false, true]) {
          const what = `${R}x${D} reverse ${reverse}`;
          const tol: [number, number] = [2e-6 * D + 1e-6, 1e-5];
          await vsCpu(h, 'scan', { op: 'sum', reverse }, [rand([R, D], seed++, 1)], [zerosOf([R, D], 2)], tol, `scan sum ${what}`);
          // factors near 1 keep long products in range
          await vsCpu(h, 'scan', { op: 'prod', reverse }, [rand([R, D], seed++, 0, 0.97, 1.03)], [zerosOf([R, D])], [1e-6, 2e-6 * D + 1e-5], `scan prod ${what}`);
          const r = rng(seed++);
          const iv = ints(Array.from({ length: R * D }, () => Math.floor(r() * 2e9) - 1e9), [R, D]); // sums wrap
          await vsCpu(h, 'scan', { op: 'sum', reverse }, [iv], [zerosOf([R, D], 1, true)], [0, 0], `scan int sum ${what}`);
          await vsCpu(h, 'scan', { op: 'prod', reverse }, [iv], [zerosOf([R, D], 0, true)], [0, 0], `scan int prod ${what}`);
          await vsCpu(h, 'scan', { op: 'affine', reverse }, [rand([R, D], seed++, 0, 0.5, 1), rand([R, D], seed++, 3)], [zerosOf([R, D])], [4e-6 * D + 1e-6, 1e-5], `scan affine ${what}`);
        }
      }
    }
  });

  it('sort: stable, NaN largest, -0 equal to 0, ascending and descending, rows past one block', async () => {
    const specials = [NaN, -Infinity, Infinity, -0, 0, 1, -1, 0.5, 0.5, NaN, -0, 3];
    let seed = 100;
    for (const D of [1, 2, 5, 17, 100, 511, 512, 513, 1000, 1025, 2100]) {
      for (const R of [1, 3]) {
        const r = rng(seed++);
        // a few distinct values, so most keys tie; specials sprinkled in
        const fv = Float32Array.from({ length: R * D + 1 }, () => (r() < 0.1 ? specials[Math.floor(r() * specials.length)] : Math.floor(r() * 7) - 3 + 0.25));
        const iv = Int32Array.from({ length: R * D }, () => (r() < 0.05 ? (r() < 0.5 ? -(2 ** 31) : 2 ** 31 - 1) : Math.floor(r() * 9) - 4));
        for (const descending of [false, true]) {
          const what = `${R}x${D} descending ${descending}`;
          await vsCpu(h, 'sort', { descending }, [{ data: fv, shape: [R, D], offset: 1 }], [zerosOf([R, D], 1), zerosOf([R, D], 2, true)], [0, 0], `sort float ${what}`);
          await vsCpu(h, 'sort', { descending }, [{ data: iv, shape: [R, D] }], [zerosOf([R, D], 0, true), zerosOf([R, D], 0, true)], [0, 0], `sort int ${what}`);
        }
      }
    }
  });

  it('sampleCategorical: binary search of the cumulative weights, zero weights skipped', async () => {
    for (const D of [1, 2, 7, 100, 1000]) {
      for (const [R, S] of [[1, 1], [3, 50]]) {
        const r = rng(D + S);
        // a third of the weights zero, runs of zeros at either end too
        const w = Float32Array.from({ length: R * D }, (_, i) => (r() < 0.33 || i % D === 0 || i % D === D - 1 ? 0 : r()));
        for (let row = 0; row < R; row++) if (D > 0) w[row * D + Math.floor(r() * D)] = 0.5; // every row has a positive weight
        const cdf = new Float32Array(R * D);
        for (let row = 0; row < R; row++) for (let j = 0, s = 0; j < D; j++) cdf[row * D + j] = s = Math.fround(s + w[row * D + j]);
        // points across each row's total, its ends included (t = total: past every entry)
        const t = Float32Array.from({ length: R * S }, (_, i) => (i % 7 === 0 ? cdf[Math.floor(i / S) * D + D - 1] : i % 11 === 0 ? 0 : r() * cdf[Math.floor(i / S) * D + D - 1]));
        await vsCpu(h, 'sampleCategorical', {}, [{ data: cdf, shape: [R, D] }, { data: w, shape: [R, D] }, { data: t, shape: [R, S], offset: 0 }], [zerosOf([R, S], 1, true)], [0, 0], `sampleCategorical ${R}x${D}, ${S} draws`);
      }
    }
  });
});
