/**
 * conv1d (torch.nn.functional.conv1d) and groupNorm (torch.nn.functional.group_norm), both
 * lowered onto existing ops, so their gradients are those ops' gradients:
 * - conv1d is conv2d on a unit height: x [N, C, L] → [N, C, 1, L], weight [O, C/g, k] → [O, C/g, 1, k];
 * - groupNorm is layerNorm (without affine) over [N, G, C/G · spatial], then the per-channel affine.
 */
import { ArgumentError, OutOfMemoryError, ShapeError, fmt } from '../errors.js';
import { MAX_NUMEL, numel } from '../shape.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';
import { checkFloat, checkNumber, checkOptions, describeValue } from '../validate.js';
import { conv2d } from './conv.js';
import { layerNorm } from './norm.js';

export interface Conv1dOptions {
  stride?: number | readonly [number];
  /** zero padding per side; 'same' keeps L (stride 1 only), 'valid' is 0 */
  padding?: number | readonly [number] | 'same' | 'valid';
  dilation?: number | readonly [number];
  groups?: number;
}

/** An int >= min, or a list of one (PyTorch's 1-tuples). */
function single(op: string, arg: string, v: unknown, min: number): number {
  const n = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
    throw new ArgumentError(`${op}: ${arg} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer (or a list of one), got ${describeValue(v)}`);
  }
  return n;
}

/**
 * 1-D convolution (cross-correlation, as PyTorch): x [N, C, L] (or unbatched [C, L]),
 * weight [O, C/groups, k], bias? [O] → [N, O, Lo] with Lo = ⌊(L + 2·p − d·(k−1) − 1)/s⌋ + 1.
 *
 * @example
 * const y = wt.F.conv1d(wt.randn([2, 4, 50]), wt.randn([8, 4, 3]), null, { padding: 'same' }); // [2, 8, 50]
 */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv1dOptions = {}): Tensor {
  return conv1dAs('conv1d', x, weight, bias, opts);
}

/** conv1d under the name the user called it by (`Conv1d.forward`). @internal */
export function conv1dAs(op: string, x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv1dOptions = {}): Tensor {
  checkOptions(op, opts, ['stride', 'padding', 'dilation', 'groups']);
  checkFloat(op, 'input', x);
  checkFloat(op, 'weight', weight);
  if (bias != null) checkFloat(op, 'bias', bias);
  if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError(`${op}: input must be 3-D [N, C, L] or 2-D [C, L], got ${fmt(x.shape)}`);
  if (weight.ndim !== 3) throw new ShapeError(`${op}: weight must be 3-D [O, C/groups, k], got ${fmt(weight.shape)}`);
  const groups = checkNumber(op, 'groups', opts.groups ?? 1, { int: true, min: 1 });
  const stride = single(op, 'stride', opts.stride ?? 1, 1), dilation = single(op, 'dilation', opts.dilation ?? 1, 1);
  const pad = opts.padding ?? 0;
  const padding = pad === 'same' || pad === 'valid' ? pad : single(op, 'padding', pad, 0);
  const [O, Cg, k] = weight.shape, C = x.shape[x.ndim - 2], L = x.shape[x.ndim - 1];
  if (C !== Cg * groups) throw new ShapeError(`${op}: input ${fmt(x.shape)} has ${C} channels but weight ${fmt(weight.shape)} expects ${Cg * groups} (${Cg} per group, groups=${groups})`);
  if (O % groups !== 0) throw new ShapeError(`${op}: weight ${fmt(weight.shape)} has ${O} output channels, not divisible by groups=${groups}`);
  if (k === 0) throw new ShapeError(`${op}: weight ${fmt(weight.shape)} has an empty kernel`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) throw new ShapeError(`${op}: bias must have shape [${O}] for weight ${fmt(weight.shape)}, got ${fmt(bias.shape)}`);
  if (padding === 'same' && stride !== 1) throw new ArgumentError(`${op}: padding='same' needs stride 1, got stride ${stride}`);
  const p = typeof padding === 'number' ? padding : 0;
  if (padding !== 'same' && L + 2 * p - dilation * (k - 1) - 1 < 0) {
    throw new ShapeError(`${op}: input ${fmt(x.shape)} is too small for weight ${fmt(weight.shape)} with padding ${p} and dilation ${dilation}`);
  }
  const Lo = padding === 'same' ? L : Math.floor((L + 2 * p - dilation * (k - 1) - 1) / stride) + 1;
  const shape = x.ndim === 3 ? [x.shape[0], O, Lo] : [O, Lo];
  if (numel(shape) > MAX_NUMEL) throw new OutOfMemoryError(`${op}: out of memory for a float32 output of shape ${fmt(shape)}: ${numel(shape)} elements, more than a tensor holds (${MAX_NUMEL})`);
  return tidy(() => {
    const y = conv2d(x.unsqueeze(-2), weight.unsqueeze(2), bias, {
      stride: [1, stride], dilation: [1, dilation], groups,
      padding: typeof padding === 'number' ? [0, padding] : padding,
    });
    return y.squeeze(-2);
  });
}

/**
 * Group normalisation as torch.nn.functional.group_norm: the C channels of x [N, C, *] are split
 * into numGroups groups, each normalised over its channels and all spatial positions (biased
 * variance), then scaled by weight [C] and shifted by bias [C] when given.
 *
 * @example
 * const y = wt.F.groupNorm(x, 4, gamma, beta); // x [N, 16, H, W]
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return groupNormAs('groupNorm', x, numGroups, weight, bias, eps);
}

/** groupNorm under the name the user called it by (`GroupNorm.forward`). @internal */
export function groupNormAs(op: string, x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  checkFloat(op, 'input', x);
  checkNumber(op, 'numGroups', numGroups, { int: true, min: 1 });
  checkNumber(op, 'eps', eps, { min: 0, finite: true });
  if (x.ndim < 2) throw new ShapeError(`${op}: input must be [N, C, *] (at least 2-D), got ${fmt(x.shape)}`);
  const [N, C] = x.shape;
  if (C % numGroups !== 0) throw new ShapeError(`${op}: input ${fmt(x.shape)} has ${C} channels, not divisible by numGroups ${numGroups}`);
  for (const [arg, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t == null) continue;
    checkFloat(op, arg, t);
    if (t.ndim !== 1 || t.shape[0] !== C) throw new ShapeError(`${op}: ${arg} must have shape [${C}] (one per channel of input ${fmt(x.shape)}), got ${fmt(t.shape)}`);
  }
  const D = x.numel() / Math.max(1, N * numGroups);
  return tidy(() => {
    if (x.numel() === 0) return x.clone();
    let y = layerNorm(x.reshape([N, numGroups, D]), D, null, null, eps).reshape([...x.shape]);
    const perChannel = [C, ...new Array<number>(x.ndim - 2).fill(1)];
    if (weight) y = y.mul(weight.reshape(perChannel));
    if (bias) y = y.add(bias.reshape(perChannel));
    return y;
  });
}
