/**
 * The standard layers, with PyTorch's shapes and default initialisations. Every layer only
 * calls the Tensor API, so it runs on any backend.
 */
import { noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { normAxis } from '../shape.js';
import { checkBoolean, checkFloat, checkIntPair, checkNumber, checkNumel, checkOneOf, checkOptions, checkPositiveInt, checkTensor, checkTensorDType, describeValue, type OptionKeys } from '../validate.js';
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

/** A layer's options object (only `known` keys) and its optional `bias` flag. */
function layerOptions<T extends { bias?: unknown }>(op: string, o: T, known: OptionKeys<T>): void {
  checkOptions(op, o, known);
  if (o?.bias !== undefined) checkBoolean(op, 'bias', o.bias);
}

/**
 * A float32 input whose dim `dim` (negative: from the end) is `size`, with one of `ranks` dims;
 * `form` describes the expected shape in the message (`[N, C, H, W]`).
 */
function checkInput(op: string, x: unknown, ranks: readonly number[] | null, form: string, dim?: number, size?: number): asserts x is Tensor {
  checkFloat(op, 'input', x);
  const okRank = !ranks || ranks.includes(x.ndim);
  const okSize = dim === undefined || (x.ndim > 0 && x.shape.at(dim) === size);
  if (!okRank || !okSize) throw new ShapeError(`${op}: input must be ${form}, got ${fmt(x.shape)}`);
}

/** Conv / pool window options: stride, padding, dilation (each an int or a pair). */
function windowOptions(op: string, o: { stride?: unknown; padding?: unknown; dilation?: unknown; outputPadding?: unknown; ceilMode?: unknown }): void {
  if (o.ceilMode !== undefined) checkBoolean(op, 'ceilMode', o.ceilMode);
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
    layerOptions('Linear', opts, ['bias']);
    checkNumel('Linear', 'weight', [outFeatures, inFeatures]);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = parameter(init.uniform(empty([outFeatures, inFeatures], 'float32'), -bound, bound));
    this.bias = opts.bias === false ? null : parameter(init.uniform(empty([outFeatures], 'float32'), -bound, bound));
  }
  forward(x: Tensor): Tensor {
    checkInput('Linear.forward', x, null, `[..., ${this.inFeatures}] (inFeatures in the last dim)`, -1, this.inFeatures);
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
  layerOptions(op, o, ['stride', 'padding', 'dilation', 'groups', 'bias', ...(transposed ? ['outputPadding' as const] : [])]);
  const groups = o.groups ?? 1;
  checkPositiveInt(op, 'inChannels', inChannels);
  checkPositiveInt(op, 'outChannels', outChannels);
  checkPositiveInt(op, 'groups', groups);
  if (inChannels % groups || outChannels % groups) throw new ArgumentError(`${op}: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`);
  const [kh, kw] = checkIntPair(op, 'kernelSize', kernelSize, 1);
  windowOptions(op, o);
  const shape = transposed ? [inChannels, outChannels / groups, kh, kw] : [outChannels, inChannels / groups, kh, kw];
  checkNumel(op, 'weight', shape);
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
    ({ weight: this.weight, bias: this.bias } = convParameters('Conv2d', inChannels, outChannels, kernelSize, o, false));
    this.opts = { stride: o.stride, padding: o.padding, dilation: o.dilation, groups: o.groups ?? 1 };
  }
  forward(x: Tensor): Tensor {
    checkInput('Conv2d.forward', x, [3, 4], `[N, ${this.inChannels}, H, W] or [${this.inChannels}, H, W] (inChannels ${this.inChannels})`, -3, this.inChannels);
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
    checkInput('ConvTranspose2d.forward', x, [3, 4], `[N, ${this.inChannels}, H, W] or [${this.inChannels}, H, W] (inChannels ${this.inChannels})`, -3, this.inChannels);
    const { bias: _b, ...rest } = this.o;
    return convTranspose2d(x, this.weight, this.bias, rest);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {}) {
    super();
    checkIntPair('MaxPool2d', 'kernelSize', kernelSize, 1);
    windowOptions('MaxPool2d', checkOptions('MaxPool2d', o, ['stride', 'padding', 'dilation', 'ceilMode']));
  }
  forward(x: Tensor): Tensor {
    checkInput('MaxPool2d.forward', x, [3, 4], '[N, C, H, W] or [C, H, W]');
    return maxPool2d(x, this.kernelSize, this.o);
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly o: { stride?: Pair; padding?: Pair; countIncludePad?: boolean; ceilMode?: boolean } = {}) {
    super();
    checkIntPair('AvgPool2d', 'kernelSize', kernelSize, 1);
    windowOptions('AvgPool2d', checkOptions('AvgPool2d', o, ['stride', 'padding', 'countIncludePad', 'ceilMode']));
  }
  forward(x: Tensor): Tensor {
    checkInput('AvgPool2d.forward', x, [3, 4], '[N, C, H, W] or [C, H, W]');
    return avgPool2d(x, this.kernelSize, this.o);
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
    checkIntPair('AdaptiveAvgPool2d', 'outputSize', outputSize, 1);
  }
  forward(x: Tensor): Tensor {
    checkInput('AdaptiveAvgPool2d.forward', x, [3, 4], '[N, C, H, W] or [C, H, W]');
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
    checkTensor('Flatten.forward', 'input', x);
    if (x.ndim > 0) {
      const a = normAxis('Flatten.forward', this.startDim, x.ndim, 'startDim'), b = normAxis('Flatten.forward', this.endDim, x.ndim, 'endDim');
      if (a > b) throw new ShapeError(`Flatten.forward: startDim ${this.startDim} comes after endDim ${this.endDim} for input ${fmt(x.shape)}`);
    }
    return x.flatten(this.startDim, this.endDim);
  }
}

/** Zeroes elements with probability p in training mode; identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    checkNumber('Dropout', 'p', p, { min: 0, max: 1 });
  }
  forward(x: Tensor): Tensor {
    checkFloat('Dropout.forward', 'input', x);
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
    checkOptions('Embedding', o, ['paddingIdx']);
    checkNumel('Embedding', 'weight', [numEmbeddings, embeddingDim]);
    if (o.paddingIdx !== undefined) checkNumber('Embedding', 'paddingIdx', o.paddingIdx, { int: true, min: -numEmbeddings, max: numEmbeddings - 1 });
    this.weight = parameter(init.normal(empty([numEmbeddings, embeddingDim], 'float32')));
    if (o.paddingIdx !== undefined) {
      const row = this.weight.select(0, o.paddingIdx);
      init.zeros(row);
      row.dispose();
    }
  }
  forward(indices: Tensor): Tensor {
    checkTensorDType('Embedding.forward', 'indices', indices, ['int32']);
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
      throw new ArgumentError(`LayerNorm: normalizedShape must be a positive integer or a list of them, got ${describeValue(normalizedShape)}`);
    }
    checkOptions('LayerNorm', o, ['eps', 'elementwiseAffine']);
    checkNumel('LayerNorm', 'weight', this.normalizedShape);
    if (o.eps !== undefined) checkNumber('LayerNorm', 'eps', o.eps, { min: 0, finite: true });
    if (o.elementwiseAffine !== undefined) checkBoolean('LayerNorm', 'elementwiseAffine', o.elementwiseAffine);
    const affine = o.elementwiseAffine ?? true;
    this.weight = affine ? parameter(ones(this.normalizedShape)) : null;
    this.bias = affine ? parameter(zeros(this.normalizedShape)) : null;
  }
  forward(x: Tensor): Tensor {
    const ns = this.normalizedShape;
    checkFloat('LayerNorm.forward', 'input', x);
    if (x.ndim < ns.length || ns.some((d, i) => x.shape[x.ndim - ns.length + i] !== d)) {
      throw new ShapeError(`LayerNorm.forward: input must end in the normalized shape ([..., ${ns.join(', ')}]), got ${fmt(x.shape)}`);
    }
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.o.eps ?? 1e-5);
  }
}

class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean!: Tensor;
  runningVar!: Tensor;
  /** int32 scalar: the training-mode forward passes so far (PyTorch's num_batches_tracked) */
  numBatchesTracked!: Tensor;
  constructor(readonly numFeatures: number, readonly o: { eps?: number; momentum?: number; affine?: boolean } = {}, private readonly ranks: number[]) {
    super();
    checkPositiveInt(this.constructor.name, 'numFeatures', numFeatures);
    checkOptions(this.constructor.name, o, ['eps', 'momentum', 'affine']);
    checkNumel(this.constructor.name, 'weight', [numFeatures]);
    if (o.eps !== undefined) checkNumber(this.constructor.name, 'eps', o.eps, { min: 0, finite: true });
    if (o.momentum !== undefined) checkNumber(this.constructor.name, 'momentum', o.momentum, { min: 0, max: 1 });
    if (o.affine !== undefined) checkBoolean(this.constructor.name, 'affine', o.affine);
    const affine = o.affine ?? true;
    this.weight = affine ? parameter(ones([numFeatures])) : null;
    this.bias = affine ? parameter(zeros([numFeatures])) : null;
    this.registerBuffer('runningMean', zeros([numFeatures]));
    this.registerBuffer('runningVar', ones([numFeatures]));
    this.registerBuffer('numBatchesTracked', zeros([], { dtype: 'int32' }));
  }
  forward(x: Tensor): Tensor {
    const form = this.ranks.map((r) => `[N, ${this.numFeatures}${r === 3 ? ', L' : r === 4 ? ', H, W' : ''}]`).join(' or ');
    checkInput(`${this.constructor.name}.forward`, x, this.ranks, `${form} (numFeatures ${this.numFeatures} in dim 1)`, 1, this.numFeatures);
    const y = batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, { training: this.training, momentum: this.o.momentum ?? 0.1, eps: this.o.eps ?? 1e-5 });
    // counted once the batch is taken (a refused input changes nothing), as PyTorch in training mode
    if (this.training) noGrad(() => this.numBatchesTracked.add_(1));
    return y;
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

/** Runs modules in order. Its children's keys are `0`, `1`, ... as PyTorch (`0.weight`). */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module)) throw new ArgumentError(`Sequential: layer ${i} must be a Module, got ${describeValue(m)}`);
    });
    this.layers = layers;
  }
  protected override _namedChildren(legacy: boolean): [string, Module][] {
    // older webtensor checkpoints named them after the property: layers.0.weight
    return legacy ? super._namedChildren(true) : this.layers.map((m, i) => [String(i), m]);
  }
  forward(x: Tensor): Tensor {
    checkTensor('Sequential.forward', 'input', x);
    return this.layers.reduce((h, m) => m.forward(h) as Tensor, x);
  }
}

// ---- activations --------------------------------------------------------------------------

// elementwise activations take any dtype (as their Tensor methods), so forward checks only the tensor
export class ReLU extends Module {
  forward(x: Tensor): Tensor { checkTensor('ReLU.forward', 'input', x); return x.relu(); }
}
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { checkTensor('Sigmoid.forward', 'input', x); return x.sigmoid(); }
}
export class Tanh extends Module {
  forward(x: Tensor): Tensor { checkTensor('Tanh.forward', 'input', x); return x.tanh(); }
}
export class SiLU extends Module {
  forward(x: Tensor): Tensor { checkTensor('SiLU.forward', 'input', x); return x.silu(); }
}
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) { super(); checkNumber('LeakyReLU', 'negativeSlope', negativeSlope, { finite: true }); }
  forward(x: Tensor): Tensor { checkTensor('LeakyReLU.forward', 'input', x); return x.leakyRelu(this.negativeSlope); }
}
export class ELU extends Module {
  constructor(readonly alpha = 1) { super(); checkNumber('ELU', 'alpha', alpha, { finite: true }); }
  forward(x: Tensor): Tensor { checkTensor('ELU.forward', 'input', x); return x.elu(this.alpha); }
}
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); checkOneOf('GELU', 'approximate', approximate, ['none', 'tanh']); }
  forward(x: Tensor): Tensor { checkTensor('GELU.forward', 'input', x); return x.gelu(this.approximate); }
}
/** A float32 input with `dim` in range (softmax layers). */
function checkSoftmaxInput(op: string, x: unknown, dim: number): void {
  checkFloat(op, 'input', x);
  normAxis(op, dim, x.ndim);
}
export class Softmax extends Module {
  constructor(readonly dim = -1) { super(); checkNumber('Softmax', 'dim', dim, { int: true }); }
  forward(x: Tensor): Tensor { checkSoftmaxInput('Softmax.forward', x, this.dim); return softmax(x, this.dim); }
}
export class LogSoftmax extends Module {
  constructor(readonly dim = -1) { super(); checkNumber('LogSoftmax', 'dim', dim, { int: true }); }
  forward(x: Tensor): Tensor { checkSoftmaxInput('LogSoftmax.forward', x, this.dim); return logSoftmax(x, this.dim); }
}
/** Leaky ReLU with a learned slope (one, or one per channel), initialised to 0.25. */
export class PReLU extends Module {
  weight: Tensor;
  constructor(readonly numSlopes = 1, init0 = 0.25) {
    super();
    checkPositiveInt('PReLU', 'numSlopes', numSlopes);
    checkNumel('PReLU', 'weight', [numSlopes]);
    checkNumber('PReLU', 'init', init0, { finite: true });
    this.weight = parameter(full([numSlopes], init0));
  }
  forward(x: Tensor): Tensor {
    checkFloat('PReLU.forward', 'input', x);
    if (this.numSlopes > 1 && (x.ndim < 2 || x.shape[1] !== this.numSlopes)) {
      throw new ShapeError(`PReLU.forward: input must have numSlopes ${this.numSlopes} channels in dim 1 ([N, ${this.numSlopes}, ...]), got ${fmt(x.shape)}`);
    }
    // per-channel slopes broadcast along dim 1 (NC...), as PyTorch
    const w = this.numSlopes > 1 && x.ndim > 1 ? this.weight.reshape([this.numSlopes, ...new Array(x.ndim - 2).fill(1)]) : this.weight;
    return x.relu().add(w.mul(x.minimum(0)));
  }
}
