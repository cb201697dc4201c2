/**
 * The standard layers, with PyTorch's shapes and default initialisations. Every layer only
 * calls the Tensor API, so it runs on any backend.
 */
import { ArgumentError } from '../errors.js';
import { checkBoolean, checkIntPair, checkNumber, checkOneOf, checkOptions } from '../validate.js';
import { dropout } from '../ops/elementwise.js';
import { empty } from '../ops/run.js';
import { full, ones, zeros } from '../ops/creation.js';
import { linear } from '../ops/linalg.js';
import { conv2d, convTranspose2d, maxPool2d, avgPool2d, adaptiveAvgPool2d, type Conv2dOptions } from '../ops/conv.js';
import { layerNorm, batchNorm, softmax, logSoftmax } from '../ops/norm.js';
import { embedding } from '../ops/indexing.js';
import type { Tensor } from '../tensor.js';
import * as init from './init.js';
import { Module, parameter } from './module.js';

type Pair = number | [number, number];

function checkPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new ArgumentError(`${op}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
}

/** A layer's options object and its optional `bias` flag. */
function layerOptions(op: string, o: { bias?: unknown } | undefined): void {
  checkOptions(op, o);
  if (o?.bias !== undefined) checkBoolean(op, 'bias', o.bias);
}

/** Conv / pool window options: stride, padding, dilation (each an int or a pair). */
function windowOptions(op: string, o: { stride?: unknown; padding?: unknown; dilation?: unknown; outputPadding?: unknown }): void {
  if (o.stride !== undefined) checkIntPair(op, 'stride', o.stride, 1);
  if (o.padding !== undefined && o.padding !== 'same' && o.padding !== 'valid') checkIntPair(op, 'padding', o.padding, 0);
  if (o.dilation !== undefined) checkIntPair(op, 'dilation', o.dilation, 1);
  if (o.outputPadding !== undefined) checkIntPair(op, 'outputPadding', o.outputPadding, 0);
}

/** y = x Wᵀ + b over the last dim. W: [out, in], initialised U(±1/√in) as PyTorch. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    checkPositiveInt('Linear', 'inFeatures', inFeatures);
    checkPositiveInt('Linear', 'outFeatures', outFeatures);
    layerOptions('Linear', opts);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = parameter(init.uniform(empty([outFeatures, inFeatures], 'float32'), -bound, bound));
    this.bias = opts.bias === false ? null : parameter(init.uniform(empty([outFeatures], 'float32'), -bound, bound));
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${!!this.bias}`;
  }
}

/**
 * Checks a conv layer's arguments and makes its parameters with PyTorch's default init,
 * U(±1/√fanIn) for weight and bias. Conv2d's weight is [out, in/g, kh, kw], a transposed conv's
 * [in, out/g, kh, kw]; fanIn is size(1)·kh·kw either way.
 */
function convParameters(op: string, inChannels: number, outChannels: number, kernelSize: Pair, o: { groups?: number; bias?: boolean; stride?: unknown; padding?: unknown; dilation?: unknown; outputPadding?: unknown }, transposed: boolean): { weight: Tensor; bias: Tensor | null } {
  layerOptions(op, o);
  const groups = o.groups ?? 1;
  checkPositiveInt(op, 'inChannels', inChannels);
  checkPositiveInt(op, 'outChannels', outChannels);
  checkPositiveInt(op, 'groups', groups);
  if (inChannels % groups || outChannels % groups) throw new ArgumentError(`${op}: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`);
  const [kh, kw] = checkIntPair(op, 'kernelSize', kernelSize, 1);
  windowOptions(op, o);
  const shape = transposed ? [inChannels, outChannels / groups, kh, kw] : [outChannels, inChannels / groups, kh, kw];
  const bound = 1 / Math.sqrt(shape[1] * kh * kw);
  return {
    weight: parameter(init.uniform(empty(shape, 'float32'), -bound, bound)),
    bias: o.bias === false ? null : parameter(init.uniform(empty([outChannels], 'float32'), -bound, bound)),
  };
}

export interface Conv2dLayerOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** 2-D convolution over NCHW input; weight [out, in/groups, kh, kw]. */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly opts: Conv2dOptions;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, o: Conv2dLayerOptions = {}) {
    super();
    const groups = o.groups ?? 1;
    ({ weight: this.weight, bias: this.bias } = convParameters('Conv2d', inChannels, outChannels, kernelSize, o, false));
    this.opts = { stride: o.stride, padding: o.padding, dilation: o.dilation, groups };
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.opts);
  }
  override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.weight.shape.slice(2)}]`;
  }
}

/** Transposed 2-D convolution; weight [in, out/groups, kh, kw]. */
export class ConvTranspose2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, readonly o: { stride?: Pair; padding?: Pair; outputPadding?: Pair; dilation?: Pair; groups?: number; bias?: boolean } = {}) {
    super();
    ({ weight: this.weight, bias: this.bias } = convParameters('ConvTranspose2d', inChannels, outChannels, kernelSize, o, true));
  }
  forward(x: Tensor): Tensor {
    const { bias: _b, ...rest } = this.o;
    return convTranspose2d(x, this.weight, this.bias, rest);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly o: { stride?: Pair; padding?: Pair; dilation?: Pair } = {}) {
    super();
    checkIntPair('MaxPool2d', 'kernelSize', kernelSize, 1);
    windowOptions('MaxPool2d', checkOptions('MaxPool2d', o));
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.o);
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly o: { stride?: Pair; padding?: Pair; countIncludePad?: boolean } = {}) {
    super();
    checkIntPair('AvgPool2d', 'kernelSize', kernelSize, 1);
    windowOptions('AvgPool2d', checkOptions('AvgPool2d', o));
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.o);
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
    checkIntPair('AdaptiveAvgPool2d', 'outputSize', outputSize, 1);
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** Flattens dims startDim..endDim (default: all but the batch dim). */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
    checkNumber('Flatten', 'startDim', startDim, { int: true });
    checkNumber('Flatten', 'endDim', endDim, { int: true });
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}

/** Zeroes elements with probability p in training mode; identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ArgumentError(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

/** A lookup table of numEmbeddings vectors of size embeddingDim, initialised N(0, 1). */
export class Embedding extends Module {
  weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, readonly o: { paddingIdx?: number } = {}) {
    super();
    checkPositiveInt('Embedding', 'numEmbeddings', numEmbeddings);
    checkPositiveInt('Embedding', 'embeddingDim', embeddingDim);
    if (o.paddingIdx !== undefined) checkNumber('Embedding', 'paddingIdx', o.paddingIdx, { int: true, min: -numEmbeddings, max: numEmbeddings - 1 });
    this.weight = parameter(init.normal(empty([numEmbeddings, embeddingDim], 'float32')));
    if (o.paddingIdx !== undefined) {
      const row = this.weight.select(0, o.paddingIdx);
      init.zeros(row);
      row.dispose();
    }
  }
  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight, { paddingIdx: this.o.paddingIdx });
  }
}

/** Layer normalisation over the trailing normalizedShape dims. */
export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly normalizedShape: number[];
  constructor(normalizedShape: number | number[], readonly o: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    if (!Array.isArray(this.normalizedShape) || !this.normalizedShape.length || !this.normalizedShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new ArgumentError(`LayerNorm: normalizedShape must be a positive integer or a list of them, got ${JSON.stringify(normalizedShape)}`);
    }
    checkOptions('LayerNorm', o);
    if (o.eps !== undefined) checkNumber('LayerNorm', 'eps', o.eps, { min: 0, finite: true });
    if (o.elementwiseAffine !== undefined) checkBoolean('LayerNorm', 'elementwiseAffine', o.elementwiseAffine);
    const affine = o.elementwiseAffine ?? true;
    this.weight = affine ? parameter(ones(this.normalizedShape)) : null;
    this.bias = affine ? parameter(zeros(this.normalizedShape)) : null;
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.o.eps ?? 1e-5);
  }
}

class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean!: Tensor;
  runningVar!: Tensor;
  constructor(readonly numFeatures: number, readonly o: { eps?: number; momentum?: number; affine?: boolean } = {}, private readonly ranks: number[]) {
    super();
    checkPositiveInt(this.constructor.name, 'numFeatures', numFeatures);
    checkOptions(this.constructor.name, o);
    if (o.eps !== undefined) checkNumber(this.constructor.name, 'eps', o.eps, { min: 0, finite: true });
    if (o.momentum !== undefined) checkNumber(this.constructor.name, 'momentum', o.momentum, { min: 0, max: 1 });
    if (o.affine !== undefined) checkBoolean(this.constructor.name, 'affine', o.affine);
    const affine = o.affine ?? true;
    this.weight = affine ? parameter(ones([numFeatures])) : null;
    this.bias = affine ? parameter(zeros([numFeatures])) : null;
    this.registerBuffer('runningMean', zeros([numFeatures]));
    this.registerBuffer('runningVar', ones([numFeatures]));
  }
  forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.ndim)) throw new ArgumentError(`${this.constructor.name}: expected input of ${this.ranks.join(' or ')} dims, got shape [${x.shape.join(',')}]`);
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, { training: this.training, momentum: this.o.momentum ?? 0.1, eps: this.o.eps ?? 1e-5 });
  }
}

/** Batch normalisation over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, o: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super(numFeatures, o, [2, 3]);
  }
}

/** Batch normalisation over [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, o: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super(numFeatures, o, [4]);
  }
}

/** Runs modules in order. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module)) throw new ArgumentError(`Sequential: layer ${i} must be a Module, got ${m === null ? 'null' : typeof m}`);
    });
    this.layers = layers;
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, m) => m.forward(h) as Tensor, x);
  }
}

// ---- activations --------------------------------------------------------------------------

export class ReLU extends Module {
  forward(x: Tensor): Tensor { return x.relu(); }
}
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { return x.sigmoid(); }
}
export class Tanh extends Module {
  forward(x: Tensor): Tensor { return x.tanh(); }
}
export class SiLU extends Module {
  forward(x: Tensor): Tensor { return x.silu(); }
}
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) { super(); checkNumber('LeakyReLU', 'negativeSlope', negativeSlope, { finite: true }); }
  forward(x: Tensor): Tensor { return x.leakyRelu(this.negativeSlope); }
}
export class ELU extends Module {
  constructor(readonly alpha = 1) { super(); checkNumber('ELU', 'alpha', alpha, { finite: true }); }
  forward(x: Tensor): Tensor { return x.elu(this.alpha); }
}
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); checkOneOf('GELU', 'approximate', approximate, ['none', 'tanh']); }
  forward(x: Tensor): Tensor { return x.gelu(this.approximate); }
}
export class Softmax extends Module {
  constructor(readonly dim = -1) { super(); checkNumber('Softmax', 'dim', dim, { int: true }); }
  forward(x: Tensor): Tensor { return softmax(x, this.dim); }
}
export class LogSoftmax extends Module {
  constructor(readonly dim = -1) { super(); checkNumber('LogSoftmax', 'dim', dim, { int: true }); }
  forward(x: Tensor): Tensor { return logSoftmax(x, this.dim); }
}
/** Leaky ReLU with a learned slope (one, or one per channel), initialised to 0.25. */
export class PReLU extends Module {
  weight: Tensor;
  constructor(readonly numSlopes = 1, init0 = 0.25) {
    super();
    checkPositiveInt('PReLU', 'numSlopes', numSlopes);
    checkNumber('PReLU', 'init', init0, { finite: true });
    this.weight = parameter(full([numSlopes], init0));
  }
  forward(x: Tensor): Tensor {
    // per-channel slopes broadcast along dim 1 (NC...), as PyTorch
    const w = this.numSlopes > 1 && x.ndim > 1 ? this.weight.reshape([this.numSlopes, ...new Array(x.ndim - 2).fill(1)]) : this.weight;
    return x.relu().add(w.mul(x.minimum(0)));
  }
}
