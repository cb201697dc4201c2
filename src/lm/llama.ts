/**
 * Llama-style decoders (Llama, SmolLM2, TinyLlama, Qwen2, Mistral within its window) as
 * transformers' LlamaForCausalLM: token embedding, pre-norm blocks (RMSNorm) of causal
 * self-attention with rotary position embeddings (rotate_half layout, rope_theta, linear or
 * llama3 rope_scaling) and grouped-query attention, a SwiGLU MLP (down(act(gate(x)) · up(x))),
 * a final RMSNorm and the output projection (lm_head, or the embedding when tied). Modules and
 * parameters carry the hub's names (`model.layers.0.self_attn.q_proj.weight`, ...).
 */
import { ArgumentError } from '../errors.js';
import type { Embedding, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';
import { checkOptions, checkOptionalNumber, describeValue } from '../validate.js';
import { llamaConfig, type LlamaConfig } from './config.js';
import { CausalLM, type BlockRunner } from './causal-lm.js';
import { activationFn, type ModelInitOptions } from './gpt2.js';
import { RMSNorm, applyRope, causalAttention, hubEmbedding, hubLinear, ropeInvFreq, ropeTables, embedLookup, vocabProject, vocabProjectQuantized, type KVCache } from './layers.js';
import { QuantizedEmbedding, QuantizedLinear } from '../nn/quant.js';

class LlamaAttention extends Module {
  qProj: Linear;
  kProj: Linear;
  vProj: Linear;
  oProj: Linear;
  constructor(readonly cfg: LlamaConfig, readonly layerIdx: number, seed: number) {
    super();
    const { hidden_size: E, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: D, initializer_range: std } = cfg;
    const qkvBias = cfg.qkv_bias || cfg.attention_bias;
    const at = `model.layers.${layerIdx}.self_attn.`;
    this.qProj = hubLinear(E, H * D, qkvBias, std, seed, `${at}q_proj`);
    this.kProj = hubLinear(E, Hkv * D, qkvBias, std, seed + 1, `${at}k_proj`);
    this.vProj = hubLinear(E, Hkv * D, qkvBias, std, seed + 2, `${at}v_proj`);
    this.oProj = hubLinear(H * D, E, cfg.attention_bias, std, seed + 3, `${at}o_proj`);
  }
  forward(x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | null): Tensor {
    const { num_attention_heads: H, num_key_value_heads: Hkv, head_dim: D } = this.cfg;
    const [B, T] = x.shape;
    const heads = (t: Tensor, n: number) => t.reshape([B, T, n, D]).transpose(1, 2);
    const q = applyRope(heads(this.qProj.forward(x), H), cos, sin);
    const k = applyRope(heads(this.kProj.forward(x), Hkv), cos, sin);
    const v = heads(this.vProj.forward(x), Hkv);
    const past = cache?.length ?? 0;
    const [ka, va] = cache ? cache.append(this.layerIdx, k, v) : [k, v];
    const y = causalAttention(q, ka, va, past, 1 / Math.sqrt(D));
    return this.oProj.forward(y.transpose(1, 2).reshape([B, T, H * D]));
  }
}

class LlamaMLP extends Module {
  gateProj: Linear;
  upProj: Linear;
  downProj: Linear;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: LlamaConfig, seed: number, layerIdx: number) {
    super();
    const { hidden_size: E, intermediate_size: I, initializer_range: std, mlp_bias: bias } = cfg;
    const at = `model.layers.${layerIdx}.mlp.`;
    this.gateProj = hubLinear(E, I, bias, std, seed, `${at}gate_proj`);
    this.upProj = hubLinear(E, I, bias, std, seed + 1, `${at}up_proj`);
    this.downProj = hubLinear(I, E, bias, std, seed + 2, `${at}down_proj`);
    this.act = activationFn(cfg.hidden_act);
  }
  forward(x: Tensor): Tensor {
    return this.downProj.forward(this.act(this.gateProj.forward(x)).mul(this.upProj.forward(x)));
  }
}

class LlamaDecoderLayer extends Module {
  selfAttn: LlamaAttention;
  mlp: LlamaMLP;
  inputLayernorm: RMSNorm;
  postAttentionLayernorm: RMSNorm;
  constructor(cfg: LlamaConfig, i: number, seed: number) {
    super();
    this.selfAttn = new LlamaAttention(cfg, i, seed);
    this.mlp = new LlamaMLP(cfg, seed + 4, i);
    this.inputLayernorm = new RMSNorm(cfg.hidden_size, cfg.rms_norm_eps);
    this.postAttentionLayernorm = new RMSNorm(cfg.hidden_size, cfg.rms_norm_eps);
  }
  forward(x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | null): Tensor {
    const h = x.add(this.selfAttn.forward(this.inputLayernorm.forward(x), cos, sin, cache));
    return h.add(this.mlp.forward(this.postAttentionLayernorm.forward(h)));
  }
}

/** transformers' LlamaModel: embedding, layers, final norm. */
class LlamaModel extends Module {
  embedTokens: Embedding;
  layers: LlamaDecoderLayer[];
  norm: RMSNorm;
  private readonly invFreq: Float32Array;
  constructor(readonly cfg: LlamaConfig, seed: number) {
    super();
    this.embedTokens = hubEmbedding(cfg.vocab_size, cfg.hidden_size, cfg.initializer_range, seed, 'model.embed_tokens');
    this.layers = Array.from({ length: cfg.num_hidden_layers }, (_, i) => new LlamaDecoderLayer(cfg, i, seed + 10 * (i + 1)));
    this.norm = new RMSNorm(cfg.hidden_size, cfg.rms_norm_eps);
    this.invFreq = ropeInvFreq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling);
  }
  forward(ids: Tensor, cache: KVCache | null, run: BlockRunner = (fn, x, ...e) => fn(x, ...e)): Tensor {
    const T = ids.shape[1], past = cache?.length ?? 0;
    const [cos, sin] = ropeTables(this.invFreq, past, T);
    let x = embedLookup(this.embedTokens, ids);
    // the rotary tables go in as arguments: a checkpointed block reads them again in backward
    for (const l of this.layers) x = run((h, c, s) => l.forward(h, c, s, cache), x, cos, sin);
    if (cache) cache.length += T;
    return this.norm.forward(x);
  }
}

/**
 * A Llama-style decoder with its language-model head, as transformers' LlamaForCausalLM (and
 * Qwen2ForCausalLM: model_type 'qwen2' adds q/k/v biases). Made from a config (config.json's
 * keys) with random weights, or by `loadCausalLM` with the hub's.
 *
 * @example
 * // SmolLM2-135M's shape
 * const model = new LlamaForCausalLM({ vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
 *   num_attention_heads: 9, num_key_value_heads: 3, rope_theta: 100000, tie_word_embeddings: true });
 */
export class LlamaForCausalLM extends CausalLM {
  readonly config: LlamaConfig;
  model: LlamaModel;
  lmHead: Linear | null;
  constructor(config: Partial<LlamaConfig>, opts: ModelInitOptions = {}) {
    super();
    const op = 'LlamaForCausalLM';
    checkOptions(op, opts, ['seed']);
    const seed = checkOptionalNumber(op, 'seed', opts.seed, { int: true, min: 0 }) ?? 0;
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ArgumentError(`${op}: config must be a config.json object, got ${config === null ? 'null' : typeof config}`);
    this.config = llamaConfig(op, { model_type: 'llama', ...config });
    this.model = new LlamaModel(this.config, seed);
    this.lmHead = this.config.tie_word_embeddings ? null : hubLinear(this.config.hidden_size, this.config.vocab_size, false, this.config.initializer_range, seed + 1, 'lm_head');
    this.eval();
  }
  get numLayers(): number {
    return this.config.num_hidden_layers;
  }
  get maxPositions(): number {
    return this.config.max_position_embeddings;
  }
  get vocabSize(): number {
    return this.config.vocab_size;
  }
  protected hidden(op: string, ids: Tensor, cache: KVCache | null): Tensor {
    this.checkLength(op, cache?.length ?? 0, ids.shape[1]);
    return this.model.forward(ids, cache, this.blockRunner(cache));
  }
  protected head(h: Tensor): Tensor {
    const lmHead = this.lmHead;
    if (!lmHead) {
      // tied: the embedding's matrix, packed where the embedding is quantized (wt.quantize with
      // embeddings: true, its saved checkpoint, a GGUF's quantized token_embd)
      const emb = this.model.embedTokens;
      return emb instanceof QuantizedEmbedding ? vocabProjectQuantized(h, emb) : vocabProject(h, emb.weight);
    }
    // a quantized head (wt.quantize or a quantized checkpoint: a QuantizedLinear, no float weight)
    // runs in row blocks of its codes where they exceed a binding; wrapped by an adapter, its own forward
    if (lmHead instanceof QuantizedLinear) return vocabProjectQuantized(h, lmHead);
    const base = (lmHead as { baseLayer?: unknown }).baseLayer;
    if (base instanceof QuantizedLinear) return lmHead.forward(h);
    return vocabProject(h, lmHead.weight, () => lmHead.forward(h));
  }
  /** The model's state-dict key of a checkpoint tensor; null: a tensor to skip; undefined: not this model's. */
  checkpointKey(name: string): string | null | undefined {
    if (typeof name !== 'string') throw new ArgumentError(`LlamaForCausalLM.checkpointKey: name must be a string, got ${describeValue(name)}`);
    if (/\.rotary_emb\.inv_freq$/.test(name) || (name === 'lm_head.weight' && !this.lmHead)) return null;
    return name;
  }
  override extraRepr(): string {
    const c = this.config;
    return `model_type=${c.model_type}, num_hidden_layers=${c.num_hidden_layers}, hidden_size=${c.hidden_size}, heads=${c.num_attention_heads}/${c.num_key_value_heads}, vocab_size=${c.vocab_size}`;
  }
}
