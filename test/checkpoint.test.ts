/**
 * wt.checkpoint (src/checkpoint.ts): a checkpointed step's gradients are the plain step's (every
 * parameter, the input, tensors read from the closure, dropout's masks), on every backend; the
 * activations inside are not kept (peak memory of a small transformer's training step with and
 * without it, printed); errors name the op.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';

const { nn } = wt;

/** A small transformer: blocks of TransformerEncoderLayer (pre-norm, batch first) and a head. */
class Net extends nn.Module {
  blocks: wt.nn.TransformerEncoderLayer[];
  head: wt.nn.Linear;
  useCheckpoint = false;
  constructor(readonly d: number, layers: number, dropout = 0) {
    super();
    this.blocks = Array.from({ length: layers }, () => new nn.TransformerEncoderLayer(d, 4, { dimFeedforward: 4 * d, dropout, batchFirst: true, normFirst: true }));
    this.head = new nn.Linear(d, 1);
  }
  forward(x: wt.Tensor): wt.Tensor {
    for (const b of this.blocks) x = this.useCheckpoint ? wt.checkpoint((h: wt.Tensor) => b.forward(h), x) : wt.tidy(() => b.forward(x));
    return this.head.forward(x).square().mean();
  }
}

/** Gradients of every parameter and of the input after one backward (copied out). */
async function gradsOf(model: nn.Module, x: wt.Tensor): Promise<Map<string, Float32Array>> {
  model.zeroGrad();
  x.zeroGrad();
  wt.tidy(() => (model.forward(x) as wt.Tensor).backward());
  const out = new Map<string, Float32Array>();
  for (const [k, p] of model.namedParameters()) out.set(k, (await p.grad!.data()) as Float32Array);
  out.set('input', (await x.grad!.data()) as Float32Array);
  return out;
}

function expectSameGrads(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol: number): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) expectClose(b.get(k)!, v, tol, tol, k);
}

forEachBackend((kind) => {
  describe('checkpoint', () => {
    it('gives the plain step\'s gradients (parameters and input) through a transformer', async () => {
      const model = new Net(16, 3);
      const x = wt.randn([2, 5, 16], { seed: 1, requiresGrad: true });
      const plain = await gradsOf(model, x);
      model.useCheckpoint = true;
      const ck = await gradsOf(model, x);
      expectSameGrads(plain, ck, 1e-5);
      model.dispose();
      x.dispose();
    });

    it('recomputes dropout with the same masks (the random state is restored)', async () => {
      const model = new Net(16, 2, 0.3);
      const x = wt.randn([2, 5, 16], { seed: 2, requiresGrad: true });
      wt.manualSeed(7);
      const plain = await gradsOf(model, x);
      const lossPlain = await wt.tidy(() => { wt.manualSeed(8); return model.forward(x); }).item();
      model.useCheckpoint = true;
      wt.manualSeed(7);
      const ck = await gradsOf(model, x);
      const lossCk = await wt.tidy(() => { wt.manualSeed(8); return model.forward(x); }).item();
      expectSameGrads(plain, ck, 1e-5);
      expect(lossCk).toBeCloseTo(lossPlain, 6);
      model.dispose();
      x.dispose();
    });

    it('passes gradients to tensors read from the closure (leaves and computed ones) and to several arguments', async () => {
      const run = async (ck: boolean) => {
        const w = wt.randn([4, 4], { seed: 3, requiresGrad: true });
        const a = wt.randn([3, 4], { seed: 4, requiresGrad: true });
        const b = wt.randn([3, 4], { seed: 5, requiresGrad: true });
        wt.tidy(() => {
          // computed outside, read inside (alive until backward: the recomputation reads it)
          const s = w.mul(2).tanh();
          const f = (p: wt.Tensor, q: wt.Tensor, scale: number) => p.matmul(s).mul(q).add(p.matmul(w).sigmoid()).mul(scale);
          const y = ck ? wt.checkpoint(f, a, b, 0.5) : f(a, b, 0.5);
          // `a` is read again outside: its two gradients add up
          y.add(a).square().sum().backward();
        });
        const out = await Promise.all([w, a, b].map(async (t) => Array.from(await t.grad!.data())));
        wt.dispose([w, a, b]);
        return out;
      };
      const plain = await run(false), ck = await run(true);
      ck.forEach((g, i) => expectClose(g, plain[i], 1e-5, 1e-5, `grad ${i}`));
    });

    it('nests, and leaves nothing behind', async () => {
      const lin1 = new nn.Linear(6, 6), lin2 = new nn.Linear(6, 6);
      const x = wt.randn([4, 6], { seed: 6 });
      const step = (ck: boolean) => wt.tidy(() => {
        const inner = (h: wt.Tensor) => lin2.forward(h).relu();
        const outer = (h: wt.Tensor) => (ck ? wt.checkpoint(inner, lin1.forward(h).tanh()) : inner(lin1.forward(h).tanh()));
        const y = ck ? wt.checkpoint(outer, x) : outer(x);
        y.sum().backward();
      });
      step(false);
      const plain = await Promise.all([lin1, lin2].flatMap((l) => [l.weight, l.bias!]).map(async (p) => Array.from(await p.grad!.data())));
      lin1.zeroGrad();
      lin2.zeroGrad();
      step(true);
      const before = wt.memory().tensors;
      const ck = await Promise.all([lin1, lin2].flatMap((l) => [l.weight, l.bias!]).map(async (p) => Array.from(await p.grad!.data())));
      ck.forEach((g, i) => expectClose(g, plain[i], 1e-5, 1e-5, `param ${i}`));
      lin1.zeroGrad();
      lin2.zeroGrad();
      step(true);
      lin1.zeroGrad();
      lin2.zeroGrad();
      expect(wt.memory().tensors).toBe(before - 4);
      lin1.dispose();
      lin2.dispose();
      x.dispose();
    });

    it('with LoRA: the adapters\' gradients are the plain step\'s, the frozen base gets none', async () => {
      const model = new Net(16, 2);
      wt.nn.lora.apply(model, { r: 4, alpha: 8, targetModules: ['linear1', 'linear2'], initLoraWeights: false });
      const x = wt.randn([2, 5, 16], { seed: 9 });
      const grads = async () => {
        model.zeroGrad();
        wt.tidy(() => (model.forward(x) as wt.Tensor).backward());
        for (const [k, p] of model.namedParameters()) if (!k.includes('lora_')) expect(p.grad, k).toBeNull();
        return Promise.all(model.trainableParameters().map(async (p) => Array.from(await p.grad!.data())));
      };
      const plain = await grads();
      model.useCheckpoint = true;
      const ck = await grads();
      expect(ck.length).toBe(8);
      ck.forEach((g, i) => expectClose(g, plain[i], 1e-5, 1e-5, `adapter param ${i}`));
      model.dispose();
      x.dispose();
    });

    it('is fn(...args) under noGrad, and refuses what is not a synchronous function returning a Tensor', () => {
      const x = wt.ones([2]);
      const y = wt.noGrad(() => wt.checkpoint((t: wt.Tensor) => t.mul(2), x));
      expect(y.requiresGrad).toBe(false);
      expect(() => wt.checkpoint(null as never)).toThrow(/checkpoint: fn must be a function/);
      expect(() => wt.checkpoint((async (t: wt.Tensor) => t) as never, x)).toThrow(/checkpoint: fn must be synchronous/);
      expect(() => wt.checkpoint((() => 3) as never)).toThrow(wt.ArgumentError);
      expect(() => wt.checkpoint((() => 3) as never)).toThrow(/checkpoint: fn must return a Tensor, got 3/);
      // a tensor fn reads from its closure, disposed before backward
      const w = wt.ones([2], { requiresGrad: true });
      const loss = wt.tidy(() => {
        const s = w.mul(2);
        return wt.checkpoint((t: wt.Tensor) => t.mul(s).sum(), x);
      });
      expect(() => loss.backward()).toThrow(/checkpoint: fn, run again in backward, read a tensor disposed since the forward pass/);
      wt.dispose([w, loss]);
      const d = wt.ones([2]);
      d.dispose();
      expect(() => wt.checkpoint((t: wt.Tensor) => t, d)).toThrow(wt.DisposedError);
      wt.dispose([x, y]);
    });

    it('keeps less memory: peak bytes of a transformer training step with and without it', async () => {
      const d = 64, layers = 6, B = 4, T = 64;
      const model = new Net(d, layers);
      const x = wt.randn([B, T, d], { seed: 10 });
      const peak = (ck: boolean) => {
        model.useCheckpoint = ck;
        model.zeroGrad();
        wt.tidy(() => {
          // warm: the gradients' buffers exist before the measured step, as in a training loop
          (model.forward(x) as wt.Tensor).backward();
        });
        const base = wt.memory().bytes;
        wt.resetPeakMemory();
        wt.tidy(() => (model.forward(x) as wt.Tensor).backward());
        return { peak: wt.memory().peakBytes, above: wt.memory().peakBytes - base };
      };
      const plain = peak(false), ck = peak(true);
      const params = model.parameters().reduce((n, p) => n + p.numel() * 4, 0);
      console.log(`[checkpoint memory, ${kind}] ${layers} pre-norm TransformerEncoderLayer(d=${d}, 4 heads, ff ${4 * d}), batch ${B}x${T}: ` +
        `parameters ${(params / 2 ** 20).toFixed(2)} MiB; peak above the step's start: plain ${(plain.above / 2 ** 20).toFixed(2)} MiB, ` +
        `checkpointed ${(ck.above / 2 ** 20).toFixed(2)} MiB (${(100 * ck.above / plain.above).toFixed(0)}%)`);
      expect(ck.above).toBeLessThan(plain.above * 0.6);
      model.dispose();
      x.dispose();
    });
  });
});
