/**
 * Convolution and pooling over NCHW tensors: conv2d, convTranspose2d, maxPool2d, avgPool2d and
 * adaptiveAvgPool2d, with PyTorch's argument conventions and output sizes. Each forward is one
 * routine (src/kernel/kernel.ts) on contiguous inputs; the gradients use the dedicated backward
 * routines (convTranspose2d's forward *is* conv2d's input gradient, and vice versa).
 *
 * A 3-D input [C,H,W] is treated as a batch of one, as PyTorch does.
 */
import { record } from '../autograd/graph.js';
import type { GradTable } from '../autograd/rules.js';
import { noGrad } from '../engine.js';
import { ArgumentError, OutOfMemoryError, ShapeError, fmt } from '../errors.js';
import type { Pair, RoutineName, Routines } from '../kernel/kernel.js';
import { tidy } from '../memory.js';
import { MAX_NUMEL, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { tensor, zeros } from './creation.js';
import { matmul } from './linalg.js';
import { checkBoolean, checkFloat, checkOptions, describeValue } from '../validate.js';
import { checkSameBackend, empty, runOrZeros, runRoutine } from './run.js';

/** An int or an [h, w] pair of ints. */
export type IntPair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: IntPair;
  /** zero padding per side; 'same' keeps H×W (stride 1 only), 'valid' is 0 */
  padding?: IntPair | 'same' | 'valid';
  dilation?: IntPair;
  groups?: number;
}
export interface ConvTranspose2dOptions {
  stride?: IntPair;
  padding?: IntPair;
  /** extra rows/cols added on one side of the output, to pick among the sizes a stride allows */
  outputPadding?: IntPair;
  dilation?: IntPair;
  groups?: number;
}
export interface MaxPool2dOptions {
  /** default: the kernel size */
  stride?: IntPair | null;
  padding?: IntPair;
  dilation?: IntPair;
  ceilMode?: boolean;
}
export interface AvgPool2dOptions {
  stride?: IntPair | null;
  padding?: IntPair;
  /** divide by the full window including padding (default true, as PyTorch) */
  countIncludePad?: boolean;
  ceilMode?: boolean;
}

function pair(op: string, arg: string, v: unknown, min: number): Pair {
  const p = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? v : null;
  if (!p || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new ArgumentError(`${op}: ${arg} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer or a pair of them, got ${describeValue(v)}`);
  }
  return [p[0], p[1]];
}

function positiveInt(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ArgumentError(`${op}: ${arg} must be a positive integer, got ${describeValue(v)}`);
  return v;
}

/** The output fits in a tensor (huge strides or paddings are refused naming the op, not a routine). */
function checkOutput(op: string, shape: readonly number[]): void {
  if (numel(shape) > MAX_NUMEL) throw new OutOfMemoryError(`${op}: out of memory for a float32 output of shape ${fmt(shape)}: ${numel(shape)} elements, more than a tensor holds (${MAX_NUMEL})`);
}

/** Runs fn on x as a batch of one when x is 3-D [C,H,W]; checks that x is 3-D or 4-D. */
function withBatch(op: string, x: Tensor, fn: (x4: Tensor) => Tensor): Tensor | null {
  if (x.ndim === 4) return null;
  if (x.ndim !== 3) throw new ShapeError(`${op}: input must be 3-D [C,H,W] or 4-D [N,C,H,W], got ${fmt(x.shape)}`);
  const x4 = x.unsqueeze(0);
  const y4 = fn(x4);
  const y = y4.squeeze(0);
  x4.dispose();
  y4.dispose();
  return y;
}

/** A routine with one float32 output of `shape`; no dispatch when an input or the output is empty. */
function run1<K extends RoutineName>(name: K, cfg: Routines[K], inputs: readonly Tensor[], shape: readonly number[]): Tensor {
  const work = Math.min(numel(shape), ...inputs.map((t) => t.numel()));
  return runOrZeros(name, cfg, work > 0 ? inputs.map((t) => t.contiguous()) : inputs, [{ shape, dtype: 'float32' }], work)[0];
}

/** The output size of a sliding window (PyTorch's formula, including ceil mode's last-window rule). */
function windows(n: number, k: number, s: number, p: number, d: number, ceil = false): number {
  const span = n + 2 * p - d * (k - 1) - 1;
  if (span < 0) return 0;
  if (!ceil) return Math.floor(span / s) + 1;
  let o = Math.ceil(span / s) + 1;
  // the last window must start inside the input or the left padding
  if ((o - 1) * s >= n + p) o--;
  return o;
}

/**
 * 2-D convolution (cross-correlation, as PyTorch): x[N,C,H,W], weight[O,C/groups,kh,kw],
 * bias?[O] → [N,O,Ho,Wo] with Ho = ⌊(H + 2·ph − dh·(kh−1) − 1)/sh⌋ + 1.
 *
 * @example
 * const y = wt.conv2d(wt.randn([1, 3, 32, 32]), wt.randn([16, 3, 3, 3]), null, { padding: 1 }); // [1,16,32,32]
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  checkOptions(op, opts, ['stride', 'padding', 'dilation', 'groups']);
  checkFloat(op, 'input', x);
  checkFloat(op, 'weight', weight);
  if (bias != null) checkFloat(op, 'bias', bias);
  checkSameBackend(op, bias ? [x, weight, bias] : [x, weight]);
  const b3 = withBatch(op, x, (x4) => conv2d(x4, weight, bias, opts));
  if (b3) return b3;
  if (weight.ndim !== 4) throw new ShapeError(`conv2d: weight must be 4-D [O,C/groups,kh,kw], got ${fmt(weight.shape)}`);
  const groups = positiveInt(op, 'groups', opts.groups ?? 1);
  const [N, C, H, W] = x.shape, [O, Cg, kh, kw] = weight.shape;
  if (C !== Cg * groups) {
    throw new ShapeError(`conv2d: input ${fmt(x.shape)} has ${C} channels but weight ${fmt(weight.shape)} expects ${Cg * groups} (${Cg} per group, groups=${groups})`);
  }
  if (O % groups !== 0) throw new ShapeError(`conv2d: weight ${fmt(weight.shape)} has ${O} output channels, not divisible by groups=${groups}`);
  if (kh === 0 || kw === 0) throw new ShapeError(`conv2d: weight ${fmt(weight.shape)} has an empty kernel`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) throw new ShapeError(`conv2d: bias must have shape [${O}] for weight ${fmt(weight.shape)}, got ${fmt(bias.shape)}`);
  const stride = pair(op, 'stride', opts.stride ?? 1, 1), dilation = pair(op, 'dilation', opts.dilation ?? 1, 1);
  let padding: Pair;
  if (opts.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ArgumentError(`conv2d: padding='same' needs stride 1, got stride ${fmt(stride)}`);
    const th = dilation[0] * (kh - 1), tw = dilation[1] * (kw - 1);
    padding = [th >> 1, tw >> 1];
    if (th % 2 || tw % 2) {
      // an odd total: the extra row/col goes at the bottom/right (as PyTorch), by padding x
      const xp = x.pad([0, tw % 2, 0, th % 2]);
      const y = conv2d(xp, weight, bias, { ...opts, padding });
      xp.dispose();
      return y;
    }
  } else {
    padding = opts.padding === 'valid' ? [0, 0] : pair(op, 'padding', opts.padding ?? 0, 0);
  }
  const Ho = windows(H, kh, stride[0], padding[0], dilation[0]), Wo = windows(W, kw, stride[1], padding[1], dilation[1]);
  if (Ho <= 0 || Wo <= 0) {
    throw new ShapeError(`conv2d: input ${fmt(x.shape)} is too small for weight ${fmt(weight.shape)} with padding ${fmt(padding)} and dilation ${fmt(dilation)}`);
  }
  const shape = [N, O, Ho, Wo];
  checkOutput(op, shape);
  const cfg = { stride, padding, dilation, groups };
  const y = tidy(() => noGrad(() => {
    if (numel(shape) === 0) return empty(shape, 'float32', x.backend);
    if (C === 0) return bias ? zeros(shape).add(bias.reshape([1, O, 1, 1])) : zeros(shape);
    const ins = [x, weight, ...(bias ? [bias] : [])].map((t) => t.contiguous());
    return runRoutine('conv2d', { ...cfg, bias: !!bias }, ins, [{ shape, dtype: 'float32' }])[0];
  }));
  return record('conv2d', bias ? [x, weight, bias] : [x, weight], y, [x, weight], { ...cfg, bias: !!bias });
}

/**
 * Transposed convolution (the gradient of conv2d with respect to its input): x[N,Cin,H,W],
 * weight[Cin,Cout/groups,kh,kw], bias?[Cout] → [N,Cout,Ho,Wo] with
 * Ho = (H−1)·sh − 2·ph + dh·(kh−1) + outputPadding + 1.
 *
 * @example
 * const up = wt.convTranspose2d(wt.randn([1, 8, 16, 16]), wt.randn([8, 4, 2, 2]), null, { stride: 2 }); // [1,4,32,32]
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  checkOptions(op, opts, ['stride', 'padding', 'outputPadding', 'dilation', 'groups']);
  checkFloat(op, 'input', x);
  checkFloat(op, 'weight', weight);
  if (bias != null) checkFloat(op, 'bias', bias);
  checkSameBackend(op, bias ? [x, weight, bias] : [x, weight]);
  const b3 = withBatch(op, x, (x4) => convTranspose2d(x4, weight, bias, opts));
  if (b3) return b3;
  if (weight.ndim !== 4) throw new ShapeError(`convTranspose2d: weight must be 4-D [Cin,Cout/groups,kh,kw], got ${fmt(weight.shape)}`);
  const groups = positiveInt(op, 'groups', opts.groups ?? 1);
  const [N, C, H, W] = x.shape, [Cw, Coutg, kh, kw] = weight.shape;
  if (C !== Cw) throw new ShapeError(`convTranspose2d: input ${fmt(x.shape)} has ${C} channels but weight ${fmt(weight.shape)} expects ${Cw}`);
  if (C % groups !== 0) throw new ShapeError(`convTranspose2d: input channels ${C} of ${fmt(x.shape)} are not divisible by groups=${groups}`);
  if (kh === 0 || kw === 0) throw new ShapeError(`convTranspose2d: weight ${fmt(weight.shape)} has an empty kernel`);
  const Cout = Coutg * groups;
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== Cout)) throw new ShapeError(`convTranspose2d: bias must have shape [${Cout}] for weight ${fmt(weight.shape)} and groups=${groups}, got ${fmt(bias.shape)}`);
  const stride = pair(op, 'stride', opts.stride ?? 1, 1), dilation = pair(op, 'dilation', opts.dilation ?? 1, 1);
  const padding = pair(op, 'padding', opts.padding ?? 0, 0), outPad = pair(op, 'outputPadding', opts.outputPadding ?? 0, 0);
  if (outPad[0] >= Math.max(stride[0], dilation[0]) || outPad[1] >= Math.max(stride[1], dilation[1])) {
    throw new ArgumentError(`convTranspose2d: outputPadding ${fmt(outPad)} must be smaller than either stride ${fmt(stride)} or dilation ${fmt(dilation)}`);
  }
  const Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + outPad[0] + 1;
  const Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + outPad[1] + 1;
  if (Ho <= 0 || Wo <= 0) throw new ShapeError(`convTranspose2d: output size ${Ho}x${Wo} is not positive for input ${fmt(x.shape)}, weight ${fmt(weight.shape)} and padding ${fmt(padding)}`);
  const shape = [N, Cout, Ho, Wo];
  checkOutput(op, shape);
  const cfg = { stride, padding, dilation, groups };
  const y = tidy(() => noGrad(() => {
    const out = run1('conv2dBackwardInput', cfg, [x, weight], shape);
    if (bias && out.numel() > 0) out.add_(bias.reshape([1, Cout, 1, 1]));
    return out;
  }));
  return record('convTranspose2d', bias ? [x, weight, bias] : [x, weight], y, [x, weight], { ...cfg, bias: !!bias });
}

interface PoolArgs {
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  shape: number[];
}

function poolArgs(op: string, x: Tensor, kernelSize: IntPair, o: { stride?: IntPair | null; padding?: IntPair; dilation?: IntPair; ceilMode?: boolean }): PoolArgs {
  const kernel = pair(op, 'kernelSize', kernelSize, 1);
  const stride = o.stride == null ? kernel : pair(op, 'stride', o.stride, 1);
  const padding = pair(op, 'padding', o.padding ?? 0, 0), dilation = pair(op, 'dilation', o.dilation ?? 1, 1);
  if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) {
    throw new ArgumentError(`${op}: padding ${fmt(padding)} must be at most half the kernel size ${fmt(kernel)}`);
  }
  const [N, C, H, W] = x.shape;
  const Ho = windows(H, kernel[0], stride[0], padding[0], dilation[0], !!o.ceilMode);
  const Wo = windows(W, kernel[1], stride[1], padding[1], dilation[1], !!o.ceilMode);
  if (Ho <= 0 || Wo <= 0) throw new ShapeError(`${op}: input ${fmt(x.shape)} is too small for kernel ${fmt(kernel)} with padding ${fmt(padding)} and dilation ${fmt(dilation)}`);
  checkOutput(op, [N, C, Ho, Wo]);
  return { kernel, stride, padding, dilation, shape: [N, C, Ho, Wo] };
}

/**
 * 2-D max pooling; padding counts as −∞ and NaN propagates. x[N,C,H,W] → [N,C,Ho,Wo].
 *
 * @example
 * const y = wt.maxPool2d(wt.randn([1, 3, 8, 8]), 2); // [1,3,4,4]
 */
export function maxPool2d(x: Tensor, kernelSize: IntPair, opts: MaxPool2dOptions = {}): Tensor {
  const op = 'maxPool2d';
  checkOptions(op, opts, ['stride', 'padding', 'dilation', 'ceilMode']);
  if (opts.ceilMode !== undefined) checkBoolean(op, 'ceilMode', opts.ceilMode);
  checkFloat(op, 'input', x);
  const b3 = withBatch(op, x, (x4) => maxPool2d(x4, kernelSize, opts));
  if (b3) return b3;
  const { shape, ...cfg } = poolArgs(op, x, kernelSize, opts);
  const [y, argmax] = tidy(() => noGrad(() => {
    if (numel(shape) === 0) return [empty(shape, 'float32', x.backend), empty(shape, 'int32', x.backend)];
    return runRoutine('maxPool2d', cfg, [x.contiguous()], [{ shape, dtype: 'float32' }, { shape, dtype: 'int32' }]);
  }));
  record('maxPool2d', [x], y, [argmax], cfg);
  argmax.dispose();
  return y;
}

/**
 * 2-D average pooling. With countIncludePad (the default) the divisor is the window's size
 * clipped to the padded input; without it, the number of real pixels in the window.
 *
 * @example
 * const y = wt.avgPool2d(wt.randn([1, 3, 8, 8]), 3, { stride: 2, padding: 1 }); // [1,3,4,4]
 */
export function avgPool2d(x: Tensor, kernelSize: IntPair, opts: AvgPool2dOptions = {}): Tensor {
  const op = 'avgPool2d';
  checkOptions(op, opts, ['stride', 'padding', 'countIncludePad', 'ceilMode']);
  if (opts.countIncludePad !== undefined) checkBoolean(op, 'countIncludePad', opts.countIncludePad);
  if (opts.ceilMode !== undefined) checkBoolean(op, 'ceilMode', opts.ceilMode);
  checkFloat(op, 'input', x);
  const b3 = withBatch(op, x, (x4) => avgPool2d(x4, kernelSize, opts));
  if (b3) return b3;
  const { shape, kernel, stride, padding } = poolArgs(op, x, kernelSize, { ...opts, dilation: 1 });
  const cfg = { kernel, stride, padding, countIncludePad: opts.countIncludePad ?? true };
  const y = tidy(() => noGrad(() => run1('avgPool2d', cfg, [x], shape)));
  return record('avgPool2d', [x], y, [], cfg);
}

/** [o, n] matrix averaging the adaptive windows [⌊i·n/o⌋, ⌈(i+1)·n/o⌉) of a length-n axis. */
function adaptiveMatrix(o: number, n: number): Tensor {
  const m = new Float32Array(o * n);
  for (let i = 0; i < o; i++) {
    const s = Math.floor((i * n) / o), e = Math.ceil(((i + 1) * n) / o);
    for (let j = s; j < e; j++) m[i * n + j] = 1 / (e - s);
  }
  return tensor(m, { shape: [o, n] });
}

/**
 * Adaptive average pooling to a fixed output size (null keeps that dim), as PyTorch: output
 * cell i averages input rows ⌊i·H/Ho⌋ … ⌈(i+1)·H/Ho⌉−1. When the sizes divide it is one
 * avgPool2d; otherwise two small matmuls with averaging matrices (exact, and differentiable).
 *
 * @example
 * const y = wt.adaptiveAvgPool2d(wt.randn([2, 64, 7, 7]), 1); // [2,64,1,1]
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number | null, number | null]): Tensor {
  const op = 'adaptiveAvgPool2d';
  checkFloat(op, 'input', x);
  if (x.ndim !== 3 && x.ndim !== 4) throw new ShapeError(`${op}: input must be 3-D [C,H,W] or 4-D [N,C,H,W], got ${fmt(x.shape)}`);
  const H = x.shape[x.ndim - 2], W = x.shape[x.ndim - 1];
  const sz = typeof outputSize === 'number' ? [outputSize, outputSize] : Array.isArray(outputSize) && outputSize.length === 2 ? outputSize : null;
  const [oh, ow] = pair(op, 'outputSize', sz && [sz[0] ?? H, sz[1] ?? W], 1);
  // the averaging matrices are [oh, H] and [ow, W]
  if (oh * H > MAX_NUMEL || ow * W > MAX_NUMEL) throw new ArgumentError(`${op}: outputSize ${fmt([oh, ow])} is too large for input ${fmt(x.shape)}`);
  if (H === 0 || W === 0) throw new ShapeError(`${op}: input ${fmt(x.shape)} has an empty spatial dim`);
  if (H % oh === 0 && W % ow === 0) return avgPool2d(x, [H / oh, W / ow]);
  const ph = adaptiveMatrix(oh, H), pw = adaptiveMatrix(ow, W);
  const pwT = pw.transpose(0, 1);
  const rows = matmul(ph, x);
  const y = matmul(rows, pwT);
  [ph, pw, pwT, rows].forEach((t) => t.dispose());
  return y;
}

export const convGrads: GradTable<'conv2d' | 'convTranspose2d' | 'maxPool2d' | 'avgPool2d'> = {
  conv2d: (n, g) => {
    const [x, w] = n.saved;
    const { bias, ...cfg } = n.meta;
    const want = n.inputs.map((t) => t.requiresGrad);
    return tidy(() => [
      want[0] ? run1('conv2dBackwardInput', cfg, [g, w], x.shape) : null,
      want[1] ? run1('conv2dBackwardWeight', cfg, [x, g], w.shape) : null,
      ...(bias ? [want[2] ? g.sum([0, 2, 3]) : null] : []),
    ]);
  },
  // y = conv2dBackwardInput(x, w): its input gradient is a conv2d of g, its weight gradient
  // the conv's weight gradient with the roles of input (g) and output gradient (x) swapped
  convTranspose2d: (n, g) => {
    const [x, w] = n.saved;
    const { bias, ...cfg } = n.meta;
    const want = n.inputs.map((t) => t.requiresGrad);
    return tidy(() => [
      want[0] ? run1('conv2d', { ...cfg, bias: false }, [g, w], x.shape) : null,
      want[1] ? run1('conv2dBackwardWeight', cfg, [g, x], w.shape) : null,
      ...(bias ? [want[2] ? g.sum([0, 2, 3]) : null] : []),
    ]);
  },
  maxPool2d: (n, g) => {
    const [argmax] = n.saved;
    return [tidy(() => run1('maxPool2dBackward', n.meta, [g, argmax], n.inputs[0].shape))];
  },
  avgPool2d: (n, g) => [tidy(() => run1('avgPool2dBackward', n.meta, [g], n.inputs[0].shape))],
};
