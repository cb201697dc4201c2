/**
 * WebGPU conv2d, conv2dBackwardInput and conv2dBackwardWeight as implicit GEMMs on the tiled core
 * of shaders/gemm.wgsl (64x64 tile, 4x4 per thread), with the im2col / col2im index maps in
 * shaders/conv2d.wgsl computed while loading tiles: no unfolded buffer is ever materialised.
 * The group index runs in workgroup z. Stride, padding, dilation and every size travel in the
 * uniforms, so one pipeline per kernel (and bias flag) serves every convolution.
 *
 * Legend: N batch, C/O channels in/out, g groups, H/W input, Ho/Wo output, KH/KW kernel.
 * Napkin math: each of the three kernels is 2*N*O*Ho*Wo*(C/g)*KH*KW flops.
 */
import type { View } from '../../backend.js';
import type { Pair } from '../../../kernel/kernel.js';
import { f32, type GpuLaunch, type GpuRoutine } from '../launch.js';
import { gemmGrid, gemmProgram, type TileMode } from './matmul.js';
import { grid2d, isContiguous, maxGroups } from './template.js';
import convSrc from '../../../../shaders/conv2d.wgsl';
import fillSrc from '../../../../shaders/fill.wgsl';

interface ConvGeometry {
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  groups: number;
}

type Kind = 'FORWARD' | 'BACKWARD_INPUT' | 'BACKWARD_WEIGHT';

/** Throws unless the view is a contiguous float32 NCHW (or OIHW) tensor. */
function check4d(routine: string, what: string, v: View): readonly number[] {
  if (v.dtype !== 'float32') throw new Error(`${routine} (webgpu): ${what} must be float32, got ${v.dtype}`);
  if (v.shape.length !== 4) throw new Error(`${routine} (webgpu): ${what} must be 4-D, got [${v.shape}]`);
  if (!isContiguous(v.shape, v.strides)) throw new Error(`${routine} (webgpu): ${what} must be contiguous`);
  return v.shape;
}

/**
 * Builds the launch of one of the three kernels from x [N,C,H,W], w [O,C/g,KH,KW] and
 * y [N,O,Ho,Wo] (whichever of them is the output), plus the GEMM dims.
 */
function convLaunch(
  routine: string, kind: Kind, cfg: ConvGeometry, x: View, w: View, y: View, bias: View | undefined,
  inputs: View[], output: View, modes: [TileMode, TileMode], gemm: (s: { N: number; C: number; O: number; HoWo: number; HW: number; KK: number }) => [number, number, number],
  maxZ: number,
  allowSplitK = false,
): GpuLaunch[] {
  const [N, C, H, W] = check4d(routine, 'x', x);
  const [O, Cg, KH, KW] = check4d(routine, 'w', w);
  const [N2, O2, Ho, Wo] = check4d(routine, 'y', y);
  const g = cfg.groups;
  if (N2 !== N || O2 !== O || C !== Cg * g || O % g !== 0) {
    throw new Error(`${routine} (webgpu): x [${x.shape}], w [${w.shape}], y [${y.shape}] do not agree with groups=${g}`);
  }
  if (g > maxZ) throw new Error(`${routine} (webgpu): ${g} groups exceed the device's ${maxZ} workgroups per dimension`);
  const [M, Ng, K] = gemm({ N, C: Cg, O: O / g, HoWo: Ho * Wo, HW: H * W, KK: KH * KW });
  if (M * Ng === 0) return [];
  const launches: GpuLaunch[] = [];
  const flags: string[] = [kind];
  if (bias) flags.push('BIAS');
  // no split-K on CPU-emulated adapters: the compare-exchange adds dominate there. Measured on
  // SwiftShader (MNIST conv1 weight gradient, K = 25088): 49 slices 28963 ms, 4 slices 3910 ms,
  // no split 677 ms. On real GPUs split-K keeps the SMs busy when the output has few tiles.
  const [splits, kChunk] = allowSplitK ? splitK(Math.ceil(M / 64) * Math.ceil(Ng / 64) * g, K, Math.floor(maxZ / g)) : [1, K];
  if (splits > 1) {
    flags.push('SPLIT_K');
    launches.push(fillLaunch(output, 0, maxZ));
  }
  const key = `conv2d|${flags.join('|')}`;
  const uniforms = new Uint32Array([
    M, Ng, K, N,
    C, H, W, O,
    Ho, Wo, KH, KW,
    Cg, O / g, cfg.stride[0], cfg.stride[1],
    cfg.padding[0], cfg.padding[1], cfg.dilation[0], cfg.dilation[1],
    x.offset, w.offset, y.offset, bias?.offset ?? 0,
    splits, kChunk,
  ]);
  launches.push({
    key,
    code: () => gemmProgram(convSrc, 'conv2d.wgsl', modes[0], modes[1], { OUT: bias ? 4 : 3 }, flags),
    inputs,
    outputs: [output],
    uniforms,
    workgroups: gemmGrid(M, Ng, g * splits, maxZ),
  });
  return launches;
}

/** Aim for this many workgroups before splitting K: a couple per SM on a large GPU. */
const TARGET_GROUPS = 256;
/** Shortest K slice worth its extra atomic pass over the output. */
const MIN_CHUNK = 512;


/**
 * [splits, kChunk] for a GEMM with `tiles` output tiles (times groups) and depth K: split only
 * when the tiles alone cannot fill the GPU and K is long; kChunk is a multiple of the 16-deep
 * k step so that no tile straddles two slices.
 */
export function splitK(tiles: number, K: number, maxSplits: number): [number, number] {
  if (tiles >= TARGET_GROUPS / 2 || K < 2 * MIN_CHUNK) return [1, K];
  const want = Math.min(Math.ceil(TARGET_GROUPS / tiles), Math.floor(K / MIN_CHUNK), maxSplits);
  if (want <= 1) return [1, K];
  const kChunk = Math.ceil(K / want / 16) * 16;
  return [Math.ceil(K / kChunk), kChunk];
}

/** A launch of shaders/fill.wgsl setting every element of a contiguous view to `value`. */
export function fillLaunch(v: View, value: number, maxDim: number): GpuLaunch {
  const total = v.shape.reduce((a, b) => a * b, 1);
  return {
    key: 'fill',
    code: () => fillSrc,
    inputs: [],
    outputs: [v],
    uniforms: new Uint32Array([total, v.offset, f32(value)]),
    workgroups: grid2d(Math.ceil(total / 256), maxDim),
  };
}

/**
 * x[N,C,H,W], w[O,C/g,KH,KW], bias?[O] → y[N,O,Ho,Wo]. GEMM per group: w [Og, Cg*KH*KW] times
 * im2col(x) [Cg*KH*KW, N*Ho*Wo]; threads walk output pixels so neighbouring loads are neighbours.
 *
 * @example
 * gpuRoutines.conv2d({ stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, bias: true }, [x, w, b], [y], ctx)
 */
export const conv2d: GpuRoutine<'conv2d'> = (cfg, inputs, [y], ctx) => {
  const [x, w, bias] = inputs;
  return convLaunch('conv2d', 'FORWARD', cfg, x, w, y, cfg.bias ? bias : undefined, cfg.bias ? [x, w, bias] : [x, w], y,
    ['kfast', 'rfast'], (s) => [s.O, s.N * s.HoWo, s.C * s.KK], maxGroups(ctx));
};

/**
 * gy[N,O,Ho,Wo], w[O,C/g,KH,KW] → gx[N,C,H,W]. GEMM per group: w^T [Cg, Og*KH*KW] times a
 * gather of gy [Og*KH*KW, N*H*W] whose entries are 0 where the tap does not land on a whole
 * output pixel (stride > 1). Also serves convTranspose2d's forward.
 */
export const conv2dBackwardInput: GpuRoutine<'conv2dBackwardInput'> = (cfg, [gy, w], [gx], ctx) =>
  convLaunch('conv2dBackwardInput', 'BACKWARD_INPUT', cfg, gx, w, gy, undefined, [gy, w], gx,
    ['kfast', 'rfast'], (s) => [s.C, s.N * s.HW, s.O * s.KK], maxGroups(ctx));

/**
 * x[N,C,H,W], gy[N,O,Ho,Wo] → gw[O,C/g,KH,KW]. GEMM per group: gy [Og, N*Ho*Wo] times
 * im2col(x)^T [N*Ho*Wo, Cg*KH*KW]; K is the long axis here, walked by consecutive threads.
 * Early layers have few output tiles (Og = 64, Cg*9 = 576: 9 tiles) and a K of batch * pixels,
 * so K is split over extra workgroups whose partial sums are added into a zeroed gw (float
 * atomics: the summation order, and so the last bits, can vary between runs).
 */
export const conv2dBackwardWeight: GpuRoutine<'conv2dBackwardWeight'> = (cfg, [x, gy], [gw], ctx) =>
  convLaunch('conv2dBackwardWeight', 'BACKWARD_WEIGHT', cfg, x, gw, gy, undefined, [x, gy], gw,
    ['kfast', 'kfast'], (s) => [s.O, s.C * s.KK, s.N * s.HoWo], maxGroups(ctx), !ctx.software);
