/** A first end-to-end check on every backend: ops, printing, autograd, gradcheck and memory. */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend, gradcheck } from './backends.js';
import { expectClose } from './helpers.js';

forEachBackend(() => {
  describe('smoke', () => {
    it('computes, prints, differentiates and frees', async () => {
      const before = wt.memory().tensors;
      const a = wt.tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
      const b = wt.tidy(() => a.mul(2).add(1).exp().sum(1)); // [e³ + e⁵ + e⁷, e⁹ + e¹¹ + e¹³]
      const want = [[3, 5, 7], [9, 11, 13]].map((r) => r.reduce((s, v) => s + Math.exp(v), 0));
      expectClose(await b.data(), want, 0, 1e-6, 'b');
      wt.tidy(() => b.log().sum().backward());
      // d/da log Σ exp(2a + 1) = 2 softmax(2a + 1) along the row
      const g = [[3, 5, 7], [9, 11, 13]].flatMap((r, i) => r.map((v) => (2 * Math.exp(v)) / want[i]));
      expectClose(await a.grad!.data(), g, 1e-6, 1e-5, 'a.grad');
      wt.dispose([a.grad!, a, b]);
      const m = wt.tensor([[1, 2, 3], [4, 5, 6]]);
      const [r, e, t, sl, c, mx, am, lse] = wt.tidy(() => [wt.arange(5), wt.eye(2), m.T.contiguous(), m.slice(1, 0, 3, 2), wt.cat([m, m], 0).sum(), m.amax(1), m.argmax(1), m.logsumexp(1)]);
      expect(await r.format()).toBe('tensor([0, 1, 2, 3, 4], dtype=int32)');
      expect(await e.format()).toBe('tensor([[1., 0.],\n        [0., 1.]])');
      expect(await t.array()).toEqual([[1, 4], [2, 5], [3, 6]]);
      expect(await sl.array()).toEqual([[1, 3], [4, 6]]);
      expect(await c.item()).toBe(42);
      expect(await mx.array()).toEqual([3, 6]);
      expect(await am.array()).toEqual([2, 2]);
      const l3 = Math.log(1 + Math.exp(-1) + Math.exp(-2));
      expectClose(await lse.data(), [3 + l3, 6 + l3], 0, 1e-6, 'logsumexp');
      wt.dispose([m, r, e, t, sl, c, mx, am, lse]);
      expect(wt.memory().tensors).toBe(before);
      const x = wt.randn([3, 4], { seed: 1 });
      await expect(gradcheck((x) => x.mul(x).sum(1).sqrt(), [x])).resolves.toBe(true);
      x.dispose();
    });

    // the .grad of the inputs gradcheck builds go with them (defect 6)
    it('gradcheck leaves no tensor behind', async () => {
      const before = wt.memory().tensors;
      const x = wt.randn([3, 4], { seed: 1 });
      await wt.gradcheck((x) => x.mul(x).sum(1).sqrt(), [x]);
      x.dispose();
      expect(wt.memory().tensors).toBe(before);
    });
  });
});
