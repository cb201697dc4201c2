/**
 * softmax / logSoftmax, crossEntropy, layerNorm and batchNorm against float64 references written
 * here, on seeded inputs. Tolerances: forward values atol 1e-5 / rtol 1e-5 unless stated (float32
 * stores of float64 math); gradients through wt.gradcheck (float64 finite differences, its
 * defaults atol 1e-5, rtol 1e-3).
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { causalSoftmax } from '../src/ops/norm.js';
import { expectClose, numelOf, randomTensor, rng, ODD_SIZES } from './helpers.js';
import { expectIndexError, forEachBackend, gradcheck } from './backends.js';

// ---- float64 references ------------------------------------------------------------------------

/** Applies f to every 1-D line of a row-major array along `dim`; f returns the new line. */
function alongDim(v: ArrayLike<number>, shape: number[], dim: number, f: (line: number[]) => number[]): number[] {
  const D = shape[dim];
  const inner = numelOf(shape.slice(dim + 1)), outer = numelOf(shape.slice(0, dim));
  const out = new Array<number>(v.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const line = Array.from({ length: D }, (_, j) => v[(o * D + j) * inner + i]);
      f(line).forEach((y, j) => (out[(o * D + j) * inner + i] = y));
    }
  }
  return out;
}

function refLse(line: number[]): number {
  if (line.some((x) => Number.isNaN(x))) return NaN;
  const m = Math.max(...line);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(line.reduce((a, x) => a + Math.exp(x - m), 0));
}
const refSoftmax = (line: number[]) => { const l = refLse(line); return line.map((x) => Math.exp(x - l)); };
const refLogSoftmax = (line: number[]) => { const l = refLse(line); return line.map((x) => x - l); };

function refLayerNorm(v: ArrayLike<number>, D: number, eps: number, w?: ArrayLike<number>, b?: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let r = 0; r < v.length / D; r++) {
    const row = Array.from({ length: D }, (_, j) => v[r * D + j]);
    const m = row.reduce((a, x) => a + x, 0) / D;
    const va = row.reduce((a, x) => a + (x - m) ** 2, 0) / D;
    row.forEach((x, j) => out.push(((x - m) / Math.sqrt(va + eps)) * (w ? w[j] : 1) + (b ? b[j] : 0)));
  }
  return out;
}

function randomTargets(n: number, C: number, seed: number, ignoreIndex = -100, pIgnore = 0.2): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => (r() < pIgnore ? ignoreIndex : Math.floor(r() * C)));
}

const int = (vals: ArrayLike<number>, shape: number[]) => wt.tensor(Int32Array.from(vals), { shape, dtype: 'int32' });

// ---- softmax ------------------------------------------------------------------------------------

forEachBackend((kind) => {
  describe('softmax / logSoftmax', () => {
    const cases: [number[], number][] = [
      ...ODD_SIZES.map((n): [number[], number] => [[3, n], -1]),
      ...ODD_SIZES.map((n): [number[], number] => [[n, 4, 5], 0]),
      [[2, 17, 3], 1],
      [[33], 0],
      [[1, 1], 1],
    ];
    for (const log of [false, true]) {
      const name = log ? 'logSoftmax' : 'softmax';
      it(`${name} matches float64 on odd sizes and dims other than last`, async () => {
        for (const [shape, dim] of cases) {
          const [x, v] = randomTensor(shape, 11 + shape[0], -4, 4);
          const y = log ? wt.logSoftmax(x, dim) : x.softmax(dim);
          expect(y.shape).toEqual(shape);
          expect(y.isContiguous()).toBe(true);
          const d = dim < 0 ? dim + shape.length : dim;
          expectClose(await y.data(), alongDim(v, shape, d, log ? refLogSoftmax : refSoftmax), 1e-6, 1e-5, `${name} ${shape} dim ${dim}`);
        }
      });
    }

    it('is stable for rows of large magnitude', async () => {
      const rows = [[1000, 1001, 999], [-1e30, -1e30 + 1e24, -1e30], [3e38, 0, -3e38], [88, 89, 90]];
      const x = wt.tensor(rows);
      const flat = rows.flat().map(Math.fround);
      const want = alongDim(flat, [4, 3], 1, refSoftmax);
      const got = await x.softmax(1).data();
      expectClose(got, want, 1e-6, 1e-5, 'softmax large');
      expect(got.every(Number.isFinite)).toBe(true);
      // [3e38, 0, -3e38] has a log-softmax of -6e38 in its last place: -inf in float32
      expectClose(await x.logSoftmax(1).data(), alongDim(flat, [4, 3], 1, refLogSoftmax).map(Math.fround), 1e-4, 1e-6, 'logSoftmax large');
      // log-softmax keeps precision where softmax underflows to 0
      expectClose(await wt.logSoftmax(wt.tensor([1000, 0]), 0).data(), [0, -1000], 0, 0, 'logSoftmax tail');
    });

    it('propagates NaN within a row and handles -inf', async () => {
      const x = wt.tensor([[1, NaN, 2], [0, -Infinity, 0], [-Infinity, -Infinity, -Infinity]]);
      const got = await x.softmax(-1).data();
      expectClose(got, [NaN, NaN, NaN, 0.5, 0, 0.5, NaN, NaN, NaN], 1e-7, 0, 'softmax nan/inf');
      const lg = await x.logSoftmax(-1).data();
      expect(Number.isNaN(lg[0]) && lg[4] === -Infinity && Math.abs(lg[3] + Math.LN2) < 1e-6).toBe(true);
    });

    it('works on non-contiguous views and 0-d tensors', async () => {
      const [x, v] = randomTensor([5, 7], 3);
      const xt = x.T; // [7,5] with strides [1,7]
      const want = alongDim(v, [5, 7], 0, refSoftmax); // softmax of x over dim 0
      const y = xt.softmax(1); // the same values, transposed
      expectClose(await y.T.contiguous().data(), want, 1e-6, 1e-5, 'softmax of a transposed view');
      expect(await wt.tensor(3.5).softmax(0).item()).toBe(1);
      expect(await wt.tensor(3.5).logSoftmax(-1).item()).toBe(0);
    });

    it('gradients (gradcheck)', async () => {
      for (const log of [false, true]) {
        const f = (dim: number) => (x: wt.Tensor) => (log ? x.logSoftmax(dim) : x.softmax(dim));
        await expect(gradcheck(f(-1), [wt.randn([3, 4], { seed: 1 })])).resolves.toBe(true);
        await expect(gradcheck(f(0), [wt.randn([3, 4], { seed: 2 })])).resolves.toBe(true);
        await expect(gradcheck(f(1), [wt.randn([2, 3, 2], { seed: 3 })])).resolves.toBe(true);
        await expect(gradcheck((x) => f(0)(x.T), [wt.randn([3, 2], { seed: 4 })])).resolves.toBe(true);
      }
    });

    it('rejects bad arguments', () => {
      expect(() => wt.softmax(wt.tensor([1, 2], { dtype: 'int32' }), 0)).toThrow(wt.DTypeError);
      expect(() => wt.softmax(wt.tensor([1, 2], { dtype: 'int32' }), 0)).toThrow(/softmax: input must be float32, got int32 of shape \[2\]/);
      expect(() => wt.softmax(wt.zeros([2, 3]), 2)).toThrow(wt.ShapeError);
    });
  });

  // ---- cross-entropy ------------------------------------------------------------------------------

  /** Per-element losses of logits [N,C,...] (C at dim 1, or dim 0 for 1-D) against targets. */
  function refCrossEntropy(v: ArrayLike<number>, shape: number[], t: ArrayLike<number>, ignoreIndex: number): number[] {
    const cdim = shape.length === 1 ? 0 : 1;
    const C = shape[cdim], inner = numelOf(shape.slice(cdim + 1)), outer = numelOf(shape.slice(0, cdim));
    const out: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const tt = t[o * inner + i];
        const line = Array.from({ length: C }, (_, j) => v[(o * C + j) * inner + i]);
        out.push(tt === ignoreIndex ? 0 : refLse(line) - line[tt]);
      }
    }
    return out;
  }

  function reduceRef(l: number[], t: ArrayLike<number>, ignoreIndex: number, reduction: string): number[] {
    if (reduction === 'none') return l;
    const s = l.reduce((a, b) => a + b, 0);
    if (reduction === 'sum') return [s];
    return [s / Array.from(t).filter((x) => x !== ignoreIndex).length];
  }

  describe('causal softmax (attention)', () => {
    it('row i of each [L, S] matrix weighs only columns j <= i; matches float64; gradients', async () => {
      for (const [B, L, S] of [[1, 1, 1], [2, 3, 5], [1, 6, 6], [3, 7, 4], [1, 17, 33]]) {
        const [x, xv] = randomTensor([B, L, S], 900 + L, -6, 6);
        const y = await causalSoftmax(x).data();
        const want = new Float64Array(B * L * S);
        for (let r = 0; r < B * L; r++) {
          const n = Math.min(S, (r % L) + 1), o = r * S;
          const m = Math.max(...Array.from(xv.subarray(o, o + n)));
          let sum = 0;
          for (let j = 0; j < n; j++) sum += Math.exp(xv[o + j] - m);
          for (let j = 0; j < n; j++) want[o + j] = Math.exp(xv[o + j] - m) / sum;
        }
        expectClose(y, want, 1e-7, 1e-5, `causal softmax ${B}x${L}x${S}`);
      }
      const [x] = randomTensor([2, 4, 5], 77, -2, 2);
      await gradcheck((t) => causalSoftmax(t).mul(wt.arange(5).float()).sum(), [x]);
      expect(() => causalSoftmax(wt.ones([3]))).toThrow(/causalSoftmax: input must have at least 2 dims/);
    });
  });

  describe('crossEntropy', () => {
    const shapes: number[][] = [[1, 1], [3, 3], [17, 33], [33, 17], [3, 5, 4], [2, 3, 3, 2], [5]];
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      it(`matches float64 (${reduction}) on [N,C], [N,C,d...] and [C]`, async () => {
        for (const shape of shapes) {
          const cdim = shape.length === 1 ? 0 : 1;
          const tshape = shape.filter((_, i) => i !== cdim);
          const [x, v] = randomTensor(shape, 21 + numelOf(shape), -5, 5);
          const tv = randomTargets(numelOf(tshape), shape[cdim], 5 + shape[0], -100, shape.length === 1 ? 0 : 0.2);
          const y = wt.crossEntropy(x, int(tv, tshape), { reduction });
          const want = reduceRef(refCrossEntropy(v, shape, tv, -100), tv, -100, reduction);
          expect(y.shape).toEqual(reduction === 'none' ? tshape : []);
          expectClose(await y.data(), want, 1e-5, 1e-5, `crossEntropy ${reduction} ${shape}`);
        }
      });
    }

    it('honours a custom ignoreIndex, and the mean over no targets is NaN', async () => {
      const [x, v] = randomTensor([4, 3], 9);
      const tv = Int32Array.from([2, 0, 2, 1]);
      const y = wt.crossEntropy(x, int(tv, [4]), { ignoreIndex: 2 });
      expectClose(await y.data(), reduceRef(refCrossEntropy(v, [4, 3], tv, 2), tv, 2, 'mean'), 1e-5, 1e-5, 'ignoreIndex 2');
      expect(Number.isNaN(await wt.crossEntropy(x, int([-100, -100, -100, -100], [4])).item())).toBe(true);
    });

    it('is stable for large logits and accepts non-contiguous logits', async () => {
      const x = wt.tensor([[1e4, 0, -1e4], [3e4, 3e4, 3e4]]);
      expectClose(await wt.crossEntropy(x, int([1, 2], [2]), { reduction: 'none' }).data(), [1e4, Math.log(3)], 1e-3, 1e-6, 'large');
      const [a, v] = randomTensor([3, 5], 4); // logits = a.T: [5, 3]
      const vt = Array.from({ length: 15 }, (_, i) => v[(i % 3) * 5 + Math.floor(i / 3)]);
      const tv = [0, 2, 1, 1, 0];
      expectClose(await wt.crossEntropy(a.T, int(tv, [5]), { reduction: 'none' }).data(), refCrossEntropy(vt, [5, 3], tv, -100), 1e-5, 1e-5, 'transposed');
    });

    it('reads float32 targets as class probabilities', async () => {
      const [x, v] = randomTensor([3, 4], 8);
      const [p, pv] = randomTensor([3, 4], 9, 0, 1);
      const want = [0, 1, 2].map((r) => {
        const lsm = refLogSoftmax(Array.from(v.slice(r * 4, r * 4 + 4)));
        return -lsm.reduce((a, l, j) => a + l * pv[r * 4 + j], 0);
      });
      expectClose(await wt.crossEntropy(x, p, { reduction: 'none' }).data(), want, 1e-5, 1e-5, 'soft targets');
      await expect(gradcheck((a, b) => wt.crossEntropy(a, b), [wt.randn([2, 3], { seed: 1 }), wt.rand([2, 3], { seed: 2 })])).resolves.toBe(true);
    });

    it('gradients (gradcheck) for every reduction and layout', async () => {
      // targets are gradcheck inputs too (int32, so not checked): gradcheck rebuilds every input on its float64 backend
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const ce = (x: wt.Tensor, t: wt.Tensor) => wt.crossEntropy(x, t, { reduction });
        await expect(gradcheck(ce, [wt.randn([3, 4], { seed: 5 }), int([2, -100, 0], [3])])).resolves.toBe(true);
        await expect(gradcheck(ce, [wt.randn([2, 3, 2], { seed: 6 }), int([1, 0, 2, -100], [2, 2])])).resolves.toBe(true);
      }
      await expect(gradcheck((x, t) => wt.crossEntropy(x, t), [wt.randn([3], { seed: 7 }), int([1], [])])).resolves.toBe(true);
    });

    it('rejects bad arguments with the shapes in the message', async () => {
      const x = wt.zeros([4, 3]);
      expect(() => wt.crossEntropy(x, int([0, 1, 2], [3]))).toThrow(wt.ShapeError);
      expect(() => wt.crossEntropy(x, int([0, 1, 2], [3]))).toThrow(/target \[3\] does not match logits \[4,3\]: expected target \[4\]/);
      expect(() => wt.crossEntropy(x, wt.tensor([true, false, true, true]))).toThrow(wt.DTypeError);
      await expectIndexError(kind, () => wt.crossEntropy(x, int([0, 1, 3, 0], [4])), /^crossEntropy: target \[4\] holds .*out of range \[0, 3\)/);
      await expectIndexError(kind, () => wt.crossEntropy(x, int([0, -1, 1, 0], [4])), /^crossEntropy: target \[4\] holds/);
      expect(() => wt.crossEntropy(x, int([0, 1, 1, 0], [4]), { reduction: 'avg' as 'mean' })).toThrow(wt.ArgumentError);
      expect(() => wt.crossEntropy(wt.zeros([4, 3], { dtype: 'int32' }), int([0, 1, 1, 0], [4]))).toThrow(wt.DTypeError);
      expect(() => wt.crossEntropy(x, wt.zeros([4, 2]))).toThrow(/probability target \[4,2\] must have the logits' shape \[4,3\]/);
    });
  });

  // ---- layer norm ---------------------------------------------------------------------------------

  describe('layerNorm', () => {
    it('matches float64 over odd row lengths, with and without affine', async () => {
      for (const D of ODD_SIZES) {
        const [x, v] = randomTensor([5, D], 30 + D, -3, 3);
        const [w, wv] = randomTensor([D], 40 + D);
        const [b, bv] = randomTensor([D], 50 + D);
        expectClose(await wt.layerNorm(x, D).data(), refLayerNorm(v, D, 1e-5), 1e-5, 1e-5, `plain D=${D}`);
        expectClose(await wt.layerNorm(x, [D], w, b).data(), refLayerNorm(v, D, 1e-5, wv, bv), 1e-5, 1e-5, `affine D=${D}`);
        expectClose(await wt.layerNorm(x, [D], w, null, 0.1).data(), refLayerNorm(v, D, 0.1, wv), 1e-5, 1e-5, `weight only D=${D}`);
        expectClose(await wt.layerNorm(x, [D], null, b).data(), refLayerNorm(v, D, 1e-5, undefined, bv), 1e-5, 1e-5, `bias only D=${D}`);
      }
    });

    it('propagates NaN to its row only', async () => {
      const y = await wt.layerNorm(wt.tensor([[1, NaN, 2], [1, 2, 4]]), 3).data();
      expect(Array.from(y.slice(0, 3)).every(Number.isNaN)).toBe(true);
      expectClose(y.slice(3), refLayerNorm([1, 2, 4], 3, 1e-5), 1e-5, 1e-5, 'clean row');
      const ce = await wt.crossEntropy(wt.tensor([[0, NaN], [0, 0]]), int([0, 1], [2]), { reduction: 'none' }).data();
      expect(Number.isNaN(ce[0]) && Math.abs(ce[1] - Math.LN2) < 1e-6).toBe(true);
    });

    it('normalises several trailing dims, non-contiguous input, large offsets', async () => {
      const [x, v] = randomTensor([2, 3, 4], 7);
      expectClose(await wt.layerNorm(x, [3, 4]).data(), refLayerNorm(v, 12, 1e-5), 1e-5, 1e-5, 'ns [3,4]');
      const [a, av] = randomTensor([6, 4], 8); // a.T is [4, 6]
      const tv = Array.from({ length: 24 }, (_, i) => av[(i % 6) * 4 + Math.floor(i / 6)]);
      expectClose(await wt.layerNorm(a.T, 6).data(), refLayerNorm(tv, 6, 1e-5), 1e-5, 1e-5, 'transposed');
    });

    it('keeps its precision on rows with a large offset', async () => {
      // rows around 1e4: a one-pass E[x²]-E[x]² would lose most digits here
      const big = randomTensor([3, 33], 9, 1e4 - 1, 1e4 + 1);
      expectClose(await wt.layerNorm(big[0], 33).data(), refLayerNorm(big[1], 33, 1e-5), 1e-4, 1e-4, 'large offset');
    });

    it('gradients (gradcheck) for x, weight and bias', async () => {
      const [x, w, b] = [wt.randn([3, 4], { seed: 1 }), wt.randn([4], { seed: 2 }), wt.randn([4], { seed: 3 })];
      await expect(gradcheck((x, w, b) => wt.layerNorm(x, 4, w, b), [x, w, b])).resolves.toBe(true);
      await expect(gradcheck((x) => wt.layerNorm(x, 4), [x])).resolves.toBe(true);
      await expect(gradcheck((x, w) => wt.layerNorm(x, 4, w), [x, w])).resolves.toBe(true);
      await expect(gradcheck((x, w, b) => wt.layerNorm(x, [2, 3], w, b, 0.01), [wt.randn([2, 2, 3], { seed: 4 }), wt.randn([2, 3], { seed: 5 }), wt.randn([2, 3], { seed: 6 })])).resolves.toBe(true);
    });

    it('gradients (gradcheck) where the normalised input has other consumers: the skip path\'s gradient added in the backward kernel', async () => {
      const [x, w, b] = [wt.randn([3, 4], { seed: 7 }), wt.randn([4], { seed: 8 }), wt.randn([4], { seed: 9 })];
      // a pre-norm block: h + f(layerNorm(h)), then the same again (the second block's gradient of h arrives first)
      const block = (h: wt.Tensor, w: wt.Tensor, b: wt.Tensor) => h.add(wt.layerNorm(h, 4, w, b).tanh().mul(0.7));
      await expect(gradcheck((x, w, b) => block(block(x.mul(1.5), w, b), w, b), [x, w, b])).resolves.toBe(true);
      // the other gradient a transposed (non-contiguous) view, without affine parameters; three consumers
      await expect(gradcheck((x) => {
        const h = x.mul(1.5);
        return wt.layerNorm(h, 4).sin().add(h.T.tanh().T).add(h.square());
      }, [x])).resolves.toBe(true);
      // leading dims, a consumer reached only after the layer norm's node (the sum feeds the norm's output)
      await expect(gradcheck((x) => {
        const h = x.reshape([3, 2, 2]).exp();
        return wt.layerNorm(h, [2, 2]).mul(h.sum([1, 2], true)).cos();
      }, [x])).resolves.toBe(true);
    });

    it('rejects bad arguments with the shapes in the message', () => {
      const x = wt.zeros([2, 3, 4]);
      expect(() => wt.layerNorm(x, [3])).toThrow(wt.ShapeError);
      expect(() => wt.layerNorm(x, [3])).toThrow(/normalizedShape \[3\] does not match the last dims of input \[2,3,4\]/);
      expect(() => wt.layerNorm(x, 4, wt.zeros([3]))).toThrow(/weight \[3\] must have normalizedShape \[4\]/);
      expect(() => wt.layerNorm(x, 4, null, wt.zeros([4], { dtype: 'int32' }))).toThrow(wt.DTypeError);
    });
  });

  // ---- batch norm ---------------------------------------------------------------------------------

  /** Batch statistics of x [N,C,...] per channel: mean, biased and unbiased variance. */
  function channelStats(v: ArrayLike<number>, shape: number[]): { mean: number[]; biased: number[]; unbiased: number[] } {
    const C = shape[1], inner = numelOf(shape.slice(2)), N = shape[0];
    const mean: number[] = [], biased: number[] = [], unbiased: number[] = [];
    for (let c = 0; c < C; c++) {
      const xs: number[] = [];
      for (let n = 0; n < N; n++) for (let i = 0; i < inner; i++) xs.push(v[(n * C + c) * inner + i]);
      const m = xs.reduce((a, x) => a + x, 0) / xs.length;
      const q = xs.reduce((a, x) => a + (x - m) ** 2, 0);
      mean.push(m);
      biased.push(q / xs.length);
      unbiased.push(q / (xs.length - 1));
    }
    return { mean, biased, unbiased };
  }

  function refBatchNorm(v: ArrayLike<number>, shape: number[], mean: number[], vr: number[], eps: number, w?: ArrayLike<number>, b?: ArrayLike<number>): number[] {
    const C = shape[1], inner = numelOf(shape.slice(2));
    return Array.from(v, (x, i) => {
      const c = Math.floor(i / inner) % C;
      return ((x - mean[c]) / Math.sqrt(vr[c] + eps)) * (w ? w[c] : 1) + (b ? b[c] : 0);
    });
  }

  describe('batchNorm', () => {
    it('training: batch statistics and running-stat updates, [N,C] and [N,C,H,W]', async () => {
      for (const shape of [[17, 3], [2, 3, 5, 3], [4, 1, 3]]) {
        const C = shape[1];
        const [x, v] = randomTensor(shape, 60 + numelOf(shape), -2, 3);
        const [w, wv] = randomTensor([C], 61);
        const [b, bv] = randomTensor([C], 62);
        const rm = wt.zeros([C]), rv = wt.ones([C]);
        const st = channelStats(v, shape);
        const y = wt.batchNorm(x, rm, rv, w, b, { training: true, momentum: 0.2 });
        expectClose(await y.data(), refBatchNorm(v, shape, st.mean, st.biased, 1e-5, wv, bv), 1e-5, 1e-4, `train ${shape}`);
        expectClose(await rm.data(), st.mean.map((m) => 0.2 * m), 1e-6, 1e-5, 'runningMean');
        expectClose(await rv.data(), st.unbiased.map((u) => 0.8 + 0.2 * u), 1e-6, 1e-5, 'runningVar');
      }
    });

    it('evaluation uses the running statistics', async () => {
      const [x, v] = randomTensor([4, 3, 2], 70);
      const rm = wt.tensor([0.5, -1, 2]), rv = wt.tensor([1, 4, 0.25]);
      const y = wt.batchNorm(x, rm, rv, null, null, { eps: 1e-3 });
      expectClose(await y.data(), refBatchNorm(v, [4, 3, 2], [0.5, -1, 2], [1, 4, 0.25], 1e-3), 1e-5, 1e-5, 'eval');
      expectClose(await rm.data(), [0.5, -1, 2], 0, 0, 'running stats untouched');
    });

    it('gradients (gradcheck) in training mode', async () => {
      await expect(gradcheck((x, w, b) => wt.batchNorm(x, null, null, w, b, { training: true }),
        [wt.randn([3, 2, 2], { seed: 1 }), wt.randn([2], { seed: 2 }), wt.randn([2], { seed: 3 })])).resolves.toBe(true);
      await expect(gradcheck((x) => wt.batchNorm(x, wt.zeros([2]), wt.ones([2]), null, null, { training: false }), [wt.randn([3, 2], { seed: 4 })])).resolves.toBe(true);
    });

    it('rejects bad arguments', () => {
      const x = wt.zeros([4, 3]);
      expect(() => wt.batchNorm(x, wt.zeros([4]), wt.ones([3]))).toThrow(/runningMean \[4\] must be \[3\] for input \[4,3\]/);
      expect(() => wt.batchNorm(x, null, null)).toThrow(wt.ArgumentError);
      expect(() => wt.batchNorm(wt.zeros([1, 3]), null, null, null, null, { training: true })).toThrow(/more than 1 value per channel/);
      expect(() => wt.batchNorm(wt.zeros([4]), null, null, null, null, { training: true })).toThrow(wt.ShapeError);
    });
  });
});
