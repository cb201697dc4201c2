/**
 * Weight-only quantization (issue 25): the qmatmul routine against a scalar
 * dequantize-then-matmul float64 reference, the quantizer's round-trip bounds, QuantizedLinear /
 * wt.quantize on models, gradients to the input, LoRA on a quantized base.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { dequantizeArrays, quantizeArrays } from '../src/ops/quant.js';
import { forEachBackend } from './backends.js';
import { randomValues } from './helpers.js';

type Case = { bits: 4 | 8; groupSize: number; mins: boolean };
const CASES: Case[] = [
  { bits: 8, groupSize: 32, mins: false },
  { bits: 8, groupSize: 64, mins: true },
  { bits: 4, groupSize: 32, mins: false },
  { bits: 4, groupSize: 128, mins: true },
];

/** x[M,K] @ Wᵀ in float64 from the dequantized reference. */
function refMatmul(x: ArrayLike<number>, w: Float64Array, M: number, N: number, K: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) {
    let a = 0;
    for (let k = 0; k < K; k++) a += Math.fround(x[i * K + k]) * w[n * K + k];
    y[i * N + n] = a;
  }
  return y;
}

/** max |got - want| relative to Σ|x||w| per entry (float32 summation bound). */
function worstRel(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / (scale[i] + 1e-30));
  return m;
}

describe('quantize on the host', () => {
  for (const c of CASES) {
    it(`round trip within s/2 per value (${c.bits}-bit, group ${c.groupSize}${c.mins ? ', mins' : ''}), K not a multiple of the pack width`, () => {
      const N = 5, K = 2 * c.groupSize + 3; // the last group padded
      const w = randomValues(N * K, 11);
      const a = quantizeArrays(w, N, K, c);
      const d = dequantizeArrays(a, N, K, c);
      let worst = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
        const s = a.scales[n * a.groups + Math.floor(k / c.groupSize)];
        const err = Math.abs(Math.fround(w[n * K + k]) - d[n * K + k]);
        worst = Math.max(worst, err / s);
      }
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-5);
    });
  }
});

forEachBackend((kind) => {
  describe('qmatmul kernel vs the dequantize-then-matmul reference', () => {
    for (const c of CASES) {
      for (const [M, N, K] of [[1, 5, c.groupSize], [3, 33, 2 * c.groupSize], [17, 130, 3 * c.groupSize], [3, 33, c.groupSize + 5]] as const) {
        it(`${c.bits}-bit group ${c.groupSize}${c.mins ? ' mins' : ''}: [${M}, ${K}] @ [${N}, ${K}]ᵀ and its transpose`, async () => {
          const w = randomValues(N * K, M * 7 + N), xv = randomValues(M * K, K + 3), gv = randomValues(M * N, N + 5);
          const a = quantizeArrays(w, N, K, c);
          const d = dequantizeArrays(a, N, K, c);
          const qw = wt.quantizeData(w, [N, K], c);
          const x = wt.tensor(Float32Array.from(xv), { shape: [M, K] });
          const y = await wt.qlinear(x, qw).data();
          const want = refMatmul(xv, d, M, N, K);
          const absx = Array.from(xv, Math.abs), absd = d.map(Math.abs);
          const scale = refMatmul(absx, absd, M, N, K);
          expect(worstRel(y, want, scale), `${kind} forward`).toBeLessThan(K * 1.2e-7);
          // the transpose: g[M,N] @ W → [M,K]
          const g = wt.tensor(Float32Array.from(gv), { shape: [M, N] });
          const gx = await wt.tidy(() => {
            const xr = x.clone().requiresGrad_();
            wt.qlinear(xr, qw).mul(g).sum().backward();
            return wt.keep(xr.grad!);
          }).data();
          const wantT = new Float64Array(M * K), scaleT = new Float64Array(M * K);
          for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
            wantT[i * K + k] += Math.fround(gv[i * N + n]) * d[n * K + k];
            scaleT[i * K + k] += Math.abs(gv[i * N + n] * d[n * K + k]);
          }
          expect(worstRel(gx, wantT, scaleT), `${kind} transpose`).toBeLessThan(N * 1.2e-7);
          // dequantize: exact for symmetric codes (s·(u - z) is one rounding) and on the CPU
          // (float64); with mins on WebGPU s·u + m rounds twice in float32 (or once, fused)
          const dw = await wt.dequantize(qw).data();
          const exact = !c.mins || kind === 'cpu';
          let worst = 0;
          for (let i = 0; i < dw.length; i++) {
            const n = Math.floor(i / K), gi = n * a.groups + Math.floor((i % K) / c.groupSize);
            const bound = exact ? 0 : 2 ** -23 * (Math.abs(d[i] - a.mins![gi]) + Math.abs(d[i]) + Math.abs(a.mins![gi]));
            worst = Math.max(worst, Math.abs(dw[i] - d[i]) - bound - (exact ? Math.abs(Math.fround(d[i]) - d[i]) : 0));
          }
          expect(worst, `${kind} dequantize`).toBeLessThanOrEqual(0);
          wt.dispose([x, g, qw.q, qw.scales, ...(qw.mins ? [qw.mins] : [])]);
        });
      }
    }
  });
});
