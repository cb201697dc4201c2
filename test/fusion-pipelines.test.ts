/**
 * What fused kernels cost to compile (issue 19, 3.7): kernels of one form share one pipeline
 * (canonical numbering, src/kernel/canonical.ts); a chain's backward compiles a bounded number of
 * pipelines whatever its depth (results autograd saves are computed when saved, so no kernel
 * recomputes a chain from its start); results folded into a pending one and computed since are
 * read, not recomputed (Storage.materialize). Values equal the unfused ones on both backends;
 * pipeline counts are WebGPU's (`wt.kernelStats()`).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { canonical } from '../src/kernel/canonical.js';
import { remapDynamic } from '../src/record.js';
import { IR } from '../src/kernel/ir.js';
import type { View } from '../src/backend/backend.js';
import { BACKENDS, forEachBackend, useBackend } from './backends.js';
import { expectClose, randomTensor } from './helpers.js';

/** Pipelines (kernels) compiled by fn, and its result. */
async function compiles<T>(fn: () => Promise<T>): Promise<{ n: number; result: T }> {
  const before = wt.kernelStats().compiled;
  const result = await fn();
  return { n: wt.kernelStats().compiled - before, result };
}

/** The gradient of sum(chain(x)) for a chain of `depth` × (mul, add, tanh), and the chain's value. */
async function chainGrad(x: wt.Tensor, depth: number, a = 1.01, b = 0.1): Promise<[Float32Array, Float32Array]> {
  const xg = x.detach().requiresGrad_();
  const y = wt.tidy(() => {
    let h = xg;
    for (let i = 0; i < depth; i++) h = h.mul(a).add(b).tanh();
    h.sum().backward();
    return h;
  });
  const out: [Float32Array, Float32Array] = [Float32Array.from(await xg.grad!.data() as Float32Array), Float32Array.from(await y.data() as Float32Array)];
  wt.dispose([xg, y]);
  return out;
}

/** fn's result with fusion on, and with it off. */
async function onOff<T>(fn: () => Promise<T>): Promise<[T, T]> {
  wt.setFusion(true);
  try {
    const on = await fn();
    wt.setFusion(false);
    return [on, await fn()];
  } finally {
    wt.setFusion('auto');
  }
}

forEachBackend((kind) => {
  describe('fused kernels: values', () => {
    it('a 30-link chain\'s gradient and value equal the unfused ones (and float64\'s)', async () => {
      const [x, xv] = randomTensor([7, 9], 11, -1.5, 1.5);
      const [on, off] = await onOff(() => chainGrad(x, 30));
      expect(Array.from(on[0])).toEqual(Array.from(off[0]));
      expect(Array.from(on[1])).toEqual(Array.from(off[1]));
      // float64: forward, then d tanh = 1 - y², times 1.01 per link
      const ref = Array.from(xv, (v) => {
        let h = v, g = 1;
        const ys: number[] = [];
        for (let i = 0; i < 30; i++) ys.push((h = Math.tanh(h * 1.01 + 0.1)));
        for (let i = 29; i >= 0; i--) g *= (1 - ys[i] * ys[i]) * 1.01;
        return [g, h];
      });
      expectClose(on[0], ref.map((r) => r[0]), 1e-5, 1e-4, 'grad');
      expectClose(on[1], ref.map((r) => r[1]), 1e-5, 1e-5, 'value');
      x.dispose();
    });

    it('a result folded into a pending one, then computed and written in place, is not read in its place', async () => {
      wt.setFusion(true);
      try {
        const x = wt.tensor([1, 2, 3, 4, 5]);
        const a = x.mul(2);
        const b = a.add(1); // folds a's recipe
        expect(Array.from(await a.data())).toEqual([2, 4, 6, 8, 10]); // a computed
        const c = a.sub(3); // pending, folds nothing (a is computed)
        wt.noGrad(() => a.add_(100)); // a's buffer changes: b must not read it
        expect(Array.from(await b.data())).toEqual([3, 5, 7, 9, 11]);
        expect(Array.from(await c.data())).toEqual([-1, 1, 3, 5, 7]);
        wt.dispose([x, a, b, c]);
      } finally {
        wt.setFusion('auto');
      }
    });

    it('links of a chain read in order equal the unfused ones', async () => {
      const [x] = randomTensor([5, 13], 12);
      const [on, off] = await onOff(async () => {
        const hs: wt.Tensor[] = [];
        let h = x;
        for (let i = 0; i < 12; i++) hs.push((h = h.mul(0.9).add(0.2).sigmoid()));
        const vals: number[][] = [];
        for (const t of hs) vals.push(Array.from(await t.data()));
        wt.dispose(hs);
        return vals;
      });
      expect(on).toEqual(off);
      x.dispose();
    });

    it('an elementwise op saves only the inputs its wanted gradients read', async () => {
      const x = wt.tensor([1, 2, 3], { requiresGrad: true });
      const w = wt.tensor([4, 5, 6]);
      const y = wt.tidy(() => x.add(1).mul(w).sum()); // add saves nothing; mul saves w only (x's gradient reads w)
      // w is saved by mul; the add's input x is not saved, so changing it in place does not
      // change the gradient (PyTorch: add saves no input)
      wt.noGrad(() => x.add_(10));
      y.backward();
      expect(Array.from(await x.grad!.data())).toEqual([4, 5, 6]);
      // a leaf that starts requiring gradients after the op gets none from it (as PyTorch)
      const a = wt.tensor([1, 2]), b = wt.tensor([3, 4], { requiresGrad: true });
      const z = a.mul(b).sum();
      a.requiresGrad_();
      z.backward();
      expect(a.grad).toBe(null);
      expect(Array.from(await b.grad!.data())).toEqual([1, 2]);
      wt.dispose([x, w, y, a, b, z]);
    });

    it('kernelStats counts compiled kernels', async () => {
      const s0 = wt.kernelStats();
      const t = wt.tensor([1, 2, 3]);
      // a form no other test of this file uses
      const y = t.mul(3).expm1().floor().abs();
      await y.data();
      const s1 = wt.kernelStats();
      expect(s1.compiled).toBeGreaterThan(s0.compiled);
      expect(s1.compileMs).toBeGreaterThanOrEqual(s0.compileMs);
      expect(s1.cached).toBeGreaterThan(0);
      if (kind === 'webgpu') expect(s1.sourceBytes).toBeGreaterThan(s0.sourceBytes);
      wt.dispose([t, y]);
    });
  });
});

describe.runIf(BACKENDS.includes('webgpu'))('fused kernels compile few pipelines (webgpu)', () => {
  beforeEach(async () => {
    await useBackend('webgpu');
  });

  it('a chain\'s backward compiles a bounded number of pipelines, not one per link', async () => {
    const [x] = randomTensor([64, 64], 13);
    await x.data();
    // the forward link, the fill of sum's gradient, the sum, gradient chunks (as many links as
    // the buffer cap allows; the first reads the fill as a broadcast scalar) and an accumulation
    const { n } = await compiles(() => chainGrad(x, 30, 1.03, 0.05));
    expect(n).toBeLessThanOrEqual(8);
    // the same form at another depth, cut into the same chunks: nothing new
    expect((await compiles(() => chainGrad(x, 36, 0.97, -0.2))).n).toBe(0);
    // another depth adds at most the chunk that ends the chain: one per remainder of the links a chunk holds
    let more = 0;
    for (const depth of [5, 17, 44, 60, 100]) more += (await compiles(() => chainGrad(x, depth))).n;
    expect(more).toBeLessThanOrEqual(5);
    x.dispose();
  });

  it('links of a chain read in order share one pipeline', async () => {
    const [x] = randomTensor([33], 14);
    await x.data();
    const { n } = await compiles(async () => {
      const hs: wt.Tensor[] = [];
      let h = x;
      for (let i = 0; i < 30; i++) hs.push((h = h.mul(1.5).sub(0.25).cos()));
      for (const t of hs) await t.data();
      wt.dispose(hs);
    });
    expect(n).toBeLessThanOrEqual(2);
    x.dispose();
  });

  it('a compiled step with 97 pending results left over compiles a few pipelines', async () => {
    const x = wt.randn([256], { seed: 6 });
    const w = wt.randn([256], { seed: 7 }).requiresGrad_();
    await Promise.all([x.data(), w.data()]);
    const f = wt.compile((a: wt.Tensor) => {
      const l = a.mul(w).tanh().sum();
      l.backward();
      return l;
    });
    const left: wt.Tensor[] = [];
    const { n } = await compiles(async () => {
      let h = x;
      for (let i = 0; i < 97; i++) left.push((h = i % 3 === 0 ? h.mul(1.01) : i % 3 === 1 ? h.add(0.5) : h.tanh()));
      // the warm-up call runs eagerly; the two recordings compute every pending result first
      for (let i = 0; i < 3; i++) {
        const l = f(x);
        await l.item();
        l.dispose();
      }
    });
    expect(n).toBeLessThanOrEqual(12);
    f.dispose();
    wt.dispose([x, w, ...left]);
  });
});

describe('canonical numbering (kernel/canonical.ts, record.ts remapDynamic)', () => {
  const buf = (n: number) => ({ numel: n });
  const view = (b: { numel: number }): View => ({ buf: b, dtype: 'float32', shape: [4], strides: [1], offset: 0 });
  const f = (i: number) => IR.load(i, 'float32');

  it('kernels of one form get one expression, whatever their numbering', () => {
    const [p, q, r] = [buf(4), buf(4), buf(4)];
    // add(mul(load 2, scalar 3), load 0) over [p, r, q], vs the same form numbered otherwise
    const a = canonical([IR.binary('add', IR.binary('mul', f(2), IR.scalar(3)), f(0))], [view(p), view(r), view(q)], [9, 8, 7, 1.5]);
    const b = canonical([IR.binary('add', IR.binary('mul', f(0), IR.scalar(0)), f(1))], [view(q), view(p)], [1.5]);
    expect(a.exprs).toEqual(b.exprs);
    expect(a.views.map((v) => v.buf)).toEqual([q, p]);
    expect(a.scalars).toEqual([1.5]);
    expect(a.scalarAt).toEqual([undefined, undefined, undefined, 0]);
  });

  it('a view loaded twice becomes one load; a rand leaf keeps its three scalars together', () => {
    const p = buf(4);
    const c = canonical([IR.binary('add', f(1), IR.binary('mul', f(0), IR.rand(2, 1)))], [view(p), view(p)], [0, 0, 11, 12, 13]);
    expect(c.views.length).toBe(1);
    expect(c.exprs[0]).toEqual(IR.binary('add', f(0), IR.binary('mul', f(0), IR.rand(0, 1))));
    expect(c.scalars).toEqual([11, 12, 13]);
  });

  it('a node given as computed becomes a load of its buffer', () => {
    const [p, q] = [buf(4), buf(4)];
    const inner = IR.unary('exp', f(0));
    const c = canonical([IR.binary('mul', inner, IR.scalar(0))], [view(p)], [2], new Map([[inner, view(q)]]));
    expect(c.exprs[0]).toEqual(IR.binary('mul', f(0), IR.scalar(0)));
    expect(c.views.map((v) => v.buf)).toEqual([q]);
  });

  it('per-replay scalars move with the renumbering, in runs', () => {
    const values = () => [10, 11, 12, 13];
    // scalars 4..7 are dynamic; 4 and 5 land at 2 and 3, 6 is unread, 7 lands at 0
    const at = [undefined, undefined, undefined, undefined, 2, 3, undefined, 0];
    const runs = remapDynamic({ at: 4, n: 4, values }, at);
    expect(runs.map((r) => [r.at, r.n, [...r.values()]])).toEqual([[2, 2, [10, 11]], [0, 1, [13]]]);
  });
});
