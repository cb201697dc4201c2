import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import * as L from '../src/nn/losses.js';
import { expectClose, randomValues } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;

forEachBackend((kind) => {
  describe('losses against float64 references', () => {
    const x = Array.from(randomValues(12, 1, -2, 2));
    const y = Array.from(randomValues(12, 2, -2, 2));
    const p = x.map((v) => 1 / (1 + Math.exp(-v)));
    const t01 = y.map((v) => (v > 0 ? 1 : 0));
    const X = () => wt.tensor(x, { shape: [3, 4] }), Y = () => wt.tensor(y, { shape: [3, 4] });

    it('mse, l1, huber with each reduction', async () => {
      expectClose([await L.mseLoss(X(), Y()).item()], [mean(x.map((v, i) => (v - y[i]) ** 2))], 1e-5);
      expectClose([await L.l1Loss(X(), Y(), { reduction: 'sum' }).item()], [x.reduce((s, v, i) => s + Math.abs(v - y[i]), 0)], 1e-5);
      const hub = x.map((v, i) => { const d = Math.abs(v - y[i]); return d < 0.5 ? 0.5 * d * d : 0.5 * (d - 0.25); });
      expectClose(await L.huberLoss(X(), Y(), { delta: 0.5, reduction: 'none' }).data(), hub, 1e-6);
    });

    it('bce and bceWithLogits agree with each other and the reference', async () => {
      const ref = mean(p.map((q, i) => -(t01[i] * Math.log(q) + (1 - t01[i]) * Math.log(1 - q))));
      const T = wt.tensor(t01, { shape: [3, 4] });
      expectClose([await L.bce(wt.tensor(p, { shape: [3, 4] }), T).item()], [ref], 1e-5);
      expectClose([await L.bceWithLogits(X(), T).item()], [ref], 1e-5);
      // stable for huge logits
      expect(await L.bceWithLogits(wt.tensor([1000, -1000]), wt.tensor([0, 1])).item()).toBeCloseTo(1000, 3);
      const pw = wt.tensor([2, 2, 2, 2]);
      const refPw = mean(x.map((v, i) => -(2 * t01[i] * Math.log(1 / (1 + Math.exp(-v))) + (1 - t01[i]) * Math.log(1 - 1 / (1 + Math.exp(-v))))));
      expectClose([await L.bceWithLogits(X(), T, { posWeight: pw }).item()], [refPw], 1e-5);
    });

    it('crossEntropy with label smoothing and ignoreIndex; nllLoss; hinge', async () => {
      const logits = [[1, 2, 3], [0.5, -1, 2], [0, 0, 0]];
      const tgt = [2, 0, -100];
      const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
      const eps = 0.1;
      const per = logits.slice(0, 2).map((r, i) => {
        const lp = r.map((v) => v - lse(r));
        return (1 - eps) * -lp[tgt[i]] + (eps / 3) * -lp.reduce((s, v) => s + v, 0);
      });
      const Lg = wt.tensor(logits), T = wt.tensor(tgt, { dtype: 'int32' });
      expectClose([await L.crossEntropy(Lg, T, { labelSmoothing: eps }).item()], [mean(per)], 1e-5);
      const plain = logits.slice(0, 2).map((r, i) => lse(r) - r[tgt[i]]);
      expectClose([await L.crossEntropy(Lg, T).item()], [mean(plain)], 1e-5);
      expectClose([await L.nllLoss(wt.logSoftmax(Lg, 1), T).item()], [mean(plain)], 1e-5);
      const h = await L.hingeLoss(wt.tensor([0.5, -2, 3]), wt.tensor([1, 0, -1])).item();
      expectClose([h], [mean([0.5, 0, 4])], 1e-6);
    });

    it('gradients by finite differences', async () => {
      const a = wt.tensor(x.slice(0, 6), { shape: [2, 3] }), b = wt.tensor(y.slice(0, 6), { shape: [2, 3] });
      const t = wt.tensor(t01.slice(0, 6), { shape: [2, 3] });
      await gradcheck((u, v) => L.mseLoss(u, v), [a, b]);
      await gradcheck((u, v) => L.huberLoss(u, v), [a, b]);
      await gradcheck((u, v) => L.bceWithLogits(u, v), [a, t]);
      await gradcheck((u, v) => L.bce(u.sigmoid(), v), [a, t]);
      await gradcheck((u, v) => L.crossEntropy(u, v, { labelSmoothing: 0.2 }), [a, wt.tensor([1, 2], { dtype: 'int32' })]);
      await gradcheck((u, v) => L.hingeLoss(u, v), [a.mul(0.3), wt.tensor([1, -1, 1, -1, 1, -1], { shape: [2, 3] })]);
    });

    it('errors name the shapes and the reduction', () => {
      expect(() => L.mseLoss(wt.ones([2, 3]), wt.ones([3, 2]))).toThrow(/mseLoss: input \[2,3\] and target \[3,2\]/);
      expect(() => L.mseLoss(wt.ones([2]), wt.ones([2]), { reduction: 'avg' as never })).toThrow(/reduction/);
    });
  });
});
