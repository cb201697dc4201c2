/**
 * wt.amp.GradScaler (dynamic loss scaling) on every backend: with a power-of-two scale the
 * training is bit-identical to unscaled training; a non-finite gradient skips the step (parameters
 * and optimizer state untouched) and backs the scale off; clean steps grow it; misuse throws.
 * The f16 side (what the scaling protects) is tested on WebGPU in test/webgpu/precision.test.ts.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend, halfPrecisionMatmuls } from './backends.js';
import { expectClose } from './helpers.js';

/** A seeded 4→8→3 MLP, its optimizer and a batch. */
function setup(seed: number, adam = false) {
  wt.manualSeed(seed);
  const model = new wt.nn.Sequential(new wt.nn.Linear(4, 8), new wt.nn.Tanh(), new wt.nn.Linear(8, 3));
  const opt = adam ? new wt.optim.Adam(model.parameters(), { lr: 0.01 }) : new wt.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const x = wt.randn([16, 4], { seed: seed + 1 });
  const y = wt.randint(0, 3, [16], { seed: seed + 2 });
  return { model, opt, x, y };
}

const params = async (m: wt.nn.Module): Promise<number[][]> => Promise.all(m.parameters().map(async (p) => Array.from(await p.data())));

forEachBackend((kind) => {
  describe('GradScaler', () => {
    it('a power-of-two scale leaves training bit-identical (SGD momentum and Adam)', async () => {
      for (const adam of [false, true]) {
        const a = setup(5, adam), b = setup(5, adam);
        const scaler = new wt.amp.GradScaler({ initScale: 2 ** 20, growthInterval: 2 });
        for (let i = 0; i < 4; i++) {
          wt.tidy(() => {
            a.opt.zeroGrad();
            wt.F.crossEntropy(a.model.forward(a.x), a.y).backward();
            a.opt.step();
          });
          b.opt.zeroGrad();
          wt.tidy(() => scaler.scale(wt.F.crossEntropy(b.model.forward(b.x), b.y)).backward());
          expect(await scaler.step(b.opt)).toBe(true);
          scaler.update();
        }
        expect(await params(b.model)).toEqual(await params(a.model));
        // four clean steps with growthInterval 2: grown twice
        expect(scaler.getScale()).toBe(2 ** 22);
      }
    });

    it('unscale divides the gradients in place, before clipping', async () => {
      const p = wt.tensor([1, 2, 3], { requiresGrad: true });
      const opt = new wt.optim.SGD([p], { lr: 1 });
      const scaler = new wt.amp.GradScaler({ initScale: 1024 });
      p.grad = wt.tensor([1024, -2048, 512]);
      scaler.unscale(opt);
      expect(Array.from(await p.grad!.data())).toEqual([1, -2, 0.5]);
      const norm = wt.optim.clipGradNorm([p], 100);
      expect(await norm.item()).toBeCloseTo(Math.sqrt(1 + 4 + 0.25), 5);
      // step does not unscale a second time
      expect(await scaler.step(opt)).toBe(true);
      expect(Array.from(await p.data())).toEqual([0, 4, 2.5]);
      scaler.update();
    });

    it('an infinite or NaN gradient skips the step, keeps the optimizer state and backs the scale off', async () => {
      for (const bad of [Infinity, -Infinity, NaN]) {
        const p = wt.tensor([1, 2], { requiresGrad: true }), q = wt.tensor([3], { requiresGrad: true });
        const opt = new wt.optim.Adam([p, q], { lr: 0.5 });
        const scaler = new wt.amp.GradScaler({ initScale: 8, growthInterval: 1 });
        p.grad = wt.tensor([8, 8]);
        q.grad = wt.tensor([8]);
        expect(await scaler.step(opt)).toBe(true);
        scaler.update();
        expect(scaler.getScale()).toBe(16);
        const before = [Array.from(await p.data()), Array.from(await q.data())];
        const state = opt.stateDict().state;
        const m0 = Array.from(await state['0'].tensors[0].data());
        p.grad = wt.tensor([16, 16]);
        q.grad = wt.tensor([bad]);
        expect(await scaler.step(opt)).toBe(false);
        scaler.update();
        expect(scaler.getScale()).toBe(8);
        expect([Array.from(await p.data()), Array.from(await q.data())]).toEqual(before);
        expect(opt.stateDict().state['0'].step).toBe(1);
        expect(Array.from(await opt.stateDict().state['0'].tensors[0].data())).toEqual(m0);
        // and the next clean step runs (its count is 2: the skipped one never happened)
        p.grad = wt.tensor([8, 8]);
        q.grad = wt.tensor([8]);
        expect(await scaler.step(opt)).toBe(true);
        scaler.update();
        expect(opt.stateDict().state['0'].step).toBe(2);
      }
    });

    it('a loss scaled past float32 overflows, is skipped, and the scale falls until it fits', async () => {
      const { model, opt, x, y } = setup(9);
      const scaler = new wt.amp.GradScaler({ initScale: 2 ** 127, backoffFactor: 2 ** -8 });
      const before = await params(model);
      let skipped = 0;
      for (let i = 0; i < 4; i++) {
        opt.zeroGrad();
        // a loss of a few hundred: its gradients times 2^127 pass float32's 3.4e38
        wt.tidy(() => scaler.scale(wt.F.crossEntropy(model.forward(x), y).mul(256)).backward());
        if (!(await scaler.step(opt))) skipped++;
        scaler.update();
      }
      expect(skipped).toBeGreaterThan(0);
      expect(skipped).toBeLessThan(4);
      expect(scaler.getScale()).toBe(2 ** (127 - 8 * skipped));
      expect(await params(model)).not.toEqual(before);
      for (const p of await params(model)) for (const v of p) expect(Number.isFinite(v)).toBe(true);
    });

    it('keeps memory flat: the overflow flags are freed by update()', async () => {
      const { model, opt, x, y } = setup(11);
      const scaler = new wt.amp.GradScaler();
      const live: number[] = [];
      for (let i = 0; i < 4; i++) {
        opt.zeroGrad();
        wt.tidy(() => scaler.scale(wt.F.crossEntropy(model.forward(x), y)).backward());
        await scaler.step(opt);
        scaler.update();
        live.push(wt.memory().liveTensors);
      }
      expect(new Set(live.slice(1)).size).toBe(1);
    });

    it('disabled: passes through', async () => {
      const scaler = new wt.amp.GradScaler({ enabled: false });
      const p = wt.tensor([1], { requiresGrad: true });
      const opt = new wt.optim.SGD([p], { lr: 1 });
      const loss = p.mul(2).sum();
      expect(scaler.scale(loss)).toBe(loss);
      loss.backward();
      expect(await scaler.step(opt)).toBe(true);
      scaler.update();
      expect(Array.from(await p.data())).toEqual([-1]);
      expect(scaler.getScale()).toBe(1);
      expect(scaler.isEnabled()).toBe(false);
    });

    it('state dict round trip', () => {
      const a = new wt.amp.GradScaler({ initScale: 4, growthInterval: 3 });
      a.update(32);
      const b = new wt.amp.GradScaler();
      b.loadStateDict(a.stateDict());
      expect(b.getScale()).toBe(32);
      expect(b.stateDict().growthTracker).toBe(0);
      expect(() => b.loadStateDict({} as wt.amp.GradScalerState)).toThrow(/GradScaler.loadStateDict: expected/);
    });

    it('clear errors for bad options and misuse', async () => {
      expect(() => new wt.amp.GradScaler({ initScale: 0 })).toThrow(/GradScaler: initScale must be a positive finite number, got 0/);
      expect(() => new wt.amp.GradScaler({ growthFactor: 0.5 })).toThrow(/growthFactor must be greater than 1/);
      expect(() => new wt.amp.GradScaler({ backoffFactor: 2 })).toThrow(/backoffFactor must be less than 1/);
      expect(() => new wt.amp.GradScaler({ growthInterval: 1.5 })).toThrow(/growthInterval must be a positive integer/);
      const scaler = new wt.amp.GradScaler();
      expect(() => scaler.scale(wt.tensor([1], { dtype: 'int32' }))).toThrow(/GradScaler.scale: loss must be float32, got int32 of shape \[1\]/);
      expect(() => scaler.update()).toThrow(/GradScaler.update: no step or unscale since the last update/);
      expect(() => scaler.update(-1)).toThrow(/newScale must be a positive finite number/);
      const p = wt.tensor([1], { requiresGrad: true });
      const opt = new wt.optim.SGD([p], { lr: 1 });
      p.grad = wt.tensor([1]);
      scaler.unscale(opt);
      expect(() => scaler.unscale(opt)).toThrow(/GradScaler.unscale: already called for this optimizer/);
      await scaler.step(opt);
      await expect(scaler.step(opt)).rejects.toThrow(/GradScaler.step: already stepped this optimizer/);
      scaler.update();
      await expect(scaler.step({} as wt.optim.Optimizer)).rejects.toThrow(/GradScaler.step: expected an optimizer/);
    });
  });

  describe('setFloat32MatmulPrecision', () => {
    it('validates, reports, and leaves results in float32 where there are no f16 tiles', async () => {
      expect(wt.getFloat32MatmulPrecision()).toBe('highest');
      expect(() => wt.setFloat32MatmulPrecision('low' as wt.MatmulPrecision)).toThrow(/setFloat32MatmulPrecision: precision must be 'highest', 'high' or 'medium', got "low"/);
      const a = wt.randn([9, 33], { seed: 1 }), b = wt.randn([33, 7], { seed: 2 });
      const full = Array.from(await a.matmul(b).data());
      try {
        wt.setFloat32MatmulPrecision('medium');
        expect(wt.getFloat32MatmulPrecision()).toBe('medium');
        if (!halfPrecisionMatmuls()) expect(Array.from(await a.matmul(b).data())).toEqual(full);
        else expectClose(await a.matmul(b).data(), full, 2e-2, 2e-2, 'f16 tiles');
      } finally {
        wt.setFloat32MatmulPrecision('highest');
      }
    });
  });
});
