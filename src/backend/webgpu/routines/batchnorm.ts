/**
 * WebGPU batch normalisation in training mode (shaders/batchnorm.wgsl): the forward computes
 * each channel's mean and inverse standard deviation and normalises in one launch; the backward
 * computes gx, gw and gb in one launch. One workgroup per channel, its threads meeting in the
 * workgroup-memory reductions of shaders/rowreduce.wgsl; channels run on a 2-D grid.
 *
 * Legend: N batch, C channels, S spatial size (H·W·…; 1 for [N,C]), M = N·S values per channel.
 * Views are contiguous [N,C,S] (or [N,C]), as the routine table promises, and may start at any
 * offset. Semantics (biased variance, NaN propagation per channel) follow the CPU routines in
 * src/backend/cpu/routines/batchnorm.ts.
 *
 * Napkin math: the forward reads x three times and writes y once (16·N·C·S bytes), the backward
 * reads x and gy twice and writes gx (20·N·C·S bytes); both memory bound. One workgroup per
 * channel leaves a large GPU underused when C is small and M large (the first layer of a CNN:
 * 16 channels of 100k values); a split reduction over M would fix that if it ever shows up in
 * a profile, at the cost of a second launch.
 */
import type { View } from '../../backend.js';
import { f32, type GpuContext, type GpuLaunch, type GpuRoutine } from '../launch.js';
import { grid2d, isContiguous, maxGroups, numel, render, withHelpers, type TemplateVars } from './template.js';
import { rowThreads } from './norm.js';
import reduceSrc from '../../../../shaders/rowreduce.wgsl';
import batchnormSrc from '../../../../shaders/batchnorm.wgsl';
import { BackendError } from '../../../errors.js';

/** [N, C, S] of a contiguous float32 view of shape [N,C] or [N,C,S]; throws otherwise. */
function dims(routine: string, what: string, v: View): [number, number, number] {
  if (v.dtype !== 'float32') throw new BackendError(`${routine} (webgpu): ${what} must be float32, got ${v.dtype}`);
  if (v.shape.length !== 2 && v.shape.length !== 3) throw new BackendError(`${routine} (webgpu): ${what} must be [N,C] or [N,C,S], got [${v.shape}]`);
  if (!isContiguous(v.shape, v.strides)) throw new BackendError(`${routine} (webgpu): ${what} must be contiguous, got strides [${v.strides}]`);
  const [N, C, S = 1] = v.shape;
  return [N, C, S];
}

/** Throws unless `v` is float32 and holds exactly n elements. */
function expectNumel(routine: string, what: string, v: View, n: number): void {
  if (v.dtype !== 'float32') throw new BackendError(`${routine} (webgpu): ${what} must be float32, got ${v.dtype}`);
  if (numel(v.shape) !== n) throw new BackendError(`${routine} (webgpu): ${what} has shape [${v.shape}], expected ${n} elements`);
}

/** Element offsets by role, in the order of the shader's Uniforms after eps. */
interface Offsets {
  x: View; w?: View; b?: View; y: View; mean: View; invstd: View; gx?: View; gw?: View; gb?: View;
}
const offsetWords = (o: Offsets): number[] => [o.x, o.w, o.b, o.y, o.mean, o.invstd, o.gx, o.gw, o.gb].map((v) => v?.offset ?? 0);

/** One launch of batchnorm.wgsl over C channels with the threads per channel M values need. */
function channelLaunch(key: string, N: number, C: number, S: number, eps: number, vars: TemplateVars, flags: string[],
  inputs: readonly View[], outputs: readonly View[], offs: Offsets, ctx: GpuContext): GpuLaunch[] {
  if (N * C * S === 0) return [];
  const WG = rowThreads(N * S);
  return [{
    key: `batchnorm|${key}|${WG}`,
    code: () => withHelpers(render(reduceSrc, { WG }, [], 'rowreduce.wgsl') + '\n' + render(batchnormSrc, vars, flags, 'batchnorm.wgsl')),
    inputs,
    outputs,
    uniforms: new Uint32Array([N, C, S, f32(eps), ...offsetWords(offs)]),
    workgroups: grid2d(C, maxGroups(ctx)),
  }];
}

/**
 * x[N,C,S], w?[C], b?[C] → y[N,C,S], mean[C,2] (the pair m0 + m1), invstd[C]; w and b exist when `affine`.
 *
 * @example
 * gpuRoutines.batchNorm({ eps: 1e-5, affine: true }, [x, w, b], [y, mean, invstd], ctx)
 */
export const batchNorm: GpuRoutine<'batchNorm'> = ({ eps, affine }, inputs, outputs, ctx) => {
  const ins = affine ? inputs.slice(0, 3) : inputs.slice(0, 1);
  const [x, w, b] = ins;
  const [N, C, S] = dims('batchNorm', 'x', x);
  const [y, mean, invstd] = outputs;
  expectNumel('batchNorm', 'y', y, N * C * S);
  dims('batchNorm', 'y', y);
  expectNumel('batchNorm', 'mean', mean, 2 * C);
  expectNumel('batchNorm', 'invstd', invstd, C);
  if (affine) {
    expectNumel('batchNorm', 'w', w, C);
    expectNumel('batchNorm', 'b', b, C);
  }
  const first = ins.length + 1; // the binding of y: after the uniforms and the inputs
  const vars = { Y: first, MEAN: first + 1, INVSTD: first + 2 };
  const flags = affine ? ['FORWARD', 'AFFINE'] : ['FORWARD'];
  return channelLaunch(`FORWARD|${affine}`, N, C, S, eps, vars, flags, ins, outputs.slice(0, 3), { x, w, b, y, mean, invstd }, ctx);
};

/**
 * x[N,C,S], gy[N,C,S], mean[C,2], invstd[C], w?[C] → gx[N,C,S], gw[C], gb[C] (all three always;
 * gw and gb overwritten, not accumulated).
 *
 * @example
 * gpuRoutines.batchNormBackward({ affine: true }, [x, gy, mean, invstd, w], [gx, gw, gb], ctx)
 */
export const batchNormBackward: GpuRoutine<'batchNormBackward'> = ({ affine }, inputs, outputs, ctx) => {
  const ins = affine ? inputs.slice(0, 5) : inputs.slice(0, 4);
  const [x, gy, mean, invstd, w] = ins;
  const [N, C, S] = dims('batchNormBackward', 'x', x);
  dims('batchNormBackward', 'gy', gy);
  expectNumel('batchNormBackward', 'gy', gy, N * C * S);
  expectNumel('batchNormBackward', 'mean', mean, 2 * C);
  expectNumel('batchNormBackward', 'invstd', invstd, C);
  if (affine) expectNumel('batchNormBackward', 'w', w, C);
  const [gx, gw, gb] = outputs;
  dims('batchNormBackward', 'gx', gx);
  expectNumel('batchNormBackward', 'gx', gx, N * C * S);
  expectNumel('batchNormBackward', 'gw', gw, C);
  expectNumel('batchNormBackward', 'gb', gb, C);
  const first = ins.length + 1;
  const vars = { GX: first, GW: first + 1, GB: first + 2 };
  const flags = affine ? ['BACKWARD', 'AFFINE'] : ['BACKWARD'];
  // the shader reads gy through the `oy` slot
  return channelLaunch(`BACKWARD|${affine}`, N, C, S, 0, vars, flags, ins, [gx, gw, gb], { x, w, y: gy, mean, invstd, gx, gw, gb }, ctx);
};
