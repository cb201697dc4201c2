/**
 * The fused batchNorm (the `batchNorm` / `batchNormBackward` routines behind wt.batchNorm in
 * training mode) against: float64 references written here, the composed version it replaced
 * (mean / sub / square / mean / rsqrt / mul / add, differentiated by autograd op by op), and
 * finite differences (gradcheck). The CPU routines are also driven directly, below the Tensor
 * API, on views with offsets. WebGPU parity is in test/webgpu/routines-api.test.ts.
 *
 * Tolerances: forward atol 1e-5 / rtol 1e-4 (float32 stores of float64 math, values O(1));
 * gradients vs the composed version atol 1e-4 / rtol 1e-3 (the composed chain rounds every
 * intermediate to float32); gradcheck with its defaults (float64 on both sides).
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { cpuRoutines, type CpuView } from '../src/backend/cpu/routines/index.js';
import { expectClose, numelOf, randomTensor, randomValues, stridesOf } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

// ---- references --------------------------------------------------------------------------------

/** Per-channel float64 statistics of a row-major [N,C,...] array. */
function stats(v: ArrayLike<number>, shape: number[]): { mean: number[]; biased: number[]; unbiased: number[] } {
  const [N, C] = shape, inner = numelOf(shape.slice(2));
  const mean: number[] = [], biased: number[] = [], unbiased: number[] = [];
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < inner; i++) s += v[(n * C + c) * inner + i];
    const m = s / (N * inner);
    let q = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < inner; i++) q += (v[(n * C + c) * inner + i] - m) ** 2;
    mean.push(m);
    biased.push(q / (N * inner));
    unbiased.push(q / (N * inner - 1));
  }
  return { mean, biased, unbiased };
}

/** float64 forward and the gradients of Σ y·gy (gx, gw, gb) for training-mode batch norm. */
function reference(v: ArrayLike<number>, shape: number[], gy: ArrayLike<number>, eps: number, w?: ArrayLike<number>, b?: ArrayLike<number>) {
  const [N, C] = shape, inner = numelOf(shape.slice(2)), M = N * inner;
  const { mean, biased } = stats(v, shape);
  const is = biased.map((q) => 1 / Math.sqrt(q + eps));
  const ch = (i: number) => Math.floor(i / inner) % C;
  const xh = Array.from(v, (x, i) => (x - mean[ch(i)]) * is[ch(i)]);
  const y = xh.map((h, i) => h * (w ? w[ch(i)] : 1) + (b ? b[ch(i)] : 0));
  const gb = new Array<number>(C).fill(0), gw = new Array<number>(C).fill(0);
  xh.forEach((h, i) => {
    gb[ch(i)] += gy[i];
    gw[ch(i)] += gy[i] * h;
  });
  const gx = xh.map((h, i) => {
    const c = ch(i);
    return (w ? w[c] : 1) * is[c] * (gy[i] - gb[c] / M - (h * gw[c]) / M);
  });
  return { y, gx, gw, gb, mean, invstd: is };
}

/** The composed batch norm this routine replaced (training mode), differentiated op by op. */
function composed(x: wt.Tensor, w: wt.Tensor | null, b: wt.Tensor | null, eps = 1e-5): wt.Tensor {
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const bshape = x.shape.map((s, i) => (i === 1 ? s : 1));
  const mean = x.mean(axes, true);
  const d = x.sub(mean);
  let y = d.mul(d.square().mean(axes, true).add(eps).rsqrt());
  if (w) y = y.mul(w.reshape(bshape));
  if (b) y = y.add(b.reshape(bshape));
  return y;
}

const SHAPES: number[][] = [[17, 3], [2, 3, 5, 3], [4, 1, 3], [1, 5, 33], [3, 17, 1, 1], [65, 2], [2, 4, 7, 9]];

// ---- through the public API --------------------------------------------------------------------

forEachBackend((kind) => {
  describe('fused batchNorm (training)', () => {
    it('matches float64 forward and gradients on odd shapes, affine or not', async () => {
      for (const shape of SHAPES) {
        for (const affine of [true, false]) {
          const C = shape[1];
          const what = `${shape} affine ${affine}`;
          const [x, v] = randomTensor(shape, 100 + numelOf(shape), -2, 3, { requiresGrad: true });
          const [w, wv] = randomTensor([C], 101, 0.5, 1.5, { requiresGrad: true });
          const [b, bv] = randomTensor([C], 102, -1, 1, { requiresGrad: true });
          const [gy, gv] = randomTensor(shape, 103);
          const y = wt.batchNorm(x, null, null, affine ? w : null, affine ? b : null, { training: true });
          y.mul(gy).sum().backward();
          const ref = reference(v, shape, gv, 1e-5, affine ? wv : undefined, affine ? bv : undefined);
          expectClose(await y.data(), ref.y, 1e-5, 1e-4, `${what} y`);
          expectClose(await x.grad!.data(), ref.gx, 1e-5, 1e-4, `${what} gx`);
          if (affine) {
            expectClose(await w.grad!.data(), ref.gw, 1e-5, 1e-4, `${what} gw`);
            expectClose(await b.grad!.data(), ref.gb, 1e-5, 1e-4, `${what} gb`);
          } else {
            expect(w.grad).toBeNull();
          }
        }
      }
    });

    it('agrees with the composed version it replaced, values and gradients', async () => {
      for (const shape of SHAPES) {
        const C = shape[1];
        const run = async (f: (x: wt.Tensor, w: wt.Tensor, b: wt.Tensor) => wt.Tensor) => {
          const [x] = randomTensor(shape, 7 + numelOf(shape), -3, 1, { requiresGrad: true });
          const [w] = randomTensor([C], 8, 0.5, 1.5, { requiresGrad: true });
          const [b] = randomTensor([C], 9, -1, 1, { requiresGrad: true });
          const [gy] = randomTensor(shape, 10);
          const y = f(x, w, b);
          y.mul(gy).sum().backward();
          return Promise.all([y, x.grad!, w.grad!, b.grad!].map((t) => t.data()));
        };
        const fused = await run((x, w, b) => wt.batchNorm(x, null, null, w, b, { training: true }));
        const old = await run((x, w, b) => composed(x, w, b));
        ['y', 'gx', 'gw', 'gb'].forEach((k, i) => expectClose(fused[i], old[i], 1e-4, 1e-3, `${shape} ${k}`));
      }
    });

    it('updates the running statistics as PyTorch (unbiased variance, momentum)', async () => {
      for (const shape of [[17, 3], [2, 3, 5, 3], [4, 1, 3]]) {
        const C = shape[1];
        const [x, v] = randomTensor(shape, 60 + numelOf(shape), -2, 3);
        const rm = wt.tensor(Float32Array.from({ length: C }, (_, c) => 0.5 - c)), rv = wt.tensor(Float32Array.from({ length: C }, (_, c) => 1 + c));
        wt.batchNorm(x, rm, rv, null, null, { training: true, momentum: 0.3 });
        const st = stats(v, shape);
        expectClose(await rm.data(), st.mean.map((m, c) => 0.7 * (0.5 - c) + 0.3 * m), 1e-6, 1e-5, `runningMean ${shape}`);
        expectClose(await rv.data(), st.unbiased.map((u, c) => 0.7 * (1 + c) + 0.3 * u), 1e-6, 1e-5, `runningVar ${shape}`);
      }
    });

    it('one affine parameter alone; a non-contiguous input; a channel with a large offset', async () => {
      const shape = [3, 4, 5];
      const [x, v] = randomTensor(shape, 21);
      const [w, wv] = randomTensor([4], 22, 0.5, 2);
      const [b, bv] = randomTensor([4], 23);
      const gy = new Array(numelOf(shape)).fill(0);
      expectClose(await wt.batchNorm(x, null, null, w, null, { training: true }).data(), reference(v, shape, gy, 1e-5, wv).y, 1e-5, 1e-4, 'weight only');
      expectClose(await wt.batchNorm(x, null, null, null, b, { training: true }).data(), reference(v, shape, gy, 1e-5, undefined, bv).y, 1e-5, 1e-4, 'bias only');
      // a [N,C,L] view of a [C,N,L] tensor: the op copies it contiguous first
      const [xt, vt] = randomTensor([4, 3, 5], 24);
      const perm = Array.from({ length: 60 }, (_, i) => { const n = Math.floor(i / 20), c = Math.floor(i / 5) % 4, l = i % 5; return vt[(c * 3 + n) * 5 + l]; });
      expectClose(await wt.batchNorm(xt.permute([1, 0, 2]), null, null, null, null, { training: true }).data(), reference(perm, shape, gy, 1e-5).y, 1e-5, 1e-4, 'permuted');
      // values near 1000 with a spread of 1: two-pass statistics keep the variance accurate
      const big = Float32Array.from(randomValues(60, 25, 999, 1001));
      const yb = await wt.batchNorm(wt.tensor(big, { shape }), null, null, null, null, { training: true }).data();
      expectClose(yb, reference(big, shape, gy, 1e-5).y, 1e-3, 1e-3, 'offset 1000');
    });

    it('a constant channel normalises to the bias; a NaN poisons only its channel', async () => {
      const x = wt.tensor([[1, 2], [1, NaN], [1, 5]]);
      const y = await wt.batchNorm(x, null, null, wt.tensor([2, 2]), wt.tensor([0.5, 0.5]), { training: true }).data();
      expect(Array.from(y).filter((_, i) => i % 2 === 0)).toEqual([0.5, 0.5, 0.5]);
      expect(Array.from(y).filter((_, i) => i % 2 === 1).every(Number.isNaN)).toBe(true);
      const rv = wt.ones([2]), rm = wt.zeros([2]);
      wt.batchNorm(wt.tensor([[3, 1], [3, 2]]), rm, rv, null, null, { training: true, momentum: 1 });
      const rvv = await rv.data();
      // var = invstd⁻² - eps: about eps·1e-7 off for a constant channel, and clamped at 0
      expect(rvv[0]).toBeGreaterThanOrEqual(0);
      expect(rvv[0]).toBeLessThan(1e-10);
      expect(rvv[1]).toBeCloseTo(0.5, 6);
    });

    it('gradcheck: 2-D, 4-D, affine, weight only, no affine', async () => {
      await expect(gradcheck((x, w, b) => wt.batchNorm(x, null, null, w, b, { training: true }),
        [wt.randn([3, 2, 2], { seed: 1 }), wt.randn([2], { seed: 2 }), wt.randn([2], { seed: 3 })])).resolves.toBe(true);
      await expect(gradcheck((x, w, b) => wt.batchNorm(x, null, null, w, b, { training: true }),
        [wt.randn([2, 3, 2, 3], { seed: 4 }), wt.randn([3], { seed: 5 }), wt.randn([3], { seed: 6 })])).resolves.toBe(true);
      await expect(gradcheck((x, w) => wt.batchNorm(x, null, null, w, null, { training: true }),
        [wt.randn([5, 3], { seed: 7 }), wt.randn([3], { seed: 8 })])).resolves.toBe(true);
      await expect(gradcheck((x) => wt.batchNorm(x, wt.zeros([3]), wt.ones([3]), null, null, { training: true }),
        [wt.randn([4, 3, 2], { seed: 9 })])).resolves.toBe(true);
    });

    it('evaluation (scale and shift from running stats): values and gradcheck', async () => {
      const [x, v] = randomTensor([4, 3, 2], 70);
      const rm = wt.tensor([0.5, -1, 2]), rv = wt.tensor([1, 4, 0.25]);
      const [w, wv] = randomTensor([3], 71);
      const [b, bv] = randomTensor([3], 72);
      const y = wt.batchNorm(x, rm, rv, w, b, { eps: 1e-3 });
      const want = Array.from(v, (xv, i) => { const c = Math.floor(i / 2) % 3; return ((xv - [0.5, -1, 2][c]) / Math.sqrt([1, 4, 0.25][c] + 1e-3)) * wv[c] + bv[c]; });
      expectClose(await y.data(), want, 1e-5, 1e-5, 'eval');
      await expect(gradcheck((xx, ww, bb) => wt.batchNorm(xx, wt.tensor([0.5, -1, 2]), wt.tensor([1, 4, 0.25]), ww, bb), [x, w, b])).resolves.toBe(true);
    });

    it('runs inside tidy without leaking and leaves parameters alive', async () => {
      const bn = new wt.nn.BatchNorm2d(3);
      const x = wt.randn([2, 3, 4, 4], { seed: 3 });
      const before = wt.memory().tensors;
      for (let i = 0; i < 3; i++) {
        wt.tidy(() => bn.forward(x).sum().backward());
        bn.zeroGrad();
      }
      expect(wt.memory().tensors).toBe(before);
      expect(await bn.weight!.data()).toEqual(new Float32Array([1, 1, 1]));
    });
  });
});

// ---- the CPU routines directly, on views with offsets ------------------------------------------

/** A CPU view of `data` with shape and offset, row-major. */
const view = (data: Float32Array, shape: number[], offset = 0): CpuView =>
  ({ buf: null as never, shape, strides: stridesOf(shape), offset, dtype: 'float32', data });

describe('batchNorm CPU routines (cpu: called directly)', () => {
  it('forward and backward read and write at view offsets, and nothing outside them', () => {
    const [N, C, S] = [3, 2, 5], n = N * C * S, off = 7;
    const pad = (a: ArrayLike<number>) => { const f = new Float32Array(n + 2 * off).fill(-9); f.set(a, off); return f; };
    const xv = randomValues(n, 31), gv = randomValues(n, 32), wv = randomValues(C, 33), bv = randomValues(C, 34);
    const x = pad(xv), g = pad(gv), w = pad(wv), b = pad(bv);
    const y = new Float32Array(n + 2 * off).fill(-9), mean = new Float32Array(2 * C + 2 * off).fill(-9), is = new Float32Array(C + 2 * off).fill(-9);
    cpuRoutines.batchNorm({ eps: 1e-5, affine: true }, [view(x, [N, C, S], off), view(w, [C], off), view(b, [C], off)], [view(y, [N, C, S], off), view(mean, [C, 2], off), view(is, [C], off)]);
    const ref = reference(xv, [N, C, S], gv, 1e-5, wv, bv);
    expectClose(y.subarray(off, off + n), ref.y, 1e-5, 1e-5, 'y');
    // the mean is stored as a pair per channel (m0 + m1: Routines.batchNorm)
    expectClose(Array.from({ length: C }, (_, c) => mean[off + 2 * c] + mean[off + 2 * c + 1]), ref.mean, 1e-6, 1e-6, 'mean');
    expectClose(is.subarray(off, off + C), ref.invstd, 1e-6, 1e-6, 'invstd');
    expect([...y.subarray(0, off), ...y.subarray(off + n)].every((q) => q === -9)).toBe(true);
    expect([...mean.subarray(0, off), ...mean.subarray(off + 2 * C)].every((q) => q === -9)).toBe(true);
    const gx = new Float32Array(n + 2 * off).fill(-9), gw = new Float32Array(C + 2 * off).fill(-9), gb = new Float32Array(C + 2 * off).fill(-9);
    cpuRoutines.batchNormBackward({ affine: true }, [view(x, [N, C, S], off), view(g, [N, C, S], off), view(mean, [C, 2], off), view(is, [C], off), view(w, [C], off)],
      [view(gx, [N, C, S], off), view(gw, [C], off), view(gb, [C], off)]);
    expectClose(gx.subarray(off, off + n), ref.gx, 1e-5, 1e-4, 'gx');
    expectClose(gw.subarray(off, off + C), ref.gw, 1e-5, 1e-4, 'gw');
    expectClose(gb.subarray(off, off + C), ref.gb, 1e-5, 1e-4, 'gb');
    expect([...gx.subarray(0, off), ...gx.subarray(off + n)].every((q) => q === -9)).toBe(true);
  });
});
