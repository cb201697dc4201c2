/**
 * CPU fused attention: softmax(scale·q kᵀ) v a block of {@link QB} query rows at a time, and its
 * backward, so that at most QB rows of scores exist at once (O(QB·S) scratch rather than the
 * composed path's L·S per matrix). The products are the CPU matmul routine's GEMMs (WebAssembly
 * SIMD for float32) on views of the operands as they lie; the softmax rows and the gradient
 * accumulators are float64. On the float64 backend every step is float64, the reference the
 * WebGPU kernels (shaders/attention.wgsl) are tested against.
 *
 * Legend: Z = B·H matrices, L queries, S keys, E query/key features, Ev value features. q, k, v
 * are 4-D [B, H, T, F] views with any strides (size-1 dims broadcast); every other operand is
 * contiguous. Causal: query i reads keys j ≤ i (top-left aligned), so a block's GEMMs stop at
 * its last row's key.
 */
import type { StorageArray } from '../../../dtype.js';
import type { CpuRoutine, CpuView } from './view.js';
import { matmul } from './matmul.js';
import { attentionShortGradParts } from '../../../kernel/kernel.js';

/** Query rows per block. */
const QB = 64;

/** A 2-D view [R, C] of `data` with strides (sr, sc). */
const view = (data: StorageArray, offset: number, R: number, C: number, sr: number, sc: number): CpuView =>
  ({ buf: { numel: data.length }, data, dtype: 'float32', shape: [R, C], strides: [sr, sc], offset });

/** out = a @ b (overwritten; `out` contiguous, as the routine requires). */
const mm = (a: CpuView, b: CpuView, out: CpuView): void => matmul({ bias: false }, [a, b], [out]);

/** Matrix (b, h) of a [B, H, T, F] view: its offset and the strides of T and F (0 for size 1). */
function matrix(x: CpuView, b: number, h: number): { off: number; st: number; sf: number } {
  const s = x.shape.map((d, i) => (d === 1 ? 0 : x.strides[i]));
  return { off: x.offset + b * s[0] + h * s[1], st: s[2], sf: s[3] };
}

interface Geometry { B: number; H: number; L: number; S: number; E: number; Ev: number }

function geometry(q: CpuView, k: CpuView, v: CpuView): Geometry {
  const [B, H, L, E] = q.shape;
  return { B, H, L, S: k.shape[2], E, Ev: v.shape[3] };
}

/** Keys the block of rows i0 .. i0 + n reads. */
const keysOf = (i0: number, n: number, S: number, causal: boolean): number => (causal ? Math.min(S, i0 + n) : S);

/** Scratch of the operands' own element type (float64 on the float64 backend). */
const scratch = (like: StorageArray, n: number): StorageArray => (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));

/** q[B,H,L,E], k[B,H,S,E], v[B,H,S,Ev] → o[B,H,L,Ev], lse[B,H,L] (logsumexp of each query's scores). */
export const attention: CpuRoutine<'attention'> = ({ scale, causal }, [q, k, v], [o, lse]) => {
  const { B, H, L, S, E, Ev } = geometry(q, k, v);
  const P = scratch(o.data, QB * S);
  const oa = o.data, la = lse.data;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const z = b * H + h, Q = matrix(q, b, h), K = matrix(k, b, h), V = matrix(v, b, h);
      for (let i0 = 0; i0 < L; i0 += QB) {
        const n = Math.min(QB, L - i0), kc = keysOf(i0, n, S, causal);
        // scores of the block: [n, E] @ [E, kc] (kᵀ read in place) into P as [n, kc]
        mm(view(q.data, Q.off + i0 * Q.st, n, E, Q.st, Q.sf), view(k.data, K.off, E, kc, K.sf, K.st), view(P, 0, n, kc, kc, 1));
        for (let r = 0; r < n; r++) {
          const i = i0 + r, nk = causal ? Math.min(S, i + 1) : S, base = r * kc;
          let m = -Infinity;
          for (let j = 0; j < nk; j++) {
            const s = P[base + j] * scale;
            P[base + j] = s;
            if (s > m) m = s; // a NaN score is skipped here but poisons the sum below
          }
          let l = 0;
          for (let j = 0; j < nk; j++) l += P[base + j] = Math.exp(P[base + j] - m);
          const inv = 1 / l;
          for (let j = 0; j < nk; j++) P[base + j] *= inv;
          for (let j = nk; j < kc; j++) P[base + j] = 0;
          la[lse.offset + z * L + i] = m + Math.log(l);
        }
        // the block's output rows: [n, kc] @ [kc, Ev]
        mm(view(P, 0, n, kc, kc, 1), view(v.data, V.off, kc, Ev, V.st, V.sf), view(oa, o.offset + (z * L + i0) * Ev, n, Ev, Ev, 1));
      }
    }
  }
};

/**
 * q, k, v (as the forward), go[B,H,L,Ev], lse[B,H,L], delta[B,H,L] = rowsum(go·o) →
 * gq[B,H,L,E], gk[B,H,S,E], gv[B,H,S,Ev], with p = exp(scale·q·k - lse), ds = p·(go·v - delta).
 */
export const attentionBackward: CpuRoutine<'attentionBackward'> = ({ scale, causal }, [q, k, v, go, lse, delta], [gq, gk, gv]) => {
  const { B, H, L, S, E, Ev } = geometry(q, k, v);
  const P = scratch(gq.data, QB * S), DS = scratch(gq.data, QB * S), T = scratch(gq.data, S * Math.max(E, Ev));
  const GK = new Float64Array(S * E), GV = new Float64Array(S * Ev);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const z = b * H + h, Q = matrix(q, b, h), K = matrix(k, b, h), V = matrix(v, b, h);
      GK.fill(0);
      GV.fill(0);
      for (let i0 = 0; i0 < L; i0 += QB) {
        const n = Math.min(QB, L - i0), kc = keysOf(i0, n, S, causal);
        const qBlk = view(q.data, Q.off + i0 * Q.st, n, E, Q.st, Q.sf);
        const goBlk = view(go.data, go.offset + (z * L + i0) * Ev, n, Ev, Ev, 1);
        // the weights again, from the scores and each row's logsumexp; dp = go @ vᵀ
        mm(qBlk, view(k.data, K.off, E, kc, K.sf, K.st), view(P, 0, n, kc, kc, 1));
        mm(goBlk, view(v.data, V.off, Ev, kc, V.sf, V.st), view(DS, 0, n, kc, kc, 1));
        for (let r = 0; r < n; r++) {
          const i = i0 + r, nk = causal ? Math.min(S, i + 1) : S, base = r * kc;
          const li = lse.data[lse.offset + z * L + i], di = delta.data[delta.offset + z * L + i];
          for (let j = 0; j < nk; j++) {
            const p = Math.exp(P[base + j] * scale - li);
            P[base + j] = p;
            DS[base + j] = p * (DS[base + j] - di) * scale;
          }
          for (let j = nk; j < kc; j++) P[base + j] = DS[base + j] = 0;
        }
        // gq rows = ds @ k; gv += pᵀ @ go; gk += dsᵀ @ q
        mm(view(DS, 0, n, kc, kc, 1), view(k.data, K.off, kc, E, K.st, K.sf), view(gq.data, gq.offset + (z * L + i0) * E, n, E, E, 1));
        mm(view(P, 0, kc, n, 1, kc), goBlk, view(T, 0, kc, Ev, Ev, 1));
        for (let x = 0; x < kc * Ev; x++) GV[x] += T[x];
        mm(view(DS, 0, kc, n, 1, kc), qBlk, view(T, 0, kc, E, E, 1));
        for (let x = 0; x < kc * E; x++) GK[x] += T[x];
      }
      gk.data.set(GK, gk.offset + z * S * E);
      gv.data.set(GV, gv.offset + z * S * Ev);
    }
  }
};

// ---- short sequences: attentionShort's layouts, the weights kept -------------------------------

/** Copies x [B, H, T, F] (contiguous) into `data` at `off` with strides `st` (b, h, row, feature). */
function scatter4(x: StorageArray, shape: readonly number[], data: StorageArray, off: number, st: readonly number[]): void {
  const [B, H, T, F] = shape;
  let s = 0;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const base = off + b * st[0] + h * st[1] + t * st[2];
    for (let f = 0; f < F; f++) data[base + f * st[3]] = x[s++];
  }
}

/** q[B,H,L,E], k[B,H,S,E], v[B,H,S,Ev] (any strides) → o[B,L,H,Ev] (heads merged), p[B,H,L,S] (the weights; 0 past a causal row's last key). */
export const attentionShort: CpuRoutine<'attentionShort'> = ({ scale, causal }, [q, k, v], [o, p]) => {
  const { B, H, L, S, E, Ev } = geometry(q, k, v);
  const O = scratch(o.data, L * Ev);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const z = b * H + h, Q = matrix(q, b, h), K = matrix(k, b, h), V = matrix(v, b, h), pOff = p.offset + z * L * S;
      const P = view(p.data, pOff, L, S, S, 1);
      mm(view(q.data, Q.off, L, E, Q.st, Q.sf), view(k.data, K.off, E, S, K.sf, K.st), P);
      for (let i = 0; i < L; i++) {
        const nk = causal ? Math.min(S, i + 1) : S, row = pOff + i * S, d = p.data;
        let m = -Infinity;
        for (let j = 0; j < nk; j++) if ((d[row + j] *= scale) > m) m = d[row + j];
        let l = 0;
        for (let j = 0; j < nk; j++) l += d[row + j] = Math.exp(d[row + j] - m);
        const inv = 1 / l;
        for (let j = 0; j < nk; j++) d[row + j] *= inv;
        for (let j = nk; j < S; j++) d[row + j] = 0;
      }
      mm(P, view(v.data, V.off, S, Ev, V.st, V.sf), view(O, 0, L, Ev, Ev, 1));
      scatter4(O, [1, 1, L, Ev], o.data, o.offset + h * Ev + b * L * H * Ev, [0, 0, H * Ev, 1]);
    }
  }
};

/** q, k, v, o[B,L,H,Ev], go[B,H,L,Ev] (any strides), p[B,H,L,S] → g (gq, gk, gv: attentionShortGradParts), ds[B,H,L,S] (scratch). */
export const attentionShortBackward: CpuRoutine<'attentionShortBackward'> = ({ scale, causal, packed }, [q, k, v, o, go, p], [g, ds]) => {
  const { B, H, L, S, E, Ev } = geometry(q, k, v);
  const GO = scratch(g.data, L * Ev), GQ = scratch(g.data, L * E), GK = scratch(g.data, S * E), GV = scratch(g.data, S * Ev);
  const parts = attentionShortGradParts(packed, B, H, L, S, E, Ev);
  const gs = go.shape.map((d, i) => (d === 1 ? 0 : go.strides[i]));
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const z = b * H + h, Q = matrix(q, b, h), K = matrix(k, b, h), V = matrix(v, b, h);
      const P = view(p.data, p.offset + z * L * S, L, S, S, 1), D = view(ds.data, ds.offset + z * L * S, L, S, S, 1);
      // go contiguous; dp = go @ vᵀ into ds, then ds = p·(dp - rowsum(go·o))
      for (let i = 0, n = 0; i < L; i++) for (let f = 0; f < Ev; f++) GO[n++] = go.data[go.offset + b * gs[0] + h * gs[1] + i * gs[2] + f * gs[3]];
      mm(view(GO, 0, L, Ev, Ev, 1), view(v.data, V.off, Ev, S, V.sf, V.st), D);
      for (let i = 0; i < L; i++) {
        let delta = 0;
        for (let f = 0; f < Ev; f++) delta += GO[i * Ev + f] * o.data[o.offset + ((b * L + i) * H + h) * Ev + f];
        const nk = causal ? Math.min(S, i + 1) : S, row = i * S;
        for (let j = 0; j < nk; j++) D.data[D.offset + row + j] = P.data[P.offset + row + j] * (D.data[D.offset + row + j] - delta) * scale;
        for (let j = nk; j < S; j++) D.data[D.offset + row + j] = 0;
      }
      // gq = ds @ k, gk = dsᵀ @ q, gv = pᵀ @ go (p is 0 past a causal row's last key)
      mm(D, view(k.data, K.off, S, E, K.st, K.sf), view(GQ, 0, L, E, E, 1));
      mm(view(D.data, D.offset, S, L, 1, S), view(q.data, Q.off, L, E, Q.st, Q.sf), view(GK, 0, S, E, E, 1));
      mm(view(P.data, P.offset, S, L, 1, S), view(GO, 0, L, Ev, Ev, 1), view(GV, 0, S, Ev, Ev, 1));
      [[GQ, L, E], [GK, S, E], [GV, S, Ev]].forEach(([x, T, F], i) => {
        const st = parts[i].strides;
        scatter4(x as StorageArray, [1, 1, T as number, F as number], g.data, g.offset + parts[i].off + b * st[0] + h * st[1], [0, 0, st[2], st[3]]);
      });
    }
  }
};
