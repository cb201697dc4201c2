/**
 * Debug mode (wt.setDebug): the first op that makes a NaN or an infinity is named — at once on
 * the CPU, at the next read on WebGPU — while NaNs brought in by data and deliberate -Infinity
 * masks are not blamed on the ops they flow through, and a normal training run raises nothing.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';

afterEach(() => wt.setDebug(false));

function tinyTraining(steps: number): Promise<number> {
  const model = new wt.nn.Sequential(new wt.nn.Linear(3, 8), new wt.nn.ReLU(), new wt.nn.Linear(8, 2));
  const opt = new wt.optim.Adam(model.parameters(), { lr: 0.05 });
  const x = wt.randn([6, 3], { seed: 3 }), y = wt.tensor(new Int32Array([0, 1, 1, 0, 1, 0]));
  let loss = 0;
  return (async () => {
    for (let i = 0; i < steps; i++) {
      const l = wt.tidy(() => {
        opt.zeroGrad();
        const out = wt.F.crossEntropy(model.forward(x), y);
        out.backward();
        wt.optim.clipGradNorm(model.parameters(), 1).dispose();
        opt.step();
        return out;
      });
      loss = await l.item();
      l.dispose();
    }
    model.dispose();
    opt.dispose();
    wt.dispose([x, y]);
    return loss;
  })();
}

for (const backend of ['cpu', 'webgpu'] as const) {
  describe(`debug mode on ${backend}`, () => {
    let be: wt.Backend;
    const use = async () => {
      be ??= await wt.init({ backend });
      wt.setBackend(be);
    };
    afterAll(() => be?.destroy());

    /** Runs fn in debug mode and returns the NonFiniteError it (or the next read) throws. */
    async function caught(fn: () => wt.Tensor): Promise<wt.NonFiniteError | null> {
      wt.setDebug(true);
      let out: wt.Tensor | null = null;
      try {
        out = fn();
        await out.data();
        return null;
      } catch (e) {
        expect(e).toBeInstanceOf(wt.NonFiniteError);
        return e as wt.NonFiniteError;
      } finally {
        out?.dispose();
        wt.setDebug(false);
      }
    }

    it('names the first op that made a NaN, not the ops it flowed through', async () => {
      await use();
      const x = wt.tensor([1, -1, 2]);
      const before = wt.memory().tensors;
      const e = await caught(() => wt.tidy(() => x.log().mul(2).add(1).sum()));
      expect(e!.message).toMatch(/^debug: log produced NaN \(output \[3\]\) from inputs without NaN/);
      expect(wt.memory().tensors).toBe(before);
      // later reads are clean again
      expect(await x.sum().item()).toBe(2);
      x.dispose();
    });

    it('names an op that made an infinity from finite inputs, including in the backward pass', async () => {
      await use();
      const x = wt.tensor([1, 2]);
      expect((await caught(() => x.div(0)))!.message).toMatch(/div produced Infinity/);
      const z = wt.tensor([0, 4]).requiresGrad_();
      const e = await caught(() => {
        const y = z.sqrt().sum();
        y.backward();
        y.dispose();
        return z.grad!;
      });
      expect(e!.message).toMatch(/sqrt backward produced Infinity/);
      z.zeroGrad();
      // inf - inf: NaN made from inputs that had no NaN
      expect((await caught(() => wt.tensor([Infinity]).sub(Infinity)))!.message).toMatch(/sub produced NaN/);
      wt.dispose([x, z]);
    });

    it('does not blame ops for NaN in the data or for deliberate -Infinity masks', async () => {
      await use();
      const data = wt.tensor([NaN, 1, 2]);
      expect(await caught(() => wt.tidy(() => data.mul(2).add(1).exp()))).toBeNull();
      const scores = wt.randn([2, 4], { seed: 1 });
      const mask = wt.tensor([[true, true, false, false], [true, false, true, false]]);
      expect(await caught(() => wt.tidy(() => wt.where(mask, scores, -Infinity).softmax(-1)))).toBeNull();
      wt.dispose([data, scores, mask]);
    });

    it('a training run in debug mode raises nothing and ends where it does without', async () => {
      await use();
      wt.manualSeed(5);
      const plain = await tinyTraining(5);
      wt.manualSeed(5);
      wt.setDebug(true);
      expect(await tinyTraining(5)).toBeCloseTo(plain, 6);
      expect(wt.isDebug()).toBe(true);
    });

    it('setDebug takes a boolean', async () => {
      expect(() => wt.setDebug('yes' as never)).toThrow(wt.ArgumentError);
    });
  });
}
