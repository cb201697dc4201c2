/**
 * The WebAssembly SIMD layerNorm rows of the float32 CPU backend (src/backend/cpu/wasm/layernorm.ts,
 * driven by src/backend/cpu/routines/norm.ts): forward and backward, affine and plain, through
 * the CPU routines against float64 references, on row lengths that take the wasm path (multiples
 * of 4, up to several thousand) and that stay JavaScript (odd lengths), at offsets, with rows of
 * large mean (where a careless variance cancels). The JavaScript loops (setWasmLayerNorm(false))
 * are checked the same way, and the two agree to float32 rounding.
 *
 * Tolerance per element: 2e-6 relative to the float64 value's scale (|x̂·w| + |b| forward;
 * rstd·(|ĝ| + mean|ĝ| + |x̂|·mean|ĝ·x̂|) for the input gradient; Σ|terms| for the weight and bias
 * gradients), plus 1e-7 absolute: float32 inputs and outputs around float64 arithmetic.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cpuRoutines, type CpuView } from '../src/backend/cpu/routines/index.js';
import { setWasmLayerNorm } from '../src/backend/cpu/routines/norm.js';
import { rng } from './helpers.js';

afterEach(() => setWasmLayerNorm(true));

function view(data: Float32Array, shape: number[], offset = 0): CpuView {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { buf: null as never, dtype: 'float32', shape, strides, offset, data };
}

/** n float32 values: a row mean of `shift` plus noise of scale `scale`. */
function values(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => shift + scale * (2 * r() - 1));
}

interface Case {
  R: number;
  D: number;
  affine: boolean;
  shift?: number;
  off?: number;
}

/** Forward and backward through the CPU routines (wasm on or off), with their float64 references. */
function run(c: Case, wasm: boolean, seed: number) {
  const { R, D, affine } = c, off = c.off ?? 0, eps = 1e-5;
  setWasmLayerNorm(wasm);
  const x = values(R * D + off, seed, 1, c.shift ?? 0), gy = values(R * D + off, seed + 1);
  const w = values(D, seed + 2, 1, 1), b = values(D, seed + 3);
  const y = new Float32Array(R * D + off).fill(NaN), mean = new Float32Array(2 * R), rstd = new Float32Array(R);
  const xv = view(x, [R, D], off), wv = view(w, [D]), bv = view(b, [D]);
  cpuRoutines.layerNorm({ eps, affine }, affine ? [xv, wv, bv] : [xv], [view(y, [R, D], off), view(mean, [R, 2]), view(rstd, [R])]);
  const gx = new Float32Array(R * D + off).fill(NaN), gw = new Float32Array(D).fill(NaN), gb = new Float32Array(D).fill(NaN);
  const bins = [xv, view(gy, [R, D], off), view(mean, [R, 2]), view(rstd, [R]), ...(affine ? [wv] : [])];
  cpuRoutines.layerNormBackward({ affine }, bins, affine ? [view(gx, [R, D], off), view(gw, [D]), view(gb, [D])] : [view(gx, [R, D], off)]);

  // float64 references (the backward from the float32 mean and rstd the forward stored, as the routine reads them)
  const yRef = new Float64Array(R * D), yMag = new Float64Array(R * D);
  const gxRef = new Float64Array(R * D), gxMag = new Float64Array(R * D);
  const gwRef = new Float64Array(D), gbRef = new Float64Array(D), gwMag = new Float64Array(D), gbMag = new Float64Array(D);
  for (let r = 0; r < R; r++) {
    const o = off + r * D;
    let s = 0;
    for (let j = 0; j < D; j++) s += x[o + j];
    const mu = s / D;
    let q = 0;
    for (let j = 0; j < D; j++) q += (x[o + j] - mu) ** 2;
    const rs = 1 / Math.sqrt(q / D + eps);
    for (let j = 0; j < D; j++) {
      const h = (x[o + j] - mu) * rs;
      yRef[r * D + j] = affine ? h * w[j] + b[j] : h;
      yMag[r * D + j] = affine ? Math.abs(h * w[j]) + Math.abs(b[j]) : Math.abs(h);
    }
    // the stored mean is the pair (m0, m1), m0 + m1 in float64
    const m = mean[2 * r] + mean[2 * r + 1], rr = rstd[r];
    let s1 = 0, s2 = 0, a1 = 0, a2 = 0;
    for (let j = 0; j < D; j++) {
      const h = (x[o + j] - m) * rr, g = affine ? gy[o + j] * w[j] : gy[o + j];
      s1 += g; s2 += g * h; a1 += Math.abs(g); a2 += Math.abs(g * h);
      gwRef[j] += gy[o + j] * h; gbRef[j] += gy[o + j];
      gwMag[j] += Math.abs(gy[o + j] * h); gbMag[j] += Math.abs(gy[o + j]);
    }
    for (let j = 0; j < D; j++) {
      const h = (x[o + j] - m) * rr, g = affine ? gy[o + j] * w[j] : gy[o + j];
      gxRef[r * D + j] = rr * (g - s1 / D - h * (s2 / D));
      gxMag[r * D + j] = rr * (Math.abs(g) + a1 / D + Math.abs(h) * (a2 / D));
    }
  }
  const what = `${JSON.stringify(c)} ${wasm ? 'wasm' : 'js'}`;
  const near = (got: Float32Array, at: number, ref: Float64Array, mag: Float64Array, name: string) => {
    for (let i = 0; i < ref.length; i++) {
      const tol = 2e-6 * mag[i] + 1e-7;
      if (!(Math.abs(got[at + i] - ref[i]) <= tol)) throw new Error(`${what} ${name}[${i}]: got ${got[at + i]}, expected ${ref[i]} (tol ${tol})`);
    }
  };
  near(y, off, yRef, yMag, 'y');
  near(gx, off, gxRef, gxMag, 'gx');
  if (affine) {
    near(gw, 0, gwRef, gwMag, 'gw');
    near(gb, 0, gbRef, gbMag, 'gb');
  }
  // the padding before the rows is untouched
  for (let i = 0; i < off; i++) expect(Number.isNaN(y[i]) && Number.isNaN(gx[i])).toBe(true);
  return { y: y.slice(off), gx: gx.slice(off), gw, gb, mean, rstd };
}

describe('CPU layerNorm rows in wasm', () => {
  const cases: Case[] = [
    { R: 3, D: 4, affine: true },
    { R: 7, D: 64, affine: true, off: 5 },
    { R: 5, D: 68, affine: false },
    { R: 40, D: 1024, affine: true },
    { R: 2, D: 4100, affine: false, off: 3 },
    // a large mean: the variance is of the deviations, not E[x²] - mean²
    { R: 9, D: 256, affine: true, shift: 1000 },
    // odd lengths stay JavaScript
    { R: 6, D: 33, affine: true, off: 1 },
    { R: 4, D: 5, affine: false },
  ];
  for (const [i, c] of cases.entries()) {
    it(`R ${c.R}, D ${c.D}${c.affine ? ', affine' : ''}${c.shift ? `, mean ${c.shift}` : ''}${c.off ? `, offset ${c.off}` : ''}: forward and backward near float64, wasm and JavaScript alike`, () => {
      const a = run(c, true, 10 * i + 1), b = run(c, false, 10 * i + 1);
      // each is within tolerance of float64 (checked in run); they agree to float32 rounding
      for (let k = 0; k < a.y.length; k++) expect(Math.abs(a.y[k] - b.y[k])).toBeLessThanOrEqual(4e-6 * (Math.abs(b.y[k]) + 1));
      if (c.D % 4 !== 0) expect(a).toEqual(b); // the same loops
    });
  }

  it('float32 rows of a multiple of 4 take the wasm path: it sums in lanes, so order shows where float64 loses a term', () => {
    // sequentially 2^60 + 1 rounds to 2^60 and the 1 is lost; the wasm lanes add x0 + x4 first
    const x = Float32Array.from([2 ** 60, 1, 0, 0, -(2 ** 60), 0, 0, 0]);
    const mean = (wasm: boolean) => {
      setWasmLayerNorm(wasm);
      const m = new Float32Array(1);
      cpuRoutines.layerNorm({ eps: 1e-5, affine: false }, [view(x, [1, 8])], [view(new Float32Array(8), [1, 8]), view(m, [1]), view(new Float32Array(1), [1])]);
      return m[0];
    };
    expect(mean(false)).toBe(0);
    expect(mean(true)).toBe(1 / 8);
  });
});
