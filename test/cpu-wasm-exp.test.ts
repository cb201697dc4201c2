/**
 * The WebAssembly SIMD exp of the float32 CPU row routines (src/backend/cpu/wasm/rows.ts): the
 * kernel against Math.exp (float64), and softmax / logSoftmax / causal softmax / cross-entropy
 * forward and backward through the CPU routines against float64 references, with row lengths
 * that leave a tail of 1–3 elements, -inf entries (masked scores: exactly 0), and rows whose
 * max is +inf or NaN (left to the Math.exp path: the same NaN / 0 pattern as before). Float64
 * storage (the gradcheck backend) keeps Math.exp: bit-identical with the wasm exp on or off.
 *
 * Tolerance: the kernel is within 2 float32 ulps of exp (relative 2.4e-7); the routines' outputs
 * within 1e-6 relative (plus 1e-7 absolute) of float64.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cpuRoutines, type CpuView } from '../src/backend/cpu/routines/index.js';
import { setWasmExp } from '../src/backend/cpu/routines/norm.js';
import { instantiateExp } from '../src/backend/cpu/wasm/rows.js';
import { rng } from './helpers.js';

afterEach(() => setWasmExp(true));

type Storage = Float32Array | Float64Array | Int32Array;
const view = (data: Storage, shape: number[], dtype: 'float32' | 'int32' = 'float32'): CpuView => {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { buf: null as never, dtype, shape, strides, offset: 0, data };
};

describe('wasm SIMD exp kernel', () => {
  it('is within 2 float32 ulps of exp, and exactly 0 below -87.3 and at -inf', () => {
    const n = 1 << 14;
    const w = instantiateExp(n);
    const r = rng(5);
    const xs = Float32Array.from({ length: n }, (_, i) => (i < 8 ? [-Infinity, -87.2, -87.4, -100, 0, -1e-7, -0.5, -0.34657359][i] : -40 * r() ** 2));
    w.f32.set(xs);
    w.exp(0, n / 4, 0);
    for (let i = 0; i < n; i++) {
      const want = Math.exp(xs[i]);
      if (xs[i] < -87.3) expect(w.f32[i], `exp(${xs[i]})`).toBe(0);
      else expect(Math.abs(w.f32[i] / want - 1), `exp(${xs[i]})`).toBeLessThan(2.4e-7);
    }
    expect(w.f32[4]).toBe(1);
    // a shift m: exp(x - m)
    w.f32.set([1, 2, 3, 4]);
    w.exp(0, 1, 4);
    expect(Array.from(w.f32.subarray(0, 4)).map((v, i) => Math.abs(v / Math.exp(i + 1 - 4) - 1) < 2.4e-7)).toEqual([true, true, true, true]);
    // its sum (float64) is the sum of what it stored
    w.f32.set(xs.subarray(0, 64));
    const s = w.exp(0, 16, 0);
    expect(s).toBeCloseTo(Array.from(w.f32.subarray(0, 64)).reduce((a, b) => a + b, 0), 12);
  });

  it('max (NaN wins) and scale', () => {
    const w = instantiateExp(64);
    w.f32.set([1, -3, 7, 2, 5, 9.5, -1, 0, 3, 3, 3, 3]);
    expect(w.max(0, 3)).toBe(9.5);
    expect(w.max(32, 1)).toBe(3); // floats 8..11
    expect(w.max(0, 1)).toBe(7);
    w.f32[6] = NaN;
    expect(w.max(0, 3)).toBeNaN();
    w.f32.set([1, 2, 3, 4, 5, 6, 7, 8]);
    w.scale(0, 2, 0.5);
    expect(Array.from(w.f32.subarray(0, 8))).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]);
  });
});

/** Rows of seeded values in [-8, 8) with specials placed in some rows. */
function rows(R: number, D: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = Float32Array.from({ length: R * D }, () => 16 * r() - 8);
  if (R > 3 && D > 2) {
    x[0 * D + 1] = -Infinity; // a masked score
    x[1 * D + 0] = Infinity; // max +inf: NaN where inf - inf
    x[2 * D + 2] = NaN; // NaN propagates to the row
  }
  return x;
}

/** float64 softmax / log-softmax of a row (NaN for a +inf max or a NaN, as PyTorch). */
function refRow(x: ArrayLike<number>, o: number, n: number, log: boolean): number[] {
  let m = -Infinity;
  for (let j = 0; j < n; j++) m = Math.max(m, x[o + j]);
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(x[o + j] - m);
  return Array.from({ length: n }, (_, j) => (log ? x[o + j] - m - Math.log(s) : Math.exp(x[o + j] - m) / s));
}

function expectRow(got: ArrayLike<number>, want: number[], what: string): void {
  want.forEach((w, j) => {
    const g = got[j];
    if (Number.isNaN(w)) expect(g, `${what}[${j}]`).toBeNaN();
    else if (!Number.isFinite(w)) expect(g, `${what}[${j}]`).toBe(w);
    else expect(Math.abs(g - w), `${what}[${j}]: ${g} vs ${w}`).toBeLessThanOrEqual(1e-6 * Math.abs(w) + 1e-7);
  });
}

describe('CPU row routines on the wasm exp', () => {
  for (const D of [1, 3, 4, 7, 64, 131]) {
    it(`softmax, logSoftmax, causal softmax, rows of ${D}`, () => {
      const R = 6;
      const x = rows(R, D, D);
      for (const log of [false, true]) {
        for (const causal of [false, true]) {
          const y = new Float32Array(R * D);
          const shape = causal ? [2, R / 2, D] : [R, D];
          cpuRoutines.softmax({ log, causal }, [view(x, shape)], [view(y, shape)]);
          for (let r = 0; r < R; r++) {
            const n = causal ? Math.min(D, (r % (R / 2)) + 1) : D;
            const want = refRow(x, r * D, n, log);
            expectRow(y.subarray(r * D, r * D + n), want, `softmax log=${log} causal=${causal} row ${r}`);
            for (let j = n; j < D; j++) expect(y[r * D + j]).toBe(log ? -Infinity : 0);
          }
        }
      }
    });
  }

  it('cross-entropy forward and backward, rows of 65 and 5 classes', () => {
    for (const D of [65, 5]) {
      const R = 7;
      const x = rows(R, D, 40 + D);
      const t = Int32Array.from({ length: R }, (_, r) => (r * 3) % D);
      t[6] = -100; // ignored
      const loss = new Float32Array(R), gl = Float32Array.from({ length: R }, (_, r) => 0.5 + r);
      const gx = new Float32Array(R * D);
      cpuRoutines.crossEntropy({ ignoreIndex: -100 }, [view(x, [R, D]), view(t, [R], 'int32')], [view(loss, [R])]);
      cpuRoutines.crossEntropyBackward({ ignoreIndex: -100 }, [view(x, [R, D]), view(t, [R], 'int32'), view(gl, [R])], [view(gx, [R, D])]);
      for (let r = 0; r < R; r++) {
        const lsm = refRow(x, r * D, D, true);
        if (r === 6) {
          expect(loss[r]).toBe(0);
          expect(Array.from(gx.subarray(r * D, (r + 1) * D)).every((v) => v === 0)).toBe(true);
          continue;
        }
        expectRow([loss[r]], [-lsm[t[r]]], `loss row ${r}`);
        expectRow(gx.subarray(r * D, (r + 1) * D), lsm.map((l, j) => (Math.exp(l) - (j === t[r] ? 1 : 0)) * gl[r]), `grad row ${r}`);
      }
    }
  });

  /** softmax of x [R, D] with the wasm exp on, then off */
  const onOff = <T extends Float32Array | Float64Array>(x: T, R: number, D: number): [T, T] => {
    const run = (): T => {
      const y = new (x.constructor as new (n: number) => T)(R * D);
      cpuRoutines.softmax({ log: false }, [view(x, [R, D])], [view(y, [R, D])]);
      return y;
    };
    const on = run();
    setWasmExp(false);
    return [on, run()];
  };

  it('float32 rows do go through the wasm exp (its roundings differ from Math.exp somewhere)', () => {
    const [wasm, js] = onOff(rows(8, 131, 77), 8, 131);
    expect(wasm.some((v, i) => v !== js[i] && !Number.isNaN(v))).toBe(true);
  });

  it('float64 storage keeps Math.exp: identical with the wasm exp on or off', () => {
    const [on, off] = onOff(Float64Array.from(rows(4, 37, 9)), 4, 37);
    expect(off).toEqual(on);
  });
});
