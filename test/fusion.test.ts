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
async function dispatches<T>(fn: () => T | Promise<T>): Promise<{ n: number; result: T; names: string[]; count: (prefix: string) => number }> {
  const p = await wt.profile(fn);
  const count = (prefix: string): number => p.kernels.filter((k) => k.name.startsWith(prefix)).reduce((a, k) => a + k.count, 0);
  return { n: p.kernels.reduce((a, k) => a + k.count, 0), result: p.result, names: p.kernels.map((k) => k.name), count };
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

    it('matmul epilogues: gelu(x@W + b), r + x@W, each one GEMM, equal to the unfused ops', async () => {
      // odd sizes (not multiples of any tile), a single row, a transposed weight and a strided residual
      for (const [R, K, N] of [[37, 19, 23], [1, 9, 70], [66, 33, 5]]) {
        const [x] = randomTensor([R, K], 20), [w] = randomTensor([N, K], 21), [bias] = randomTensor([N], 22);
        const [rT] = randomTensor([N, R], 23);
        await Promise.all([x.data(), w.data(), bias.data(), rT.data()]);
        const cases: [string, () => wt.Tensor, string][] = [
          ['gelu', () => wt.tidy(() => wt.linear(x, w, bias).gelu()), 'matmul bias +mul+add+erf'],
          ['relu', () => wt.tidy(() => x.matmul(w.T).relu()), 'matmul +where+lt'],
          ['residual', () => wt.tidy(() => rT.T.add(wt.linear(x, w, bias))), 'matmul bias +add'],
          ['chain', () => wt.tidy(() => rT.T.add(wt.linear(x, w, bias).gelu())), 'matmul bias +add+mul+erf'],
        ];
        for (const [what, f, name] of cases) {
          const on = await dispatches(valuesOf(f));
          expect([on.n, on.names], `${what} ${R}x${K}x${N}`).toEqual([1, [name]]);
          wt.setFusion(false);
          const off = await dispatches(valuesOf(f));
          wt.setFusion(true);
          expect(off.n, what).toBeGreaterThan(1);
          expect(Array.from(on.result), `${what} ${R}x${K}x${N}`).toEqual(Array.from(off.result));
        }
        for (const t of [x, w, bias, rT]) t.dispose();
      }
    });

    it('matmul epilogues under autograd: the saved pre-activation is written by the same GEMM, backward folds gelu\' into the input gradient', async () => {
      const [x0] = randomTensor([13, 10], 30), [w1] = randomTensor([24, 10], 31), [b1] = randomTensor([24], 32);
      const [w2] = randomTensor([10, 24], 33), [b2] = randomTensor([10], 34);
      const run = async (): Promise<{ names: string[]; count: (prefix: string) => number; vals: number[][] }> => {
        const ps = [x0, w1, b1, w2, b2].map((t) => t.detach().requiresGrad_());
        const [x, W1, B1, W2, B2] = ps;
        const r = await dispatches(async () => {
          const loss = wt.tidy(() => x.add(wt.linear(wt.linear(x, W1, B1).gelu(), W2, B2)).square().sum());
          loss.backward();
          const v = [[await loss.item()]];
          loss.dispose();
          for (const p of ps) v.push(Array.from(await p.grad!.data()));
          return v;
        });
        const vals = [...r.result];
        ps.forEach((p) => p.dispose());
        return { names: r.names, count: r.count, vals };
      };
      const on = await run();
      wt.setFusion(false);
      const off = await run();
      wt.setFusion(true);
      // forward: gelu and the residual add in the GEMMs; backward: gelu' in the input gradient's
      // GEMM; no GEMM more than unfused (the pre-activation autograd saves is the GEMM's second output)
      expect(on.count('matmul')).toBe(off.count('matmul'));
      expect(off.count('ew mul+add+erf')).toBe(2);
      expect(on.count('ew mul+add+erf')).toBe(0);
      expect(on.names).toContain('matmul bias +mul+add+erf x2');
      // the residual add (and the gradient's accumulation into x) in GEMMs too
      expect(off.count('ew add')).toBeGreaterThan(0);
      expect(on.count('ew add')).toBe(0);
      expect(on.names).toContain('matmul +mul+add+erf+exp');
      on.vals.forEach((v, i) => v.forEach((g, j) => expect(Math.abs(g - off.vals[i][j]), `value ${i}[${j}]`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(off.vals[i][j])))));
      for (const t of [x0, w1, b1, w2, b2]) t.dispose();
    });

    it('a pending matmul read by something else is the plain product; written into a view, folded once', async () => {
      const [a] = randomTensor([9, 7], 40), [b] = randomTensor([7, 11], 41);
      await Promise.all([a.data(), b.data()]);
      const ref = Array.from(await wt.tidy(() => { wt.setFusion(false); const y = a.matmul(b); wt.setFusion(true); return y; }).data());
      // the product twice in one op (x * x), then read: both from one GEMM each way
      const sq = await dispatches(valuesOf(() => wt.tidy(() => { const y = a.matmul(b); return y.mul(y); })));
      expect(sq.n).toBe(1);
      expect(Array.from(sq.result)).toEqual(ref.map((v) => Math.fround(v * v)));
      // folded into two consumers: the second reads the product the first wrote (refs held)
      const two = await dispatches(async () => {
        const y = a.matmul(b), p = y.relu(), q = y.neg();
        const out = [Array.from(await p.data()), Array.from(await q.data()), Array.from(await y.data())];
        [y, p, q].forEach((t) => t.dispose());
        return out;
      });
      // the second consumer computes the plain product, which the first then reads: GEMM + 2 kernels
      expect(two.n).toBe(3);
      expect(two.result[2]).toEqual(ref);
      expect(two.result[1]).toEqual(ref.map((v) => -v));
      // an in-place write into an operand computes the pending product first
      const c = b.clone();
      const y = a.matmul(c);
      c.mul_(2);
      expect(Array.from(await y.data())).toEqual(ref);
      [y, c, a, b].forEach((t) => t.dispose());
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
