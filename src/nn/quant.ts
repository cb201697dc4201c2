/**
 * Quantized layers (issue 25): QuantizedLinear, a Linear whose weight is stored group-wise
 * quantized (8- or 4-bit, src/ops/quant.ts), and `quantize(model, opts)`, which replaces a
 * model's Linear layers by QuantizedLinear in place.
 *
 * The packed weight is held as buffers (`qweight` int32 [out, words], `scales` and, with mins,
 * `mins` float32 [out, groups]): in the state dict, never trainable. The bias stays a float
 * parameter. GPT-2's Conv1D (weight [in, out], x @ W + b) is quantized transposed (its weight
 * read as [out, in]): a QuantizedLinear replaces it too.
 */
import { Module, isParameter } from './module.js';
import { Embedding, Linear } from './layers.js';
import { Tensor } from '../tensor.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { checkFloat, checkOptions, describeValue } from '../validate.js';
import { checkQuantized, packedLayouts, qembedding, qlinear, quantOptions, quantizeWeight, type QuantizeOptions, type QuantizedWeight } from '../ops/quant.js';

/**
 * Registers a packed weight's tensors as module `m`'s buffers `qweight`, `scales`, `mins` (so state
 * dicts and wt.save carry them) and notes its layout for the quantized-checkpoint metadata.
 */
function registerPacked(m: Module, qw: QuantizedWeight): void {
  m.registerBuffer('qweight', qw.q);
  packedLayouts.set(qw.q, { bits: qw.bits, groupSize: qw.groupSize, mins: qw.mins !== null, shape: [qw.shape[0], qw.shape[1]] });
  m.registerBuffer('scales', qw.scales);
  m.registerBuffer('mins', qw.mins);
}

/**
 * y = x @ Wᵀ + b with W quantized group-wise along in-features; the weight is dequantized
 * inside the matmul's K loop. Gradients reach the input (and the bias); the weight has none.
 *
 * @example
 * const q = new wt.nn.QuantizedLinear(await wt.quantizeWeight(lin.weight, { bits: 4, groupSize: 32 }), lin.bias);
 */
export class QuantizedLinear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bits: 4 | 8;
  readonly groupSize: number;
  declare qweight: Tensor;
  declare scales: Tensor;
  declare mins: Tensor | null;
  bias: Tensor | null;
  constructor(weight: QuantizedWeight, bias: Tensor | null = null) {
    super();
    const op = 'QuantizedLinear';
    const qw = checkQuantized(op, 'weight', weight);
    const [N, K] = qw.shape;
    if (bias !== null && (!(bias instanceof Tensor) || bias.ndim !== 1 || bias.shape[0] !== N || bias.dtype !== 'float32')) {
      throw new ArgumentError(`${op}: bias must be null or a float32 tensor of shape [${N}], got ${describeValue(bias)}`);
    }
    this.outFeatures = N;
    this.inFeatures = K;
    this.bits = qw.bits;
    this.groupSize = qw.groupSize;
    registerPacked(this, qw);
    this.bias = bias;
  }
  /** The packed weight as qlinear takes it. */
  get quantized(): QuantizedWeight {
    return { q: this.qweight, scales: this.scales, mins: this.mins, bits: this.bits, groupSize: this.groupSize, shape: [this.outFeatures, this.inFeatures] };
  }
  forward(x: Tensor): Tensor {
    const op = 'QuantizedLinear.forward';
    checkFloat(op, 'input', x);
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) throw new ShapeError(`${op}: input must be [..., ${this.inFeatures}] (inFeatures in the last dim), got ${fmt(x.shape)}`);
    return qlinear(x, this.quantized, this.bias);
  }
  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bits=${this.bits}, groupSize=${this.groupSize}, mins=${this.mins !== null}, bias=${!!this.bias}`;
  }
}

/**
 * An Embedding whose [numEmbeddings, embeddingDim] weight is stored group-wise quantized along
 * embeddingDim (buffers `qweight`, `scales`, `mins`, as QuantizedLinear's): `forward(ids)` gathers
 * the ids' rows of the codes and dequantizes them (wt.qembedding). The same packed weight serves
 * a tied language-model head (h @ Wᵀ through the quantized matmul), so a tied model keeps one
 * quantized matrix for both. No gradient, no optimizer state.
 *
 * @example
 * const e = new wt.nn.QuantizedEmbedding(await wt.quantizeWeight(emb.weight, { bits: 4, groupSize: 32 }));
 */
export class QuantizedEmbedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly bits: 4 | 8;
  readonly groupSize: number;
  declare qweight: Tensor;
  declare scales: Tensor;
  declare mins: Tensor | null;
  constructor(weight: QuantizedWeight) {
    super();
    const qw = checkQuantized('QuantizedEmbedding', 'weight', weight);
    const [N, K] = qw.shape;
    this.numEmbeddings = N;
    this.embeddingDim = K;
    this.bits = qw.bits;
    this.groupSize = qw.groupSize;
    registerPacked(this, qw);
  }
  /** The packed weight as qembedding and qlinear take it ([numEmbeddings, embeddingDim]). */
  get quantized(): QuantizedWeight {
    return { q: this.qweight, scales: this.scales, mins: this.mins, bits: this.bits, groupSize: this.groupSize, shape: [this.numEmbeddings, this.embeddingDim] };
  }
  forward(ids: Tensor): Tensor {
    const op = 'QuantizedEmbedding.forward';
    if (!(ids instanceof Tensor) || ids.dtype !== 'int32') throw new DTypeError(`${op}: indices must be an int32 Tensor, got ${ids instanceof Tensor ? `${ids.dtype} of shape ${fmt(ids.shape)}` : describeValue(ids)}`);
    return qembedding(ids, this.quantized);
  }
  override extraRepr(): string {
    return `numEmbeddings=${this.numEmbeddings}, embeddingDim=${this.embeddingDim}, bits=${this.bits}, groupSize=${this.groupSize}, mins=${this.mins !== null}`;
  }
}

/** {@link quantize}'s options: the quantization, and module names to leave in float32. */
export interface QuantizeModelOptions extends QuantizeOptions {
  /**
   * Layers kept in float: a name matches a string equal to it or to its last dot-separated parts
   * (`'lm_head'`, `'mlp.down_proj'`), or a RegExp testing the full name.
   */
  exclude?: readonly (string | RegExp)[];
  /**
   * Also replace Embedding layers by QuantizedEmbedding (default false: embeddings stay float).
   * A tied language-model head (tie_word_embeddings) then projects with the quantized embedding.
   */
  embeddings?: boolean;
}

/** A GPT-2 Conv1D (weight [nx, nf], x @ W + b). */
function conv1dLike(m: Module): m is Module & { weight: Tensor; bias: Tensor | null; nx: number; nf: number } {
  const c = m as unknown as { weight?: unknown; nx?: unknown; nf?: unknown };
  return typeof c.nx === 'number' && typeof c.nf === 'number' && isParameter(c.weight) && c.weight.ndim === 2 && c.weight.shape[0] === c.nx && c.weight.shape[1] === c.nf;
}

function excluded(name: string, ex: readonly (string | RegExp)[]): boolean {
  return ex.some((e) => (typeof e === 'string' ? name === e || name.endsWith(`.${e}`) : e.test(name)));
}

/**
 * Replaces the model's Linear layers (and GPT-2 Conv1D layers, transposed) by QuantizedLinear
 * in place, except those `exclude` names; returns the model. Each float weight is read back to
 * the host to quantize it (hence async) and then disposed. Norms stay float; Embedding layers
 * too unless `embeddings: true` (then QuantizedEmbedding, quantized along the embedding dim).
 *
 * @example
 * await wt.quantize(model, { bits: 4, groupSize: 64, exclude: ['lm_head'] });
 */
export async function quantize<M extends Module>(model: M, opts: QuantizeModelOptions = {}): Promise<M> {
  const op = 'quantize';
  if (!(model instanceof Module)) throw new ArgumentError(`${op}: model must be an nn.Module, got ${describeValue(model)}`);
  checkOptions(op, opts, ['bits', 'groupSize', 'mins', 'exclude', 'embeddings']);
  const { exclude = [], embeddings = false, ...q } = opts ?? {};
  quantOptions(op, q);
  if (typeof embeddings !== 'boolean') throw new ArgumentError(`${op}: embeddings must be a boolean, got ${describeValue(embeddings)}`);
  if (!Array.isArray(exclude) || !exclude.every((e) => typeof e === 'string' || e instanceof RegExp)) {
    throw new ArgumentError(`${op}: exclude must be an array of module names or RegExps, got ${describeValue(exclude)}`);
  }
  const targets: [string, Module][] = model.namedModules().filter(([n, m]) => n !== '' && (m instanceof Linear || conv1dLike(m) || (embeddings && m instanceof Embedding)) && !excluded(n, exclude));
  const made = new Map<Module, QuantizedLinear | QuantizedEmbedding>();
  for (const [, m] of targets) {
    if (made.has(m)) continue;
    if (m instanceof Embedding) {
      made.set(m, new QuantizedEmbedding(await quantizeWeight(m.weight, q)));
      continue;
    }
    const lin = m as Module & { weight: Tensor; bias: Tensor | null };
    const w = m instanceof Linear ? lin.weight : lin.weight.detach().T;
    const qw = await quantizeWeight(w, q);
    if (w !== lin.weight) w.dispose();
    made.set(m, new QuantizedLinear(qw, lin.bias));
  }
  // replace every reference (a layer may sit in several places)
  for (const [, parent] of model.namedModules()) {
    const rec = parent as unknown as Record<string, unknown>;
    for (const [p, v] of Object.entries(rec)) {
      const to = v instanceof Module ? made.get(v) : undefined;
      if (to) Object.defineProperty(rec, p, { value: to, enumerable: true, configurable: true, writable: true });
      else if (Array.isArray(v)) v.forEach((c, i) => { const t = c instanceof Module ? made.get(c) : undefined; if (t) v[i] = t; });
    }
  }
  const freed = new Set<Tensor>();
  for (const m of made.keys()) {
    const w = (m as unknown as { weight: Tensor }).weight;
    // a weight tied elsewhere (a float embedding) stays alive there; one shared by two converted
    // layers (a tied head and its embedding, both quantized) is freed once
    const tied = model.namedModules().some(([, o]) => !made.has(o) && Object.values(o).includes(w));
    if (!tied && !freed.has(w)) w.dispose();
    freed.add(w);
  }
  return model;
}
