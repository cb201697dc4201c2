/**
 * Shared by the WebGPU tests: run the same function on the CPU backend and on the current
 * WebGPU backend and compare every returned tensor with a stated tolerance.
 */
import { expect } from 'vitest';
import * as wt from '../../src/index.js';
import { rng } from '../helpers.js';

export type Tol = [atol: number, rtol: number];
export const EXACT: Tol = [0, 0];

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 0.5, -0.5, 1, -1, 2.5, -2.5, 3.5, 1e-5, -1e-5, 20, -20, 3, -3];
const cpu = new wt.CpuBackend();

/** n float32 values: seeded uniforms in [lo, hi), every third one a special value when `special`. */
export function values(n: number, seed: number, lo = -3, hi = 3, special = true): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, (_, i) => (special && i % 3 === 1 ? SPECIAL[((i - 1) / 3 + seed) % SPECIAL.length] : lo + (hi - lo) * r()));
}

export function closeTo(a: ArrayLike<number>, e: ArrayLike<number>, [atol, rtol]: Tol, what: string): void {
  expect(a.length, what).toBe(e.length);
  for (let i = 0; i < e.length; i++) {
    const x = a[i], y = e[i];
    const ok = Number.isNaN(y) ? Number.isNaN(x) : !Number.isFinite(y) ? x === y : Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) throw new Error(`${what}[${i}]: webgpu ${x}, cpu ${y} (atol ${atol}, rtol ${rtol})`);
  }
}

/**
 * Runs `fn` on the CPU and then on the WebGPU backend that is current when called (inside
 * tidy) and compares every returned tensor (null entries must match).
 */
export async function compare(what: string, fn: () => wt.Tensor | (wt.Tensor | null)[], tol: Tol = EXACT): Promise<void> {
  const gpu = wt.getBackend();
  const run = async (b: wt.Backend) => {
    wt.setBackend(b);
    const out = wt.tidy(() => {
      const r = fn();
      return Array.isArray(r) ? r : [r];
    });
    const res = await Promise.all(out.map(async (t) => (t ? { shape: t.shape, dtype: t.dtype, data: await t.data() } : null)));
    out.forEach((t) => t?.dispose());
    return res;
  };
  const c = await run(cpu);
  const g = await run(gpu);
  expect(g.length, what).toBe(c.length);
  c.forEach((ct, k) => {
    const gt = g[k];
    if (!ct || !gt) return expect(gt, `${what} #${k}`).toBe(ct);
    expect(gt.shape, `${what} #${k} shape`).toEqual(ct.shape);
    expect(gt.dtype, `${what} #${k} dtype`).toBe(ct.dtype);
    closeTo(gt.data, ct.data, tol, `${what} #${k}`);
  });
}
