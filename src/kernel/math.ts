/** Scalar math missing from JavaScript's Math, shared by the CPU backend and reference code. */

/**
 * erf as x·P(x²)/Q(x²) on |x| < ERF_CUT and ±1 beyond (where float32 rounds erf to ±1): a
 * rational fit made for webtensor (least squares refined toward minimax on [0, 3.92]), |error| <
 * 3e-8 in float64 with relative accuracy near 0, and no exp: about twice as fast as an exp-based
 * fit, which matters for GELU on the CPU. The coefficients, lowest degree first, are the one
 * source for every evaluator: this function, the WGSL wt_erf (src/kernel/wgsl-lib.ts) and the
 * CPU backend's WebAssembly kernels (src/backend/cpu/wasm/expr.ts), which evaluate the same
 * Horner steps in the same order.
 */
export const ERF_P = [1.1283791809061905, 0.1846508930371541, 0.05426047621520698, 0.0038289363645726453,
  0.0003798408630125597, 4.704198608715356e-6, -1.3258391788988933e-8] as const;
export const ERF_Q = [1, 0.49697612243147515, 0.11374489532909318, 0.01542212024002535,
  0.001303630611209822, 6.329272235286794e-5] as const;
export const ERF_CUT = 3.92;
const [P0, P1, P2, P3, P4, P5, P6] = ERF_P;
const [, Q1, Q2, Q3, Q4, Q5] = ERF_Q;

export function erf(x: number): number {
  if (Math.abs(x) >= ERF_CUT) return x > 0 ? 1 : -1;
  const s = x * x;
  const p = P0 + s * (P1 + s * (P2 + s * (P3 + s * (P4 + s * (P5 + s * P6)))));
  const q = 1 + s * (Q1 + s * (Q2 + s * (Q3 + s * (Q4 + s * Q5))));
  return (x * p) / q;
}

/** `c[0] + s·(c[1] + s·(… + s·c[n]))` as source text (WGSL and JavaScript read it alike). */
export function hornerSource(c: readonly number[], s: string): string {
  let acc = String(c[c.length - 1]);
  for (let i = c.length - 2; i >= 0; i--) acc = `${String(c[i])} + ${s} * (${acc})`;
  return acc;
}
