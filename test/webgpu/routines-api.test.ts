/**
 * Every routine-backed op (matmul, conv, pooling, softmax, cross-entropy, layerNorm, batchNorm,
 * gather, scatter, embedding) and its gradient on WebGPU against the CPU backend, through the public
 * API, on sizes that do not divide the tiles (1, 3, 17, 33, 65, 127), batched and transposed
 * operands and non-contiguous inputs.
 *
 * Tolerances: matmul/conv sums of K products in float32 with a different summation order:
 * atol 1e-4 + rtol 1e-4 (values are O(1), K ≤ 127·9); softmax/layerNorm/cross-entropy 1e-5
 * (batchNorm 1e-4: channel sums of up to 1000 values);
 * gathers exact; scatter-adds (float atomics, any order) 1e-5.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { compare, values, type Tol } from './compare.js';

const GEMM: Tol = [1e-4, 1e-4];
const NORM: Tol = [1e-5, 1e-5];

beforeAll(async () => {
  const b = await wt.init({ backend: 'webgpu' });
  expect(b.name).toBe('webgpu');
});

/** A float tensor of seeded values that requires grad. */
const p = (shape: number[], seed: number, lo = -1, hi = 1) => wt.tensor(values(shape.reduce((a, b) => a * b, 1), seed, lo, hi, false), { shape, requiresGrad: true });
const idx = (vals: number[], shape?: number[]) => wt.tensor(new Int32Array(vals), { shape });

/** Forward output, then the gradient of a weighted sum with respect to each input. */
function withGrads(out: wt.Tensor, inputs: wt.Tensor[]): (wt.Tensor | null)[] {
  const w = wt.tensor(values(out.numel(), 99, 0.5, 1.5, false), { shape: [...out.shape] });
  out.mul(w).sum().backward();
  return [out, ...inputs.map((t) => t.grad)];
}

describe('matmul on webgpu', () => {
  for (const [m, k, n] of [[1, 1, 1], [3, 17, 5], [33, 65, 17], [127, 33, 65], [64, 64, 64], [1, 20, 130], [130, 9, 1], [32, 196, 10]]) {
    it(`${m}x${k} @ ${k}x${n}`, async () => {
      await compare(`matmul ${m},${k},${n}`, () => { const a = p([m, k], 1), b = p([k, n], 2); return withGrads(a.matmul(b), [a, b]); }, GEMM);
    });
  }
  it('transposed operands read in place, batched, broadcast batch, linear with bias', async () => {
    await compare('aT @ b', () => { const a = p([17, 3], 3), b = p([17, 33], 4); return withGrads(a.T.matmul(b), [a, b]); }, GEMM);
    await compare('a @ bT', () => { const a = p([5, 65], 5), b = p([3, 65], 6); return withGrads(a.matmul(b.T), [a, b]); }, GEMM);
    await compare('batched', () => { const a = p([3, 5, 17], 7), b = p([3, 17, 4], 8); return withGrads(a.matmul(b), [a, b]); }, GEMM);
    await compare('broadcast batch', () => { const a = p([2, 1, 3, 5], 9), b = p([4, 5, 6], 10); return withGrads(a.matmul(b), [a, b]); }, GEMM);
    await compare('linear', () => { const x = p([2, 3, 17], 11), w = p([5, 17], 12), b = p([5], 13); return withGrads(wt.linear(x, w, b), [x, w, b]); }, GEMM);
    // the MNIST heads' shapes: K = batch in the weight gradient, K a multiple of 4 or not
    await compare('linear 784→10', () => { const x = p([32, 784], 14), w = p([10, 784], 15), b = p([10], 16); return withGrads(wt.linear(x, w, b), [x, w, b]); }, GEMM);
    await compare('linear 50→7', () => { const x = p([13, 50], 17), w = p([7, 50], 18), b = p([7], 19); return withGrads(wt.linear(x, w, b).relu(), [x, w, b]); }, GEMM);
  });
});

describe('conv and pooling on webgpu', () => {
  const cases: [string, number[], number[], wt.Conv2dOptions][] = [
    ['3x3 pad 1', [2, 3, 9, 9], [4, 3, 3, 3], { padding: 1 }],
    ['stride 2', [1, 2, 17, 17], [3, 2, 3, 3], { stride: 2 }],
    ['dilation 2, same', [1, 2, 8, 8], [2, 2, 3, 3], { dilation: 2, padding: 'same' }],
    ['groups 2', [2, 4, 5, 5], [6, 2, 3, 3], { groups: 2, padding: 1 }],
    ['1x1', [1, 33, 3, 3], [17, 33, 1, 1], {}],
  ];
  for (const [name, xs, ws, o] of cases) {
    it(`conv2d ${name}`, async () => {
      await compare(`conv2d ${name}`, () => { const x = p(xs, 1), w = p(ws, 2), b = p([ws[0]], 3); return withGrads(wt.conv2d(x, w, b, o), [x, w, b]); }, GEMM);
    });
  }
  it('convTranspose2d', async () => {
    await compare('convT', () => { const x = p([1, 3, 5, 5], 4), w = p([3, 2, 3, 3], 5); return withGrads(wt.convTranspose2d(x, w, null, { stride: 2, padding: 1, outputPadding: 1 }), [x, w]); }, GEMM);
  });
  it('maxPool2d and avgPool2d with padding and strides', async () => {
    await compare('maxPool', () => { const x = p([2, 3, 9, 9], 6); return withGrads(wt.maxPool2d(x, 3, { stride: 2, padding: 1 }), [x]); }, NORM);
    await compare('maxPool 2x2 odd', () => { const x = p([2, 3, 9, 7], 9); return withGrads(wt.maxPool2d(x, 2), [x]); }, NORM);
    await compare('maxPool overlapping', () => { const x = p([1, 2, 6, 5], 10); return withGrads(wt.maxPool2d(x, 2, { stride: 1 }), [x]); }, NORM);
    await compare('maxPool stride 3', () => { const x = p([1, 2, 10, 8], 11); return withGrads(wt.maxPool2d(x, 2, { stride: 3, padding: 1 }), [x]); }, NORM);
    await compare('avgPool', () => { const x = p([2, 3, 9, 9], 7); return withGrads(wt.avgPool2d(x, 2), [x]); }, NORM);
    await compare('avgPool excl pad', () => { const x = p([1, 2, 7, 7], 8); return withGrads(wt.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), [x]); }, NORM);
  });
});

describe('normalisation on webgpu', () => {
  for (const d of [1, 3, 17, 65, 127]) {
    it(`softmax, logSoftmax, layerNorm, crossEntropy over rows of ${d}`, async () => {
      await compare(`softmax ${d}`, () => { const x = p([3, d], 1, -5, 5); return withGrads(x.softmax(-1), [x]); }, NORM);
      await compare(`logSoftmax ${d}`, () => { const x = p([3, d], 2, -5, 5); return withGrads(x.logSoftmax(-1), [x]); }, NORM);
      await compare(`layerNorm ${d}`, () => { const x = p([4, d], 3), w = p([d], 4), b = p([d], 5); return withGrads(wt.layerNorm(x, [d], w, b), [x, w, b]); }, [1e-4, 1e-4]);
      await compare(`crossEntropy ${d}`, () => { const x = p([4, d], 6, -3, 3); return withGrads(wt.crossEntropy(x, idx([0, d - 1, Math.floor(d / 2), -100])), [x]); }, NORM);
    });
  }
  it('softmax over a non-last dim of a transposed view', async () => {
    await compare('softmax dim 0', () => { const x = p([5, 7], 7); return withGrads(x.T.softmax(0), [x]); }, NORM);
  });
});

describe('batchNorm on webgpu', () => {
  // per-channel sums of up to 65·7·9 values in f32 in another order: 1e-4 as layerNorm
  const BN: Tol = [1e-4, 1e-4];
  const cases: number[][] = [[17, 3], [65, 2], [2, 3, 5, 3], [1, 5, 33], [3, 17, 1, 1], [4, 1, 7, 9], [2, 33, 3, 3]];
  for (const shape of cases) {
    it(`training forward, gradients and running stats ${shape}`, async () => {
      const C = shape[1];
      await compare(`batchNorm ${shape} affine`, () => {
        const x = p(shape, 1, -2, 3), w = p([C], 2, 0.5, 1.5), b = p([C], 3);
        const rm = wt.zeros([C]), rv = wt.ones([C]);
        return [...withGrads(wt.batchNorm(x, rm, rv, w, b, { training: true, momentum: 0.3 }), [x, w, b]), rm, rv];
      }, BN);
      await compare(`batchNorm ${shape} plain`, () => { const x = p(shape, 4); return withGrads(wt.batchNorm(x, null, null, null, null, { training: true }), [x]); }, BN);
    });
  }
  it('a view at an offset (a batch slice), a permuted view, and evaluation mode', async () => {
    await compare('batchNorm offset', () => {
      const big = p([6, 3, 4, 4], 5), w = p([3], 6);
      return withGrads(wt.batchNorm(big.slice(0, 2, 5), null, null, w, null, { training: true }), [big, w]);
    }, [1e-4, 1e-4]);
    await compare('batchNorm permuted', () => { const x = p([3, 8, 5], 7); return withGrads(wt.batchNorm(x.permute([1, 0, 2]), null, null, null, null, { training: true }), [x]); }, [1e-4, 1e-4]);
    await compare('batchNorm eval', () => {
      const x = p([4, 3, 5], 8), w = p([3], 9), b = p([3], 10);
      return withGrads(wt.batchNorm(x, wt.tensor([0.5, -1, 2]), wt.tensor([1, 4, 0.25]), w, b), [x, w, b]);
    }, NORM);
  });
  it('nn.BatchNorm2d in a conv block trains the same on both backends', async () => {
    await compare('conv-bn-relu', () => {
      const x = p([4, 2, 6, 6], 11), cw = p([5, 2, 3, 3], 12), bw = p([5], 13, 0.5, 1.5), bb = p([5], 14);
      const y = wt.batchNorm(wt.conv2d(x, cw, null, { padding: 1 }), null, null, bw, bb, { training: true }).relu();
      return withGrads(y, [x, cw, bw, bb]);
    }, [2e-4, 2e-4]);
  });
});

describe('indexing on webgpu', () => {
  it('gather, indexSelect, embedding, scatterAdd and their gradients', async () => {
    await compare('gather', () => { const x = p([3, 5], 1); return withGrads(wt.gather(x, 1, idx([0, 4, 4, 1, 2, 2], [3, 2])), [x]); }, NORM);
    await compare('indexSelect', () => { const x = p([6, 4], 2); return withGrads(wt.indexSelect(x, 0, idx([5, 0, 5, 2])), [x]); }, NORM);
    await compare('embedding', () => { const w = p([10, 17], 3); return withGrads(wt.embedding(idx([1, 1, 9, 0, 3, 1], [2, 3]), w), [w]); }, NORM);
    await compare('scatterAdd', () => { const x = p([3, 4], 4), s = p([3, 2], 5); return withGrads(wt.scatterAdd(x, 1, idx([0, 0, 3, 1, 2, 2], [3, 2]), s), [x, s]); }, NORM);
  });
});
