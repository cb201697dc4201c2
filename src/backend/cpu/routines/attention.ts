/**
 * CPU fused attention: softmax(scale·q kᵀ) v one query row at a time, never holding more than
 * one row of scores, and its backward. Float64 accumulators (JS numbers) throughout, so this is
 * the reference the WebGPU kernels (shaders/attention.wgsl) are compared against.
 *
 * Legend: Z = B·H matrices, L queries, S keys, E query/key features, Ev value features. q, k, v
 * are 4-D [B, H, T, F] views with any strides (size-1 dims broadcast); every other operand is
 * contiguous. Causal: query i reads keys j ≤ i (top-left aligned).
 */
import type { CpuRoutine, CpuView } from './index.js';

/** Copies matrix (b, h) of a [B, H, T, F] view into `dst` as T×F row-major float64. */
function gatherMatrix(x: CpuView, b: number, h: number, dst: Float64Array): void {
  const [, , T, F] = x.shape;
  const st = x.shape.map((d, i) => (d === 1 ? 0 : x.strides[i]));
  const a = x.data, base = x.offset + b * st[0] + h * st[1];
  for (let t = 0; t < T; t++) {
    const r = base + t * st[2];
    for (let f = 0; f < F; f++) dst[t * F + f] = a[r + f * st[3]];
  }
}

interface Shapes { B: number; H: number; L: number; S: number; E: number; Ev: number }

function shapes(q: CpuView, k: CpuView, v: CpuView): Shapes {
  const [B, H, L, E] = q.shape;
  return { B, H, L, S: k.shape[2], E, Ev: v.shape[3] };
}

/** Keys query i reads. */
const keysOf = (i: number, S: number, causal: boolean): number => (causal ? Math.min(S, i + 1) : S);

/** q[B,H,L,E], k[B,H,S,E], v[B,H,S,Ev] → o[B,H,L,Ev], lse[B,H,L] (logsumexp of each query's scores). */
export const attention: CpuRoutine<'attention'> = ({ scale, causal }, [q, k, v], [o, lse]) => {
  const { B, H, L, S, E, Ev } = shapes(q, k, v);
  const Q = new Float64Array(L * E), K = new Float64Array(S * E), V = new Float64Array(S * Ev);
  const s = new Float64Array(S), acc = new Float64Array(Ev);
  const oa = o.data, la = lse.data;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      gatherMatrix(q, b, h, Q);
      gatherMatrix(k, b, h, K);
      gatherMatrix(v, b, h, V);
      const z = b * H + h;
      for (let i = 0; i < L; i++) {
        const n = keysOf(i, S, causal), qi = i * E;
        let m = -Infinity;
        for (let j = 0; j < n; j++) {
          let d = 0;
          for (let e = 0, kj = j * E; e < E; e++) d += Q[qi + e] * K[kj + e];
          s[j] = d * scale;
          if (s[j] > m) m = s[j]; // a NaN score is skipped here but poisons the sum below
        }
        acc.fill(0);
        let l = 0;
        for (let j = 0; j < n; j++) {
          const p = Math.exp(s[j] - m);
          l += p;
          for (let e = 0, vj = j * Ev; e < Ev; e++) acc[e] += p * V[vj + e];
        }
        const out = o.offset + (z * L + i) * Ev;
        for (let e = 0; e < Ev; e++) oa[out + e] = acc[e] / l;
        la[lse.offset + z * L + i] = m + Math.log(l);
      }
    }
  }
};

/**
 * q, k, v (as the forward), go[B,H,L,Ev], lse[B,H,L], delta[B,H,L] = rowsum(go·o) →
 * gq[B,H,L,E], gk[B,H,S,E], gv[B,H,S,Ev], with p = exp(scale·q·k - lse), ds = p·(go·v - delta).
 */
export const attentionBackward: CpuRoutine<'attentionBackward'> = ({ scale, causal }, [q, k, v, go, lse, delta], [gq, gk, gv]) => {
  const { B, H, L, S, E, Ev } = shapes(q, k, v);
  const Q = new Float64Array(L * E), K = new Float64Array(S * E), V = new Float64Array(S * Ev);
  const GK = new Float64Array(S * E), GV = new Float64Array(S * Ev), gqi = new Float64Array(E);
  const ga = go.data;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      gatherMatrix(q, b, h, Q);
      gatherMatrix(k, b, h, K);
      gatherMatrix(v, b, h, V);
      GK.fill(0);
      GV.fill(0);
      const z = b * H + h;
      for (let i = 0; i < L; i++) {
        const n = keysOf(i, S, causal), qi = i * E, gi = go.offset + (z * L + i) * Ev;
        const li = lse.data[lse.offset + z * L + i], di = delta.data[delta.offset + z * L + i];
        gqi.fill(0);
        for (let j = 0; j < n; j++) {
          let d = 0, dp = 0;
          const kj = j * E, vj = j * Ev;
          for (let e = 0; e < E; e++) d += Q[qi + e] * K[kj + e];
          for (let e = 0; e < Ev; e++) dp += ga[gi + e] * V[vj + e];
          const p = Math.exp(d * scale - li);
          const ds = p * (dp - di) * scale;
          for (let e = 0; e < Ev; e++) GV[vj + e] += p * ga[gi + e];
          for (let e = 0; e < E; e++) {
            gqi[e] += ds * K[kj + e];
            GK[kj + e] += ds * Q[qi + e];
          }
        }
        gq.data.set(gqi, gq.offset + (z * L + i) * E);
      }
      gk.data.set(GK, gk.offset + z * S * E);
      gv.data.set(GV, gv.offset + z * S * Ev);
    }
  }
};
