/** Scalar math missing from JavaScript's Math, shared by the CPU backend and reference code. */

/**
 * erf as x·P(x²)/Q(x²) on |x| < 3.92 and ±1 beyond (where float32 rounds erf to ±1): a rational
 * fit made for webtensor (least squares refined toward minimax on [0, 3.92]), |error| < 3e-8 in
 * float64 with relative accuracy near 0, and no exp: about twice as fast as an exp-based fit,
 * which matters for GELU on the CPU. wt_erf (src/kernel/wgsl-lib.ts) evaluates the same formula.
 */
export function erf(x: number): number {
  if (Math.abs(x) >= 3.92) return x > 0 ? 1 : -1;
  const s = x * x;
  const p = 1.1283791809061905 + s * (0.1846508930371541 + s * (0.05426047621520698 + s * (0.0038289363645726453 +
    s * (0.0003798408630125597 + s * (4.704198608715356e-6 + s * -1.3258391788988933e-8)))));
  const q = 1 + s * (0.49697612243147515 + s * (0.11374489532909318 + s * (0.01542212024002535 +
    s * (0.001303630611209822 + s * 6.329272235286794e-5))));
  return (x * p) / q;
}
