/**
 * Argument checks shared by the attention layers (src/nn/attention.ts, src/nn/decoder.ts):
 * head counts, attention masks and the transformer layers' options. Internal: not exported from
 * wt.nn.
 */
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkNumber, checkNumel, checkOptions, describeValue } from '../validate.js';

/** Options of TransformerEncoderLayer and TransformerDecoderLayer (PyTorch's, camelCase). */
export interface TransformerLayerOptions {
  dimFeedforward?: number;
  dropout?: number;
  activation?: 'relu' | 'gelu' | ((x: Tensor) => Tensor);
  layerNormEps?: number;
  batchFirst?: boolean;
  /** pre-norm (x + block(norm(x))) when true; post-norm (norm(x + block(x))) when false (default) */
  normFirst?: boolean;
  bias?: boolean;
}

/** A transformer layer's checked settings, defaults filled in (PyTorch's). */
export interface TransformerLayerSettings { p: number; ff: number; eps: number; bias: boolean; normFirst: boolean; batchFirst: boolean; act: (x: Tensor) => Tensor }

/**
 * Checks a transformer layer's arguments before anything is allocated, under the name of the
 * layer the user made (`op`): the head count, the options, and that its weights can exist.
 */
export function transformerLayerSettings(op: string, dModel: number, nhead: number, o: TransformerLayerOptions): TransformerLayerSettings {
  checkOptions(op, o, ['dimFeedforward', 'dropout', 'activation', 'layerNormEps', 'batchFirst', 'normFirst', 'bias']);
  // the sub-layers check these too, but the error must name the layer the user made
  checkHeads(op, dModel, nhead, ['dModel', 'nhead']);
  const p = checkNumber(op, 'dropout', o.dropout ?? 0.1, { min: 0, max: 1 });
  const ff = checkNumber(op, 'dimFeedforward', o.dimFeedforward ?? 2048, { int: true, min: 1 });
  const eps = checkNumber(op, 'layerNormEps', o.layerNormEps ?? 1e-5, { min: 0, finite: true });
  for (const n of ['batchFirst', 'normFirst', 'bias'] as const) if (o[n] !== undefined) checkBoolean(op, n, o[n]);
  checkNumel(op, 'selfAttn.inProjWeight', [3 * dModel, dModel]);
  checkNumel(op, 'linear1.weight', [ff, dModel]);
  const a = o.activation ?? 'relu';
  let act: (x: Tensor) => Tensor;
  if (typeof a === 'function') act = a;
  else if (a === 'relu') act = (x) => x.relu();
  else if (a === 'gelu') act = (x) => x.gelu();
  else throw new ArgumentError(`${op}: activation must be 'relu', 'gelu' or a function, got ${describeValue(a)}`);
  return { p, ff, eps, bias: o.bias ?? true, normFirst: o.normFirst ?? false, batchFirst: o.batchFirst ?? false, act };
}

export interface MaskDims { B: number; L: number; S: number; nh: number; batched: boolean; qShape: readonly number[] }

/**
 * Checks attention masks' dtypes and shapes: the key padding mask [B, S] ([S] unbatched) and
 * the attention mask [L, S] or [B·nh, L, S]. The keys of `masks` are the names the caller's
 * user wrote (`srcMask` for a TransformerEncoderLayer), the first the key padding mask.
 */
export function checkMasks(op: string, masks: Record<string, Tensor | null | undefined>, { B, L, S, nh, batched, qShape }: MaskDims): void {
  const [[kpmName, kpm], [amName, am]] = Object.entries(masks);
  if (kpm) {
    checkMaskDType(op, kpmName, kpm);
    const ok = batched ? kpm.ndim === 2 && kpm.shape[0] === B && kpm.shape[1] === S : kpm.ndim === 1 && kpm.shape[0] === S;
    if (!ok) throw new ShapeError(`${op}: ${kpmName} must be ${batched ? `[${B},${S}] ([batch, key length])` : `[${S}]`}, got ${fmt(kpm.shape)} (query ${fmt(qShape)})`);
  }
  if (am) {
    checkMaskDType(op, amName, am);
    const nb = batched ? B * nh : nh;
    const ok = (am.ndim === 2 && am.shape[0] === L && am.shape[1] === S) || (am.ndim === 3 && am.shape[0] === nb && am.shape[1] === L && am.shape[2] === S);
    if (!ok) throw new ShapeError(`${op}: ${amName} must be [${L},${S}] or [${nb},${L},${S}] ([batch·numHeads, query length, key length]), got ${fmt(am.shape)} (query ${fmt(qShape)})`);
  }
}

export function checkMaskDType(op: string, arg: string, m: Tensor): void {
  if (m.dtype !== 'bool' && m.dtype !== 'float32') throw new DTypeError(`${op}: ${arg} must be bool or float32, got ${m.dtype} of shape ${fmt(m.shape)}`);
}

// ---- multi-head attention ---------------------------------------------------------------------

/** Positive integer model and head counts, the first divisible by the second. */
export function checkHeads(op: string, dim: number, heads: number, [dimName, headsName]: [string, string]): void {
  checkNumber(op, dimName, dim, { int: true, min: 1 });
  checkNumber(op, headsName, heads, { int: true, min: 1 });
  if (dim % heads !== 0) throw new ArgumentError(`${op}: ${dimName} ${dim} must be divisible by ${headsName} ${heads}`);
}
