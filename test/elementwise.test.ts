import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { atBroadcast, expectClose, numelOf, randomTensor, randomValues, unravel } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

const erf = (x: number): number => {
  // float64 reference by series / continued fraction (independent of the library's erf)
  if (Math.abs(x) > 6) return Math.sign(x);
  let sum = x, term = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
};
const sig = (x: number) => 1 / (1 + Math.exp(-x));

type UnaryCase = [string, (t: wt.Tensor) => wt.Tensor, (x: number) => number, number?];
const unary: UnaryCase[] = [
  ['neg', (t) => t.neg(), (x) => -x],
  ['abs', (t) => t.abs(), Math.abs],
  ['exp', (t) => t.exp(), Math.exp],
  ['log', (t) => t.log(), Math.log],
  ['sqrt', (t) => t.sqrt(), Math.sqrt],
  ['rsqrt', (t) => t.rsqrt(), (x) => 1 / Math.sqrt(x)],
  ['sin', (t) => t.sin(), Math.sin],
  ['cos', (t) => t.cos(), Math.cos],
  ['tanh', (t) => t.tanh(), Math.tanh],
  ['sigmoid', (t) => t.sigmoid(), sig],
  ['relu', (t) => t.relu(), (x) => (x < 0 ? 0 : x)],
  ['leakyRelu', (t) => t.leakyRelu(0.2), (x) => (x > 0 ? x : 0.2 * x)],
  ['elu', (t) => t.elu(1.5), (x) => (x > 0 ? x : 1.5 * (Math.exp(x) - 1))],
  ['gelu', (t) => t.gelu(), (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))],
  ['geluTanh', (t) => t.gelu('tanh'), (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))],
  ['silu', (t) => t.silu(), (x) => x * sig(x)],
  ['softplus', (t) => t.softplus(), (x) => (x > 20 ? x : Math.log1p(Math.exp(x)))],
  ['sign', (t) => t.sign(), Math.sign],
  ['floor', (t) => t.floor(), Math.floor],
  ['ceil', (t) => t.ceil(), Math.ceil],
  ['round', (t) => t.round(), (x) => { const r = Math.round(x); return Math.abs(x % 1) === 0.5 && r % 2 ? r - 1 : r; }],
  ['clamp', (t) => t.clamp(-0.5, 0.7), (x) => Math.min(Math.max(x, -0.5), 0.7)],
  ['square', (t) => t.square(), (x) => x * x],
  ['reciprocal', (t) => t.reciprocal(), (x) => 1 / x],
  ['log1p', (t) => t.log1p(), Math.log1p],
  ['expm1', (t) => t.expm1(), Math.expm1],
  ['erf', (t) => t.erf(), erf],
];

const positiveOnly = new Set(['log', 'sqrt', 'rsqrt', 'log1p']);

forEachBackend((kind) => {
  describe('unary ops against float64 references', () => {
    for (const [name, op, ref] of unary) {
      it(name, async () => {
        for (const n of [1, 3, 17, 33]) {
          const lo = positiveOnly.has(name) ? 0.05 : -3;
          const [x, v] = randomTensor([n, 2], n * 7 + name.length, lo, 3);
          const y = await op(x).data();
          expectClose(y, Array.from(v, ref), 2e-6, 2e-6, name);
        }
      });
    }

    it('propagate NaN and handle Inf', async () => {
      const x = wt.tensor([NaN, Infinity, -Infinity, 0]);
      expectClose(await x.exp().data(), [NaN, Infinity, 0, 1]);
      expectClose(await x.relu().data(), [NaN, Infinity, 0, 0]);
      expectClose(await x.tanh().data(), [NaN, 1, -1, 0]);
      expectClose(await x.sigmoid().data(), [NaN, 1, 0, 0.5]);
      expectClose(await x.abs().data(), [NaN, Infinity, Infinity, 0]);
      expect(Array.from(await x.isNan().data())).toEqual([1, 0, 0, 0]);
      expect(Array.from(await x.isInf().data())).toEqual([0, 1, 1, 0]);
      expect(Array.from(await x.isFinite().data())).toEqual([0, 0, 0, 1]);
    });
  });

  type BinCase = [string, (a: wt.Tensor, b: wt.Tensor) => wt.Tensor, (a: number, b: number) => number];
  const binary: BinCase[] = [
    ['add', (a, b) => a.add(b), (a, b) => a + b],
    ['sub', (a, b) => a.sub(b), (a, b) => a - b],
    ['mul', (a, b) => a.mul(b), (a, b) => a * b],
    ['div', (a, b) => a.div(b), (a, b) => a / b],
    ['pow', (a, b) => a.abs().pow(b), (a, b) => Math.abs(a) ** b],
    ['maximum', (a, b) => a.maximum(b), Math.max],
    ['minimum', (a, b) => a.minimum(b), Math.min],
    ['remainder', (a, b) => a.remainder(b), (a, b) => a - Math.floor(a / b) * b],
    ['lt', (a, b) => a.lt(b), (a, b) => +(a < b)],
    ['ge', (a, b) => a.ge(b), (a, b) => +(a >= b)],
    ['eq', (a, b) => a.eq(b), (a, b) => +(a === b)],
  ];

  const bshapes: [number[], number[]][] = [
    [[17], [17]],
    [[3, 1], [1, 4]],
    [[2, 3, 4], [4]],
    [[1], [33, 2]],
    [[5, 1, 3], [1, 2, 1]],
    [[], [3]],
    [[0, 3], [1, 3]],
  ];

  describe('binary ops with broadcasting', () => {
    for (const [name, op, ref] of binary) {
      it(name, async () => {
        for (const [sa, sb] of bshapes) {
          const [a, va] = randomTensor(sa, 11, -3, 3);
          const [b, vb] = randomTensor(sb, 12, 0.25, 3);
          const y = op(a, b);
          const shape = y.shape;
          const want = Array.from({ length: numelOf(shape) }, (_, i) => {
            const idx = unravel(i, shape);
            return ref(atBroadcast(va, sa, idx), atBroadcast(vb, sb, idx));
          });
          expectClose(await y.data(), want, 1e-5, 1e-5, `${name} ${sa}x${sb}`);
        }
      });
    }

    it('accept numbers on either side and keep dtypes like PyTorch', async () => {
      const i = wt.tensor([1, 2, 3], { dtype: 'int32' });
      expect(i.add(2).dtype).toBe('int32');
      expect(i.add(2.5).dtype).toBe('float32');
      expect(i.div(2).dtype).toBe('float32');
      expect(Array.from(await i.div(2).data())).toEqual([0.5, 1, 1.5]);
      expect(i.gt(1).dtype).toBe('bool');
      expect(Array.from(await i.gt(1).data())).toEqual([0, 1, 1]);
      expect(Array.from(await i.mul(i).data())).toEqual([1, 4, 9]);
      expect(Array.from(await wt.tensor([-7, 7], { dtype: 'int32' }).floorDivide(2).data())).toEqual([-4, 3]);
      expect(Array.from(await wt.tensor([-7, 7], { dtype: 'int32' }).remainder(3).data())).toEqual([2, 1]);
    });

    it('logical ops and where', async () => {
      const a = wt.tensor([true, false, true, false]), b = wt.tensor([true, true, false, false]);
      expect(Array.from(await a.logicalAnd(b).data())).toEqual([1, 0, 0, 0]);
      expect(Array.from(await a.logicalOr(b).data())).toEqual([1, 1, 1, 0]);
      expect(Array.from(await a.logicalNot().data())).toEqual([0, 1, 0, 1]);
      const w = wt.where(a, wt.tensor([1, 2, 3, 4]), -1);
      expect(Array.from(await w.data())).toEqual([1, -1, 3, -1]);
    });

    it('reads non-contiguous views in place', async () => {
      const [a, va] = randomTensor([3, 5], 3);
      const t = a.T; // [5,3] view
      expect(t.isContiguous()).toBe(false);
      const y = await t.mul(2).data();
      const want = Array.from({ length: 15 }, (_, i) => 2 * va[(i % 3) * 5 + Math.floor(i / 3)]);
      expectClose(y, want);
    });

    it('maximum and minimum propagate NaN', async () => {
      const a = wt.tensor([NaN, 1]), b = wt.tensor([0, NaN]);
      expectClose(await a.maximum(b).data(), [NaN, NaN]);
      expectClose(await a.minimum(b).data(), [NaN, NaN]);
    });
  });

  describe('gradients by finite differences', () => {
    for (const [name, op] of unary) {
      if (['sign', 'floor', 'ceil', 'round'].includes(name)) continue;
      it(name, async () => {
        const lo = positiveOnly.has(name) ? 0.3 : -2;
        // keep away from kinks (relu at 0, clamp bounds) where finite differences are meaningless
        const v = randomValues(7, 99, lo, 2).map((x) => (Math.abs(x) < 0.05 || Math.abs(x + 0.5) < 0.05 || Math.abs(x - 0.7) < 0.05 ? x + 0.13 : x));
        await gradcheck(op, [wt.tensor(Float32Array.from(v))]);
      });
    }
    for (const [name, op] of binary) {
      if (['lt', 'ge', 'eq', 'remainder'].includes(name)) continue;
      it(`${name} with broadcasting`, async () => {
        const [a] = randomTensor([2, 3], 5, 0.5, 2);
        const [b] = randomTensor([3], 6, 0.5, 2.5);
        await gradcheck(op, [a, b]);
      });
    }
    it('where', async () => {
      // tensors the function uses must be passed as inputs: gradcheck re-creates them in float64
      const c = wt.tensor([true, false, true]);
      await gradcheck((a, b, cond) => wt.where(cond, a, b), [wt.randn([2, 3], { seed: 1 }), wt.randn([3], { seed: 2 }), c]);
    });
    it('maximum splits ties evenly', async () => {
      const a = wt.tensor([1, 2], { requiresGrad: true }), b = wt.tensor([1, 3], { requiresGrad: true });
      a.maximum(b).sum().backward();
      expect(Array.from(await a.grad!.data())).toEqual([0.5, 0]);
      expect(Array.from(await b.grad!.data())).toEqual([0.5, 1]);
    });
  });

  describe('dropout', () => {
    it('zeroes about p of the elements, scales the rest, and is reproducible by seed', async () => {
      const x = wt.ones([1000]);
      const y1 = await wt.dropout(x, 0.3, true, 42).data();
      const y2 = await wt.dropout(x, 0.3, true, 42).data();
      expect(Array.from(y1)).toEqual(Array.from(y2));
      const zeros = y1.filter((v) => v === 0).length;
      expect(zeros).toBeGreaterThan(240);
      expect(zeros).toBeLessThan(360);
      for (const v of y1) if (v !== 0) expect(v).toBeCloseTo(1 / 0.7, 5);
      expect(wt.dropout(x, 0.3, false)).toBe(x);
    });
    it('backward uses the same mask', async () => {
      const x = wt.ones([50], { requiresGrad: true });
      const y = wt.dropout(x, 0.5, true, 7);
      y.sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual(Array.from(await y.data()));
    });
  });
});
