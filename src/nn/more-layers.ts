/**
 * Conv1d, GroupNorm and Upsample with PyTorch's shapes and default initialisations, on the
 * functional forms in src/ops/conv1d.ts and src/ops/resize.ts.
 */
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { ones, zeros } from '../ops/creation.js';
import { conv1dAs, groupNormAs, type Conv1dOptions } from '../ops/conv1d.js';
import { padWith } from '../ops/indexing.js';
import { INTERPOLATE_MODES, interpolateAs, type InterpolateOptions } from '../ops/resize.js';
import { empty } from '../ops/run.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkFloat, checkNumber, checkNumel, checkOneOf, checkOptions, checkPositiveInt, describeValue } from '../validate.js';
import * as init from './init.js';
import { Module, parameter } from './module.js';

export interface Conv1dLayerOptions extends Conv1dOptions {
  bias?: boolean;
  /** how `padding` pads: with zeros (default), or 'reflect', 'replicate', 'circular' */
  paddingMode?: 'zeros' | 'reflect' | 'replicate' | 'circular';
}

/** An int >= min, or a list of one. */
function single(op: string, arg: string, v: unknown, min: number): number {
  const n = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
    throw new ArgumentError(`${op}: ${arg} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer (or a list of one), got ${describeValue(v)}`);
  }
  return n;
}

/**
 * 1-D convolution over [N, C, L] (or [C, L]); weight [out, in/groups, k] and bias [out],
 * initialised U(±1/√(in/groups·k)) as PyTorch.
 *
 * @example
 * const conv = new wt.nn.Conv1d(16, 32, 5, { padding: 'same' });
 * const y = conv.forward(x); // [N, 16, L] → [N, 32, L]
 */
export class Conv1d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number | 'same' | 'valid';
  readonly dilation: number;
  readonly groups: number;
  readonly paddingMode: 'zeros' | 'reflect' | 'replicate' | 'circular';
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | readonly [number], o: Conv1dLayerOptions = {}) {
    super();
    const op = 'Conv1d';
    checkOptions(op, o, ['stride', 'padding', 'dilation', 'groups', 'bias', 'paddingMode']);
    checkPositiveInt(op, 'inChannels', inChannels);
    checkPositiveInt(op, 'outChannels', outChannels);
    this.kernelSize = single(op, 'kernelSize', kernelSize, 1);
    this.groups = checkPositiveInt(op, 'groups', o.groups ?? 1);
    if (inChannels % this.groups || outChannels % this.groups) throw new ArgumentError(`${op}: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${this.groups}`);
    this.stride = single(op, 'stride', o.stride ?? 1, 1);
    this.dilation = single(op, 'dilation', o.dilation ?? 1, 1);
    const pad = o.padding ?? 0;
    this.padding = pad === 'same' || pad === 'valid' ? pad : single(op, 'padding', pad, 0);
    if (this.padding === 'same' && this.stride !== 1) throw new ArgumentError(`${op}: padding='same' needs stride 1, got stride ${this.stride}`);
    if (o.bias !== undefined) checkBoolean(op, 'bias', o.bias);
    this.paddingMode = checkOneOf(op, 'paddingMode', o.paddingMode ?? 'zeros', ['zeros', 'reflect', 'replicate', 'circular']);
    const shape = [outChannels, inChannels / this.groups, this.kernelSize];
    checkNumel(op, 'weight', shape);
    const bound = 1 / Math.sqrt(shape[1] * this.kernelSize);
    this.weight = parameter(init.uniform(empty(shape, 'float32'), -bound, bound));
    this.bias = o.bias === false ? null : parameter(init.uniform(empty([outChannels], 'float32'), -bound, bound));
  }
  forward(x: Tensor): Tensor {
    const op = 'Conv1d.forward';
    checkFloat(op, 'input', x);
    if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[x.ndim - 2] !== this.inChannels) {
      throw new ShapeError(`${op}: input must be [N, ${this.inChannels}, L] or [${this.inChannels}, L] (inChannels ${this.inChannels}), got ${fmt(x.shape)}`);
    }
    const conv = { stride: this.stride, dilation: this.dilation, groups: this.groups };
    if (this.paddingMode === 'zeros' || this.padding === 'valid' || this.padding === 0) {
      return conv1dAs(op, x, this.weight, this.bias, { ...conv, padding: this.padding });
    }
    // other modes pad first (as PyTorch: 'same' puts the odd one on the right), then convolve unpadded
    const total = this.padding === 'same' ? this.dilation * (this.kernelSize - 1) : 2 * this.padding;
    const left = this.padding === 'same' ? total >> 1 : this.padding;
    const xp = padWith(op, x, [left, total - left], this.paddingMode);
    const y = conv1dAs(op, xp, this.weight, this.bias, { ...conv, padding: 0 });
    xp.dispose();
    return y;
  }
  override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=${this.kernelSize}, stride=${this.stride}, padding=${this.padding}`;
  }
}

/**
 * Group normalisation (torch.nn.GroupNorm): numChannels split into numGroups groups, each
 * normalised over its channels and the spatial dims; per-channel weight (ones) and bias (zeros)
 * with affine (default true).
 *
 * @example
 * const gn = new wt.nn.GroupNorm(4, 32);
 * const y = gn.forward(x); // x [N, 32, H, W]
 */
export class GroupNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly eps: number;
  constructor(readonly numGroups: number, readonly numChannels: number, o: { eps?: number; affine?: boolean } = {}) {
    super();
    const op = 'GroupNorm';
    checkPositiveInt(op, 'numGroups', numGroups);
    checkPositiveInt(op, 'numChannels', numChannels);
    if (numChannels % numGroups) throw new ArgumentError(`${op}: numChannels ${numChannels} must be divisible by numGroups ${numGroups}`);
    checkOptions(op, o, ['eps', 'affine']);
    this.eps = checkNumber(op, 'eps', o.eps ?? 1e-5, { min: 0, finite: true });
    if (o.affine !== undefined) checkBoolean(op, 'affine', o.affine);
    checkNumel(op, 'weight', [numChannels]);
    const affine = o.affine ?? true;
    this.weight = affine ? parameter(ones([numChannels])) : null;
    this.bias = affine ? parameter(zeros([numChannels])) : null;
  }
  forward(x: Tensor): Tensor {
    const op = 'GroupNorm.forward';
    checkFloat(op, 'input', x);
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) throw new ShapeError(`${op}: input must be [N, ${this.numChannels}, *] (numChannels ${this.numChannels} in dim 1), got ${fmt(x.shape)}`);
    return groupNormAs(op, x, this.numGroups, this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${this.eps}, affine=${!!this.weight}`;
  }
}

/**
 * Resizes [N, C, L], [N, C, H, W] or [N, C, D, H, W] input (torch.nn.Upsample): the options are
 * F.interpolate's (exactly one of size and scaleFactor; mode default 'nearest').
 *
 * @example
 * const up = new wt.nn.Upsample({ scaleFactor: 2, mode: 'bilinear' });
 * const y = up.forward(x); // [N, C, 2H, 2W]
 */
export class Upsample extends Module {
  readonly o: InterpolateOptions;
  constructor(o: InterpolateOptions = {}) {
    super();
    const op = new.target.name;
    checkOptions(op, o, ['size', 'scaleFactor', 'mode', 'alignCorners', 'recomputeScaleFactor']);
    if ((o.size ?? null) === null && (o.scaleFactor ?? null) === null) throw new ArgumentError(`${op}: give size or scaleFactor`);
    if ((o.size ?? null) !== null && (o.scaleFactor ?? null) !== null) throw new ArgumentError(`${op}: give only one of size and scaleFactor`);
    const mode = checkOneOf(op, 'mode', o.mode ?? 'nearest', INTERPOLATE_MODES);
    if ((o.alignCorners ?? null) !== null) {
      checkBoolean(op, 'alignCorners', o.alignCorners);
      if (mode === 'nearest' || mode === 'nearest-exact') throw new ArgumentError(`${op}: alignCorners can only be set with the interpolating modes (linear, bilinear, bicubic, trilinear), not mode '${mode}'`);
    }
    if ((o.recomputeScaleFactor ?? null) !== null) checkBoolean(op, 'recomputeScaleFactor', o.recomputeScaleFactor);
    const list = (v: unknown, arg: string, ok: (d: unknown) => boolean, what: string) => {
      if (v == null) return;
      if (!(ok(v) || (Array.isArray(v) && v.length > 0 && v.every(ok)))) throw new ArgumentError(`${op}: ${arg} must be ${what} or a list of them, got ${describeValue(v)}`);
    };
    list(o.size, 'size', (d) => Number.isInteger(d) && (d as number) >= 1, 'a positive integer');
    list(o.scaleFactor, 'scaleFactor', (d) => typeof d === 'number' && Number.isFinite(d) && d > 0, 'a positive number');
    this.o = { ...o, mode };
  }
  forward(x: Tensor): Tensor {
    return interpolateAs(`${this.constructor.name}.forward`, x, this.o);
  }
  override extraRepr(): string {
    const { size, scaleFactor, mode } = this.o;
    return `${size != null ? `size=${JSON.stringify(size)}` : `scaleFactor=${JSON.stringify(scaleFactor)}`}, mode='${mode}'`;
  }
}

/** Nearest-neighbour upsampling (torch.nn.UpsamplingNearest2d): Upsample with mode 'nearest'. */
export class UpsamplingNearest2d extends Upsample {
  constructor(o: { size?: number | readonly number[] | null; scaleFactor?: number | readonly number[] | null } = {}) {
    super({ ...checkOptions('UpsamplingNearest2d', o, ['size', 'scaleFactor']), mode: 'nearest' });
  }
}

/** Bilinear upsampling with aligned corners (torch.nn.UpsamplingBilinear2d): Upsample with mode 'bilinear', alignCorners true. */
export class UpsamplingBilinear2d extends Upsample {
  constructor(o: { size?: number | readonly number[] | null; scaleFactor?: number | readonly number[] | null } = {}) {
    super({ ...checkOptions('UpsamplingBilinear2d', o, ['size', 'scaleFactor']), mode: 'bilinear', alignCorners: true });
  }
}
