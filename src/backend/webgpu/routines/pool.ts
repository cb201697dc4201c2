/**
 * WebGPU 2-D pooling (shaders/pool2d.wgsl): max and average pooling, forward and backward, one
 * thread per element written (max pooling's backward at strides <= 2: one per stride cell of
 * input pixels), workgroups on a 2-D grid (256 threads; 64 on CPU-emulated adapters, where a
 * workgroup runs on one CPU thread and small launches would otherwise use one core).
 *
 * The backward kernels gather rather than scatter: each input pixel visits the output windows
 * that contain it (at most ceil(KH/sh) * ceil(KW/sw) of them), so there are no float atomics and
 * the result does not depend on scheduling. Max pooling's backward reads the argmax the forward
 * wrote (flat index ih*W + iw within the plane).
 *
 * Napkin math: forward reads N*C*Ho*Wo*KH*KW elements (mostly cache hits) and writes N*C*Ho*Wo;
 * memory bound at roughly (N*C*H*W + N*C*Ho*Wo) * 4 bytes.
 */
import type { View } from '../../backend.js';
import type { Pair, Routines } from '../../../kernel/kernel.js';
import type { GpuContext, GpuLaunch, GpuRoutine } from '../launch.js';
import { grid2d, isContiguous, maxGroups, numel, render, withHelpers } from './template.js';
import poolSrc from '../../../../shaders/pool2d.wgsl';
import { BackendError } from '../../../errors.js';

interface PoolWindow {
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  countIncludePad: boolean;
}

/** Throws unless the view is a contiguous 4-D tensor of the dtype; returns its shape. */
function check4d(routine: string, what: string, v: View, dtype: 'float32' | 'int32'): readonly number[] {
  if (v.dtype !== dtype) throw new BackendError(`${routine} (webgpu): ${what} must be ${dtype}, got ${v.dtype}`);
  if (v.shape.length !== 4) throw new BackendError(`${routine} (webgpu): ${what} must be 4-D [N,C,H,W], got [${v.shape}]`);
  if (!isContiguous(v.shape, v.strides)) throw new BackendError(`${routine} (webgpu): ${what} must be contiguous`);
  return v.shape;
}

/**
 * One launch of pool2d.wgsl. `image` is the [N,C,H,W] side (x or gx), `pooled` the [N,C,Ho,Wo]
 * side (y or gy); the kernel writes one element of `outputs[0]` per thread.
 */
function poolLaunch(
  routine: string, kind: 'MAX' | 'AVG', forward: boolean, w: PoolWindow,
  image: View, pooled: View, argmax: View | undefined, inputs: View[], outputs: View[], ctx: GpuContext, cell = false,
): GpuLaunch[] {
  const [N, C, H, W] = check4d(routine, forward ? 'x' : 'gx', image, 'float32');
  const [N2, C2, Ho, Wo] = check4d(routine, forward ? 'y' : 'gy', pooled, 'float32');
  if (argmax) {
    const s = check4d(routine, 'argmax', argmax, 'int32');
    if (s.some((d, i) => d !== pooled.shape[i])) throw new BackendError(`${routine} (webgpu): argmax [${s}] must match [${pooled.shape}]`);
  }
  if (N2 !== N || C2 !== C) throw new BackendError(`${routine} (webgpu): [${image.shape}] and [${pooled.shape}] differ in batch or channels`);
  const [sh, sw] = w.stride;
  const total = !forward && cell ? N * C * Math.ceil((H + w.padding[0]) / sh) * Math.ceil((W + w.padding[1]) / sw)
    : forward ? numel(pooled.shape) : numel(image.shape);
  if (numel(forward ? pooled.shape : image.shape) === 0) return [];
  const [inView, outView] = forward ? [image, pooled] : [pooled, image];
  const uniforms = new Uint32Array([
    total, H, W, Ho, Wo,
    w.kernel[0], w.kernel[1], w.stride[0], w.stride[1],
    w.padding[0], w.padding[1], w.dilation[0], w.dilation[1],
    inView.offset, outView.offset, argmax?.offset ?? 0,
    w.countIncludePad ? 1 : 0,
  ]);
  const flags = [kind, forward ? 'FORWARD' : 'BACKWARD'];
  const vars: Record<string, number> = { WG: ctx.software ? 64 : 256 };
  if (!forward && cell) {
    flags.push('CELL');
    Object.assign(vars, { SH: sh, SW: sw });
  }
  return [{
    key: `pool2d|${flags.join('|')}|${Object.entries(vars).join('|')}`,
    code: () => withHelpers(render(poolSrc, vars, flags, 'pool2d.wgsl')),
    inputs,
    outputs,
    uniforms,
    workgroups: grid2d(Math.ceil(total / vars.WG), maxGroups(ctx)),
  }];
}

/**
 * x[N,C,H,W] → y[N,C,Ho,Wo], argmax int32[N,C,Ho,Wo] (ih*W + iw of the max; padding is -inf,
 * NaN wins, ties keep the first).
 *
 * @example
 * gpuRoutines.maxPool2d({ kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] }, [x], [y, idx], ctx)
 */
export const maxPool2d: GpuRoutine<'maxPool2d'> = (cfg, [x], [y, argmax], ctx) =>
  poolLaunch('maxPool2d', 'MAX', true, { ...cfg, countIncludePad: false }, x, y, argmax, [x], [y, argmax], ctx);

/**
 * gy[N,C,Ho,Wo], argmax int32[N,C,Ho,Wo] → gx[N,C,H,W]: each pixel sums gy of the windows whose max
 * it was. At strides <= 2 (`cell`, the default there) one thread per stride cell reads each window
 * that can point into the cell once; else one thread per pixel visits the windows containing it.
 */
export function maxPool2dBackwardLaunches(cfg: Routines['maxPool2dBackward'], gy: View, argmax: View, gx: View, ctx: GpuContext, cell = cfg.stride[0] <= 2 && cfg.stride[1] <= 2): GpuLaunch[] {
  if (cell && (cfg.stride[0] > 2 || cfg.stride[1] > 2)) throw new BackendError('maxPool2dBackward (webgpu): the cell kernel takes strides up to 2');
  return poolLaunch('maxPool2dBackward', 'MAX', false, { ...cfg, countIncludePad: false }, gx, gy, argmax, [gy, argmax], [gx], ctx, cell);
}

export const maxPool2dBackward: GpuRoutine<'maxPool2dBackward'> = (cfg, [gy, argmax], [gx], ctx) => maxPool2dBackwardLaunches(cfg, gy, argmax, gx, ctx);

/** x[N,C,H,W] → y[N,C,Ho,Wo]: window means with PyTorch's divisor (countIncludePad or not). */
export const avgPool2d: GpuRoutine<'avgPool2d'> = (cfg, [x], [y], ctx) =>
  poolLaunch('avgPool2d', 'AVG', true, { ...cfg, dilation: [1, 1] }, x, y, undefined, [x], [y], ctx);

/** gy[N,C,Ho,Wo] → gx[N,C,H,W]: each pixel sums gy / divisor over the windows containing it. */
export const avgPool2dBackward: GpuRoutine<'avgPool2dBackward'> = (cfg, [gy], [gx], ctx) =>
  poolLaunch('avgPool2dBackward', 'AVG', false, { ...cfg, dilation: [1, 1] }, gx, gy, undefined, [gy], [gx], ctx);
