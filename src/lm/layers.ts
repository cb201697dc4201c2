/**
 * The pieces the language models share: GPT-2's Conv1D (a linear layer stored [in, out]),
 * RMSNorm, rotary position embeddings as transformers computes them, the key/value cache and
 * causal attention over it (grouped-query attention without copying keys and values per head).
 */
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { keep } from '../memory.js';
import { cat } from '../ops/movement.js';
import { where } from '../ops/functions.js';
import { embedding } from '../ops/indexing.js';
import { linear } from '../ops/linalg.js';
import { getBackend } from '../init.js';
import { empty } from '../ops/run.js';
import { tensor } from '../ops/creation.js';
import { scaledDotProductAttention } from '../nn/attention.js';
import { Embedding, Linear } from '../nn/layers.js';
import { Module, parameter } from '../nn/module.js';
import * as init from '../nn/init.js';
import type { Tensor } from '../tensor.js';
import { checkFloat, checkNumber, checkNumel, checkPositiveInt } from '../validate.js';
import type { RopeScaling } from './config.js';
import { QuantizedEmbedding, QuantizedLinear } from '../nn/quant.js';
import { qembedding, qlinear, type QuantizedWeight } from '../ops/quant.js';
import { checkIndexRange } from '../ops/indexing.js';
import type { QuantConfig } from '../kernel/kernel.js';

/**
 * Whether new modules leave their parameters uninitialised (the loader, which overwrites every
 * one, sets it for the duration of a construction).
 */
export const construction: {
  empty: boolean;
  /**
   * While loading a quantized checkpoint: the quantization of the layer at a module path
   * (`model.layers.0.self_attn.q_proj`), or null for a float layer. Such a layer is made as an
   * empty QuantizedLinear directly, so its float weight is never allocated.
   */
  quantized: ((name: string) => QuantConfig | null) | null;
} = { empty: false, quantized: null };

/** An empty (uninitialised) QuantizedLinear [out, in] while loading, or null when `name` is a float layer. */
function emptyQuantized(name: string | undefined, inF: number, outF: number, bias: boolean): QuantizedLinear | null {
  const cfg = construction.empty && name !== undefined ? construction.quantized?.(name) : null;
  if (!cfg) return null;
  const Gn = Math.ceil(inF / cfg.groupSize), Wd = (Gn * cfg.groupSize * cfg.bits) / 32;
  return new QuantizedLinear({
    q: empty([outF, Wd], 'int32'), scales: empty([outF, Gn], 'float32'), mins: cfg.mins ? empty([outF, Gn], 'float32') : null,
    bits: cfg.bits, groupSize: cfg.groupSize, shape: [outF, inF],
  }, bias ? constParam([outF], 0) : null);
}

/**
 * A parameter of this shape with mean 0 and standard deviation `std` (transformers draws
 * N(0, std²); this draws U(±std·√3), the same variance, which the CPU backend draws about 2.5x
 * faster), or uninitialised while loading.
 */
export function normalParam(shape: number[], std: number, seed: number): Tensor {
  const t = empty(shape, 'float32');
  return parameter(construction.empty ? t : init.uniform(t, -std * Math.sqrt(3), std * Math.sqrt(3), seed));
}

/**
 * A wt.nn.Linear (so code that looks for Linear layers, e.g. adapters, finds them) with
 * transformers' initialisation instead of PyTorch's: weights of standard deviation `std`
 * (normalParam), biases 0; uninitialised while loading.
 */
export function hubLinear(inF: number, outF: number, bias: boolean, std: number, seed: number, name?: string): Linear {
  // a layer a quantized checkpoint holds packed (a QuantizedLinear stands in, as wt.quantize makes it)
  const q = emptyQuantized(name, inF, outF, bias);
  if (q) return q as unknown as Linear;
  // made 1×1 (nothing to draw), then given its real parameters
  const l = new Linear(1, 1, { bias });
  l.weight.dispose();
  l.bias?.dispose();
  l.weight = normalParam([outF, inF], std, seed);
  l.bias = bias ? constParam([outF], 0) : null;
  Object.assign(l as { inFeatures: number; outFeatures: number }, { inFeatures: inF, outFeatures: outF });
  return l;
}

/**
 * A wt.nn.Embedding with weights of standard deviation `std` (normalParam); uninitialised while
 * loading; an empty QuantizedEmbedding where the quantized checkpoint being loaded holds the one at
 * module path `name` packed.
 */
export function hubEmbedding(num: number, dim: number, std: number, seed: number, name?: string): Embedding {
  const cfg = construction.empty && name !== undefined ? construction.quantized?.(name) : null;
  if (cfg) {
    const Gn = Math.ceil(dim / cfg.groupSize), Wd = (Gn * cfg.groupSize * cfg.bits) / 32;
    return new QuantizedEmbedding({
      q: empty([num, Wd], 'int32'), scales: empty([num, Gn], 'float32'), mins: cfg.mins ? empty([num, Gn], 'float32') : null,
      bits: cfg.bits, groupSize: cfg.groupSize, shape: [num, dim],
    }) as unknown as Embedding;
  }
  const e = new Embedding(1, 1);
  e.weight.dispose();
  e.weight = normalParam([num, dim], std, seed);
  Object.assign(e as { numEmbeddings: number; embeddingDim: number }, { numEmbeddings: num, embeddingDim: dim });
  return e;
}

/** A parameter filled with `value` (norm weights 1, biases 0). */
export function constParam(shape: number[], value: number): Tensor {
  const t = empty(shape, 'float32');
  return parameter(construction.empty ? t : init.constant(t, value));
}

/**
 * GPT-2's Conv1D: y = x W + b with W stored [nx, nf] (in, out), the transpose of Linear's
 * layout, as the hub's checkpoints hold it.
 */
export class Conv1D extends Module {
  weight: Tensor;
  bias: Tensor;
  constructor(readonly nf: number, readonly nx: number, std = 0.02, seed = 0) {
    super();
    checkPositiveInt('Conv1D', 'nf', nf);
    checkPositiveInt('Conv1D', 'nx', nx);
    checkNumber('Conv1D', 'std', std, { min: 0, finite: true });
    checkNumber('Conv1D', 'seed', seed, { int: true, min: 0 });
    checkNumel('Conv1D', 'weight', [nx, nf]);
    this.weight = normalParam([nx, nf], std, seed);
    this.bias = constParam([nf], 0);
  }
  forward(x: Tensor): Tensor {
    checkFloat('Conv1D.forward', 'input', x);
    if (x.shape[x.ndim - 1] !== this.nx) throw new ShapeError(`Conv1D.forward: input must be [..., ${this.nx}], got ${fmt(x.shape)}`);
    return x.matmul(this.weight).add(this.bias);
  }
  override extraRepr(): string {
    return `nf=${this.nf}, nx=${this.nx}`;
  }
}

/** GPT-2's Conv1D at module path `name`, or, while a quantized checkpoint loads, its QuantizedLinear (transposed, as wt.quantize makes it). */
export function hubConv1D(nf: number, nx: number, std: number, seed: number, name: string): Conv1D {
  return (emptyQuantized(name, nx, nf, true) as unknown as Conv1D | null) ?? new Conv1D(nf, nx, std, seed);
}

/** Root-mean-square normalisation (Llama's LlamaRMSNorm): x / √(mean(x²) + eps) · weight. */
export class RMSNorm extends Module {
  weight: Tensor;
  constructor(readonly hiddenSize: number, readonly eps = 1e-6) {
    super();
    checkPositiveInt('RMSNorm', 'hiddenSize', hiddenSize);
    checkNumber('RMSNorm', 'eps', eps, { min: 0, finite: true });
    checkNumel('RMSNorm', 'weight', [hiddenSize]);
    this.weight = constParam([hiddenSize], 1);
  }
  forward(x: Tensor): Tensor {
    checkFloat('RMSNorm.forward', 'input', x);
    if (x.shape[x.ndim - 1] !== this.hiddenSize) throw new ShapeError(`RMSNorm.forward: input must be [..., ${this.hiddenSize}], got ${fmt(x.shape)}`);
    return x.mul(x.square().mean(-1, true).add(this.eps).rsqrt()).mul(this.weight);
  }
  override extraRepr(): string {
    return `${this.hiddenSize}, eps=${this.eps}`;
  }
}

const f32 = Math.fround;

/**
 * The rotary embedding's inverse frequencies (float32, as transformers' _compute_default_rope_parameters,
 * then its linear or llama3 scaling).
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling | null): Float32Array {
  const inv = new Float32Array(headDim / 2);
  for (let i = 0; i < inv.length; i++) inv[i] = f32(1 / f32(theta ** f32((2 * i) / headDim)));
  if (!scaling) return inv;
  const factor = scaling.factor;
  if (scaling.rope_type === 'linear') return inv.map((f) => f32(f / factor));
  // llama3: long wavelengths divided by factor, short ones kept, the band between interpolated
  const lo = scaling.low_freq_factor!, hi = scaling.high_freq_factor!, old = scaling.original_max_position_embeddings!;
  const lowWl = old / lo, highWl = old / hi;
  return inv.map((f) => {
    const wl = f32((2 * Math.PI) / f);
    const scaled = wl > lowWl ? f32(f / factor) : f;
    if (wl < highWl || wl > lowWl) return scaled;
    const s = f32(f32(old / wl - lo) / (hi - lo));
    return f32(f32(f32((1 - s) * scaled) / factor) + f32(s * scaled));
  });
}

/** cos and sin [T, headDim] of positions start..start+T-1 (each frequency twice: [f, f]). */
export function ropeTables(invFreq: Float32Array, start: number, T: number): [Tensor, Tensor] {
  const half = invFreq.length, D = 2 * half;
  const c = new Float32Array(T * D), s = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = f32((start + t) * invFreq[i]);
      c[t * D + i] = c[t * D + half + i] = Math.cos(a);
      s[t * D + i] = s[t * D + half + i] = Math.sin(a);
    }
  }
  return [tensor(c, { shape: [T, D] }), tensor(s, { shape: [T, D] })];
}

/** x·cos + rotate_half(x)·sin over x [..., T, D] (rotate_half(x) = [-x2, x1] of its halves). */
export function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const D = x.shape[x.ndim - 1], h = D / 2;
  const rot = cat([x.narrow(-1, h, h).neg(), x.narrow(-1, 0, h)], -1);
  return x.mul(cos).add(rot.mul(sin));
}

/**
 * The keys and values of the positions a model has seen, per layer ([B, kvHeads, S, headDim]),
 * so that generation feeds each new token once. Made by `model.newCache()`; pass it to
 * `model.forward(ids, { cache })`, which appends to it. Owns its tensors: `dispose()` frees them.
 */
export class KVCache {
  private readonly k: (Tensor | null)[];
  private readonly v: (Tensor | null)[];
  /** positions held */
  length = 0;
  constructor(readonly numLayers: number) {
    checkPositiveInt('KVCache', 'numLayers', numLayers);
    if (numLayers > 1 << 20) throw new ArgumentError(`KVCache: numLayers ${numLayers} is more than any model has (at most ${1 << 20})`);
    this.k = new Array(numLayers).fill(null);
    this.v = new Array(numLayers).fill(null);
  }

  /** Appends layer i's new keys and values [B, H, T, D]; returns all of them [B, H, S, D]. */
  append(i: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
    const op = 'KVCache.append';
    checkNumber(op, 'layer', i, { int: true, min: 0, max: this.numLayers - 1 });
    checkFloat(op, 'keys', k);
    checkFloat(op, 'values', v);
    const pk = this.k[i], pv = this.v[i];
    for (const [n, t, p] of [['keys', k, pk], ['values', v, pv]] as const) {
      const ok = t.ndim === 4 && k.ndim === 4 && t.shape[0] === k.shape[0] && t.shape[1] === k.shape[1] && t.shape[2] === k.shape[2] &&
        (!p || (p.shape[0] === t.shape[0] && p.shape[1] === t.shape[1] && p.shape[3] === t.shape[3]));
      if (!ok) {
        throw new ShapeError(`${op}: ${n} must be [B, H, T, D]${p ? ` with the B, H and D of the cached ${fmt(p.shape)}` : ''}${n === 'values' ? ` and the keys' B, H, T (keys ${fmt(k.shape)})` : ''}, got ${fmt(t.shape)}`);
      }
    }
    // copies: the cache owns its tensors, never the caller's
    const ka = keep(pk ? cat([pk, k], 2) : k.clone());
    const va = keep(pv ? cat([pv, v], 2) : v.clone());
    pk?.dispose();
    pv?.dispose();
    this.k[i] = ka;
    this.v[i] = va;
    return [ka, va];
  }

  /** Frees the cached tensors; the cache is empty (length 0) afterwards. */
  dispose(): void {
    for (const a of [this.k, this.v]) a.forEach((t, i) => { t?.dispose(); a[i] = null; });
    this.length = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Causal attention of q [B, H, L, D] (positions past..past+L-1) over k, v [B, Hkv, S, D]
 * (positions 0..S-1, S = past + L), H a multiple of Hkv (query head h uses key head
 * ⌊h / (H/Hkv)⌋, as transformers' repeat_kv) → [B, H, L, D]. Keys and values are never
 * repeated per head: a query group is a batch dim that broadcasts.
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, past: number, scale: number): Tensor {
  const [B, H, L, D] = q.shape, Hkv = k.shape[1], S = k.shape[2], G = H / Hkv;
  if (L === 1) {
    // one query per head sees every key: a group's G queries are G rows against its key head
    const y = scaledDotProductAttention(q.reshape([B, Hkv, G, D]), k, v, { scale });
    return y.reshape([B, H, 1, D]);
  }
  const q5 = G === 1 ? q : q.reshape([B, Hkv, G, L, D]);
  const k5 = G === 1 ? k : k.unsqueeze(2), v5 = G === 1 ? v : v.unsqueeze(2);
  let y: Tensor;
  if (past === 0) y = scaledDotProductAttention(q5, k5, v5, { isCausal: true, scale });
  else {
    // bottom-right aligned: query l (position past + l) sees keys 0..past+l
    const m = new Uint8Array(L * S);
    for (let l = 0; l < L; l++) m.fill(1, l * S, l * S + past + l + 1);
    const mask = tensor(m, { shape: [L, S], dtype: 'bool' });
    y = scaledDotProductAttention(q5, k5, v5, { attnMask: mask, scale });
  }
  return G === 1 ? y : y.reshape([B, H, L, D]);
}

/**
 * The largest tensor one kernel may bind on the current backend, in bytes: WebGPU's storage
 * binding limit (maxStorageBufferBindingSize, or the backend's maxBindingBytes); no limit on the
 * CPU backend.
 */
export function bindingLimit(): number {
  return (getBackend() as { bindingLimit?: number }).bindingLimit ?? Infinity;
}

/**
 * Row blocks [start, rows] of a [V, C] vocabulary matrix such that each block's kernels bind at
 * most `bindingLimit()` bytes (with room for the 256-byte window alignment): one block when the
 * whole matrix fits, which is the common case (desktop adapters bind 1–4 GiB).
 */
export function vocabBlocks(V: number, C: number): [number, number][] {
  const limit = bindingLimit();
  if (V * C * 4 <= limit) return [[0, V]];
  const per = Math.max(1, Math.floor((limit - 256) / (C * 4)));
  const out: [number, number][] = [];
  for (let s = 0; s < V; s += per) out.push([s, Math.min(per, V - s)]);
  return out;
}

/**
 * Embedding lookup in a vocabulary matrix `weight` [V, C]: `whole()` (the module's own forward)
 * when it fits one binding, else one lookup per row block, each id taken from the block that
 * holds it (the rest masked out).
 */
export function vocabLookup(weight: Tensor, ids: Tensor, whole: () => Tensor = () => embedding(ids, weight)): Tensor {
  const [V, C] = weight.shape;
  const blocks = vocabBlocks(V, C);
  if (blocks.length === 1) return whole();
  let out: Tensor | null = null;
  for (const [s, n] of blocks) {
    const local = ids.sub(s).clamp(0, n - 1);
    const inBlock = ids.ge(s).logicalAnd(ids.lt(s + n)).unsqueeze(-1);
    const part = where(inBlock, embedding(local, weight.narrow(0, s, n)), 0);
    out = out ? out.add(part) : part;
  }
  return out!;
}

/**
 * Logits h @ weightᵀ over a vocabulary matrix [V, C]: `whole()` (one product, or the head
 * module's forward, adapters included) when it fits one binding, else one product per row block
 * joined along the vocabulary.
 */
export function vocabProject(h: Tensor, weight: Tensor, whole: () => Tensor = () => linear(h, weight)): Tensor {
  const [V, C] = weight.shape;
  const blocks = vocabBlocks(V, C);
  if (blocks.length === 1) return whole();
  return cat(blocks.map(([s, n]) => linear(h, weight.narrow(0, s, n))), -1);
}

/**
 * Logits h @ Wᵀ through a quantized head [V, C] (a QuantizedLinear lm_head): its own forward when
 * the packed codes fit one binding, else one quantized product per row block of the codes,
 * scales (and mins), joined along the vocabulary, as vocabProject does for a float head.
 */
export function vocabProjectQuantized(h: Tensor, head: QuantizedLinear | QuantizedEmbedding): Tensor {
  const qw = head.quantized;
  const bias = head instanceof QuantizedLinear ? head.bias : null;
  const blocks = quantizedBlocks(qw);
  if (blocks.length === 1) return head instanceof QuantizedLinear ? head.forward(h) : qlinear(h, qw);
  return cat(blocks.map(([s, n]) => qlinear(h, quantizedRows(qw, s, n), bias ? bias.narrow(0, s, n) : null)), -1);
}

/** Row blocks [start, rows] of a quantized [V, C] matrix whose codes each fit one binding (one block in the common case). */
function quantizedBlocks(qw: QuantizedWeight): [number, number][] {
  const V = qw.shape[0];
  // the codes are the widest per row (a word holds at most 8 codes; a group at least 16 values)
  const rowBytes = qw.q.shape[1] * 4, limit = bindingLimit();
  if (V * rowBytes <= limit) return [[0, V]];
  const per = Math.max(1, Math.floor((limit - 256) / rowBytes));
  const out: [number, number][] = [];
  for (let s = 0; s < V; s += per) out.push([s, Math.min(per, V - s)]);
  return out;
}

/** Rows s .. s+n-1 of a quantized weight (views of its codes, scales and mins). */
function quantizedRows(qw: QuantizedWeight, s: number, n: number): QuantizedWeight {
  return { q: qw.q.narrow(0, s, n), scales: qw.scales.narrow(0, s, n), mins: qw.mins ? qw.mins.narrow(0, s, n) : null, bits: qw.bits, groupSize: qw.groupSize, shape: [n, qw.shape[1]] };
}

/**
 * Token embeddings through an embedding module: a QuantizedEmbedding's lookup (per row block of
 * its codes where they exceed a binding), else {@link vocabLookup} of the float weight.
 */
export function embedLookup(emb: Embedding, ids: Tensor): Tensor {
  if (!(emb instanceof QuantizedEmbedding)) return vocabLookup(emb.weight, ids, () => emb.forward(ids));
  const qw = emb.quantized, blocks = quantizedBlocks(qw);
  if (blocks.length === 1) return emb.forward(ids);
  checkIndexRange('QuantizedEmbedding.forward', 'indices', ids, qw.shape[0], `a quantized weight ${fmt(qw.shape)}`);
  let out: Tensor | null = null;
  for (const [s, n] of blocks) {
    const local = ids.sub(s).clamp(0, n - 1);
    const inBlock = ids.ge(s).logicalAnd(ids.lt(s + n)).unsqueeze(-1);
    const part = where(inBlock, qembedding(local, quantizedRows(qw, s, n)), 0);
    out = out ? out.add(part) : part;
  }
  return out!;
}
