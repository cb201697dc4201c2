/**
 * Eager elementwise fusion (src/fusion.ts), on the CPU backend and on WebGPU (Dawn on
 * SwiftShader): a chain of elementwise ops is one kernel and gives the values it gives with
 * fusion off; broadcast and strided inputs; a pending tensor used twice; writes into an input of
 * a pending tensor; dispose; reductions with a fused prologue; gradients; the caps.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { MAX_NODES } from '../src/fusion.js';
import { randomTensor } from './helpers.js';

/** Dispatches (kernels) that fn issues, and fn's result. */
async function dispatches<T>(fn: () => T | Promise<T>): Promise<{ n: number; result: T; names: string[] }> {
  const p = await wt.profile(fn);
  return { n: p.kernels.reduce((a, k) => a + k.count, 0), result: p.result, names: p.kernels.map((k) => k.name) };
}

/** A function that computes fn's result, reads its values and disposes it. */
const valuesOf = (fn: () => wt.Tensor) => async (): Promise<Float32Array> => {
  const y = fn();
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
};

/** fn's result's values with fusion on and with it off. */
async function onOff(fn: () => wt.Tensor): Promise<[Float32Array, Float32Array]> {
  const run = async (on: boolean) => {
    wt.setFusion(on);
    const y = fn();
    try {
      return Float32Array.from((await y.data()) as Float32Array);
    } finally {
      y.dispose();
      wt.setFusion(true);
    }
  };
  return [await run(true), await run(false)];
}

/** A bounded mix of mul/add/sub/maximum/neg ops, `n` of them. */
function chain(x: wt.Tensor, n: number): wt.Tensor {
  return wt.tidy(() => {
    let y = x;
    for (let i = 0; i < n; i++) {
      switch (i % 5) {
        case 0: y = y.mul(0.9); break;
        case 1: y = y.add(0.1); break;
        case 2: y = y.sub(x.mul(0.05)); break;
        case 3: y = y.maximum(-3); break;
        default: y = y.neg();
      }
    }
    return y;
  });
}

function suite(backend: 'cpu' | 'webgpu'): void {
  describe(`fusion on ${backend}`, () => {
    let b: wt.Backend;
    beforeAll(async () => {
      b = await wt.init({ backend });
      wt.setFusion(true);
    });
    afterEach(() => wt.setFusion(true));
    afterAll(() => {
      wt.setFusion('auto');
      if (backend === 'webgpu') b.destroy();
    });

    it('a chain of 12 elementwise ops is one kernel, with the values of the unfused ops', async () => {
      const [x] = randomTensor([64, 64], 1);
      await x.data();
      const f = (t: wt.Tensor) => wt.tidy(() => t.mul(1.5).add(0.25).sub(t).relu().mul(t).add(1).neg().maximum(-2).mul(0.5).square().sub(0.125).abs());
      const on = await dispatches(valuesOf(() => f(x)));
      expect(on.n).toBe(1);
      wt.setFusion(false);
      const off = await dispatches(valuesOf(() => f(x)));
      expect(off.n).toBe(12);
      expect(Array.from(on.result)).toEqual(Array.from(off.result));
      x.dispose();
    });

    it('a long chain splits at the caps and stays exact', async () => {
      const [x] = randomTensor([1024], 2);
      await x.data();
      const r = await dispatches(valuesOf(() => chain(x, 1000)));
      expect(r.n).toBeGreaterThan(1);
      expect(r.n).toBeLessThan(100);
      const [on, off] = await onOff(() => chain(x, 1000));
      expect(Array.from(on)).toEqual(Array.from(off));
      expect(Array.from(r.result)).toEqual(Array.from(off));
      x.dispose();
    });

    it('a subtree used twice per op does not blow up (x = x * x + x, 30 times)', async () => {
      const [x] = randomTensor([100], 3, -0.5, 0.5);
      const f = () => wt.tidy(() => {
        let y = x;
        for (let i = 0; i < 30; i++) y = y.mul(y).add(y).mul(0.5);
        return y;
      });
      const [on, off] = await onOff(f);
      expect(Array.from(on)).toEqual(Array.from(off));
      x.dispose();
    });

    it('broadcast and strided inputs inside a fused chain', async () => {
      const [x] = randomTensor([6, 8], 4);
      const [bias] = randomTensor([8], 5);
      const [col] = randomTensor([6, 1], 6);
      const [big] = randomTensor([8, 12], 7);
      await Promise.all([x.data(), bias.data(), col.data(), big.data()]);
      // a transposed view, a stepped slice, two broadcasts: still one kernel
      const f = () => wt.tidy(() => x.add(bias).mul(col).sub(big.T.slice(0, 0, 12, 2)).tanh().mul(x.T.T).add(col));
      const r = await dispatches(valuesOf(() => f()));
      expect(r.n).toBe(1);
      const [on, off] = await onOff(f);
      expect(Array.from(on)).toEqual(Array.from(off));
      // a pending tensor broadcast to a bigger shape, a view of a pending tensor, a reshape of one
      const g = () => wt.tidy(() => {
        const p = bias.mul(3).add(1); // pending [8], broadcast to [6, 8]
        const q = x.mul(p).exp();
        const s = q.sub(1).T.slice(0, 1, 7, 3); // a strided view of a pending tensor
        const t = q.reshape([48]).mul(2).reshape([8, 6]); // a reshape of a pending tensor fuses
        return s.sum().add(t.sum()).add(q.mul(s.mean()).sum(1, true).sum());
      });
      const [a1, a2] = await onOff(g);
      expect(Array.from(a1)).toEqual(Array.from(a2));
      wt.dispose([x, bias, col, big]);
    });

    it('a pending tensor used twice, and read itself', async () => {
      const [x] = randomTensor([33], 8);
      const f = () => wt.tidy(() => {
        const y = x.mul(2).add(1);
        const a = y.exp();
        const c = y.mul(3).sub(a);
        return wt.cat([a, c, y]);
      });
      const [on, off] = await onOff(f);
      expect(Array.from(on)).toEqual(Array.from(off));
      x.dispose();
    });

    it('writing into an input of a pending tensor leaves the pending tensor with the old values', async () => {
      const x = wt.tensor([1, 2, 3, 4]);
      const y = wt.tidy(() => x.mul(2).add(1)); // pending, reads x
      wt.noGrad(() => x.add_(100));
      expect(Array.from(await y.data())).toEqual([3, 5, 7, 9]);
      const z = x.slice(0, 1, 3).neg(); // pending, reads x through a view
      x.slice(0, 0, 2).fill_(-1); // a write through another view of x's storage
      expect(Array.from(await z.data())).toEqual([-102, -103]);
      const w = x.mul(10); // reads x = [-1, -1, 103, 104]
      x.copy_(wt.tensor([0, 0, 0, 0]));
      expect(Array.from(await w.data())).toEqual([-10, -10, 1030, 1040]);
      // an optimizer update writes the parameter (and its state) in place
      const p = wt.tensor([1, 2], { requiresGrad: true });
      const snap = p.detach().mul(1); // pending, reads p
      p.mul(p).sum().backward();
      const opt = new wt.optim.SGD([p], { lr: 0.5 });
      opt.step();
      expect(Array.from(await snap.data())).toEqual([1, 2]);
      expect(Array.from(await p.data())).toEqual([0, 0]);
      wt.dispose([x, y, z, w, p, snap]);
      opt.dispose();
    });

    it('disposing a pending tensor or its inputs: right values, nothing leaks', async () => {
      const base = wt.memory();
      const x = wt.tensor([1, 2, 3]), w = wt.tensor([4, 5, 6]);
      const dropped = wt.tidy(() => x.mul(w).exp()); // never computed
      const n = await dispatches(() => dropped.dispose());
      expect(n.n).toBe(0);
      const y = wt.tidy(() => x.mul(w).add(1));
      x.dispose();
      w.dispose(); // y still holds their storage
      expect(Array.from(await y.data())).toEqual([5, 11, 19]);
      y.dispose();
      expect(wt.memory().tensors).toBe(base.tensors);
      expect(wt.memory().bytes).toBe(base.bytes);
      // a pending chain in a tidy: only the result survives; dropping it frees everything
      const a = wt.tensor([1, 2, 3, 4]);
      const r = wt.tidy(() => a.mul(2).add(1).mul(a).sub(3));
      a.dispose();
      expect(wt.memory().tensors).toBe(base.tensors + 1);
      r.dispose();
      expect(wt.memory().tensors).toBe(base.tensors);
      expect(wt.memory().bytes).toBe(base.bytes);
    });

    it('an elementwise prologue folds into the reduction', async () => {
      const [x] = randomTensor([16, 24], 9);
      await x.data();
      const f = () => wt.tidy(() => x.mul(1.5).sub(0.25).exp().sum(1));
      const r = await dispatches(valuesOf(() => f()));
      expect(r.n).toBe(1);
      expect(r.names[0]).toMatch(/^sum\(/);
      const [on, off] = await onOff(f);
      expect(Array.from(on)).toEqual(Array.from(off));
      // over a middle axis with keepdim, a max, logsumexp, and a dropout mask (not folded: it reads the index)
      const g = () => wt.tidy(() => {
        const t = x.reshape([4, 4, 24]).mul(2).tanh();
        const d = wt.dropout(x.add(1), 0.3, true, 7).sum(0);
        return wt.cat([t.mean(1, true).reshape([-1]), t.amax(2).reshape([-1]), x.add(1).logsumexp(0), d]);
      });
      const [a1, a2] = await onOff(g);
      expect(Array.from(a1)).toEqual(Array.from(a2));
      x.dispose();
    });

    it('gradients through fused chains equal the unfused ones', async () => {
      const run = async (on: boolean) => {
        wt.setFusion(on);
        const [x] = randomTensor([5, 7], 10, -1, 1, { requiresGrad: true });
        const [w] = randomTensor([7], 11, -1, 1, { requiresGrad: true });
        const loss = wt.tidy(() => {
          const h = x.mul(w).add(0.5).tanh().mul(x).sigmoid();
          const l = h.sub(x.square().mul(0.1)).exp().mean().add(x.mul(w).gelu().sum());
          l.backward();
          return l;
        });
        const out = [await loss.data(), await x.grad!.data(), await w.grad!.data()].map((a) => Array.from(a));
        wt.dispose([x, w, loss]);
        return out;
      };
      const on = await run(true), off = await run(false);
      expect(on).toEqual(off);
    });

    it('debug mode does not defer; setFusion checks its argument', async () => {
      wt.setDebug(true);
      try {
        const x = wt.tensor([1, 2]);
        const r = await dispatches(() => x.mul(2).add(1).dispose());
        expect(r.n).toBeGreaterThanOrEqual(2);
        x.dispose();
      } finally {
        wt.setDebug(false);
      }
      expect(() => wt.setFusion('yes' as unknown as boolean)).toThrow(/setFusion/);
      expect(wt.isFusion()).toBe(true);
      wt.setFusion('auto'); // the default: on for WebGPU only
      expect(wt.isFusion()).toBe(backend === 'webgpu');
      const x = wt.tensor([1, 2]);
      expect((await dispatches(async () => { const y = wt.tidy(() => x.mul(2).add(1)); await y.data(); y.dispose(); })).n).toBe(backend === 'webgpu' ? 1 : 2);
      x.dispose();
      expect(MAX_NODES).toBeGreaterThan(8);
    });
  });
}

suite('cpu');
suite('webgpu');
