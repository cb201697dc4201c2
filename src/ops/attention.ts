/**
 * Fused attention: softmax(scale·q kᵀ) v as one `attention` routine forward and one
 * `attentionBackward` routine (plus a row reduction) backward, the "flash" formulation: no
 * [L, S] score or weight matrix is ever stored, so memory grows with L + S rather than L·S, and
 * the forward is one dispatch instead of three.
 *
 * Short sequences (L, S ≤ ATTENTION_SHORT_MAX_ROWS = 256) take the `attentionShort` routines
 * instead: one workgroup per (batch, head), the weights kept for the backward (as the composed
 * path keeps them), so the backward is one launch that recomputes nothing; q, k, v are read in
 * place (the heads of a packed projection), the output is written with the heads merged
 * ([B, L, H, Ev]) and the gradient of a packed q/k/v projection in its own layout, so
 * MultiheadAttention's head split and merge cost no copy (src/autograd/padded.ts coalesces the
 * three gradient slices into that one buffer). A char-gpt training step (b16 t64 c64, 2 layers,
 * 4 heads) goes from 135 to 106 dispatches compiled, at the composed path's step time on
 * SwiftShader (bench/RESULTS.md, 2026-12-06), so 'auto' takes them for
 * L, S ≤ {@link FUSED_ATTENTION_AUTO_SHORT} with head dims ≤ 64, where that was measured.
 *
 * The fused kernels recompute the scores in the backward (about 1.75x the composed path's
 * arithmetic), so where the scores fit comfortably the composed path (two matmuls around a causal
 * softmax) is as fast or faster on the devices measured so far: on SwiftShader the fused forward
 * ran at 0.83–0.88x of it and forward + backward at 0.55–0.73x, whole char-gpt training steps
 * within the noise; on the CPU (blocked GEMMs, src/backend/cpu/routines/attention.ts) 0.7–1.1x
 * (bench/RESULTS.md, 2026-11-22). wt.nn.scaledDotProductAttention (and MultiheadAttention
 * without weights) therefore takes the flash kernels by default only where the composed path
 * would hold a score tensor of {@link FUSED_ATTENTION_AUTO_SCORES} elements or more, where memory
 * decides (and the short-sequence kernels below for short sequences); {@link setFusedAttention} forces either way. It applies with no mask but the causal
 * one, no dropout and head dims up to {@link FUSED_ATTENTION_MAX_FEATURES}.
 */
import { record } from '../autograd/graph.js';
import type { GradTable } from '../autograd/rules.js';
import { noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { broadcastShapes, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkFloat, checkOptions, describeValue } from '../validate.js';
import { ATTENTION_MAX_FEATURES, ATTENTION_SHORT_MAX_ROWS } from '../kernel/kernel.js';
import { runOrZeros } from './run.js';

/** Largest query/key and value feature size (head dim) of the fused kernels. */
export const FUSED_ATTENTION_MAX_FEATURES = ATTENTION_MAX_FEATURES;

/**
 * Score elements (batch · L · S) from which 'auto' picks the fused kernels: 2^24, a
 * 64 MiB float32 score tensor, which the composed path stores about three times over (scores,
 * weights kept for the backward, their gradient).
 */
export const FUSED_ATTENTION_AUTO_SCORES = 1 << 24;

/**
 * Longest sequence (L and S) for which 'auto' takes the short-sequence kernels (head dims up to
 * 64): one workgroup per (batch, head) walks all its rows, which a large GPU would leave mostly
 * idle at long sequences and few heads; measured up to here (bench/RESULTS.md, 2026-12-06).
 */
export const FUSED_ATTENTION_AUTO_SHORT = 128;

export interface FusedAttentionOptions {
  /** default 1/sqrt(E) */
  scale?: number;
  /** query i attends to keys j ≤ i (top-left aligned, as torch's is_causal) */
  causal?: boolean;
}

let fusedMode: boolean | 'auto' = 'auto';

/**
 * Whether wt.nn.scaledDotProductAttention (and MultiheadAttention without weights) uses the
 * fused kernels where they apply: true (always), false (never), or 'auto' (the default: the
 * short-sequence kernels for L, S ≤ {@link FUSED_ATTENTION_AUTO_SHORT} and head dims ≤ 64, the
 * flash kernels for score tensors of {@link FUSED_ATTENTION_AUTO_SCORES} elements or more, the
 * composed path between). As torch.backends.cuda.enable_flash_sdp. Returns the previous setting.
 */
export function setFusedAttention(mode: boolean | 'auto'): boolean | 'auto' {
  if (mode !== true && mode !== false && mode !== 'auto') throw new ArgumentError(`setFusedAttention: mode must be true, false or 'auto', got ${describeValue(mode)}`);
  const was = fusedMode;
  fusedMode = mode;
  return was;
}

/** Whether attention over these operands takes the fused kernels (see the module comment). */
export function fusedAttentionApplies(q: Tensor, k: Tensor, v: Tensor): boolean {
  if (fusedMode === false) return false;
  const E = q.shape[q.ndim - 1], Ev = v.shape[v.ndim - 1];
  const fits = q.dtype === 'float32' && k.dtype === 'float32' && v.dtype === 'float32' &&
    q.numel() > 0 && k.numel() > 0 && v.numel() > 0 && Math.max(E, Ev) <= FUSED_ATTENTION_MAX_FEATURES;
  if (!fits || fusedMode === true) return fits;
  if (shortOn && Math.max(q.shape[q.ndim - 2], k.shape[k.ndim - 2]) <= FUSED_ATTENTION_AUTO_SHORT && Math.max(E, Ev) <= 64) return true;
  const batch = broadcastShapes('scaledDotProductAttention', q.shape.slice(0, -2), k.shape.slice(0, -2), v.shape.slice(0, -2));
  return numel(batch) * q.shape[q.ndim - 2] * k.shape[k.ndim - 2] >= FUSED_ATTENTION_AUTO_SCORES;
}

/** The routine's 4-D view [B, H, T, F] of an operand [...batch, T, F] broadcast to `batch`. */
function as4d(t: Tensor, batch: readonly number[]): Tensor {
  const [T, F] = t.shape.slice(-2);
  let x = t.expand([...batch, T, F]);
  if (batch.length > 2) return x.reshape([-1, batch[batch.length - 1], T, F]);
  while (x.ndim < 4) x = x.unsqueeze(0);
  return x;
}

interface Prepared { batch: number[]; L: number; S: number; E: number; Ev: number; scale: number }

function prepare(op: string, q: Tensor, k: Tensor, v: Tensor, o: FusedAttentionOptions): Prepared {
  for (const [n, t] of [['query', q], ['key', k], ['value', v]] as const) {
    checkFloat(op, n, t);
    if (t.ndim < 2) throw new ShapeError(`${op}: ${n} must be at least 2-D [..., seq, features], got ${fmt(t.shape)}`);
  }
  const L = q.shape[q.ndim - 2], E = q.shape[q.ndim - 1], S = k.shape[k.ndim - 2], Ev = v.shape[v.ndim - 1];
  if (k.shape[k.ndim - 1] !== E || v.shape[v.ndim - 2] !== S) {
    throw new ShapeError(`${op}: query ${fmt(q.shape)}, key ${fmt(k.shape)} and value ${fmt(v.shape)} must be [..., L, E], [..., S, E], [..., S, Ev]`);
  }
  if (Math.max(E, Ev) > FUSED_ATTENTION_MAX_FEATURES) {
    throw new ShapeError(`${op}: feature sizes E ${E} (query ${fmt(q.shape)}) and Ev ${Ev} (value ${fmt(v.shape)}) must be at most ${FUSED_ATTENTION_MAX_FEATURES}`);
  }
  const batch = broadcastShapes(op, q.shape.slice(0, -2), k.shape.slice(0, -2), v.shape.slice(0, -2));
  const scale = o.scale ?? 1 / Math.sqrt(E);
  if (!Number.isFinite(scale)) throw new ArgumentError(`${op}: scale must be finite, got ${describeValue(scale)}`);
  return { batch, L, S, E, Ev, scale };
}

/**
 * softmax(scale·q kᵀ) v over q [..., L, E], k [..., S, E], v [..., S, Ev] → [..., L, Ev] (batch
 * dims broadcast) in fused kernels that never store the scores. Feature sizes up to
 * {@link FUSED_ATTENTION_MAX_FEATURES}. With no keys (S = 0) every output is NaN, as the
 * softmax of an empty row.
 *
 * @example
 * const y = wt.fusedAttention(q, k, v, { causal: true }); // q, k, v [B, nh, T, hs]
 */
export function fusedAttention(q: Tensor, k: Tensor, v: Tensor, o: FusedAttentionOptions = {}): Tensor {
  const op = 'fusedAttention';
  checkOptions(op, o, ['causal', 'scale']);
  if (o.causal !== undefined) checkBoolean(op, 'causal', o.causal);
  const p = prepare(op, q, k, v, o);
  const { batch, L, S, Ev, scale } = p;
  const causal = !!o.causal;
  const Z = numel(batch);
  const short = shortApplies(L, S);
  const r = tidy(() => noGrad(() => {
    const q4 = as4d(q, batch), k4 = as4d(k, batch), v4 = as4d(v, batch);
    const [B, H] = q4.shape;
    const work = S === 0 ? 0 : Z * L * Math.max(Ev, 1);
    // the short kernels write the heads merged ([B, L, H, Ev]): multi-head attention's merge is a view
    // (and keep the weights p [B, H, L, S] rather than the logsumexp: the backward recomputes nothing)
    const [o4, stat] = short
      ? runOrZeros('attentionShort', { scale, causal }, [q4, k4, v4], [{ shape: [B, L, H, Ev], dtype: 'float32' }, { shape: [B, H, L, S], dtype: 'float32' }], work)
      : runOrZeros('attention', { scale, causal }, [q4, k4, v4], [{ shape: [B, H, L, Ev], dtype: 'float32' }, { shape: [B, H, L], dtype: 'float32' }], work); // the rows' logsumexp
    const heads = short ? o4.permute(0, 2, 1, 3) : o4;
    // no keys: softmax over an empty row is NaN (0 / 0), as the composed form gives
    const out = S === 0 ? heads.add(NaN) : heads;
    return { out: out.reshape([...batch, L, Ev]), o4, stat };
  }));
  // q, k, v saved too (not read from the node's inputs): made inside a tidy, they are gone by backward()
  const out = record('attention', [q, k, v], r.out, [q, k, v, short ? r.o4 : r.out, r.stat], { scale, causal, short });
  r.stat.dispose();
  r.o4.dispose();
  return out;
}

let shortOn = true;

/**
 * @internal Whether fusedAttention may take the short-sequence kernels (default true); false
 * forces the flash kernels at every size, for tests and benchmarks. Returns the previous setting.
 */
export function setShortAttention(on: boolean): boolean {
  const was = shortOn;
  shortOn = on;
  return was;
}

/** Whether fusedAttention takes the short-sequence kernels (one workgroup per matrix). */
function shortApplies(L: number, S: number): boolean {
  return shortOn && Math.max(L, S) <= ATTENTION_SHORT_MAX_ROWS;
}

export const attentionGrads: GradTable<'attention'> = {
  attention: (n, g) => {
    const [q, k, v, out, lse] = n.saved;
    const { scale, causal, short } = n.meta;
    const p = prepare('fusedAttention', q, k, v, { scale });
    const { batch, L, S, E, Ev } = p;
    if (short) return shortGrads(q, k, v, out, lse, g, p, scale, causal);
    return tidy(() => {
      const q4 = as4d(q, batch), k4 = as4d(k, batch), v4 = as4d(v, batch);
      const [B, H] = q4.shape;
      const go = g.reshape([B, H, L, Ev]).contiguous();
      const delta = go.mul(out.reshape([B, H, L, Ev])).sum(-1); // rowsum(go·o) [B, H, L]
      const [gq, gk, gv] = runOrZeros('attentionBackward', { scale, causal }, [q4, k4, v4, go, lse, delta], [
        { shape: [B, H, L, E], dtype: 'float32' }, { shape: [B, H, S, E], dtype: 'float32' }, { shape: [B, H, S, Ev], dtype: 'float32' },
      ], Math.min(L, S) === 0 ? 0 : B * H * Math.max(L, S));
      // the batch shape; backward sums broadcast dims away (sumToShape)
      return [gq.reshape([...batch, L, E]), gk.reshape([...batch, S, E]), gv.reshape([...batch, S, Ev])];
    });
  },
};

/** The short kernels' gradients (w: the forward's weights): one launch; gq, gk, gv in one buffer, [B, T, 3, H, E] where L = S and E = Ev. */
function shortGrads(q: Tensor, k: Tensor, v: Tensor, o4: Tensor, w: Tensor, g: Tensor, p: Prepared, scale: number, causal: boolean): Tensor[] {
  const { batch, L, S, E, Ev } = p;
  return tidy(() => {
    const q4 = as4d(q, batch), k4 = as4d(k, batch), v4 = as4d(v, batch);
    const [B, H] = q4.shape;
    const go = g.reshape([B, H, L, Ev]); // a view where it can be (the kernel reads any strides)
    const packed = L === S && E === Ev;
    const spec = { shape: packed ? [B, L, 3, H, E] : [B * H * (L * E + S * E + S * Ev)], dtype: 'float32' as const };
    const [G] = runOrZeros('attentionShortBackward', { scale, causal, packed }, [q4, k4, v4, o4, go, w], [spec, { shape: [B, H, L, S], dtype: 'float32' }], Math.min(L, S) === 0 ? 0 : B * H * Math.max(L, S));
    let parts: Tensor[];
    if (packed) {
      parts = [0, 1, 2].map((i) => G.select(2, i)); // [B, T, H, E]
    } else {
      const n = [B * L * H * E, B * S * H * E, B * S * H * Ev];
      parts = [[L, E], [S, E], [S, Ev]].map(([T, F], i) => G.narrow(0, i === 0 ? 0 : i === 1 ? n[0] : n[0] + n[1], n[i]).reshape([B, T, H, F]));
    }
    // the batch shape; backward sums broadcast dims away (sumToShape)
    return parts.map((x, i) => x.permute(0, 2, 1, 3).reshape([...batch, i === 0 ? L : S, i === 2 ? Ev : E]));
  });
}
