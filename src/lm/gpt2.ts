/**
 * GPT-2 (gpt2, distilgpt2, gpt2-medium, ...) as transformers' GPT2LMHeadModel: learned token
 * (wte) and position (wpe) embeddings, pre-norm blocks of causal self-attention and a GELU MLP
 * whose weights are Conv1D ([in, out]), a final LayerNorm, and the output projection tied to wte.
 * Modules and parameters carry the hub's names, so `stateDict()` keys are GPT2LMHeadModel's
 * (`transformer.h.0.attn.c_attn.weight`, ...; the tied lm_head is wte).
 */
import { ArgumentError } from '../errors.js';
import { LayerNorm, type Embedding } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';
import { checkOptions, checkOptionalNumber, describeValue } from '../validate.js';
import { gpt2Config, type GPT2Config } from './config.js';
import { CausalLM, type BlockRunner } from './causal-lm.js';
import { Conv1D, causalAttention, hubConv1D, embedLookup, hubEmbedding, vocabProject, vocabProjectQuantized, type KVCache } from './layers.js';
import { QuantizedEmbedding } from '../nn/quant.js';
import { arange } from '../ops/creation.js';

/** The activation of a config's activation_function / hidden_act. */
export function activationFn(name: string): (x: Tensor) => Tensor {
  switch (name) {
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast': return (x) => x.gelu('tanh');
    case 'gelu': return (x) => x.gelu();
    case 'relu': return (x) => x.relu();
    default: return (x) => x.silu(); // silu, swish
  }
}

export interface ModelInitOptions {
  /** seed of the random initialisation (mean 0, standard deviation config.initializer_range; norms 1, biases 0); default 0 */
  seed?: number;
}

class GPT2Attention extends Module {
  cAttn: Conv1D;
  cProj: Conv1D;
  constructor(readonly cfg: GPT2Config, readonly layerIdx: number, seed: number) {
    super();
    const E = cfg.n_embd, std = cfg.initializer_range;
    this.cAttn = hubConv1D(3 * E, E, std, seed, `transformer.h.${layerIdx}.attn.c_attn`);
    // transformers scales c_proj's init by 1/√(2·n_layer)
    this.cProj = hubConv1D(E, E, std / Math.sqrt(2 * cfg.n_layer), seed + 1, `transformer.h.${layerIdx}.attn.c_proj`);
  }
  forward(x: Tensor, cache: KVCache | null): Tensor {
    const { n_head: H, n_embd: E } = this.cfg, hd = E / H;
    const [B, T] = x.shape;
    const [q, k, v] = this.cAttn.forward(x).split(E, -1).map((t) => t.reshape([B, T, H, hd]).transpose(1, 2));
    const past = cache?.length ?? 0;
    const [ka, va] = cache ? cache.append(this.layerIdx, k, v) : [k, v];
    let scale = this.cfg.scale_attn_weights ? 1 / Math.sqrt(hd) : 1;
    if (this.cfg.scale_attn_by_inverse_layer_idx) scale /= this.layerIdx + 1;
    const y = causalAttention(q, ka, va, past, scale);
    return this.cProj.forward(y.transpose(1, 2).reshape([B, T, E]));
  }
}

class GPT2MLP extends Module {
  cFc: Conv1D;
  cProj: Conv1D;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: GPT2Config, seed: number, layerIdx: number) {
    super();
    const E = cfg.n_embd, inner = cfg.n_inner ?? 4 * E, std = cfg.initializer_range;
    this.cFc = hubConv1D(inner, E, std, seed, `transformer.h.${layerIdx}.mlp.c_fc`);
    this.cProj = hubConv1D(E, inner, std / Math.sqrt(2 * cfg.n_layer), seed + 1, `transformer.h.${layerIdx}.mlp.c_proj`);
    this.act = activationFn(cfg.activation_function);
  }
  forward(x: Tensor): Tensor {
    return this.cProj.forward(this.act(this.cFc.forward(x)));
  }
}

class GPT2Block extends Module {
  ln_1: LayerNorm;
  attn: GPT2Attention;
  ln_2: LayerNorm;
  mlp: GPT2MLP;
  constructor(cfg: GPT2Config, i: number, seed: number) {
    super();
    const eps = cfg.layer_norm_epsilon;
    this.ln_1 = new LayerNorm(cfg.n_embd, { eps });
    this.attn = new GPT2Attention(cfg, i, seed);
    this.ln_2 = new LayerNorm(cfg.n_embd, { eps });
    this.mlp = new GPT2MLP(cfg, seed + 2, i);
  }
  forward(x: Tensor, cache: KVCache | null): Tensor {
    const h = x.add(this.attn.forward(this.ln_1.forward(x), cache));
    return h.add(this.mlp.forward(this.ln_2.forward(h)));
  }
}

/** transformers' GPT2Model: embeddings, blocks, final norm. */
class GPT2Model extends Module {
  wte: Embedding;
  wpe: Embedding;
  h: GPT2Block[];
  lnF: LayerNorm;
  constructor(readonly cfg: GPT2Config, seed: number) {
    super();
    this.wte = hubEmbedding(cfg.vocab_size, cfg.n_embd, cfg.initializer_range, seed, 'transformer.wte');
    this.wpe = hubEmbedding(cfg.n_positions, cfg.n_embd, cfg.initializer_range, seed + 1, 'transformer.wpe');
    this.h = Array.from({ length: cfg.n_layer }, (_, i) => new GPT2Block(cfg, i, seed + 10 * (i + 1)));
    this.lnF = new LayerNorm(cfg.n_embd, { eps: cfg.layer_norm_epsilon });
  }
  forward(ids: Tensor, cache: KVCache | null, run: BlockRunner = (fn, x) => fn(x)): Tensor {
    const T = ids.shape[1], past = cache?.length ?? 0;
    // positions: rows past.. of wpe (a quantized wpe looks them up)
    const wpe = this.wpe;
    const pos = wpe instanceof QuantizedEmbedding ? wpe.forward(arange(past, past + T, 1, { dtype: 'int32' })) : wpe.weight.narrow(0, past, T);
    let x = embedLookup(this.wte, ids).add(pos);
    for (const b of this.h) x = run((h) => b.forward(h, cache), x);
    if (cache) cache.length += T;
    return this.lnF.forward(x);
  }
}

/**
 * GPT-2 with its language-model head (tied to the token embedding), as transformers'
 * GPT2LMHeadModel. Made from a config (config.json's keys: the sizes, and any others, which
 * otherwise take transformers' defaults) with random weights, or by `loadCausalLM` with the hub's.
 *
 * @example
 * const model = new GPT2LMHeadModel({ vocab_size: 1000, n_positions: 256, n_embd: 64, n_layer: 2, n_head: 4 });
 * const logits = model.forward([[1, 2, 3]]); // [1, 3, 1000]
 */
export class GPT2LMHeadModel extends CausalLM {
  readonly config: GPT2Config;
  transformer: GPT2Model;
  constructor(config: Partial<GPT2Config>, opts: ModelInitOptions = {}) {
    super();
    const op = 'GPT2LMHeadModel';
    checkOptions(op, opts, ['seed']);
    const seed = checkOptionalNumber(op, 'seed', opts.seed, { int: true, min: 0 }) ?? 0;
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ArgumentError(`${op}: config must be a config.json object, got ${config === null ? 'null' : typeof config}`);
    this.config = gpt2Config(op, { model_type: 'gpt2', ...config });
    this.transformer = new GPT2Model(this.config, seed);
    this.eval();
  }
  get numLayers(): number {
    return this.config.n_layer;
  }
  get maxPositions(): number {
    return this.config.n_positions;
  }
  get vocabSize(): number {
    return this.config.vocab_size;
  }
  protected hidden(op: string, ids: Tensor, cache: KVCache | null): Tensor {
    this.checkLength(op, cache?.length ?? 0, ids.shape[1]);
    return this.transformer.forward(ids, cache, this.blockRunner(cache));
  }
  protected head(h: Tensor): Tensor {
    // tied: the embedding's matrix, packed where wte is quantized (wt.quantize with embeddings: true, a GGUF's quantized token_embd)
    const wte = this.transformer.wte;
    return wte instanceof QuantizedEmbedding ? vocabProjectQuantized(h, wte) : vocabProject(h, wte.weight);
  }
  /** The model's state-dict key of a checkpoint tensor; null: a buffer to skip; undefined: not this model's. */
  checkpointKey(name: string): string | null | undefined {
    if (typeof name !== 'string') throw new ArgumentError(`GPT2LMHeadModel.checkpointKey: name must be a string, got ${describeValue(name)}`);
    if (/(^|\.)attn\.(bias|masked_bias)$/.test(name) || name === 'lm_head.weight') return null;
    return `transformer.${name.replace(/^transformer\./, '')}`;
  }
  override extraRepr(): string {
    const c = this.config;
    return `n_layer=${c.n_layer}, n_embd=${c.n_embd}, n_head=${c.n_head}, vocab_size=${c.vocab_size}`;
  }
}
