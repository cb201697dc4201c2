/**
 * Causal language models from GGUF files (llama.cpp's format): the metadata mapped to the config
 * the model classes take (config.json's keys), llama.cpp's tensor names mapped to the hub's, and
 * the layouts llama.cpp's converter changed undone:
 *   - arch 'llama' (Llama, Mistral, SmolLM2, TinyLlama): convert_hf_to_gguf.py permutes the rows of
 *     attn_q / attn_k within each head (the rotary pairs interleaved, GPT-J style); they are put
 *     back to the hub's half-split order;
 *   - 'gpt2': the converter transposes the Conv1D matrices to [out, in]; they are transposed back;
 *   - a `rope_freqs.weight` tensor (llama3-style rope scaling: per-frequency divisors) replaces
 *     the model's inverse frequencies.
 * Linear layers' matrices stored Q8_0 / Q4_0 / Q4_K / Q6_K stay quantized on the device: they
 * are repacked exactly into the quantized matmul's layout (src/io/gguf.ts repackGgufTensor) and
 * the model gets a QuantizedLinear there (made empty at construction, so no float weight is ever
 * allocated). A token_embd stored in one of those types stays packed too, as a QuantizedEmbedding
 * (its lookup gathers and dequantizes rows; a tied model's head — no output.weight, or GPT-2 —
 * projects with the same codes). Everything else is converted to float32 once at load
 * (decodeGgufTensor): F32 as is, F16/BF16 widened, other quantized tensors (a quantized
 * position_embd) dequantized. `dequantize: true` converts every tensor (the earlier behaviour).
 */
import { FormatError, ShapeError, fmt } from '../errors.js';
import { GGML_BLOCK, GGUF_REPACK, decodeGgufTensor, readGguf, repackGgufTensor, type GgufFile, type GgufTensorEntry } from '../io/gguf.js';
import type { QuantizedLinear } from '../nn/quant.js';
import { construction } from './layers.js';
import type { ByteSource } from '../io/source.js';
import type { Tensor } from '../tensor.js';
import type { CausalLM } from './causal-lm.js';
import type { LlamaForCausalLM } from './llama.js';

/** The metadata value at `key`, checked to be a number. */
function num(op: string, g: GgufFile, key: string, fallback?: number): number {
  const v = g.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new FormatError(`${op}: the GGUF metadata lacks ${key}`);
  }
  if (typeof v !== 'number') throw new FormatError(`${op}: GGUF metadata ${key} is ${typeof v}; expected a number`);
  return v;
}

/** The GGUF architectures this loader maps. */
export const GGUF_ARCHS = ['llama', 'qwen2', 'gpt2'];

/** The GGUF's general.architecture, checked to be one this loader maps. */
export function ggufArchitecture(op: string, g: GgufFile): string {
  const arch = g.metadata.get('general.architecture');
  if (typeof arch !== 'string') throw new FormatError(`${op}: the GGUF metadata lacks general.architecture`);
  // llama.cpp writes Llama, Mistral 7B, SmolLM2 and TinyLlama as "llama" (q/k permuted), Qwen2/2.5 as "qwen2" (not permuted)
  if (!GGUF_ARCHS.includes(arch)) {
    throw new FormatError(`${op}: GGUF architecture "${arch}" is not supported (supported: ${GGUF_ARCHS.join(', ')})`);
  }
  return arch;
}

const tensorNamed = (g: GgufFile, name: string) => g.tensors.find((t) => t.name === name);

/** A config.json object for the model classes, from GGUF metadata. */
export function ggufConfig(op: string, g: GgufFile): Record<string, unknown> {
  const arch = ggufArchitecture(op, g);
  const k = (s: string) => `${arch}.${s}`;
  const embd = tensorNamed(g, 'token_embd.weight');
  if (!embd) throw new FormatError(`${op}: the GGUF has no token_embd.weight tensor`);
  const tokens = g.metadata.get('tokenizer.ggml.tokens');
  const vocab = num(op, g, k('vocab_size'), embd.shape[0] ?? (Array.isArray(tokens) ? tokens.length : 0));
  const ids: Record<string, unknown> = {};
  for (const [key, name] of [['tokenizer.ggml.bos_token_id', 'bos_token_id'], ['tokenizer.ggml.eos_token_id', 'eos_token_id']] as const) {
    const v = g.metadata.get(key);
    if (typeof v === 'number') ids[name] = v;
  }
  if (arch === 'gpt2') {
    const ctx = num(op, g, k('context_length'));
    return {
      model_type: 'gpt2', vocab_size: vocab, n_positions: ctx, n_ctx: ctx, n_embd: num(op, g, k('embedding_length')),
      n_layer: num(op, g, k('block_count')), n_head: num(op, g, k('attention.head_count')),
      n_inner: num(op, g, k('feed_forward_length'), 4 * num(op, g, k('embedding_length'))),
      layer_norm_epsilon: num(op, g, k('attention.layer_norm_epsilon'), 1e-5), ...ids,
    };
  }
  const hidden = num(op, g, k('embedding_length')), heads = num(op, g, k('attention.head_count'));
  const headDim = num(op, g, k('attention.key_length'), num(op, g, k('rope.dimension_count'), hidden / heads));
  const scalingType = g.metadata.get(k('rope.scaling.type'));
  let rope_scaling: Record<string, unknown> | null = null;
  if (scalingType === 'linear') rope_scaling = { rope_type: 'linear', factor: num(op, g, k('rope.scaling.factor')) };
  else if (scalingType !== undefined && scalingType !== 'none') throw new FormatError(`${op}: GGUF rope scaling "${String(scalingType)}" is not supported (linear, or a rope_freqs tensor, are)`);
  return {
    model_type: arch, vocab_size: vocab, hidden_size: hidden, intermediate_size: num(op, g, k('feed_forward_length')),
    num_hidden_layers: num(op, g, k('block_count')), num_attention_heads: heads,
    num_key_value_heads: num(op, g, k('attention.head_count_kv'), heads), head_dim: headDim,
    max_position_embeddings: num(op, g, k('context_length')), rms_norm_eps: num(op, g, k('attention.layer_norm_rms_epsilon'), 1e-5),
    rope_theta: num(op, g, k('rope.freq_base'), 10000), rope_scaling,
    tie_word_embeddings: !tensorNamed(g, 'output.weight'), ...ids,
  };
}

const LLAMA_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm', ffn_norm: 'post_attention_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
};
const GPT2_NAMES: Record<string, string> = {
  attn_norm: 'ln_1', ffn_norm: 'ln_2', attn_qkv: 'attn.c_attn', attn_output: 'attn.c_proj', ffn_up: 'mlp.c_fc', ffn_down: 'mlp.c_proj',
};

/**
 * The hub name of a llama.cpp tensor name (null: skip, undefined: unknown). `rope_freqs.weight`
 * maps to null here; the loader reads it itself.
 */
export function ggufTensorKey(arch: string, name: string): string | null | undefined {
  const gpt2 = arch === 'gpt2';
  if (name === 'token_embd.weight') return gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
  if (name === 'position_embd.weight') return gpt2 ? 'transformer.wpe.weight' : undefined;
  if (name === 'output_norm.weight' || name === 'output_norm.bias') return gpt2 ? `transformer.ln_f.${name.split('.')[1]}` : name === 'output_norm.weight' ? 'model.norm.weight' : undefined;
  if (name === 'output.weight') return gpt2 ? null : 'lm_head.weight';
  if (name === 'rope_freqs.weight') return null;
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const part = (gpt2 ? GPT2_NAMES : LLAMA_NAMES)[m[2]];
  if (!part) return undefined;
  return gpt2 ? `transformer.h.${m[1]}.${part}.${m[3]}` : `model.layers.${m[1]}.${part}.${m[3]}`;
}

/**
 * Undoes convert_hf_to_gguf.py's `permute` of q/k rows: within each head of `dim` rows, GGUF row
 * 2i+s holds the hub's row s·dim/2+i (s = 0, 1; i < dim/2). `values` is row-major [rows, cols].
 */
export function unpermuteRows<A extends Float32Array | Int32Array>(values: A, rows: number, heads: number): A {
  const cols = values.length / rows, dim = rows / heads, half = dim / 2;
  const out = new (values.constructor as new (n: number) => A)(values.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const from = h * dim + 2 * i + s, to = h * dim + s * half + i;
        out.set(values.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

/** GPT-2's Conv1D matrices: stored [out, in] by llama.cpp's converter, [in, out] in the model */
const conv1d = (arch: string, key: string): boolean => arch === 'gpt2' && /\.(c_attn|c_proj|c_fc)\.weight$/.test(key);

function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}

/** What loadCausalLM hands to the GGUF loader. */
export interface GgufLoadHooks {
  emptyModel: (op: string, raw: unknown) => CausalLM;
  copyRows: (target: Tensor, values: Float32Array | Int32Array, shape: readonly number[]) => void;
  onProgress?: (p: { loaded: number; total: number; tensors: number; count: number; file: string }) => void;
  /** called with the config and the weights as they will sit on the device (hub names; 4-byte element counts) before the model is made: the memory check */
  beforeModel?: (raw: Record<string, unknown>, tensors: { name: string; shape: number[] }[]) => void;
  /** convert every tensor to float32 (the quantized ones dequantized) instead of keeping Q8_0 / Q4_0 / Q4_K / Q6_K matrices packed */
  dequantize?: boolean;
}

/** Largest range read at once. */
const CHUNK_BYTES = 16 << 20;

/** The module path of a Linear layer's weight key (null: not one: embeddings, norms, biases, 1-D). */
function linearLayer(key: string): string | null {
  if (/(^|\.)(wte|embed_tokens)\.weight$/.test(key)) return key.slice(0, -'.weight'.length);
  if (/(^|\.)wpe\.weight$/.test(key) || !key.endsWith('.weight')) return null;
  return /(_proj|\.c_attn|\.c_proj|\.c_fc|^lm_head)\.weight$/.test(key) ? key.slice(0, -'.weight'.length) : null;
}

/**
 * Which tensors load quantized: 2-D matrices of Linear layers (Llama's projections and lm_head,
 * GPT-2's Conv1D matrices, stored [out, in] by the converter as QuantizedLinear wants them) and
 * the token embedding ([vocab, hidden]: a QuantizedEmbedding) stored Q8_0 / Q4_0 / Q4_K / Q6_K.
 */
export function ggufQuantizedLayers(arch: string, g: GgufFile): Map<string, { bits: 4 | 8; groupSize: number; mins: boolean }> {
  const out = new Map<string, { bits: 4 | 8; groupSize: number; mins: boolean }>();
  for (const e of g.tensors) {
    const key = ggufTensorKey(arch, e.name), cfg = GGUF_REPACK[e.type];
    const layer = key ? linearLayer(key) : null;
    if (layer && cfg && e.shape.length === 2) out.set(layer, cfg);
  }
  return out;
}

/** The packed tensors of a quantized [N, K] layer at `layer`, in 4-byte elements. */
function packedShapes(layer: string, [N, K]: number[], cfg: { bits: number; groupSize: number; mins: boolean }): { name: string; shape: number[] }[] {
  const Gn = K / cfg.groupSize;
  return [{ name: `${layer}.qweight`, shape: [N, (K * cfg.bits) / 32] }, { name: `${layer}.scales`, shape: [N, Gn] }, ...(cfg.mins ? [{ name: `${layer}.mins`, shape: [N, Gn] }] : [])];
}

/**
 * The tensors a GGUF model holds on the device (hub names; shapes in 4-byte elements, as the
 * memory estimate counts them): a quantized layer's (or token embedding's) packed codes, scales
 * and mins, every other tensor in float32. With `dequantize`, every tensor in float32.
 */
export function ggufDeviceTensors(arch: string, g: GgufFile, dequantize = false): { name: string; shape: number[] }[] {
  const quantized = dequantize ? new Map() : ggufQuantizedLayers(arch, g);
  return g.tensors.flatMap((e) => {
    const key = ggufTensorKey(arch, e.name);
    if (!key) return [];
    const layer = linearLayer(key), cfg = layer ? quantized.get(layer) : undefined;
    return layer && cfg ? packedShapes(layer, e.shape, cfg) : [{ name: key, shape: e.shape }];
  });
}

/** Loads a GGUF model from an open source (the caller closes it). */
export async function loadGgufModel(op: string, source: ByteSource, where: string, hooks: GgufLoadHooks): Promise<{ model: CausalLM; gguf: GgufFile }> {
  const g = await readGguf(source, `${op}: ${where}`);
  const raw = ggufConfig(op, g);
  const arch = raw.model_type as string;
  const quantized = hooks.dequantize ? new Map() as ReturnType<typeof ggufQuantizedLayers> : ggufQuantizedLayers(arch, g);
  if (hooks.beforeModel) hooks.beforeModel(raw, ggufDeviceTensors(arch, g, hooks.dequantize));
  construction.quantized = (name) => quantized.get(name) ?? null;
  let model: CausalLM;
  try {
    model = hooks.emptyModel(op, raw);
  } finally {
    construction.quantized = null;
  }
  try {
    const targets = new Map(Object.entries(model.stateDict()));
    const modules = new Map(model.namedModules());
    const items: { e: GgufTensorEntry; key: string; target: Tensor[]; packed: boolean }[] = [];
    const unexpected: string[] = [];
    for (const e of g.tensors) {
      const key = ggufTensorKey(arch, e.name);
      if (key === null) continue;
      const layer = key ? linearLayer(key) : null;
      const packed = !!layer && quantized.has(layer);
      const parts = packed ? ['qweight', 'scales', 'mins'].map((p) => targets.get(`${layer}.${p}`)).filter((t): t is Tensor => !!t) : [];
      const target = key === undefined ? undefined : packed ? parts[0] : targets.get(key);
      if (key === undefined || !target) {
        unexpected.push(e.name);
        continue;
      }
      if (!GGML_BLOCK[e.type]) throw new FormatError(`${op}: GGUF tensor "${e.name}" in ${where} has type ${e.type} (ggml type id ${e.typeId}), which is not supported; supported: ${Object.keys(GGML_BLOCK).join(', ')} (re-quantize the model, e.g. as Q4_K_M or Q8_0)`);
      // a packed layer's float shape is [out, in] (GPT-2's Conv1D too: the converter stored it so)
      const want = packed ? (modules.get(layer!) as QuantizedLinear).quantized.shape : conv1d(arch, key) ? [target.shape[1], target.shape[0]] : target.shape;
      if (e.shape.length !== want.length || e.shape.some((d, i) => d !== want[i])) {
        throw new ShapeError(`${op}: GGUF tensor "${e.name}" in ${where} has shape ${fmt(e.shape)} (dims [${e.dims.join(', ')}]) but ${model.constructor.name} with this metadata needs ${fmt(want)} for ${key}`);
      }
      items.push({ e, key, target: packed ? parts : [target], packed });
    }
    const found = new Set(items.flatMap((i) => (i.packed ? ['qweight', 'scales', 'mins'].map((p) => `${linearLayer(i.key)}.${p}`) : [i.key])));
    const missing = [...targets.keys()].filter((k) => !found.has(k));
    if (missing.length) {
      throw new FormatError(`${op}: the GGUF file ${where} lacks ${missing.length} tensor${missing.length > 1 ? 's' : ''} that ${model.constructor.name} needs: ${missing.slice(0, 6).join(', ')}${missing.length > 6 ? ', ...' : ''}${unexpected.length ? `; it has tensors this model does not use: ${unexpected.slice(0, 4).join(', ')}` : ''}`);
    }
    items.sort((a, b) => a.e.begin - b.e.begin);
    const heads = raw.num_attention_heads as number, kvHeads = raw.num_key_value_heads as number;
    const count = items.length, total = items.reduce((n, i) => n + i.e.end - i.e.begin, 0);
    let loaded = 0, done = 0;
    for (let i = 0; i < items.length;) {
      let j = i + 1;
      while (j < items.length && items[j].e.end - items[i].e.begin <= CHUNK_BYTES) j++;
      const begin = items[i].e.begin;
      const bytes = await source.read(begin, items[j - 1].e.end);
      for (const { e, key, target, packed } of items.slice(i, j)) {
        const data = bytes.subarray(e.begin - begin, e.end - begin);
        const permuted = arch === 'llama' && /\.self_attn\.(q|k)_proj\.(weight|bias)$/.test(key);
        const rows = (v: Float32Array | Int32Array) => (permuted ? unpermuteRows(v, e.shape[0], key.includes('.q_proj.') ? heads : kvHeads) : v);
        if (packed) {
          // the codes and scales as they are (src/io/gguf.ts repackGgufTensor); rows put back for q/k
          const r = repackGgufTensor(e, data, `${op}: ${where}`);
          const N = e.shape[0];
          hooks.copyRows(target[0], rows(r.q), [N, r.words]);
          hooks.copyRows(target[1], rows(r.scales), [N, r.groups]);
          if (r.mins) hooks.copyRows(target[2], rows(r.mins), [N, r.groups]);
        } else {
          let values = rows(decodeGgufTensor(e, data, `${op}: ${where}`)) as Float32Array;
          if (conv1d(arch, key)) values = transpose2d(values, e.shape[0], e.shape[1]);
          hooks.copyRows(target[0], values, target[0].shape);
        }
        loaded += e.end - e.begin;
        done++;
      }
      hooks.onProgress?.({ loaded, total, tensors: done, count, file: where });
      i = j;
    }
    const freqs = tensorNamed(g, 'rope_freqs.weight');
    if (freqs && arch !== 'gpt2') {
      const f = decodeGgufTensor(freqs, await source.read(freqs.begin, freqs.end), `${op}: ${where}`);
      const inv = (model as LlamaForCausalLM).model['invFreq' as keyof object] as unknown as Float32Array;
      if (f.length !== inv.length) throw new ShapeError(`${op}: GGUF tensor "rope_freqs.weight" has ${f.length} factors; the model's rotary embedding has ${inv.length} frequencies`);
      const D = 2 * inv.length, theta = raw.rope_theta as number;
      // llama.cpp divides each base frequency by its factor
      for (let i = 0; i < inv.length; i++) inv[i] = Math.fround(Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / D))) / f[i]);
    }
    return { model, gguf: g };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** Whether a loadCausalLM source names a single GGUF file. */
export function isGgufSource(src: unknown): boolean {
  const gguf = (s: string) => /\.gguf$/i.test(s.replace(/[?#].*$/, ''));
  if (typeof src === 'string') return gguf(src);
  if (src instanceof URL) return gguf(src.pathname);
  if (typeof Blob !== 'undefined' && src instanceof Blob) return true;
  return false;
}
