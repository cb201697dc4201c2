import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend, gradcheck } from './backends.js';
import { expectClose } from './helpers.js';

const arr = async (t: wt.Tensor | null) => Array.from(await t!.data());

forEachBackend((kind) => {
  describe('autograd', () => {
    it('accumulates into .grad across backward calls, zeroGrad clears', async () => {
      const x = wt.tensor([1, 2, 3], { requiresGrad: true });
      x.mul(x).sum().backward();
      expect(await arr(x.grad)).toEqual([2, 4, 6]);
      x.mul(3).sum().backward();
      expect(await arr(x.grad)).toEqual([5, 7, 9]);
      x.zeroGrad();
      expect(x.grad).toBeNull();
    });

    it('sums gradients of a tensor used twice and of broadcast operands', async () => {
      const a = wt.tensor([[1, 2], [3, 4]], { requiresGrad: true });
      const b = wt.tensor([10, 20], { requiresGrad: true });
      a.mul(a).add(a.mul(b)).sum().backward();
      expect(await a.grad!.array()).toEqual([[12, 24], [16, 28]]);
      expect(await arr(b.grad)).toEqual([4, 6]);
    });

    it('takes a gradient argument for non-scalar outputs and refuses none', async () => {
      const x = wt.tensor([1, 2], { requiresGrad: true });
      const y = x.mul(2);
      expect(() => y.backward()).toThrow(wt.ShapeError);
      y.backward(wt.tensor([1, 10]));
      expect(await arr(x.grad)).toEqual([2, 20]);
    });

    it('gradients of slices: chunks, overlapping and strided slices, partial slices, a slice and the whole', async () => {
      const v = Array.from({ length: 12 }, (_, i) => i - 5);
      const mk = () => wt.tensor(v, { shape: [2, 6], requiresGrad: true });
      // chunks (they tile the tensor), of a leaf and of an intermediate
      let x = mk();
      let [a, b, c] = x.chunk(3, 1);
      a.mul(3).add(b.mul(b)).add(c.exp()).sum().backward();
      const want = v.map((t, i) => (i % 6 < 2 ? 3 : i % 6 < 4 ? 2 * t : Math.exp(t)));
      expectClose(await arr(x.grad), want, 1e-5, 1e-6, 'chunks'); // exp differs in the last bits between backends
      x = mk();
      [a, b, c] = x.mul(2).chunk(3, 1);
      a.add(b).add(c.mul(4)).sum().backward();
      expect(await arr(x.grad)).toEqual(v.map((_, i) => (i % 6 < 4 ? 2 : 8)));
      // overlapping and strided slices of one tensor add up; elements no slice reads get 0
      x = mk();
      x.slice(1, 0, 3).sum().add(x.slice(1, 1, 4).mul(2).sum()).add(x.slice(1, 0, null, 2).mul(10).sum()).backward();
      expect(await arr(x.grad)).toEqual([11, 3, 13, 2, 10, 0, 11, 3, 13, 2, 10, 0]);
      // a slice, an empty slice and the whole tensor
      x = mk();
      x.slice(0, 1, 2).mul(5).sum().add(x.slice(1, 3, 3).sum()).add(x.sum()).backward();
      expect(await arr(x.grad)).toEqual([1, 1, 1, 1, 1, 1, 6, 6, 6, 6, 6, 6]);
      // gradcheck through split pieces recombined
      await gradcheck((t) => {
        const [p, q, r] = t.split([1, 2, 3], 1);
        return p.mul(q.sum(1, true)).sum().add(r.square().sum()).add(q.slice(1, 1, 2).exp().sum());
      }, [wt.randn([3, 6], { seed: 4 })]);
      // nothing is left behind
      const before = wt.memory().tensors;
      const y = mk();
      wt.tidy(() => {
        const [p, q] = y.chunk(2, 0);
        p.add(q).sum().add(y.slice(1, 2, 5).sum()).backward();
      });
      y.grad!.dispose();
      y.dispose();
      expect(wt.memory().tensors).toBe(before);
    });

    it('a second backward needs retainGraph', async () => {
      const x = wt.tensor([2], { requiresGrad: true });
      const y = x.exp().sum();
      y.backward(undefined, { retainGraph: true });
      y.backward();
      expect((await arr(x.grad))[0]).toBeCloseTo(2 * Math.exp(2), 4);
      expect(() => y.backward()).toThrow(/second time/);
    });

    it('noGrad and detach stop recording', () => {
      const x = wt.ones([2], { requiresGrad: true });
      const y = wt.noGrad(() => x.mul(2));
      expect(y.requiresGrad).toBe(false);
      expect(x.detach().requiresGrad).toBe(false);
      expect(x.mul(2).requiresGrad).toBe(true);
      expect(x.mul(2).isLeaf).toBe(false);
    });

    it('only float tensors require grad', () => {
      expect(() => wt.ones([2], { dtype: 'int32', requiresGrad: true })).toThrow(wt.DTypeError);
    });

    it('the graph survives tidy disposing the intermediates', async () => {
      const w = wt.tensor([1, 2, 3], { requiresGrad: true });
      const loss = wt.tidy(() => w.mul(2).exp().log().square().sum());
      loss.backward();
      expectClose(await arr(w.grad), [8, 16, 24], 0, 1e-6, 'log(exp(2w))^2'); // one rounding in exp/log
    });

    it('second-order products of a composite op (gelu through tanh) pass gradcheck', async () => {
      await gradcheck((x) => x.tanh().mul(x).sigmoid().sum(0), [wt.randn([3, 2], { seed: 3 })]);
    });
  });

  describe('memory', () => {
    it('tidy frees temporaries and keeps the result; keep() exempts', () => {
      const before = wt.memory().tensors;
      let kept: wt.Tensor | null = null;
      const r = wt.tidy(() => {
        const a = wt.ones([10]);
        kept = wt.keep(a.mul(3));
        return a.add(1).mul(2);
      });
      expect(wt.memory().tensors).toBe(before + 2);
      r.dispose();
      kept!.dispose();
      expect(wt.memory().tensors).toBe(before);
    });

    it('tidy nests and returns arrays and objects', () => {
      const before = wt.memory().tensors;
      const { a, b } = wt.tidy(() => {
        const inner = wt.tidy(() => [wt.ones([2]).mul(2), wt.zeros([1]).add(1)]);
        return { a: inner[0], b: inner[1].mul(5) };
      });
      expect(wt.memory().tensors).toBe(before + 2);
      wt.dispose([a, b]);
      expect(wt.memory().tensors).toBe(before);
    });

    it('a disposed tensor throws DisposedError naming the op', () => {
      const t = wt.ones([2, 3]);
      t.dispose();
      expect(() => t.add(1)).toThrow(wt.DisposedError);
      expect(() => t.add(1)).toThrow(/add: tensor #\d+ of shape \[2,3\] was disposed/);
      expect(t.toString()).toContain('disposed');
    });

    it('a training loop in tidy stays flat in tensors and bytes', async () => {
      const w = wt.randn([8, 4], { seed: 1, requiresGrad: true });
      const x = wt.randn([16, 8], { seed: 2 });
      const step = () => {
        wt.tidy(() => {
          const loss = x.unsqueeze(2).mul(w).sum(1).tanh().square().mean();
          loss.backward();
        });
        wt.noGrad(() => w.sub_(w.grad!, 0.1));
        w.zeroGrad();
      };
      step();
      const m0 = wt.memory();
      for (let i = 0; i < 20; i++) step();
      const m1 = wt.memory();
      expect(m1.tensors).toBe(m0.tensors);
      expect(m1.bytes).toBe(m0.bytes);
    });

    it('views keep storage alive until the last handle goes', async () => {
      const bytes = wt.memory().bytes;
      const a = wt.ones([100]);
      const v = a.slice(0, 10, 20);
      a.dispose();
      expect(Array.from(await v.data())).toEqual(new Array(10).fill(1));
      v.dispose();
      expect(wt.memory().bytes).toBe(bytes);
    });
  });

  describe('tidy on failure', () => {
    it('disposes what the failed function allocated and rethrows', () => {
      const before = wt.memory().tensors;
      expect(() => wt.tidy(() => {
        wt.ones([3]).mul(2);
        throw new Error('boom');
      })).toThrow('boom');
      expect(wt.memory().tensors).toBe(before);
    });
  });
});
