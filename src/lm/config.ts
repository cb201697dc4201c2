/**
 * Model configurations as the Hugging Face hub writes them (config.json, snake_case keys), with
 * the defaults of transformers' GPT2Config / LlamaConfig / Qwen2Config filled in (except the
 * sizes, which a config must give: a default Llama is 7B parameters). A config.json object can be
 * passed as it is to the model classes; `model.config` is the completed copy.
 */
import { ArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

/** GPT-2 family (gpt2, distilgpt2, gpt2-medium, ...): config.json keys. */
export interface GPT2Config {
  model_type: 'gpt2';
  architectures?: string[];
  vocab_size: number;
  /** context length (rows of wpe) */
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP width; null: 4·n_embd */
  n_inner: number | null;
  /** 'gelu_new' (the tanh approximation, GPT-2's), 'gelu_pytorch_tanh', 'gelu', 'relu', 'silu' */
  activation_function: string;
  layer_norm_epsilon: number;
  initializer_range: number;
  /** divide attention scores by √head_dim (true in every released GPT-2) */
  scale_attn_weights: boolean;
  /** also divide layer i's scores by i + 1 (false in every released GPT-2) */
  scale_attn_by_inverse_layer_idx: boolean;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  [key: string]: unknown;
}

/** `rope_scaling` of a Llama-style config. */
export interface RopeScaling {
  /** 'llama3', 'linear' or 'default' (also read from `type`) */
  rope_type: string;
  factor: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
  [key: string]: unknown;
}

/** Llama-style decoders (Llama, SmolLM2, TinyLlama, Qwen2, Mistral without sliding window): config.json keys. */
export interface LlamaConfig {
  model_type: string;
  architectures?: string[];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** grouped-query attention: heads of keys and values (default num_attention_heads) */
  num_key_value_heads: number;
  /** default hidden_size / num_attention_heads */
  head_dim: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  /** 'silu' (SwiGLU) or 'gelu_pytorch_tanh' / 'gelu' / 'relu' */
  hidden_act: string;
  /** biases on q, k, v and o projections (Qwen2: q, k, v only, see qkv_bias) */
  attention_bias: boolean;
  /** biases on q, k and v only (Qwen2's layout; set from model_type 'qwen2') */
  qkv_bias: boolean;
  mlp_bias: boolean;
  tie_word_embeddings: boolean;
  initializer_range: number;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  [key: string]: unknown;
}

export type LMConfig = GPT2Config | LlamaConfig;

/** model_type values read as Llama-style decoders. */
export const LLAMA_TYPES = ['llama', 'qwen2', 'mistral'] as const;
const ARCH_TYPES: Record<string, string> = {
  GPT2LMHeadModel: 'gpt2', GPT2Model: 'gpt2', LlamaForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2', MistralForCausalLM: 'mistral',
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The model family of a config.json object: 'gpt2' or 'llama' (Llama-style). */
export function configFamily(op: string, raw: unknown): 'gpt2' | 'llama' {
  if (!isObject(raw)) throw new ArgumentError(`${op}: config must be a config.json object, got ${describeValue(raw)}`);
  let type = raw.model_type;
  if (type === undefined && Array.isArray(raw.architectures)) type = raw.architectures.map((a) => ARCH_TYPES[a as string]).find(Boolean);
  if (type === 'gpt2') return 'gpt2';
  if ((LLAMA_TYPES as readonly unknown[]).includes(type)) return 'llama';
  throw new ArgumentError(`${op}: unsupported model_type ${describeValue(type)}${Array.isArray(raw.architectures) ? ` (architectures ${JSON.stringify(raw.architectures)})` : ''}; supported: gpt2, ${LLAMA_TYPES.join(', ')}`);
}

function int(op: string, raw: Record<string, unknown>, key: string, fallback?: number, min = 1): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ArgumentError(`${op}: config.${key} must be an integer >= ${min}, got ${describeValue(raw[key])}`);
  }
  return v;
}

function num(op: string, raw: Record<string, unknown>, key: string, fallback: number, min = 0): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ArgumentError(`${op}: config.${key} must be a finite number >= ${min}, got ${describeValue(raw[key])}`);
  return v;
}

function bool(op: string, raw: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'boolean') throw new ArgumentError(`${op}: config.${key} must be a boolean, got ${describeValue(raw[key])}`);
  return v;
}

function tokenIds(op: string, raw: Record<string, unknown>, key: string): number | number[] | null {
  const v = raw[key] ?? null;
  const ok = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (v === null || ok(v) || (Array.isArray(v) && v.every(ok))) return v as number | number[] | null;
  throw new ArgumentError(`${op}: config.${key} must be a token id, a list of them or null, got ${describeValue(v)}`);
}

const ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu', 'relu', 'silu', 'swish'];

function activation(op: string, raw: Record<string, unknown>, key: string, fallback: string): string {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'string' || !ACTIVATIONS.includes(v)) throw new ArgumentError(`${op}: config.${key} ${describeValue(v)} is not supported (${ACTIVATIONS.join(', ')})`);
  return v;
}

/** GPT2Config: the sizes are required (vocab_size, n_positions, n_embd, n_layer, n_head), the rest take transformers' defaults. */
export function gpt2Config(op: string, raw: unknown): GPT2Config {
  if (configFamily(op, raw) !== 'gpt2') throw new ArgumentError(`${op}: expected a GPT-2 config (model_type 'gpt2'), got model_type ${describeValue((raw as Record<string, unknown>).model_type)}`);
  const r = raw as Record<string, unknown>;
  const n_embd = int(op, r, 'n_embd'), n_head = int(op, r, 'n_head');
  if (n_embd % n_head) throw new ArgumentError(`${op}: config.n_embd ${n_embd} must be divisible by config.n_head ${n_head}`);
  const inner = r.n_inner ?? null;
  if (inner !== null) int(op, r, 'n_inner');
  return {
    ...r,
    model_type: 'gpt2',
    vocab_size: int(op, r, 'vocab_size'),
    n_positions: int(op, r, 'n_positions'),
    n_embd, n_head,
    n_layer: int(op, r, 'n_layer'),
    n_inner: inner as number | null,
    activation_function: activation(op, r, 'activation_function', 'gelu_new'),
    layer_norm_epsilon: num(op, r, 'layer_norm_epsilon', 1e-5),
    initializer_range: num(op, r, 'initializer_range', 0.02),
    scale_attn_weights: bool(op, r, 'scale_attn_weights', true),
    scale_attn_by_inverse_layer_idx: bool(op, r, 'scale_attn_by_inverse_layer_idx', false),
    bos_token_id: tokenIds(op, r, 'bos_token_id') as number | null,
    eos_token_id: tokenIds(op, r, 'eos_token_id'),
  };
}

function ropeScaling(op: string, r: Record<string, unknown>): RopeScaling | null {
  // newer transformers write rope_parameters (with rope_theta inside); older rope_scaling
  const v = r.rope_scaling ?? (isObject(r.rope_parameters) ? r.rope_parameters : null);
  if (v === null || v === undefined) return null;
  if (!isObject(v)) throw new ArgumentError(`${op}: config.rope_scaling must be an object or null, got ${describeValue(v)}`);
  const type = v.rope_type ?? v.type ?? 'default';
  if (type === 'default') return null;
  if (type !== 'linear' && type !== 'llama3') throw new ArgumentError(`${op}: config.rope_scaling type ${describeValue(type)} is not supported (linear, llama3)`);
  const factor = num(op, v, 'factor', NaN, 0);
  const s: RopeScaling = { ...v, rope_type: type, factor };
  if (type === 'llama3') {
    s.low_freq_factor = num(op, v, 'low_freq_factor', 1);
    s.high_freq_factor = num(op, v, 'high_freq_factor', 4);
    s.original_max_position_embeddings = int(op, v, 'original_max_position_embeddings', 8192);
    if (!(s.high_freq_factor > s.low_freq_factor)) throw new ArgumentError(`${op}: config.rope_scaling.high_freq_factor ${s.high_freq_factor} must exceed low_freq_factor ${s.low_freq_factor}`);
  }
  return s;
}

/**
 * LlamaConfig: the sizes are required (vocab_size, hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads), the rest take transformers' defaults (Qwen2's: q/k/v biases).
 */
export function llamaConfig(op: string, raw: unknown): LlamaConfig {
  if (configFamily(op, raw) !== 'llama') throw new ArgumentError(`${op}: expected a Llama-style config (model_type ${LLAMA_TYPES.join(', ')}), got model_type ${describeValue((raw as Record<string, unknown>).model_type)}`);
  const r = raw as Record<string, unknown>;
  const modelType = (r.model_type ?? (Array.isArray(r.architectures) ? r.architectures.map((a) => ARCH_TYPES[a as string]).find(Boolean) : 'llama')) as string;
  const hidden = int(op, r, 'hidden_size'), heads = int(op, r, 'num_attention_heads');
  const kv = int(op, r, 'num_key_value_heads', heads);
  if (heads % kv) throw new ArgumentError(`${op}: config.num_attention_heads ${heads} must be divisible by config.num_key_value_heads ${kv}`);
  if (r.head_dim == null && hidden % heads) throw new ArgumentError(`${op}: config.hidden_size ${hidden} must be divisible by config.num_attention_heads ${heads} (or give head_dim)`);
  const headDim = int(op, r, 'head_dim', Math.floor(hidden / heads));
  if (headDim % 2) throw new ArgumentError(`${op}: config.head_dim ${headDim} must be even (rotary embeddings rotate pairs)`);
  const qwen = modelType === 'qwen2';
  const ropeTheta = r.rope_theta ?? (isObject(r.rope_parameters) ? r.rope_parameters.rope_theta : undefined);
  return {
    ...r,
    model_type: modelType,
    vocab_size: int(op, r, 'vocab_size'),
    hidden_size: hidden,
    intermediate_size: int(op, r, 'intermediate_size'),
    num_hidden_layers: int(op, r, 'num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: kv,
    head_dim: headDim,
    max_position_embeddings: int(op, r, 'max_position_embeddings', 2048),
    rms_norm_eps: num(op, r, 'rms_norm_eps', 1e-6),
    rope_theta: num(op, { rope_theta: ropeTheta }, 'rope_theta', 10000, 1e-9),
    rope_scaling: ropeScaling(op, r),
    hidden_act: activation(op, r, 'hidden_act', 'silu'),
    attention_bias: bool(op, r, 'attention_bias', false),
    qkv_bias: qwen || bool(op, r, 'attention_bias', false),
    mlp_bias: bool(op, r, 'mlp_bias', false),
    tie_word_embeddings: bool(op, r, 'tie_word_embeddings', false),
    initializer_range: num(op, r, 'initializer_range', 0.02),
    bos_token_id: tokenIds(op, r, 'bos_token_id') as number | null,
    eos_token_id: tokenIds(op, r, 'eos_token_id'),
  };
}

/** Reads a config.json object as the config of its family. */
export function parseConfig(op: string, raw: unknown): LMConfig {
  return configFamily(op, raw) === 'gpt2' ? gpt2Config(op, raw) : llamaConfig(op, raw);
}
