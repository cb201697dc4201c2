/**
 * The transformer decoder, as PyTorch: TransformerDecoderLayer (self-attention, cross-attention
 * over the encoder's output `memory`, and a feed-forward network, each with dropout, a residual
 * connection and a LayerNorm) and TransformerDecoder (a stack of them and an optional final
 * norm), plus generateSquareSubsequentMask and the encoder-decoder Transformer. Written like TransformerEncoderLayer /
 * TransformerEncoder (src/nn/attention.ts), on the Tensor API only.
 */
import { noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { triangleMask, zeros } from '../ops/creation.js';
import { where } from '../ops/functions.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkFloat, checkNumber, checkNumel, checkOptionalTensor, checkOptions, describeValue, type OptionKeys } from '../validate.js';
import { MultiheadAttention, TransformerEncoder, TransformerEncoderLayer } from './attention.js';
import * as init from './init.js';
import { Dropout, LayerNorm, Linear } from './layers.js';
import { checkHeads, checkMasks, transformerLayerSettings, type TransformerLayerOptions } from './masks.js';
import { Module } from './module.js';

/** TransformerDecoderLayer's options, as TransformerEncoderLayer's. */
export type TransformerDecoderLayerOptions = TransformerLayerOptions;

export interface TransformerDecoderForwardOptions {
  /** self-attention mask [T, T] or [B·nhead, T, T]: bool (true = masked) or float (added) */
  tgtMask?: Tensor | null;
  /** cross-attention mask [T, S] or [B·nhead, T, S] over memory's S positions */
  memoryMask?: Tensor | null;
  /** bool [B, T], true = padding in tgt */
  tgtKeyPaddingMask?: Tensor | null;
  /** bool [B, S], true = padding in memory */
  memoryKeyPaddingMask?: Tensor | null;
  /** add the causal mask to the self-attention (combined with tgtMask when both are given) */
  tgtIsCausal?: boolean;
  /** add the causal mask to the cross-attention */
  memoryIsCausal?: boolean;
}

const FORWARD_KEYS: OptionKeys<TransformerDecoderForwardOptions> = ['tgtMask', 'memoryMask', 'tgtKeyPaddingMask', 'memoryKeyPaddingMask', 'tgtIsCausal', 'memoryIsCausal'];

/**
 * One transformer decoder block as torch.nn.TransformerDecoderLayer (sub-modules selfAttn,
 * multiheadAttn, linear1, linear2, norm1..3, dropout, dropout1..3).
 *
 * @example
 * const layer = new wt.nn.TransformerDecoderLayer(64, 4, { dimFeedforward: 256, batchFirst: true });
 * const y = layer.forward(tgt, memory, { tgtIsCausal: true }); // tgt [B, T, 64], memory [B, S, 64]
 */
export class TransformerDecoderLayer extends Module {
  selfAttn: MultiheadAttention;
  multiheadAttn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  norm3: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  dropout3: Dropout;
  readonly normFirst: boolean;
  readonly batchFirst: boolean;
  private readonly act: (x: Tensor) => Tensor;

  constructor(readonly dModel: number, readonly nhead: number, o: TransformerDecoderLayerOptions = {}) {
    super();
    const { p, ff, eps, bias, normFirst, batchFirst, act } = transformerLayerSettings('TransformerDecoderLayer', dModel, nhead, o);
    this.act = act;
    this.normFirst = normFirst;
    this.batchFirst = batchFirst;
    this.selfAttn = new MultiheadAttention(dModel, nhead, { dropout: p, bias, batchFirst: this.batchFirst });
    this.multiheadAttn = new MultiheadAttention(dModel, nhead, { dropout: p, bias, batchFirst: this.batchFirst });
    this.linear1 = new Linear(dModel, ff, { bias });
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(ff, dModel, { bias });
    this.norm1 = new LayerNorm(dModel, { eps });
    this.norm2 = new LayerNorm(dModel, { eps });
    this.norm3 = new LayerNorm(dModel, { eps });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
    this.dropout3 = new Dropout(p);
  }

  /** tgt [B, T, E] (batchFirst) / [T, B, E] / [T, E]; memory likewise with its own length S. */
  forward(tgt: Tensor, memory: Tensor, o: TransformerDecoderForwardOptions = {}): Tensor {
    checkDecoderInput('TransformerDecoderLayer.forward', tgt, memory, this, o);
    const sa = (x: Tensor) => {
      const [y] = this.selfAttn.forward(x, x, x, { attnMask: o.tgtMask, keyPaddingMask: o.tgtKeyPaddingMask, isCausal: o.tgtIsCausal, needWeights: false });
      return this.dropout1.forward(y);
    };
    const mha = (x: Tensor) => {
      const [y] = this.multiheadAttn.forward(x, memory, memory, { attnMask: o.memoryMask, keyPaddingMask: o.memoryKeyPaddingMask, isCausal: o.memoryIsCausal, needWeights: false });
      return this.dropout2.forward(y);
    };
    const ffn = (x: Tensor) => this.dropout3.forward(this.linear2.forward(this.dropout.forward(this.act(this.linear1.forward(x)))));
    let x = tgt;
    if (this.normFirst) {
      x = x.add(sa(this.norm1.forward(x)));
      x = x.add(mha(this.norm2.forward(x)));
      return x.add(ffn(this.norm3.forward(x)));
    }
    x = this.norm1.forward(x.add(sa(x)));
    x = this.norm2.forward(x.add(mha(x)));
    return this.norm3.forward(x.add(ffn(x)));
  }

  override extraRepr(): string {
    return `dModel=${this.dModel}, nhead=${this.nhead}, normFirst=${this.normFirst}, batchFirst=${this.batchFirst}`;
  }
}

/** Checks a decoder's tgt, memory, options and masks against its (first) layer. */
function checkDecoderInput(op: string, tgt: unknown, memory: unknown, layer: TransformerDecoderLayer, o: TransformerDecoderForwardOptions): asserts tgt is Tensor {
  const { dModel, nhead, batchFirst } = layer;
  checkFloat(op, 'tgt', tgt);
  checkFloat(op, 'memory', memory);
  checkOptions(op, o, FORWARD_KEYS);
  for (const [n, t] of [['tgt', tgt], ['memory', memory]] as const) {
    if ((t.ndim !== 2 && t.ndim !== 3) || t.shape[t.ndim - 1] !== dModel) {
      throw new ShapeError(`${op}: ${n} must be [B, T, ${dModel}], [T, B, ${dModel}] or [T, ${dModel}] (dModel ${dModel} features last), got ${fmt(t.shape)}`);
    }
  }
  const batched = tgt.ndim === 3;
  const B = !batched ? 1 : batchFirst ? tgt.shape[0] : tgt.shape[1];
  const T = batched && batchFirst ? tgt.shape[1] : tgt.shape[0];
  const S = memory.ndim === 3 && batchFirst ? memory.shape[1] : memory.shape[0];
  const mB = memory.ndim !== 3 ? 1 : batchFirst ? memory.shape[0] : memory.shape[1];
  if (memory.ndim !== tgt.ndim || mB !== B) {
    throw new ShapeError(`${op}: tgt ${fmt(tgt.shape)} and memory ${fmt(memory.shape)} must both be batched (3-D, with equal batch sizes) or both unbatched (2-D) (batchFirst ${batchFirst})`);
  }
  for (const k of ['tgtMask', 'memoryMask', 'tgtKeyPaddingMask', 'memoryKeyPaddingMask'] as const) checkOptionalTensor(op, k, o[k]);
  for (const k of ['tgtIsCausal', 'memoryIsCausal'] as const) if (o[k] !== undefined) checkBoolean(op, k, o[k]);
  checkMasks(op, { tgtKeyPaddingMask: o.tgtKeyPaddingMask, tgtMask: o.tgtMask }, { B, L: T, S: T, nh: nhead, batched, qShape: tgt.shape });
  checkMasks(op, { memoryKeyPaddingMask: o.memoryKeyPaddingMask, memoryMask: o.memoryMask }, { B, L: T, S, nh: nhead, batched, qShape: tgt.shape });
}

/**
 * A stack of decoder layers, then an optional final norm (torch.nn.TransformerDecoder). Pass a
 * factory (called numLayers times, so the layers do not share weights) or the layers themselves.
 *
 * @example
 * const dec = new wt.nn.TransformerDecoder(() => new wt.nn.TransformerDecoderLayer(64, 4, { batchFirst: true }), 2, new wt.nn.LayerNorm(64));
 * const y = dec.forward(tgt, memory, { tgtIsCausal: true, memoryKeyPaddingMask: pad });
 */
export class TransformerDecoder extends Module {
  layers: TransformerDecoderLayer[];
  norm: Module | null;
  constructor(layers: (() => TransformerDecoderLayer) | TransformerDecoderLayer[], numLayers?: number, norm: Module | null = null) {
    super();
    const op = 'TransformerDecoder';
    // every check that needs no layer first, so a refusal leaves no layer made behind
    if (norm !== null && !(norm instanceof Module)) throw new ArgumentError(`${op}: norm must be a Module or null, got ${describeValue(norm)}`);
    if (typeof layers === 'function') {
      if (!Number.isInteger(numLayers) || numLayers! <= 0) throw new ArgumentError(`${op}: numLayers must be a positive integer with a layer factory, got ${describeValue(numLayers)}`);
      const made: Module[] = [];
      try {
        for (let i = 0; i < numLayers!; i++) {
          const l = layers();
          if (l instanceof Module) made.push(l);
          if (!(l instanceof TransformerDecoderLayer)) throw new ArgumentError(`${op}: layer ${i} must be a TransformerDecoderLayer, got ${describeValue(l)}`);
        }
      } catch (e) {
        made.forEach((l) => l.dispose()); // the layers the factory made are not the caller's to free
        throw e;
      }
      this.layers = made as TransformerDecoderLayer[];
    } else if (Array.isArray(layers)) {
      if (numLayers !== undefined && numLayers !== layers.length) throw new ArgumentError(`${op}: got ${layers.length} layers but numLayers ${describeValue(numLayers)}`);
      this.layers = [...layers];
    } else {
      // PyTorch deep-copies one layer; JavaScript cannot, and sharing it would tie the weights
      throw new ArgumentError(`${op}: pass a factory \`() => new TransformerDecoderLayer(...)\` or an array of layers, got ${describeValue(layers)}`);
    }
    this.layers.forEach((l, i) => {
      if (!(l instanceof TransformerDecoderLayer)) throw new ArgumentError(`${op}: layer ${i} must be a TransformerDecoderLayer, got ${describeValue(l)}`);
    });
    if (!this.layers.length) throw new ArgumentError(`${op}: got no layers`);
    const { dModel, batchFirst } = this.layers[0];
    const odd = this.layers.findIndex((l) => l.dModel !== dModel || l.batchFirst !== batchFirst);
    if (odd >= 0) {
      const l = this.layers[odd];
      if (typeof layers === 'function') this.layers.forEach((m) => m.dispose());
      throw new ArgumentError(`${op}: layer ${odd} has dModel ${l.dModel}, batchFirst ${l.batchFirst} but layer 0 has dModel ${dModel}, batchFirst ${batchFirst}`);
    }
    this.norm = norm;
  }

  forward(tgt: Tensor, memory: Tensor, o: TransformerDecoderForwardOptions = {}): Tensor {
    checkDecoderInput('TransformerDecoder.forward', tgt, memory, this.layers[0], o);
    let x = tgt;
    for (const l of this.layers) x = l.forward(x, memory, o);
    return this.norm ? (this.norm.forward(x) as Tensor) : x;
  }
}

/**
 * The float causal mask [sz, sz] for a tgtMask / srcMask: -Infinity above the diagonal (position
 * i may not attend to j > i), 0 elsewhere, as torch.nn.Transformer.generate_square_subsequent_mask.
 *
 * @example
 * const y = dec.forward(tgt, memory, { tgtMask: wt.nn.generateSquareSubsequentMask(T) });
 */
export function generateSquareSubsequentMask(sz: number): Tensor {
  checkNumber('generateSquareSubsequentMask', 'sz', sz, { int: true, min: 0 });
  checkNumel('generateSquareSubsequentMask', 'mask', [sz, sz]);
  return noGrad(() => {
    const above = triangleMask(sz, sz, 1, true);
    const z = zeros([sz, sz]);
    const m = where(above, -Infinity, z);
    above.dispose();
    z.dispose();
    return m;
  });
}

export interface TransformerOptions extends TransformerLayerOptions {
  /** features (default 512) */
  dModel?: number;
  /** attention heads (default 8) */
  nhead?: number;
  /** encoder layers (default 6) */
  numEncoderLayers?: number;
  /** decoder layers (default 6) */
  numDecoderLayers?: number;
  /** used in place of the encoder stack (its forward takes (src, { mask, srcKeyPaddingMask, isCausal })) */
  customEncoder?: Module | null;
  /** used in place of the decoder stack (its forward takes (tgt, memory, options)) */
  customDecoder?: Module | null;
}

export interface TransformerForwardOptions extends TransformerDecoderForwardOptions {
  /** encoder self-attention mask [S, S] or [B·nhead, S, S] */
  srcMask?: Tensor | null;
  /** bool [B, S], true = padding in src (used by the encoder only, as PyTorch; pass memoryKeyPaddingMask too to hide it from the decoder) */
  srcKeyPaddingMask?: Tensor | null;
  /** add the causal mask to the encoder's self-attention */
  srcIsCausal?: boolean;
}

/**
 * The encoder-decoder transformer of "Attention Is All You Need", as torch.nn.Transformer: a
 * TransformerEncoder and a TransformerDecoder, each with a final LayerNorm, every weight matrix
 * initialised xavier-uniform. forward(src, tgt) returns the decoder's output.
 *
 * @example
 * const model = new wt.nn.Transformer({ dModel: 64, nhead: 4, numEncoderLayers: 2, numDecoderLayers: 2, batchFirst: true });
 * const y = model.forward(src, tgt, { tgtIsCausal: true }); // src [B, S, 64], tgt [B, T, 64] → [B, T, 64]
 */
export class Transformer extends Module {
  encoder: Module;
  decoder: Module;
  readonly dModel: number;
  readonly nhead: number;
  readonly batchFirst: boolean;
  constructor(o: TransformerOptions = {}) {
    super();
    const op = 'Transformer';
    checkOptions(op, o, ['dModel', 'nhead', 'numEncoderLayers', 'numDecoderLayers', 'dimFeedforward', 'dropout', 'activation', 'layerNormEps', 'batchFirst', 'normFirst', 'bias', 'customEncoder', 'customDecoder']);
    this.dModel = checkNumber(op, 'dModel', o.dModel ?? 512, { int: true, min: 1 });
    this.nhead = checkNumber(op, 'nhead', o.nhead ?? 8, { int: true, min: 1 });
    checkHeads(op, this.dModel, this.nhead, ['dModel', 'nhead']);
    const ne = checkNumber(op, 'numEncoderLayers', o.numEncoderLayers ?? 6, { int: true, min: 1 });
    const nd = checkNumber(op, 'numDecoderLayers', o.numDecoderLayers ?? 6, { int: true, min: 1 });
    for (const k of ['customEncoder', 'customDecoder'] as const) {
      const m = o[k];
      if (m != null && !(m instanceof Module)) throw new ArgumentError(`${op}: ${k} must be a Module or null, got ${describeValue(m)}`);
    }
    const eps = checkNumber(op, 'layerNormEps', o.layerNormEps ?? 1e-5, { min: 0, finite: true });
    // what the layers would check, checked here so that the error names the model the user made
    checkNumber(op, 'dropout', o.dropout ?? 0.1, { min: 0, max: 1 });
    const ff = checkNumber(op, 'dimFeedforward', o.dimFeedforward ?? 2048, { int: true, min: 1 });
    for (const n of ['batchFirst', 'normFirst', 'bias'] as const) if (o[n] !== undefined) checkBoolean(op, n, o[n]);
    const a = o.activation ?? 'relu';
    if (typeof a !== 'function' && a !== 'relu' && a !== 'gelu') throw new ArgumentError(`${op}: activation must be 'relu', 'gelu' or a function, got ${describeValue(a)}`);
    checkNumel(op, 'inProjWeight', [3 * this.dModel, this.dModel]);
    checkNumel(op, 'linear1.weight', [ff, this.dModel]);
    this.batchFirst = o.batchFirst ?? false;
    const layer = { dimFeedforward: o.dimFeedforward, dropout: o.dropout, activation: o.activation, layerNormEps: eps, batchFirst: o.batchFirst, normFirst: o.normFirst, bias: o.bias };
    // the layers check the rest, naming themselves; a refusal frees what was made
    const made: Module[] = [];
    const make = (f: () => Module): Module => {
      const m = f();
      made.push(m);
      return m;
    };
    try {
      this.encoder = o.customEncoder ?? make(() => new TransformerEncoder(() => new TransformerEncoderLayer(this.dModel, this.nhead, layer), ne, make(() => new LayerNorm(this.dModel, { eps }))));
      this.decoder = o.customDecoder ?? make(() => new TransformerDecoder(() => new TransformerDecoderLayer(this.dModel, this.nhead, layer), nd, make(() => new LayerNorm(this.dModel, { eps }))));
    } catch (e) {
      made.forEach((m) => m.dispose());
      throw e;
    }
    // as PyTorch's _reset_parameters: xavier-uniform for every parameter of two or more dims
    for (const p of this.parameters()) if (p.ndim > 1) init.xavierUniform(p);
  }

  /** src [B, S, E] (batchFirst) / [S, B, E] / [S, E]; tgt likewise with its own length T. */
  forward(src: Tensor, tgt: Tensor, o: TransformerForwardOptions = {}): Tensor {
    const op = 'Transformer.forward';
    checkFloat(op, 'src', src);
    checkFloat(op, 'tgt', tgt);
    checkOptions(op, o, ['srcMask', 'srcKeyPaddingMask', 'srcIsCausal', ...FORWARD_KEYS]);
    const E = this.dModel;
    if ((src.ndim !== 2 && src.ndim !== 3) || src.ndim !== tgt.ndim) throw new ShapeError(`${op}: src ${fmt(src.shape)} and tgt ${fmt(tgt.shape)} must both be 3-D (batched) or both 2-D (unbatched)`);
    const bdim = this.batchFirst ? 0 : 1;
    if (src.ndim === 3 && src.shape[bdim] !== tgt.shape[bdim]) throw new ShapeError(`${op}: src ${fmt(src.shape)} and tgt ${fmt(tgt.shape)} must have the same batch size (dim ${bdim}, batchFirst ${this.batchFirst})`);
    if (src.shape[src.ndim - 1] !== E || tgt.shape[tgt.ndim - 1] !== E) throw new ShapeError(`${op}: src ${fmt(src.shape)} and tgt ${fmt(tgt.shape)} must have dModel ${E} features last`);
    for (const k of ['srcMask', 'srcKeyPaddingMask', 'tgtMask', 'memoryMask', 'tgtKeyPaddingMask', 'memoryKeyPaddingMask'] as const) checkOptionalTensor(op, k, o[k]);
    for (const k of ['srcIsCausal', 'tgtIsCausal', 'memoryIsCausal'] as const) if (o[k] !== undefined) checkBoolean(op, k, o[k]);
    const batched = src.ndim === 3, B = batched ? src.shape[bdim] : 1;
    const S = batched ? src.shape[1 - bdim] : src.shape[0], T = batched ? tgt.shape[1 - bdim] : tgt.shape[0];
    const dims = { B, nh: this.nhead, batched };
    checkMasks(op, { srcKeyPaddingMask: o.srcKeyPaddingMask, srcMask: o.srcMask }, { ...dims, L: S, S, qShape: src.shape });
    checkMasks(op, { tgtKeyPaddingMask: o.tgtKeyPaddingMask, tgtMask: o.tgtMask }, { ...dims, L: T, S: T, qShape: tgt.shape });
    checkMasks(op, { memoryKeyPaddingMask: o.memoryKeyPaddingMask, memoryMask: o.memoryMask }, { ...dims, L: T, S, qShape: tgt.shape });
    const { srcMask, srcKeyPaddingMask, srcIsCausal, ...dec } = o;
    const memory = this.encoder.forward(src, { mask: srcMask, srcKeyPaddingMask, isCausal: srcIsCausal }) as Tensor;
    return this.decoder.forward(tgt, memory, dec) as Tensor;
  }

  override extraRepr(): string {
    return `dModel=${this.dModel}, nhead=${this.nhead}, batchFirst=${this.batchFirst}`;
  }
}
