/**
 * The quantized matmul on the CPU (src/kernel/kernel.ts `qmatmul`, `QuantConfig`): for each
 * output row n, a K-group of codes is dequantized into a small float64 scratch (never the whole
 * weight) and multiplied into every row of x. Accumulates in float64: exact against the
 * dequantize-then-matmul reference up to the final float32 rounding.
 *
 * TODO: a wasm SIMD inner loop (the codes unpacked with i32x4 shifts); this is the reference.
 */
import { BackendError } from '../../../errors.js';
import type { CpuRoutine, CpuView } from './view.js';

function dims(v: CpuView): [number, number] {
  const s = v.shape;
  const C = s.length ? s[s.length - 1] : 1;
  let R = 1;
  for (let i = 0; i < s.length - 1; i++) R *= s[i];
  return [R, C];
}

export const qmatmul: CpuRoutine<'qmatmul'> = (cfg, inputs, outputs) => {
  const { bits, groupSize: G, mins, transpose } = cfg;
  const [x, q, sc, mn] = inputs;
  const [out] = outputs;
  if (inputs.length !== (mins ? 4 : 3)) throw new BackendError(`qmatmul (cpu): expected ${mins ? 4 : 3} inputs, got ${inputs.length}`);
  const [M, xc] = dims(x);
  const [Mo, oc] = dims(out);
  const N = q.shape[0], K = transpose ? oc : xc;
  if (Mo !== M || (transpose ? xc !== N : oc !== N)) throw new BackendError(`qmatmul (cpu): shapes x [${x.shape}], q [${q.shape}], out [${out.shape}] do not agree`);
  const P = 32 / bits, mask = (1 << bits) - 1, zero = 1 << (bits - 1);
  const Gn = Math.ceil(K / G), Wd = (Gn * G) / P;
  if (q.shape[1] !== Wd || sc.shape[0] !== N || sc.shape[1] !== Gn) throw new BackendError(`qmatmul (cpu): q [${q.shape}] / scales [${sc.shape}] do not fit N ${N}, K ${K}, group ${G}`);
  const xd = x.data, qd = q.data, sd = sc.data, md = mn?.data, od = out.data;
  const xo = x.offset, qo = q.offset, so = sc.offset, mo = mn?.offset ?? 0, oo = out.offset;
  const w = new Float64Array(G);
  const acc = new Float64Array(M * (transpose ? K : N));
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < Gn; g++) {
      const s = sd[so + n * Gn + g];
      const m = md ? md[mo + n * Gn + g] : -s * zero;
      const k0 = g * G, kn = Math.min(G, K - k0);
      // a word at a time (G is a multiple of P: a group starts on a word), codes by shifts
      const wb = qo + n * Wd + k0 / P;
      for (let j = 0, k = 0; k < kn; j++) {
        let word = qd[wb + j] >>> 0;
        for (let i = 0; i < P && k < kn; i++, k++, word >>>= bits) {
          const u = word & mask;
          w[k] = md ? s * u + m : s * (u - zero);
        }
      }
      if (!transpose) {
        for (let i = 0; i < M; i++) {
          let a = 0;
          const xb = xo + i * K + k0;
          for (let k = 0; k < kn; k++) a += xd[xb + k] * w[k];
          acc[i * N + n] += a;
        }
      } else {
        // out[i, k] += g[i, n] · W[n, k]
        for (let i = 0; i < M; i++) {
          const gv = xd[xo + i * N + n];
          const ab = i * K + k0;
          for (let k = 0; k < kn; k++) acc[ab + k] += gv * w[k];
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) od[oo + i] = acc[i];
};
