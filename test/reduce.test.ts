import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, numelOf, randomTensor, unravel } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

/** float64 reference reduction of a row-major array over axes. */
function refReduce(v: ArrayLike<number>, shape: number[], axes: number[], f: (xs: number[]) => number): { shape: number[]; vals: number[] } {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < v.length; i++) {
    const idx = unravel(i, shape).filter((_, d) => !axes.includes(d));
    let o = 0;
    idx.forEach((j, d) => (o = o * outShape[d] + j));
    if (!groups.has(o)) groups.set(o, []);
    groups.get(o)!.push(v[i]);
  }
  const n = numelOf(outShape);
  return { shape: outShape, vals: Array.from({ length: n }, (_, o) => f(groups.get(o) ?? [])) };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => sum(xs) / xs.length;
const variance = (xs: number[]) => { const m = mean(xs); return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1); };
const lse = (xs: number[]) => { const m = Math.max(...xs); return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0)); };

const cases: [string, (t: wt.Tensor, axes: number[]) => wt.Tensor, (xs: number[]) => number, number][] = [
  ['sum', (t, a) => t.sum(a), sum, 1e-5],
  ['mean', (t, a) => t.mean(a), mean, 1e-5],
  ['max', (t, a) => t.max(a), (xs) => Math.max(...xs), 0],
  ['min', (t, a) => t.min(a), (xs) => Math.min(...xs), 0],
  ['prod', (t, a) => t.prod(a), (xs) => xs.reduce((p, x) => p * x, 1), 1e-5],
  ['var', (t, a) => t.var(a), variance, 1e-5],
  ['std', (t, a) => t.std(a), (xs) => Math.sqrt(variance(xs)), 1e-5],
  ['logsumexp', (t, a) => t.logsumexp(a), lse, 1e-5],
];

const shapes: [number[], number[]][] = [
  [[17], [0]],
  [[3, 33], [1]],
  [[3, 33], [0]],
  [[2, 3, 5], [0, 2]],
  [[4, 1, 3], [1]],
  [[2, 3, 4], [0, 1, 2]],
  [[5, 7], [-1]],
];

forEachBackend((kind) => {
  describe('reductions against float64 references', () => {
    for (const [name, op, ref, tol] of cases) {
      it(name, async () => {
        for (const [shape, axes] of shapes) {
          const [x, v] = randomTensor(shape, 3 + shape.length, name === 'prod' ? 0.5 : -2, name === 'prod' ? 1.5 : 2);
          const norm = axes.map((a) => (a < 0 ? a + shape.length : a));
          const want = refReduce(v, shape, norm, ref);
          const y = op(x, axes);
          expect(y.shape).toEqual(want.shape);
          expectClose(await y.data(), want.vals, tol, tol, `${name} ${shape} over ${axes}`);
        }
      });
    }

    it('keepdim keeps reduced dims as size 1', () => {
      const x = wt.zeros([2, 3, 4]);
      expect(x.sum([0, 2], true).shape).toEqual([1, 3, 1]);
      expect(x.mean(undefined, true).shape).toEqual([1, 1, 1]);
      expect(x.sum().shape).toEqual([]);
    });

    it('argmax/argmin over a dim and over all elements', async () => {
      const x = wt.tensor([[1, 5, 2], [7, 0, 7]]);
      expect(Array.from(await x.argmax(1).data())).toEqual([1, 0]);
      expect(Array.from(await x.argmin(0).data())).toEqual([0, 1, 0]);
      expect(await x.argmax().item()).toBe(3);
      expect(x.argmax(1, true).shape).toEqual([2, 1]);
      expect(x.argmax(1).dtype).toBe('int32');
    });

    it('zero-size and NaN cases', async () => {
      expect(await wt.zeros([0, 3]).sum().item()).toBe(0);
      expect(Array.from(await wt.zeros([0, 3]).sum(0).data())).toEqual([0, 0, 0]);
      expect(Number.isNaN(await wt.tensor([1, NaN, 3]).sum().item())).toBe(true);
      expect(Number.isNaN(await wt.tensor([1, NaN, 3]).max().item())).toBe(true);
      expect(await wt.tensor([-Infinity, -Infinity]).logsumexp(0).item()).toBe(-Infinity);
      expect(() => wt.zeros([0, 3]).max(0)).toThrow(wt.ShapeError);
    });

    it('reduces non-contiguous views', async () => {
      const [x, v] = randomTensor([4, 6], 8);
      const t = x.T; // [6,4]
      const want = Array.from({ length: 6 }, (_, j) => [0, 1, 2, 3].reduce((a, i) => a + v[i * 6 + j], 0));
      expectClose(await t.sum(1).data(), want, 1e-5);
    });

    it('int and bool reductions', async () => {
      const i = wt.tensor([1, 2, 3], { dtype: 'int32' });
      expect(i.sum().dtype).toBe('int32');
      expect(await i.sum().item()).toBe(6);
      expect(await i.mean().item()).toBe(2);
      const b = wt.tensor([true, false, true]);
      expect(await b.sum().item()).toBe(2);
      expect(await b.all().item()).toBe(0);
      expect(await b.any().item()).toBe(1);
    });
  });

  describe('reduction gradients', () => {
    for (const [name, op] of cases) {
      it(name, async () => {
        const [x] = randomTensor([3, 4], 21, name === 'prod' ? 0.5 : -2, 2);
        await gradcheck((t) => op(t, [1]), [x]);
        await gradcheck((t) => op(t, [0, 1]), [x]);
      });
    }
    it('max with keepdim', async () => {
      const [x] = randomTensor([2, 3, 4], 5);
      await gradcheck((t) => t.amax(1, true), [x]);
    });
  });
});
