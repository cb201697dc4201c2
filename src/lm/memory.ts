/**
 * What a language model needs on the device, estimated before anything is downloaded (from its
 * config.json and the safetensors headers, which are read first), and checked against what the
 * device allows: WebGPU refuses a buffer above `maxBufferSize` or a binding above
 * `maxStorageBufferBindingSize`, and a browser says nothing about its total memory, so the total
 * is checked against a budget the caller gives (or none). Refusing with the numbers up front
 * beats a lost device halfway through a download.
 */
import { ArgumentError, OutOfMemoryError } from '../errors.js';
import { checkNumber, checkOptions, describeValue } from '../validate.js';

/** The config.json keys the estimate reads (GPT-2 and Llama-style names). */
export interface ConfigSizes {
  vocab_size?: number;
  // GPT-2
  n_embd?: number;
  n_layer?: number;
  n_head?: number;
  n_inner?: number | null;
  n_positions?: number;
  // Llama-style
  hidden_size?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  intermediate_size?: number;
  head_dim?: number;
  max_position_embeddings?: number;
}

/** A tensor as a safetensors header names it. */
export interface TensorShape {
  readonly name: string;
  readonly shape: readonly number[];
}

export interface MemoryEstimate {
  /** the weights as stored on the device (float32: 4 bytes an element) */
  weightBytes: number;
  /** the largest single weight (one buffer and one binding each) */
  largest: { name: string; bytes: number };
  /** keys and values of every layer for `batch` sequences of `context` tokens */
  kvCacheBytes: number;
  /** working memory of a forward pass over `context` tokens: logits, one layer's intermediates, attention scores */
  activationBytes: number;
  totalBytes: number;
  context: number;
  batch: number;
}

const BYTES = 4;

/** Reads a positive integer from the config (first key present), or throws naming it. */
function dim(op: string, cfg: ConfigSizes, keys: readonly (keyof ConfigSizes)[], fallback?: number): number {
  for (const k of keys) {
    const v = cfg[k];
    if (v !== undefined && v !== null) return checkNumber(op, `config.${k}`, v, { int: true, min: 1 });
  }
  if (fallback !== undefined) return fallback;
  throw new ArgumentError(`${op}: config.json has none of ${keys.join(', ')}: cannot size the model`);
}

/**
 * Estimates the device memory of a model: its weights (from the header shapes), the KV cache of
 * `batch` sequences of `context` tokens (default: the config's maximum positions) and a forward
 * pass's working memory. An estimate, not a promise: the buffer pool rounds sizes up and fused
 * kernels may keep less.
 */
export function estimateMemory(config: ConfigSizes, tensors: readonly TensorShape[], opts: { context?: number; batch?: number } = {}): MemoryEstimate {
  const op = 'estimateMemory';
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ArgumentError(`${op}: config must be config.json's object, got ${describeValue(config)}`);
  if (!Array.isArray(tensors)) throw new ArgumentError(`${op}: tensors must be a list of { name, shape } (a safetensors header's entries), got ${describeValue(tensors)}`);
  tensors.forEach((t, i) => {
    if (typeof t !== 'object' || t === null || !Array.isArray(t.shape) || !t.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0)) {
      throw new ArgumentError(`${op}: tensors[${i}] must be { name, shape } with a shape of non-negative integers, got ${describeValue(t)}`);
    }
  });
  checkOptions(op, opts, ['context', 'batch']);
  const C = dim(op, config, ['hidden_size', 'n_embd']);
  const L = dim(op, config, ['num_hidden_layers', 'n_layer']);
  const H = dim(op, config, ['num_attention_heads', 'n_head']);
  const KV = dim(op, config, ['num_key_value_heads'], H);
  const D = dim(op, config, ['head_dim'], Math.floor(C / H));
  const V = dim(op, config, ['vocab_size']);
  const I = dim(op, config, ['intermediate_size', 'n_inner'], 4 * C);
  const maxPos = dim(op, config, ['max_position_embeddings', 'n_positions'], 2048);
  const context = opts.context === undefined ? maxPos : checkNumber(op, 'context', opts.context, { int: true, min: 1 });
  const batch = opts.batch === undefined ? 1 : checkNumber(op, 'batch', opts.batch, { int: true, min: 1 });
  let weightBytes = 0;
  let largest = { name: '', bytes: 0 };
  for (const t of tensors) {
    const bytes = t.shape.reduce((a: number, b: number) => a * b, 1) * BYTES;
    weightBytes += bytes;
    if (bytes > largest.bytes) largest = { name: t.name, bytes };
  }
  const kvCacheBytes = 2 * L * batch * KV * D * context * BYTES;
  const tokens = batch * context;
  // logits of every position, a layer's widest intermediates (q/k/v or the MLP's two halves,
  // about four alive at once) and one layer's attention scores when they are materialized
  const activationBytes = (tokens * V + 4 * tokens * Math.max(3 * C, 2 * I) + batch * H * context * context) * BYTES;
  return { weightBytes, largest, kvCacheBytes, activationBytes, totalBytes: weightBytes + kvCacheBytes + activationBytes, context, batch };
}

/** Megabytes, for messages. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'no limit';
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  return n >= 1024 ** 2 || n === 0 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** What the device allows (a backend's `limits`; the CPU backend has none to speak of). */
export interface DeviceAllowance {
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
  /** the most bytes the caller lets the model use in all (e.g. a share of the GPU's memory) */
  budget?: number;
  /**
   * Weights the model runs in row blocks (the vocabulary matrices: src/lm/layers.ts
   * vocabBlocks), which need one buffer but not one binding; with `tensors`, the binding limit
   * applies to the others only.
   */
  splittable?: (name: string) => boolean;
  tensors?: readonly TensorShape[];
}

/**
 * Throws an OutOfMemoryError that says the numbers when the estimate does not fit: a weight
 * above the device's largest buffer or binding, or a total above the budget.
 */
export function checkMemory(op: string, est: MemoryEstimate, allow: DeviceAllowance): void {
  const buffer = allow.maxBufferSize ?? Infinity, binding = allow.maxStorageBufferBindingSize ?? Infinity;
  const per = Math.min(buffer, binding);
  const sizes = `maxBufferSize ${formatBytes(buffer)}, maxStorageBufferBindingSize ${formatBytes(binding)}`;
  if (allow.splittable && allow.tensors) {
    // row-blocked weights need one buffer; every other weight one binding
    for (const t of allow.tensors) {
      const bytes = t.shape.reduce((a, b) => a * b, 1) * BYTES;
      const max = allow.splittable(t.name) ? buffer : per;
      if (bytes > max) {
        throw new OutOfMemoryError(`${op}: the weight ${t.name} needs ${formatBytes(bytes)} in one ${max === buffer ? 'buffer' : 'binding'}, and this device allows ${formatBytes(max)} (${sizes}); nothing was loaded`);
      }
    }
  } else if (est.largest.bytes > per) {
    throw new OutOfMemoryError(`${op}: the weight ${est.largest.name} needs ${formatBytes(est.largest.bytes)} in one buffer, and this device allows ${formatBytes(per)} (${sizes}); nothing was loaded`);
  }
  if (allow.budget !== undefined && est.totalBytes > allow.budget) {
    throw new OutOfMemoryError(`${op}: the model needs about ${formatBytes(est.totalBytes)} (weights ${formatBytes(est.weightBytes)}, KV cache ${formatBytes(est.kvCacheBytes)} for ${est.batch}×${est.context} tokens, activations ${formatBytes(est.activationBytes)}), more than the budget of ${formatBytes(allow.budget)}; nothing was loaded (a shorter context shrinks the KV cache and activations)`);
  }
}
