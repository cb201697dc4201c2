/**
 * Attention and the transformer encoder, as PyTorch: scaledDotProductAttention,
 * MultiheadAttention, TransformerEncoderLayer / TransformerEncoder, and two positional
 * encodings. Written on the Tensor API only, so they run on any backend.
 *
 * Masking adds -Infinity to the scores before the softmax. A query row whose every key is
 * masked would then be softmax(-inf, …, -inf) = NaN; instead such a row gets all-zero weights
 * and a zero attention output (PyTorch ≥ 2.5's "safe softmax" in scaled_dot_product_attention),
 * so padding rows never poison a batch with NaN.
 */
import { noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tensor, triangleMask, zeros } from '../ops/creation.js';
import { dropout } from '../ops/elementwise.js';
import { where } from '../ops/functions.js';
import { linear } from '../ops/linalg.js';
import { causalSoftmax, softmax } from '../ops/norm.js';
import { fusedAttention, fusedAttentionApplies } from '../ops/attention.js';
import type { Tensor } from '../tensor.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import * as init from './init.js';
import { Dropout, LayerNorm, Linear } from './layers.js';
import { Module, parameter } from './module.js';
import { checkBoolean, checkFloat, checkNumber, checkNumel, checkOptionalTensor, checkOptions, describeValue, type OptionKeys } from '../validate.js';
import { checkHeads, checkMaskDType, checkMasks, transformerLayerSettings, type TransformerLayerOptions } from './masks.js';

// ---- scaled dot-product attention -------------------------------------------------------------

interface AttendOptions {
  /** bool, broadcastable to the scores (…, L, S): true = this key is not attended */
  blocked?: Tensor | null;
  /** float, broadcastable to the scores: added before the softmax */
  bias?: Tensor | null;
  isCausal?: boolean;
  dropoutP?: number;
  scale?: number;
  /** the caller reads the weights (MultiheadAttention with needWeights) */
  needWeights?: boolean;
}

/** Bool [L, S], true above the diagonal (key j after query i), top-left aligned as PyTorch. */
function causalMask(L: number, S: number): Tensor {
  return noGrad(() => triangleMask(L, S, 1, true));
}

/**
 * softmax(q kᵀ · scale + mask) v; returns the output and the (post-dropout) weights, or null
 * weights when the fused kernels ran (no weights wanted, no mask but the causal one, no dropout:
 * src/ops/attention.ts).
 */
function attend(q: Tensor, k: Tensor, v: Tensor, o: AttendOptions): [Tensor, Tensor | null] {
  const L = q.shape[q.ndim - 2], S = k.shape[k.ndim - 2];
  const scale = o.scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]);
  if (!o.needWeights && !o.blocked && !o.bias && !o.dropoutP && fusedAttentionApplies(q, k, v)) {
    return [fusedAttention(q, k, v, { scale, causal: o.isCausal }), null];
  }
  // scaling q rather than the scores touches L·hs values instead of L·S
  let scores = q.mul(scale).matmul(k.transpose(-2, -1)); // (…, L, S)
  if (o.bias) scores = scores.add(o.bias);
  let blocked = o.blocked ?? null;
  if (o.isCausal && !blocked && !o.bias) {
    // the causal mask alone: applied inside the softmax kernel, no masked copy of the scores
    let w = causalSoftmax(scores);
    if (o.dropoutP) w = dropout(w, o.dropoutP, true);
    return [w.matmul(v), w];
  }
  if (o.isCausal) {
    const c = causalMask(L, S);
    blocked = blocked ? blocked.logicalOr(c) : c;
  }
  if (blocked) scores = where(blocked, -Infinity, scores);
  let w: Tensor;
  // the causal mask alone never blocks a whole row (key 0 is visible to every query), so only
  // explicit masks and float biases (which may hold -inf) need the dead-row check
  if (o.blocked || o.bias) {
    // rows with every key masked: softmax of a row of -inf is NaN; give them zero weights
    const dead = noGrad(() => scores.amax(-1, true).eq(-Infinity)); // (…, L, 1)
    w = where(dead, 0, softmax(where(dead, 0, scores), -1));
  } else {
    w = softmax(scores, -1);
  }
  if (o.dropoutP) w = dropout(w, o.dropoutP, true);
  return [w.matmul(v), w]; // (…, L, Ev), (…, L, S)
}

export interface ScaledDotProductAttentionOptions {
  /**
   * bool (true = take part in attention, as torch's SDPA; note this is the opposite of
   * MultiheadAttention's attnMask) or float (added to the scores); broadcastable to [..., L, S]
   */
  attnMask?: Tensor | null;
  /** mask keys after each query (top-left aligned causal mask) */
  isCausal?: boolean;
  /** dropout on the attention weights; applied whenever > 0, as torch's functional form */
  dropoutP?: number;
  /** default 1/sqrt(E) */
  scale?: number;
}

/**
 * softmax(q kᵀ / √E + mask) v over q [..., L, E], k [..., S, E], v [..., S, Ev] → [..., L, Ev]
 * (batch dims broadcast), as torch.nn.functional.scaled_dot_product_attention.
 *
 * @example
 * const y = wt.nn.scaledDotProductAttention(q, k, v, { isCausal: true }); // q,k,v [B, nh, T, hs]
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, o: ScaledDotProductAttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  checkOptions(op, o, ['attnMask', 'isCausal', 'dropoutP', 'scale']);
  for (const [n, t] of [['query', q], ['key', k], ['value', v]] as const) {
    checkFloat(op, n, t);
    if (t.ndim < 2) throw new ShapeError(`${op}: ${n} must be at least 2-D [..., seq, features], got ${fmt(t.shape)}`);
  }
  if (q.shape[q.ndim - 1] !== k.shape[k.ndim - 1] || k.shape[k.ndim - 2] !== v.shape[v.ndim - 2]) {
    throw new ShapeError(`${op}: query ${fmt(q.shape)}, key ${fmt(k.shape)} and value ${fmt(v.shape)} must be [..., L, E], [..., S, E], [..., S, Ev]`);
  }
  const batch = broadcastShapes(op, q.shape.slice(0, -2), k.shape.slice(0, -2), v.shape.slice(0, -2));
  const p = checkNumber(op, 'dropoutP', o.dropoutP ?? 0, { min: 0, max: 1 });
  if (o.isCausal !== undefined) checkBoolean(op, 'isCausal', o.isCausal);
  if (o.scale !== undefined) checkNumber(op, 'scale', o.scale, { finite: true });
  checkOptionalTensor(op, 'attnMask', o.attnMask);
  const m = o.attnMask ?? null;
  if (m) {
    checkMaskDType(op, 'attnMask', m);
    const scores = [...batch, q.shape[q.ndim - 2], k.shape[k.ndim - 2]];
    if (!shapesEqual(broadcastShapes(`${op}: attnMask`, scores, m.shape), scores)) {
      throw new ShapeError(`${op}: attnMask ${fmt(m.shape)} must broadcast to the scores ${fmt(scores)} ([..., L, S])`);
    }
  }
  const blocked = m && m.dtype === 'bool' ? m.logicalNot() : null;
  const bias = m && m.dtype !== 'bool' ? m : null;
  return attend(q, k, v, { blocked, bias, isCausal: o.isCausal, dropoutP: p, scale: o.scale })[0];
}

// ---- multi-head attention ---------------------------------------------------------------------

export interface MultiheadAttentionOptions {
  /** dropout on the attention weights (training only); default 0 */
  dropout?: number;
  /** biases on the input and output projections; default true */
  bias?: boolean;
  /** inputs [B, T, E] when true, [T, B, E] (PyTorch's default) when false */
  batchFirst?: boolean;
  /** key / value feature sizes when they differ from embedDim */
  kdim?: number;
  vdim?: number;
}

export interface MultiheadAttentionForwardOptions {
  /** bool [B, S] (true = padding, ignored) or float [B, S] added to the scores */
  keyPaddingMask?: Tensor | null;
  /** bool [L, S] or [B·numHeads, L, S] (true = masked) or float, added to the scores */
  attnMask?: Tensor | null;
  /** add the causal mask (query i sees keys 0..i); combined with attnMask when both are given */
  isCausal?: boolean;
  /** return the attention weights (default true, as PyTorch) */
  needWeights?: boolean;
  /** average the weights over heads → [B, L, S] (default), else [B, numHeads, L, S] */
  averageAttnWeights?: boolean;
}

/**
 * Multi-head attention with PyTorch's parameters and initialisation: inProjWeight [3E, E]
 * (xavier uniform; or qProjWeight/kProjWeight/vProjWeight when kdim/vdim differ), inProjBias
 * [3E] (zeros), outProj Linear(E, E) (bias zeros); their state-dict keys are PyTorch's
 * (in_proj_weight, q_proj_weight, in_proj_bias, out_proj.weight). forward returns
 * [output, weights | null].
 *
 * @example
 * const mha = new wt.nn.MultiheadAttention(64, 4, { batchFirst: true });
 * const [y, w] = mha.forward(x, x, x, { isCausal: true }); // x [B, T, 64] → y [B, T, 64], w [B, T, T]
 */
export class MultiheadAttention extends Module {
  inProjWeight: Tensor | null = null;
  qProjWeight: Tensor | null = null;
  kProjWeight: Tensor | null = null;
  vProjWeight: Tensor | null = null;
  inProjBias: Tensor | null;
  outProj: Linear;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;

  constructor(readonly embedDim: number, readonly numHeads: number, o: MultiheadAttentionOptions = {}) {
    super();
    const op = 'MultiheadAttention';
    checkOptions(op, o, ['dropout', 'bias', 'batchFirst', 'kdim', 'vdim']);
    checkHeads(op, embedDim, numHeads, ['embedDim', 'numHeads']);
    for (const [n, v] of [['kdim', o.kdim ?? 1], ['vdim', o.vdim ?? 1]] as const) checkNumber(op, n, v, { int: true, min: 1 });
    this.dropout = checkNumber(op, 'dropout', o.dropout ?? 0, { min: 0, max: 1 });
    if (o.bias !== undefined) checkBoolean(op, 'bias', o.bias);
    if (o.batchFirst !== undefined) checkBoolean(op, 'batchFirst', o.batchFirst);
    checkNumel(op, 'inProjWeight', [3 * embedDim, Math.max(embedDim, o.kdim ?? 1, o.vdim ?? 1)]);
    this.headDim = embedDim / numHeads;
    this.kdim = o.kdim ?? embedDim;
    this.vdim = o.vdim ?? embedDim;
    this.batchFirst = o.batchFirst ?? false;
    const E = embedDim;
    if (this.kdim === E && this.vdim === E) {
      this.inProjWeight = parameter(init.xavierUniform(zeros([3 * E, E])));
    } else {
      // as PyTorch: separate weights (each xavier-initialised on its own shape) when sizes differ
      this.qProjWeight = parameter(init.xavierUniform(zeros([E, E])));
      this.kProjWeight = parameter(init.xavierUniform(zeros([E, this.kdim])));
      this.vProjWeight = parameter(init.xavierUniform(zeros([E, this.vdim])));
    }
    const bias = o.bias ?? true;
    this.inProjBias = bias ? parameter(zeros([3 * E])) : null;
    this.outProj = new Linear(E, E, { bias });
    if (this.outProj.bias) init.zeros(this.outProj.bias);
  }

  /** The projection weights of q, k and v (views of inProjWeight when packed). */
  private projWeights(): [Tensor, Tensor, Tensor] {
    const E = this.embedDim;
    if (this.inProjWeight) return [0, 1, 2].map((i) => this.inProjWeight!.narrow(0, i * E, E)) as [Tensor, Tensor, Tensor];
    return [this.qProjWeight!, this.kProjWeight!, this.vProjWeight!];
  }

  forward(query: Tensor, key: Tensor, value: Tensor, o: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const op = 'MultiheadAttention.forward';
    checkOptions(op, o, ['keyPaddingMask', 'attnMask', 'isCausal', 'needWeights', 'averageAttnWeights']);
    for (const [n, t] of [['query', query], ['key', key], ['value', value]] as const) checkFloat(op, n, t);
    for (const n of ['keyPaddingMask', 'attnMask'] as const) checkOptionalTensor(op, n, o[n]);
    for (const n of ['isCausal', 'needWeights', 'averageAttnWeights'] as const) if (o[n] !== undefined) checkBoolean(op, n, o[n]);
    const E = this.embedDim, nh = this.numHeads, hs = this.headDim;
    const batched = query.ndim === 3;
    if (!(query.ndim === 3 || query.ndim === 2) || key.ndim !== query.ndim || value.ndim !== query.ndim) {
      throw new ShapeError(`${op}: query, key and value must all be 3-D (batched) or all 2-D (unbatched), got query ${fmt(query.shape)}, key ${fmt(key.shape)}, value ${fmt(value.shape)}`);
    }
    // work batch-first internally: (B, T, E)
    const toBTE = (t: Tensor) => (!batched ? t.unsqueeze(0) : this.batchFirst ? t : t.transpose(0, 1));
    const q0 = toBTE(query), k0 = toBTE(key), v0 = toBTE(value);
    const [B, L] = q0.shape, S = k0.shape[1];
    const want = `query [.., ${E}], key [.., ${this.kdim}], value [.., ${this.vdim}] with equal batch sizes and key/value of one length`;
    if (q0.shape[2] !== E || k0.shape[2] !== this.kdim || v0.shape[2] !== this.vdim || k0.shape[0] !== B || v0.shape[0] !== B || v0.shape[1] !== S) {
      throw new ShapeError(`${op}: expected ${want}; got query ${fmt(query.shape)}, key ${fmt(key.shape)}, value ${fmt(value.shape)} (batchFirst ${this.batchFirst})`);
    }
    const { blocked, bias } = this.masks(o, B, L, S, batched, query.shape);

    // input projections: one GEMM for self-attention with packed weights, else three
    let q: Tensor, k: Tensor, v: Tensor;
    if (this.inProjWeight && query === key && key === value) {
      [q, k, v] = linear(q0, this.inProjWeight, this.inProjBias).chunk(3, -1); // (B, L, E) ×3
    } else {
      const [wq, wk, wv] = this.projWeights();
      const b = this.inProjBias ? [0, 1, 2].map((i) => this.inProjBias!.narrow(0, i * E, E)) : [null, null, null];
      q = linear(q0, wq, b[0]); // (B, L, E)
      k = linear(k0, wk, b[1]); // (B, S, E)
      v = linear(v0, wv, b[2]); // (B, S, E)
    }
    const heads = (t: Tensor, T: number) => t.reshape([B, T, nh, hs]).permute(0, 2, 1, 3); // (B, nh, T, hs)
    const needWeights = o.needWeights ?? true;
    const [att, w] = attend(heads(q, L), heads(k, S), heads(v, S), {
      blocked, bias, isCausal: o.isCausal, dropoutP: this.training ? this.dropout : 0, needWeights,
    }); // (B, nh, L, hs), (B, nh, L, S) | null
    let out = this.outProj.forward(att.permute(0, 2, 1, 3).reshape([B, L, E])); // (B, L, E)
    out = !batched ? out.squeeze(0) : this.batchFirst ? out : out.transpose(0, 1);
    if (!needWeights || !w) return [out, null];
    let weights = (o.averageAttnWeights ?? true) ? w.mean(1) : w; // (B, L, S) or (B, nh, L, S)
    if (!batched) weights = weights.squeeze(0);
    return [out, weights];
  }

  /** Checks the masks and folds them into one bool "blocked" and one float bias, both 4-D. */
  private masks(o: MultiheadAttentionForwardOptions, B: number, L: number, S: number, batched: boolean, qShape: readonly number[]): { blocked: Tensor | null; bias: Tensor | null } {
    const nh = this.numHeads;
    checkMasks('MultiheadAttention.forward', { keyPaddingMask: o.keyPaddingMask, attnMask: o.attnMask }, { B, L, S, nh, batched, qShape });
    let blocked: Tensor | null = null, bias: Tensor | null = null;
    const add = (m: Tensor) => {
      if (m.dtype === 'bool') blocked = blocked ? blocked.logicalOr(m) : m;
      else bias = bias ? bias.add(m) : m;
    };
    const kpm = o.keyPaddingMask, am = o.attnMask;
    if (kpm) add(kpm.reshape([B, 1, 1, S]));
    if (am) add(am.ndim === 2 ? am : am.reshape([B, nh, L, S]));
    return { blocked, bias };
  }

  override extraRepr(): string {
    return `embedDim=${this.embedDim}, numHeads=${this.numHeads}, dropout=${this.dropout}, batchFirst=${this.batchFirst}`;
  }
}

// ---- transformer encoder ----------------------------------------------------------------------

/** TransformerEncoderLayer's options (pre-norm when `normFirst`: x + sa(norm1(x))). */
export type TransformerEncoderLayerOptions = TransformerLayerOptions;

export interface TransformerEncoderForwardOptions {
  /** attention mask, as MultiheadAttention's attnMask (bool true = masked, or float) */
  srcMask?: Tensor | null;
  /** bool [B, S], true = padding */
  srcKeyPaddingMask?: Tensor | null;
  isCausal?: boolean;
}

/**
 * One transformer encoder block as torch.nn.TransformerEncoderLayer: self-attention and a
 * two-layer feed-forward network, each with dropout, a residual connection and a LayerNorm
 * (after the residual by default, before the sub-block with normFirst).
 *
 * @example
 * const layer = new wt.nn.TransformerEncoderLayer(64, 4, { dimFeedforward: 256, batchFirst: true });
 * const y = layer.forward(x, { srcKeyPaddingMask: pad }); // x [B, T, 64]
 */
export class TransformerEncoderLayer extends Module {
  selfAttn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  readonly normFirst: boolean;
  private readonly act: (x: Tensor) => Tensor;

  constructor(readonly dModel: number, readonly nhead: number, o: TransformerEncoderLayerOptions = {}) {
    super();
    const { p, ff, eps, bias, normFirst, batchFirst, act } = transformerLayerSettings('TransformerEncoderLayer', dModel, nhead, o);
    this.act = act;
    this.normFirst = normFirst;
    this.selfAttn = new MultiheadAttention(dModel, nhead, { dropout: p, bias, batchFirst });
    this.linear1 = new Linear(dModel, ff, { bias });
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(ff, dModel, { bias });
    this.norm1 = new LayerNorm(dModel, { eps });
    this.norm2 = new LayerNorm(dModel, { eps });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
  }

  forward(src: Tensor, o: TransformerEncoderForwardOptions = {}): Tensor {
    checkEncoderInput('TransformerEncoderLayer.forward', src, this, o, ['srcMask', 'srcKeyPaddingMask', 'isCausal'], ['srcKeyPaddingMask', 'srcMask']);
    const sa = (x: Tensor) => {
      const [y] = this.selfAttn.forward(x, x, x, { attnMask: o.srcMask, keyPaddingMask: o.srcKeyPaddingMask, isCausal: o.isCausal, needWeights: false });
      return this.dropout1.forward(y);
    };
    const ffn = (x: Tensor) => this.dropout2.forward(this.linear2.forward(this.dropout.forward(this.act(this.linear1.forward(x)))));
    let x = src;
    if (this.normFirst) {
      x = x.add(sa(this.norm1.forward(x)));
      return x.add(ffn(this.norm2.forward(x)));
    }
    x = this.norm1.forward(x.add(sa(x)));
    return this.norm2.forward(x.add(ffn(x)));
  }
}

/** An encoder's input, options and masks (`maskKeys`: the key padding mask's option, then the attention mask's). */
function checkEncoderInput<O extends { isCausal?: boolean }>(op: string, src: unknown, layer: TransformerEncoderLayer, o: O, known: OptionKeys<O>, maskKeys: OptionKeys<O>): void {
  const { dModel, nhead } = layer, batchFirst = layer.selfAttn.batchFirst;
  checkFloat(op, 'src', src);
  checkOptions(op, o, known);
  if ((src.ndim !== 2 && src.ndim !== 3) || src.shape[src.ndim - 1] !== dModel) {
    throw new ShapeError(`${op}: src must be [B, T, ${dModel}], [T, B, ${dModel}] or [T, ${dModel}] (dModel ${dModel} features last), got ${fmt(src.shape)}`);
  }
  const masks = Object.fromEntries(maskKeys.map((k) => [k, o[k] as Tensor | null | undefined]));
  for (const [k, m] of Object.entries(masks)) checkOptionalTensor(op, k, m);
  if (o.isCausal !== undefined) checkBoolean(op, 'isCausal', o.isCausal);
  const batched = src.ndim === 3, T = batched && batchFirst ? src.shape[1] : src.shape[0];
  const B = !batched ? 1 : batchFirst ? src.shape[0] : src.shape[1];
  checkMasks(op, masks, { B, L: T, S: T, nh: nhead, batched, qShape: src.shape });
}

/**
 * A stack of encoder layers, then an optional final norm (torch.nn.TransformerEncoder). Pass a
 * factory (called numLayers times, so the layers do not share weights) or the layers themselves.
 *
 * @example
 * const enc = new wt.nn.TransformerEncoder(() => new wt.nn.TransformerEncoderLayer(64, 4, { batchFirst: true }), 2);
 * const y = enc.forward(x, { isCausal: true });
 */
export class TransformerEncoder extends Module {
  layers: TransformerEncoderLayer[];
  norm: Module | null;
  constructor(layers: (() => TransformerEncoderLayer) | TransformerEncoderLayer[], numLayers?: number, norm: Module | null = null) {
    super();
    // every check that needs no layer first, so a refusal leaves no layer made behind
    if (norm !== null && !(norm instanceof Module)) throw new ArgumentError(`TransformerEncoder: norm must be a Module or null, got ${describeValue(norm)}`);
    if (typeof layers === 'function') {
      if (!Number.isInteger(numLayers) || numLayers! <= 0) throw new ArgumentError(`TransformerEncoder: numLayers must be a positive integer with a layer factory, got ${describeValue(numLayers)}`);
      const made: Module[] = [];
      try {
        for (let i = 0; i < numLayers!; i++) {
          const l = layers();
          if (l instanceof Module) made.push(l);
          if (!(l instanceof TransformerEncoderLayer)) throw new ArgumentError(`TransformerEncoder: layer ${i} must be a TransformerEncoderLayer, got ${describeValue(l)}`);
        }
      } catch (e) {
        made.forEach((l) => l.dispose()); // the layers the factory made are not the caller's to free
        throw e;
      }
      this.layers = made as TransformerEncoderLayer[];
    } else if (Array.isArray(layers)) {
      if (numLayers !== undefined && numLayers !== layers.length) throw new ArgumentError(`TransformerEncoder: got ${layers.length} layers but numLayers ${describeValue(numLayers)}`);
      this.layers = [...layers];
    } else {
      // PyTorch deep-copies one layer; JavaScript cannot, and sharing it would tie the weights
      throw new ArgumentError(`TransformerEncoder: pass a factory \`() => new TransformerEncoderLayer(...)\` or an array of layers, got ${describeValue(layers)}`);
    }
    this.layers.forEach((l, i) => {
      if (!(l instanceof TransformerEncoderLayer)) throw new ArgumentError(`TransformerEncoder: layer ${i} must be a TransformerEncoderLayer, got ${describeValue(l)}`);
    });
    if (!this.layers.length) throw new ArgumentError('TransformerEncoder: got no layers');
    this.norm = norm;
  }
  forward(src: Tensor, o: { mask?: Tensor | null; srcKeyPaddingMask?: Tensor | null; isCausal?: boolean } = {}): Tensor {
    checkEncoderInput('TransformerEncoder.forward', src, this.layers[0], o, ['mask', 'srcKeyPaddingMask', 'isCausal'], ['srcKeyPaddingMask', 'mask']);
    let x = src;
    for (const l of this.layers) x = l.forward(x, { srcMask: o.mask, srcKeyPaddingMask: o.srcKeyPaddingMask, isCausal: o.isCausal });
    return this.norm ? (this.norm.forward(x) as Tensor) : x;
  }
}

// ---- positional encodings ---------------------------------------------------------------------

/** Checks x is [B, T, D] (batchFirst) / [T, B, D] / [T, D] with D = dModel and T <= maxLen; returns T. */
function seqLen(op: string, x: Tensor, dModel: number, maxLen: number, batchFirst: boolean, offset = 0): number {
  checkFloat(op, 'input', x);
  if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError(`${op}: input must be [B, T, ${dModel}] or [T, ${dModel}], got ${fmt(x.shape)}`);
  const T = x.ndim === 3 && !batchFirst ? x.shape[0] : x.shape[x.ndim - 2];
  if (x.shape[x.ndim - 1] !== dModel) throw new ShapeError(`${op}: input ${fmt(x.shape)} must have ${dModel} features in its last dim`);
  if (offset + T > maxLen) throw new ShapeError(`${op}: positions ${offset}..${offset + T - 1} of input ${fmt(x.shape)} exceed maxLen ${maxLen}`);
  return T;
}

/**
 * The fixed sine/cosine encoding of "Attention Is All You Need", added to the input:
 * pe[t, 2i] = sin(t / 10000^(2i/D)), pe[t, 2i+1] = cos(t / 10000^(2i/D)). The table is a
 * registered buffer `pe` [maxLen, D] (saved in the state dict, not trained).
 *
 * @example
 * const pos = new wt.nn.SinusoidalPositionalEncoding(64, 512);
 * const h = pos.forward(tokEmb); // [B, T, 64]
 */
export class SinusoidalPositionalEncoding extends Module {
  pe!: Tensor;
  drop: Dropout;
  readonly batchFirst: boolean;
  constructor(readonly dModel: number, readonly maxLen = 5000, o: { dropout?: number; batchFirst?: boolean } = {}) {
    super();
    const op = 'SinusoidalPositionalEncoding';
    checkNumber(op, 'dModel', dModel, { int: true, min: 1 });
    checkNumber(op, 'maxLen', maxLen, { int: true, min: 1 });
    checkOptions(op, o, ['dropout', 'batchFirst']);
    checkNumel(op, 'pe', [maxLen, dModel]);
    if (o.batchFirst !== undefined) checkBoolean(op, 'batchFirst', o.batchFirst);
    this.batchFirst = o.batchFirst ?? true;
    this.drop = new Dropout(checkNumber(op, 'dropout', o.dropout ?? 0, { min: 0, max: 1 }));
    // computed in float64 here rather than with float32 device math, then rounded once
    const pe = new Float32Array(maxLen * dModel);
    for (let t = 0; t < maxLen; t++) {
      for (let i = 0; i < dModel; i += 2) {
        const a = t * Math.exp((-i * Math.log(10000)) / dModel);
        pe[t * dModel + i] = Math.sin(a);
        if (i + 1 < dModel) pe[t * dModel + i + 1] = Math.cos(a);
      }
    }
    this.registerBuffer('pe', tensor(pe, { shape: [maxLen, dModel] }));
  }
  forward(x: Tensor): Tensor {
    const T = seqLen('SinusoidalPositionalEncoding.forward', x, this.dModel, this.maxLen, this.batchFirst);
    const p = this.pe.narrow(0, 0, T); // (T, D)
    return this.drop.forward(x.add(x.ndim === 3 && !this.batchFirst ? p.unsqueeze(1) : p));
  }
}

/**
 * A trained position table weight [maxLen, dModel] (initialised N(0, 1) as nn.Embedding), added
 * to the input; `offset` shifts the positions (e.g. when decoding one token at a time).
 *
 * @example
 * const pos = new wt.nn.LearnedPositionalEmbedding(256, 64);
 * const h = pos.forward(tokEmb); // [B, T, 64]
 */
export class LearnedPositionalEmbedding extends Module {
  weight: Tensor;
  readonly batchFirst: boolean;
  constructor(readonly maxLen: number, readonly dModel: number, o: { batchFirst?: boolean; std?: number } = {}) {
    super();
    const op = 'LearnedPositionalEmbedding';
    checkNumber(op, 'maxLen', maxLen, { int: true, min: 1 });
    checkNumber(op, 'dModel', dModel, { int: true, min: 1 });
    checkOptions(op, o, ['batchFirst', 'std']);
    checkNumel(op, 'weight', [maxLen, dModel]);
    if (o.batchFirst !== undefined) checkBoolean(op, 'batchFirst', o.batchFirst);
    const std = checkNumber(op, 'std', o.std ?? 1, { min: 0, finite: true });
    this.batchFirst = o.batchFirst ?? true;
    this.weight = parameter(init.normal(zeros([maxLen, dModel]), 0, std));
  }
  forward(x: Tensor, offset = 0): Tensor {
    checkFloat('LearnedPositionalEmbedding.forward', 'input', x);
    checkNumber('LearnedPositionalEmbedding.forward', 'offset', offset, { int: true, min: 0 });
    const T = seqLen('LearnedPositionalEmbedding.forward', x, this.dModel, this.maxLen, this.batchFirst, offset);
    const p = this.weight.narrow(0, offset, T); // (T, D)
    return x.add(x.ndim === 3 && !this.batchFirst ? p.unsqueeze(1) : p);
  }
}
