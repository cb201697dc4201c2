/**
 * wt.profile on the CPU backend: every dispatch is timed by the wall clock and named by its
 * kernel (routine name and flags, or the IR ops an expression kernel fuses).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';

beforeAll(async () => {
  await wt.init({ backend: 'cpu' });
});

describe('wt.profile on the CPU backend', () => {
  it('counts and times each kernel by name', async () => {
    const a = wt.randn([33, 17], { seed: 1 }), b = wt.randn([17, 9], { seed: 2 });
    const p = await wt.profile(async () => {
      const c = wt.matmul(a, b).relu();
      const s = c.sum();
      const v = await s.item();
      c.dispose();
      s.dispose();
      return v;
    });
    expect(p.mode).toBe('cpu');
    expect(Number.isFinite(p.result)).toBe(true);
    const names = p.kernels.map((k) => k.name);
    expect(names.some((n) => n.startsWith('matmul'))).toBe(true);
    // with eager fusion the relu folds into the sum as its prologue: one kernel, named by both
    expect(names).toContain(wt.isFusion() ? 'sum(where+lt)' : 'sum(load)');
    for (const k of p.kernels) {
      expect(k.count).toBeGreaterThan(0);
      expect(k.totalMs).toBeGreaterThanOrEqual(0);
      expect(k.meanMs).toBeCloseTo(k.totalMs / k.count, 9);
    }
    expect(p.table()).toMatch(/matmul/);
    expect(p.note).toMatch(/front end/);
  });

  it('does not nest, and detaches after an error', async () => {
    await expect(wt.profile(async () => wt.profile(() => 1))).rejects.toThrow(/do not nest/);
    await expect(wt.profile(() => { throw new Error('boom'); })).rejects.toThrow('boom');
    const p = await wt.profile(() => wt.ones([3]).add(1).sum().item());
    expect(p.kernels.length).toBeGreaterThan(0);
  });
});
