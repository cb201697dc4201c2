import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

forEachBackend((kind) => {
  describe('a two-layer MLP trained with hand-written SGD', () => {
    it('reaches 100% accuracy on XOR and stays flat in memory', async () => {
      const x = wt.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
      const y = wt.tensor([[0], [1], [1], [0]]);
      const w1 = wt.randn([2, 8], { seed: 1 }).mul(0.8).requiresGrad_();
      const b1 = wt.zeros([8], { requiresGrad: true });
      const w2 = wt.randn([8, 1], { seed: 2 }).mul(0.8).requiresGrad_();
      const b2 = wt.zeros([1], { requiresGrad: true });
      const params = [w1, b1, w2, b2];
      const forward = (inp: wt.Tensor) => inp.matmul(w1).add(b1).tanh().matmul(w2).add(b2).sigmoid();
      let first = 0, last = 0, m0 = 0;
      for (let step = 0; step < 1000; step++) {
        const loss = wt.tidy(() => {
          const p = forward(x);
          // binary cross-entropy, written out
          const l = y.mul(p.log()).add(y.neg().add(1).mul(p.neg().add(1).log())).mean().neg();
          l.backward();
          return l;
        });
        wt.noGrad(() => params.forEach((p) => { p.sub_(p.grad!, 1.0); p.zeroGrad(); }));
        last = await loss.item();
        loss.dispose();
        if (step === 0) { first = last; m0 = wt.memory().tensors; }
      }
      expect(wt.memory().tensors).toBe(m0);
      expect(last).toBeLessThan(first / 10);
      const pred = await wt.noGrad(() => forward(x)).data();
      expect(Array.from(pred, (v) => (v > 0.5 ? 1 : 0))).toEqual([0, 1, 1, 0]);
    });
  });
});
