import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

const opt = (lr = 1) => new wt.optim.SGD([wt.ones([1], { requiresGrad: true })], { lr });
const trace = (s: { step(): void; getLastLr(): number[] }, n: number) => Array.from({ length: n }, () => (s.step(), s.getLastLr()[0]));

forEachBackend((kind) => {
  describe('schedulers follow PyTorch formulas', () => {
    it('StepLR, MultiStepLR, ExponentialLR', () => {
      expect(trace(new wt.optim.lr.StepLR(opt(), { stepSize: 2, gamma: 0.5 }), 5)).toEqual([1, 0.5, 0.5, 0.25, 0.25]);
      expect(trace(new wt.optim.lr.MultiStepLR(opt(), { milestones: [1, 3], gamma: 0.1 }), 4).map((v) => +v.toPrecision(6))).toEqual([0.1, 0.1, 0.01, 0.01]);
      expect(trace(new wt.optim.lr.ExponentialLR(opt(2), { gamma: 0.5 }), 3)).toEqual([1, 0.5, 0.25]);
    });
    it('CosineAnnealingLR', () => {
      const lrs = trace(new wt.optim.lr.CosineAnnealingLR(opt(1), { tMax: 4, etaMin: 0.1 }), 4);
      lrs.forEach((v, i) => expect(v).toBeCloseTo(0.1 + 0.9 * (1 + Math.cos((Math.PI * (i + 1)) / 4)) / 2, 12));
    });
    it('LinearWarmup composes with another scheduler', () => {
      const o = opt(1);
      const s = new wt.optim.lr.LinearWarmup(o, { warmupSteps: 4, startFactor: 0.2, after: new wt.optim.lr.StepLR(o, { stepSize: 1, gamma: 0.5 }) });
      expect(o.lr).toBeCloseTo(0.2, 12);
      expect(trace(s, 6).map((v) => +v.toFixed(6))).toEqual([0.4, 0.6, 0.8, 1, 0.5, 0.25]);
    });
    it('ReduceLROnPlateau', () => {
      const o = opt(1);
      const s = new wt.optim.lr.ReduceLROnPlateau(o, { patience: 1, factor: 0.5 });
      for (const m of [1, 0.9, 0.95, 0.96, 0.97]) s.step(m);
      expect(o.lr).toBe(0.5);
    });
  });

  describe('gradient clipping', () => {
    it('clipGradNorm scales to maxNorm and returns the total norm', async () => {
      const a = wt.ones([2], { requiresGrad: true }), b = wt.ones([1], { requiresGrad: true });
      a.grad = wt.tensor([3, 0]);
      b.grad = wt.tensor([4]);
      const n = wt.optim.clipGradNorm([a, b], 1);
      expect(await n.item()).toBeCloseTo(5, 5);
      const g = [...(await a.grad!.data()), ...(await b.grad!.data())];
      expect(Math.hypot(...g)).toBeCloseTo(1, 4);
      a.grad = wt.tensor([0.1, 0]);
      wt.optim.clipGradNorm([a], 1);
      expect((await a.grad!.data())[0]).toBeCloseTo(0.1, 6);
    });
    it('clipGradValue clamps', async () => {
      const a = wt.ones([3], { requiresGrad: true });
      a.grad = wt.tensor([-5, 0.5, 5]);
      wt.optim.clipGradValue([a], 1);
      expect(Array.from(await a.grad!.data())).toEqual([-1, 0.5, 1]);
    });
  });
});
