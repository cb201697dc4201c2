/** Shared test helpers: seeded data, float64 references and comparisons. */
import { expect } from 'vitest';
import * as wt from '../src/index.js';

/** mulberry32: a tiny seeded PRNG for test data (not the library's RNG). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n seeded values uniform in [lo, hi), rounded to float32. */
export function randomValues(n: number, seed: number, lo = -2, hi = 2): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
}

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A float32 tensor of seeded values and the same values as a float64 array. */
export function randomTensor(shape: number[], seed: number, lo = -2, hi = 2, opts: { requiresGrad?: boolean } = {}): [wt.Tensor, Float64Array] {
  const v = randomValues(numelOf(shape), seed, lo, hi);
  return [wt.tensor(Float32Array.from(v), { shape, ...opts }), v];
}

/** Asserts |actual - expected| <= atol + rtol*|expected| elementwise, NaN matching NaN. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      expect(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`).toBe(true);
    } else if (!Number.isFinite(e)) {
      expect(a, `${what}[${i}]`).toBe(e);
    } else if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}[${i}]: got ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let a = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = a;
    a *= shape[i];
  }
  return s;
}

/** The multi-index of a flat row-major position. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Reads a value at a broadcast multi-index from a row-major array of shape `shape`. */
export function atBroadcast(vals: ArrayLike<number>, shape: readonly number[], idx: readonly number[]): number {
  const st = stridesOf(shape);
  let off = 0;
  for (let d = 0; d < shape.length; d++) {
    const j = idx[idx.length - shape.length + d];
    off += (shape[d] === 1 ? 0 : j) * st[d];
  }
  return vals[off];
}

export const ODD_SIZES = [1, 3, 17, 33];

/** How a matmul test operand [Z, R, C] is laid out (see operandLayout). */
export type Layout = 'row' | 'col' | 'strided';

/**
 * Strides of a [Z, R, C] operand that is row-major, column-major (the transposed view of a
 * row-major [Z, C, R]) or strided (every stride > 1: every other element of a wider buffer), and
 * the elements its buffer needs from `offset` on. `broadcast` makes Z a stride-0 batch.
 */
export function operandLayout(Z: number, R: number, C: number, layout: Layout, offset = 0, broadcast = false): { strides: number[]; size: number } {
  const zs = broadcast ? 1 : Z;
  const strides = layout === 'row' ? [R * C, C, 1] : layout === 'col' ? [R * C, 1, R] : [R * C * 4, 2 * C * 2, 2];
  const size = offset + (zs - 1) * strides[0] + (R - 1) * strides[1] + (C - 1) * strides[2] + 1;
  if (broadcast) strides[0] = 0;
  return { strides, size };
}
