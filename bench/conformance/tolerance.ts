/**
 * How close a WebGPU result must come to the CPU backend's, per op family, and the comparison.
 *
 * The CPU backend is the oracle: it rounds every IR node to float32 once (correctly rounded, as
 * Math.* in double then Math.fround), so the differences measured here are the GPU's own error
 * plus, for sums, the CPU's. The bounds follow from what a conformant WebGPU implementation may
 * do (WGSL spec, "Floating Point Accuracy"), not from what one adapter happened to give:
 *
 * - exact: copies, indexing, comparisons, max/min, select, casts, +, -, × of one rounding
 *   each: both sides round the same real number, so the bits must agree.
 * - ulps(n, abs): elementwise math, |d| ≤ n·ulp(|ref|) + abs. n is the spec's bound plus the
 *   CPU's half ulp (exp: 3 + 2|x| ulp; division 2.5; inverseSqrt 2; composed functions add up
 *   their parts); `abs` holds the spec's absolute bounds (log in [0.5, 2]: 2^-21; sin and cos
 *   on [-π, π]: 2^-11) and the cancellation of composed functions (1 + erf(x) for x ≪ 0).
 * - sum(K): a reduction or GEMM over K terms. Two float32 sums of K random-sign terms in
 *   different orders differ by about ε·√K times the output's scale (partial sums random-walk;
 *   a GPU tree does better, the CPU's sequential loop worse), so |d| ≤ c·√K·ε·(|ref| + rms(ref)),
 *   ε = 2^-23, c = 8 for the tail of millions of elements; for positive terms (softmax sums)
 *   the same bound holds with room, as their relative error is ε·log2 K.
 * - half(K): 'medium' precision, whose GEMM tiles round both operands to f16 (unit roundoff
 *   u = 2^-11) and add 16 products in f16 before summing in f32: each product is off by ~2u
 *   relative and the errors are independent, so the output is off by ~2u·rms(terms)·√K, which
 *   is ~2u of the output's scale whatever K is; c = 8 covers the tail and the f16 sums:
 *   |d| ≤ 8·2^-10·(|ref| + rms(ref)) + sum(K).
 * - rel(r): end-to-end values (training losses), |d| ≤ r·|ref|.
 *
 * NaN must match NaN and infinities must match exactly, whatever the bound.
 */

/** A bound |gpu − cpu| ≤ atol + rtol·|cpu| (+ scaled·rms(cpu)), with a label for the table. */
export interface Tol {
  label: string;
  rtol: number;
  atol: number;
  /** multiplied by the reference's root mean square and added to atol */
  scaled: number;
}

export const F32_EPS = 2 ** -23;
const F16_EPS = 2 ** -10;

export const exact: Tol = { label: 'exact', rtol: 0, atol: 0, scaled: 0 };

/** n float32 ulps relative to the reference, plus an absolute allowance. */
export function ulps(n: number, abs = 0): Tol {
  const a = !abs ? '' : Number.isInteger(Math.log2(abs)) ? ` + 2^${Math.log2(abs)}` : ` + ${abs.toExponential(1)}`;
  return { label: `${n} ulp${a}`, rtol: n * F32_EPS, atol: abs, scaled: 0 };
}

/** A sum of K terms (reductions, GEMMs, row statistics): c·√K·ε of the value and of the output's scale. */
export function sum(K: number, c = 8): Tol {
  const t = c * Math.sqrt(Math.max(K, 1)) * F32_EPS;
  return { label: `${c}√K·ε, K=${K}`, rtol: t, atol: 0, scaled: t };
}

/** Half-precision GEMM operands ('medium' precision) over K terms. */
export function half(K: number): Tol {
  const s = sum(K), h = 8 * F16_EPS;
  return { label: `f16: 8·2^-10 + 8√K·ε, K=${K}`, rtol: s.rtol + h, atol: 0, scaled: s.scaled + h };
}

/** A relative bound for end-to-end values. */
export function rel(r: number): Tol {
  return { label: `rel ${r}`, rtol: r, atol: 0, scaled: 0 };
}

export interface Comparison {
  pass: boolean;
  /** max |gpu − cpu| (Infinity where NaN or infinity do not match) */
  maxAbs: number;
  /** max |gpu − cpu| / max(|cpu|, rms(cpu)): the error relative to the value or, near zero, the output's scale */
  maxRel: number;
  /** max |gpu − cpu| / bound (≤ 1 passes) */
  ratio: number;
  /** the first element out of bounds */
  worst?: string;
  elements: number;
}

/** Compares gpu with the cpu reference under `tol`. */
export function compare(gpu: ArrayLike<number>, cpu: ArrayLike<number>, tol: Tol): Comparison {
  const n = cpu.length;
  if (gpu.length !== n) return { pass: false, maxAbs: Infinity, maxRel: Infinity, ratio: Infinity, worst: `length ${gpu.length}, expected ${n}`, elements: n };
  let ss = 0, finite = 0;
  for (let i = 0; i < n; i++) {
    const c = cpu[i];
    if (Number.isFinite(c)) {
      ss += c * c;
      finite++;
    }
  }
  const rms = finite ? Math.sqrt(ss / finite) : 0;
  const atol = tol.atol + tol.scaled * rms;
  let maxAbs = 0, maxRel = 0, ratio = 0, worst: string | undefined;
  for (let i = 0; i < n; i++) {
    const g = gpu[i], c = cpu[i];
    let d: number, bound: number;
    if (!Number.isFinite(c) || !Number.isFinite(g)) {
      const same = Object.is(g, c) || (Number.isNaN(g) && Number.isNaN(c));
      d = same ? 0 : Infinity;
      bound = 0;
    } else {
      d = Math.abs(g - c);
      bound = atol + tol.rtol * Math.abs(c);
    }
    if (d > maxAbs) maxAbs = d;
    const scale = Math.max(Math.abs(c), rms);
    if (d > 0) maxRel = Math.max(maxRel, scale > 0 && Number.isFinite(scale) ? d / scale : Infinity);
    const r = d === 0 ? 0 : bound > 0 ? d / bound : Infinity;
    if (r > ratio) ratio = r;
    if (r > 1 && worst === undefined) worst = `[${i}] gpu ${g}, cpu ${c}`;
  }
  return { pass: ratio <= 1, maxAbs, maxRel, ratio, worst, elements: n };
}
