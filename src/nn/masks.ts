/**
 * Argument checks shared by the attention layers (src/nn/attention.ts, src/nn/decoder.ts):
 * head counts and attention masks. Internal: not exported from wt.nn.
 */
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { checkNumber } from '../validate.js';

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
