/**
 * Who frees what (issue 19, defects 2, 5-8 and 3.3): gradients go with their tensor, a model takes
 * the optimizer state fit made with it, refused constructors and async scopes leak nothing, long
 * graphs release without recursion, `.grad` and optimizer parameters are checked where they are
 * set, tensors saved for the fused attention's backward outlive the tidy that made them, and
 * int32 results that do not fit are refused (at once on the CPU, at the next read on WebGPU).
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';
// the error fn throws, or the one a read of what it returns throws (deferred checks on WebGPU)
import { thrown } from './validation-harness.js';

const live = () => wt.memory().tensors;


forEachBackend(() => {
  describe('gradients belong to their tensor', () => {
    it('dispose() frees .grad: a loop that replaces its weights stays flat', async () => {
      const before = live();
      for (let i = 0; i < 5; i++) {
        const w = wt.randn([3, 2], { seed: i, requiresGrad: true });
        const l = wt.tidy(() => w.square().sum());
        l.backward();
        l.dispose();
        expect(w.grad).not.toBeNull();
        w.dispose();
        expect(w.grad).toBeNull();
      }
      expect(live()).toBe(before);
      // a gradient returned from the tidy that made its tensor (or kept) is the caller's
      const g = wt.tidy(() => {
        const w = wt.ones([2], { requiresGrad: true });
        w.mul(3).sum().backward();
        return w.grad!;
      });
      expect(Array.from(await g.data())).toEqual([3, 3]);
      g.dispose();
      const w2 = wt.ones([2], { requiresGrad: true });
      wt.tidy(() => w2.sum().backward());
      const k = wt.keep(w2.grad!);
      w2.dispose();
      expect(Array.from(await k.data())).toEqual([1, 1]);
      k.dispose();
      expect(live()).toBe(before);
    });

    it('model.dispose() after fit frees the optimizer state fit made (not one passed in)', async () => {
      const x = wt.randn([16, 3], { seed: 1 }), y = wt.randn([16, 1], { seed: 2 });
      const before = live();
      const m = new wt.nn.Linear(3, 1);
      await m.fit([x, y], { epochs: 2, batchSize: 8, loss: 'mse', optimizer: 'adam', verbose: 0 });
      await m.fit([x, y], { epochs: 1, batchSize: 8, loss: 'mse', optimizer: 'sgd', verbose: 0 }); // replaces (and frees) the first
      m.dispose();
      expect(live()).toBe(before);
      const m2 = new wt.nn.Linear(3, 1);
      const opt = new wt.optim.Adam(m2.parameters());
      await m2.fit([x, y], { epochs: 1, batchSize: 8, loss: 'mse', optimizer: opt, verbose: 0 });
      m2.dispose();
      expect(live()).toBe(before + 4); // Adam's two state tensors per parameter stay the user's
      opt.dispose();
      expect(live()).toBe(before);
      wt.dispose([x, y]);
    });
  });

  describe('refusals leak nothing', () => {
    it('constructors check their options before allocating parameters', () => {
      const before = live();
      expect(() => new wt.nn.RNNCell(4, 8, { nonlinearity: 'sigmoid' as never })).toThrow(/^RNNCell: nonlinearity/);
      expect(() => new wt.nn.Embedding(5, 3, { paddingIdx: 10 })).toThrow(/^Embedding: paddingIdx/);
      expect(() => new wt.nn.Embedding(5, 3, { paddingIdx: 1.5 })).toThrow(wt.ArgumentError);
      expect(live()).toBe(before);
      const e = new wt.nn.Embedding(5, 3, { paddingIdx: -1 }); // as torch: counts from the end
      e.dispose();
    });

    it('tidy and noGrad refuse async functions before running them', async () => {
      const before = live();
      let ran = false;
      expect(() => wt.tidy((async () => { ran = true; wt.ones([2]); }) as never)).toThrow(/^tidy: fn must be synchronous, got an async function/);
      expect(() => wt.noGrad((async () => { ran = true; }) as never)).toThrow(/^noGrad: fn must be synchronous, got an async function/);
      expect(ran).toBe(false);
      // a plain function that returns a promise: what it made is freed, and it is refused
      expect(() => wt.tidy(() => { wt.ones([3]); return Promise.resolve(1); })).toThrow(/^tidy: fn must be synchronous, it returned a Promise/);
      expect(live()).toBe(before);
      const x = wt.ones([1], { requiresGrad: true });
      expect(() => wt.noGrad(() => Promise.resolve(x.mul(2)))).toThrow(/^noGrad: fn must be synchronous, it returned a Promise/);
      expect(x.mul(2).requiresGrad).toBe(true); // gradients are on again
      x.dispose();
    });
  });

  describe('long graphs', () => {
    it('a 10,000-op graph made inside tidy is released (and backpropagated) without recursion', async () => {
      const x = wt.ones([4], { requiresGrad: true });
      const before = live();
      wt.tidy(() => {
        let y = x;
        for (let i = 0; i < 10_000; i++) y = y.mul(1.0001);
        return null;
      });
      expect(live()).toBe(before);
      const l = wt.tidy(() => {
        let y = x;
        for (let i = 0; i < 10_000; i++) y = y.mul(1.0001);
        return y.sum();
      });
      l.backward();
      l.dispose();
      expectClose(await x.grad!.data(), new Array(4).fill(1.0001 ** 10_000), 0, 1e-3, 'grad');
      x.dispose();
      expect(live()).toBe(before - 1);
    });
  });

  describe('checked where it is set', () => {
    it('.grad takes a float32 tensor of the same shape only', () => {
      const p = wt.ones([1, 1], { requiresGrad: true });
      expect(() => { p.grad = wt.tensor([[1]], { dtype: 'int32' }); }).toThrow(wt.DTypeError);
      expect(() => { p.grad = wt.tensor([1, 2, 3]); }).toThrow(/^grad: the assigned gradient has shape \[3\] but the tensor has \[1,1\]/);
      expect(() => { p.grad = 'g' as never; }).toThrow(wt.ArgumentError);
      expect(p.grad).toBeNull();
      p.grad = wt.tensor([[0.5]]);
      new wt.optim.SGD([p], { lr: 0.1 }).step();
      p.dispose();
    });

    it('optimizers check hyperparameters changed after construction at the next step', () => {
      const w = wt.ones([2], { requiresGrad: true });
      w.grad = wt.ones([2]);
      const opt = new wt.optim.SGD([w], { lr: 0.1, momentum: 0.9 });
      opt.paramGroups[0].lr = 'a' as never;
      expect(() => opt.step()).toThrow(/^SGD\.step: paramGroups\[0\]\.lr must be a /);
      opt.paramGroups[0].lr = 0.1;
      opt.paramGroups[0].momentum = -1;
      expect(() => opt.step()).toThrow(/^SGD: momentum/);
      opt.dispose();
      w.dispose();
    });

    it('optimizers refuse computed tensors and a parameter listed twice', () => {
      const w = wt.ones([2], { requiresGrad: true });
      const y = w.mul(2);
      expect(() => new wt.optim.SGD([y], { lr: 0.1 })).toThrow(/^SGD: params\[0\] \(shape \[2\]\) is not a leaf tensor/);
      expect(() => new wt.optim.Adam([w, w])).toThrow(/^Adam: params\[1\] \(shape \[2\]\) appears twice in its group/);
      expect(() => new wt.optim.SGD([{ params: [w], lr: 0.1 }, { params: [w], lr: 0.2 }])).toThrow(/^SGD: group 1 params\[0\] .* appears twice \(also in group 0\)/);
      wt.dispose([w, y]);
    });
  });

  describe('fused attention keeps what its backward needs', () => {
    it('q, k, v made inside tidy, backward() after it: the gradients of the composed path', async () => {
      const grads = async (fused: boolean) => {
        const p = wt.randn([2, 5, 8], { seed: 3, requiresGrad: true });
        const out = wt.tidy(() => {
          const q = p.mul(0.5), k = p.add(0.1), v = p.sub(0.2);
          return fused ? wt.fusedAttention(q, k, v, { causal: true }) : wt.nn.scaledDotProductAttention(q, k, v, { isCausal: true });
        });
        out.square().sum().backward();
        const g = await p.grad!.data();
        wt.dispose([p, out]);
        return g;
      };
      expectClose(await grads(true), await grads(false), 1e-5, 1e-4, 'gradient');
    });
  });

  describe('integers that do not fit', () => {
    it('an int32 sum or product that overflows is refused (torch would return int64)', async () => {
      const e1 = await thrown(() => wt.tensor([2 ** 30, 2 ** 30], { dtype: 'int32' }).sum());
      expect(e1).toBeInstanceOf(wt.ArgumentError);
      expect((e1 as Error).message).toMatch(/^sum: the int32 sum of a tensor of shape \[2\] does not fit in int32/);
      expect(await thrown(() => wt.tensor([[-(2 ** 30), -(2 ** 30), -1], [1, 2, 3]], { dtype: 'int32' }).sum(1))).toBeInstanceOf(wt.ArgumentError);
      expect(await thrown(() => wt.tensor([65536, 65536], { dtype: 'int32' }).prod())).toBeInstanceOf(wt.ArgumentError);
      // sums that fit, up to the edges, are exact
      expect(await wt.tensor([2 ** 30, 2 ** 30 - 1], { dtype: 'int32' }).sum().item()).toBe(2 ** 31 - 1);
      expect(await wt.tensor([-(2 ** 30), -(2 ** 30)], { dtype: 'int32' }).sum().item()).toBe(-(2 ** 31));
      expect(await wt.arange(0, 65536).sum().item()).toBe(2147450880);
      expect(await wt.tensor([46340, 46340], { dtype: 'int32' }).prod().item()).toBe(2147395600);
      expect(await wt.tensor([true, true, false]).sum().item()).toBe(2);
    });

    it('int32 values that do not fit are refused where they are made', () => {
      expect(() => wt.full([2], 2 ** 31, { dtype: 'int32' })).toThrow(/^full: value 2147483648 does not fit in int32/);
      expect(() => wt.arange(2 ** 31 - 2, 2 ** 31 + 2)).toThrow(/^arange: the values 2147483646 to 2147483649 do not fit in int32/);
      expect(() => wt.randint(-(2 ** 31), 2 ** 31, [2])).toThrow(/^randint: high - low must be at most 2\^31 - 1/);
    });

    it('randint covers its whole range, uniformly, with the same bits on every backend', async () => {
      const v = await wt.randint(-5, 7, [24_000], { seed: 3 }).data();
      const counts = new Array(12).fill(0);
      for (const k of v) counts[k + 5]++;
      for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
      const big = await wt.randint(-(2 ** 30), 2 ** 30 - 12345, [1000], { seed: 4 }).data();
      expect(Math.min(...big)).toBeGreaterThanOrEqual(-(2 ** 30));
      expect(Math.max(...big)).toBeLessThan(2 ** 30 - 12345);
      expect(new Set(big).size).toBeGreaterThan(990); // not a handful of values
      expect(Array.from(await wt.randint(0, 1000, [4], { seed: 9 }).data())).toEqual([122, 960, 202, 591]);
    });
  });
});
