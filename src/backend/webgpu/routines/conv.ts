/**
 * WebGPU conv2d, conv2dBackwardInput and conv2dBackwardWeight, each with two kernels and a choice
 * between them per adapter and layer shape ({@link convPlan}):
 *
 * - implicit GEMMs on the tiled core of shaders/gemm.wgsl (64x64 tile, 4x4 per thread, or the
 *   128x128 one where it was timed faster on the device), with the
 *   im2col / col2im index maps in shaders/conv2d.wgsl computed while loading tiles: no unfolded
 *   buffer is ever materialised; the group index runs in workgroup z. Best on a GPU when both
 *   sides of the GEMM are wide.
 * - direct convolutions in shaders/conv2d_direct.wgsl: a thread keeps 4 or 8 channels x 4
 *   adjacent pixels in registers (forward, input gradient), or a workgroup reduces one block of
 *   the weight gradient over batch x pixels without atomics. For layers with few channels, where
 *   most of a 64x64 tile would be padding, and for CPU-emulated adapters, where barriers, shared
 *   memory and the im2col divisions cost more than the arithmetic.
 *
 * Stride, padding, dilation and every size travel in the uniforms, so one pipeline per kernel
 * variant serves every convolution.
 *
 * Legend: N batch, C/O channels in/out, g groups, H/W input, Ho/Wo output, KH/KW kernel.
 * Napkin math: each of the three kernels is 2*N*O*Ho*Wo*(C/g)*KH*KW flops.
 */
import type { View } from '../../backend.js';
import type { Pair } from '../../../kernel/kernel.js';
import { f32, type GpuContext, type GpuLaunch, type GpuRoutine } from '../launch.js';
import { bigTiles, gemmGrid, gemmHalfKey, gemmProgram, type GemmHalf, type GemmTile, type TileMode } from './matmul.js';
import { grid2d, isContiguous, maxGroups, numel, render } from './template.js';
import convSrc from '../../../../shaders/conv2d.wgsl';
import directSrc from '../../../../shaders/conv2d_direct.wgsl';
import fillSrc from '../../../../shaders/fill.wgsl';
import { BackendError } from '../../../errors.js';

interface ConvGeometry {
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  groups: number;
}

export type Kind = 'FORWARD' | 'BACKWARD_INPUT' | 'BACKWARD_WEIGHT';

/** Throws unless the view is a contiguous float32 NCHW (or OIHW) tensor. */
function check4d(routine: string, what: string, v: View): readonly number[] {
  if (v.dtype !== 'float32') throw new BackendError(`${routine} (webgpu): ${what} must be float32, got ${v.dtype}`);
  if (v.shape.length !== 4) throw new BackendError(`${routine} (webgpu): ${what} must be 4-D, got [${v.shape}]`);
  if (!isContiguous(v.shape, v.strides)) throw new BackendError(`${routine} (webgpu): ${what} must be contiguous`);
  return v.shape;
}

/** Sizes of one convolution, as the kernels see them (per group where it says g). */
export interface ConvDims {
  N: number; C: number; H: number; W: number;
  O: number; Ho: number; Wo: number; KH: number; KW: number;
  G: number; Cg: number; Og: number;
}

/**
 * How one kernel runs: the implicit GEMM of conv2d.wgsl (64x64 tiles in workgroup memory, split-K
 * with float atomics allowed or not), or the direct kernel of conv2d_direct.wgsl with `wg` threads
 * per workgroup.
 */
export type ConvPlan = { kernel: 'gemm'; splitK: boolean; tile?: GemmTile } | { kernel: 'direct'; wg: number; ch?: 4 | 8 };

/** The implicit GEMM of a kernel kind: [M, N, K] per group (output rows, output columns, depth). */
function gemmDims(kind: Kind, d: ConvDims): [number, number, number] {
  const KK = d.KH * d.KW;
  return kind === 'FORWARD' ? [d.Og, d.N * d.Ho * d.Wo, d.Cg * KK]
    : kind === 'BACKWARD_INPUT' ? [d.Cg, d.N * d.H * d.W, d.Og * KK]
      : [d.Og, d.Cg * KK, d.N * d.Ho * d.Wo];
}

/** Checks the three views against each other and returns the convolution's sizes. */
function convDims(routine: string, cfg: ConvGeometry, x: View, w: View, y: View): ConvDims {
  const [N, C, H, W] = check4d(routine, 'x', x);
  const [O, Cg, KH, KW] = check4d(routine, 'w', w);
  const [N2, O2, Ho, Wo] = check4d(routine, 'y', y);
  const G = cfg.groups;
  if (N2 !== N || O2 !== O || C !== Cg * G || O % G !== 0) {
    throw new BackendError(`${routine} (webgpu): x [${x.shape}], w [${w.shape}], y [${y.shape}] do not agree with groups=${G}`);
  }
  return { N, C, H, W, O, Ho, Wo, KH, KW, G, Cg, Og: O / G };
}

/**
 * The launches of one of the three kernels from x [N,C,H,W], w [O,C/g,KH,KW] and y [N,O,Ho,Wo]
 * (whichever of them is the output), by `plan` (default: {@link convPlan}'s choice).
 */
export function convLaunches(
  routine: string, kind: Kind, cfg: ConvGeometry, x: View, w: View, y: View, bias: View | undefined,
  inputs: View[], output: View, ctx: GpuContext, plan?: ConvPlan,
): GpuLaunch[] {
  const maxZ = maxGroups(ctx);
  const d = convDims(routine, cfg, x, w, y);
  if (numel(output.shape) === 0) return [];
  const p = plan ?? convPlan(kind, d, ctx);
  if (p.kernel === 'direct') return [directLaunch(kind, cfg, d, x, w, y, bias, inputs, output, p.wg, p.ch ?? 4, maxZ)];
  // the GEMM runs groups in workgroup z
  if (d.G > maxZ) throw new BackendError(`${routine} (webgpu): ${d.G} groups exceed the device's ${maxZ} workgroups per dimension`);
  return gemmLaunches(kind, cfg, d, x, w, y, bias, inputs, output, maxZ, p.splitK, ctx.gemmHalf, p.tile ?? 64);
}

/** The implicit-GEMM launches (conv2d.wgsl on gemm.wgsl), with a zeroing fill first under split-K. */
function gemmLaunches(
  kind: Kind, cfg: ConvGeometry, d: ConvDims, x: View, w: View, y: View, bias: View | undefined,
  inputs: View[], output: View, maxZ: number, allowSplitK: boolean, half: GemmHalf | undefined, tile: GemmTile,
): GpuLaunch[] {
  const { N, C, H, W, O, Ho, Wo, KH, KW, G: g, Cg, Og } = d;
  const [M, Ng, K] = gemmDims(kind, d);
  const modes: [TileMode, TileMode] = kind === 'BACKWARD_WEIGHT' ? ['kfast', 'kfast'] : ['kfast', 'rfast'];
  const launches: GpuLaunch[] = [];
  const flags: string[] = [kind];
  if (bias) flags.push('BIAS');
  // split-K only where the plan allows it (GPUs): on CPU-emulated adapters the compare-exchange
  // adds dominate. Measured on SwiftShader (MNIST conv1 weight gradient, K = 25088): 49 slices
  // 28963 ms, 4 slices 3910 ms, no split 677 ms. On real GPUs split-K keeps the SMs busy when
  // the output has few tiles.
  const [splits, kChunk] = allowSplitK ? splitK(Math.ceil(M / tile) * Math.ceil(Ng / tile) * g, K, Math.floor(maxZ / g)) : [1, K];
  if (splits > 1) {
    flags.push('SPLIT_K');
    launches.push(fillLaunch(output, 0, maxZ));
  }
  const key = `conv2d|${flags.join('|')}${gemmHalfKey(half)}${tile === 128 ? '|t128' : ''}`;
  const uniforms = new Uint32Array([
    M, Ng, K, N,
    C, H, W, O,
    Ho, Wo, KH, KW,
    Cg, Og, cfg.stride[0], cfg.stride[1],
    cfg.padding[0], cfg.padding[1], cfg.dilation[0], cfg.dilation[1],
    x.offset, w.offset, y.offset, bias?.offset ?? 0,
    splits, kChunk,
  ]);
  launches.push({
    key,
    code: () => gemmProgram(convSrc, 'conv2d.wgsl', modes[0], modes[1], { OUT: bias ? 4 : 3 }, flags, half, tile),
    inputs,
    outputs: [output],
    uniforms,
    workgroups: gemmGrid(M, Ng, g * splits, maxZ, tile),
  });
  return launches;
}

/**
 * The launch of conv2d_direct.wgsl: for the forward and the input gradient one thread per `ch`
 * (4 or 8) channels x 4 adjacent columns written, as one gather kernel whose index maps come in
 * the uniforms (see the shader); for the weight gradient one workgroup of `wg` threads per
 * `ch` x 4 block of gw.
 */
function directLaunch(
  kind: Kind, cfg: ConvGeometry, d: ConvDims, x: View, w: View, y: View, bias: View | undefined,
  inputs: View[], output: View, wg: number, ch: number, maxZ: number,
): GpuLaunch {
  const { N, C, H, W, O, Ho, Wo, KH, KW, G, Cg, Og } = d;
  const [sh, sw] = cfg.stride, [ph, pw] = cfg.padding, [dh, dw] = cfg.dilation;
  const flags: string[] = [kind];
  let uniforms: Uint32Array, groups: number;
  if (kind === 'BACKWARD_WEIGHT') {
    const cBlocks = Math.ceil(Og / ch), tBlocks = Math.ceil(Cg * KH * KW / 4);
    groups = G * cBlocks * tBlocks;
    if (ch === 8) flags.push('CH8');
    uniforms = new Uint32Array([
      N, C, H, W,
      O, Ho, Wo, KH,
      KW, Cg, Og, G,
      sh, sw, ph, pw,
      dh, dw, x.offset, w.offset,
      y.offset, cBlocks, tBlocks, groups,
    ]);
  } else {
    const fwd = kind === 'FORWARD';
    const strided = !fwd && (sh !== 1 || sw !== 1);
    // [in, out] tensors' [channels, height, width, offset]
    const src = fwd ? [C, H, W, x.offset] : [O, Ho, Wo, y.offset];
    const dst = fwd ? [O, Ho, Wo, y.offset] : [C, H, W, x.offset];
    const [cin, cout] = fwd ? [Cg, Og] : [Og, Cg];
    const KK = KH * KW;
    // rows: r*rs + r0 + kh*rk; columns: q*cs + c0 + j*ck, weight column kw0 + j*kwStep
    const rows = fwd ? [sh, -ph, dh] : [1, ph, -dh];
    const cols = fwd ? [sw, -pw, dw, 0, 1] : strided ? [1, pw, -dw, 0, 1] : [1, pw - (KW - 1) * dw, dw, KW - 1, -1];
    const dense = cols[0] === 1 && cols[2] === 1;
    if (bias) flags.push('BIAS');
    if (strided) flags.push('STRIDED');
    else if (dense) flags.push('DENSE');
    if (ch === 8) flags.push('CH8');
    const pBlocks = Math.ceil(dst[2] / 4), cBlocks = Math.ceil(cout / ch);
    const total = N * G * cBlocks * dst[1] * pBlocks;
    groups = Math.ceil(total / wg);
    // Uint32Array keeps negative i32 uniforms as their two's complement bits
    uniforms = new Uint32Array([
      ...src, ...dst,
      G, cin, cout, total,
      KH, KW, pBlocks, cBlocks,
      rows[0], rows[1], rows[2], sh,
      cols[0], cols[1], cols[2], sw,
      w.offset, Og * Cg * KK, fwd ? Cg * KK : KK, fwd ? KK : Cg * KK,
      cols[3], cols[4], bias?.offset ?? 0,
    ]);
  }
  return {
    key: `conv2d-direct|${flags.join('|')}|${wg}`,
    code: () => render(directSrc, { WG: wg, OUT: bias ? 4 : 3 }, flags, 'conv2d_direct.wgsl'),
    inputs,
    outputs: [output],
    uniforms,
    workgroups: grid2d(groups, maxZ),
  };
}

/**
 * Channels per thread block of the direct kernel for `n` channels: 8 halves the weight loads per
 * FMA, but pads n up to a multiple of 8; take it unless that pads a quarter more than 4 would.
 */
export function blockChannels(n: number): 4 | 8 {
  return n >= 8 && Math.ceil(n / 8) * 8 <= 1.25 * Math.ceil(n / 4) * 4 ? 8 : 4;
}

/**
 * Picks the kernel for one convolution (see {@link ConvPlan}).
 *
 * On CPU-emulated adapters (SwiftShader) always the direct kernels: there a workgroup barrier
 * costs per thread, workgroup-memory reads cost as much as global ones, and the GEMM's im2col
 * maps (integer divisions per element) and part-empty tiles dominate. Measured on SwiftShader
 * (CPU time, bench/RESULTS.md "WebGPU conv2d (issue 7)"): the MNIST CNN's layers ran 8-60x
 * faster, the 8x16->32 32x32 layer 4.5-8x. The weight gradient uses 16-thread workgroups there:
 * its only barrier then parks fewer threads, and each sums a longer stretch of rows (up to 3x
 * faster than 64 on 7x7 maps).
 *
 * On GPUs the 64x64 GEMM tiles pay off when both GEMM sides are wide; the direct kernel takes
 * layers whose written channels (the GEMM's M) fill at most a quarter of a tile, or whose
 * reduction per pixel (Cg*KH*KW forward, Og*KH*KW for the input gradient) is shorter than two
 * k steps. The weight gradient stays on the GEMM there, whose split-K keeps the GPU busy when the
 * layer has few output tiles. GEMMs with 32 or more 128x128 tiles take those where the tile
 * tuned for the device is 128 (matmul.ts bigTiles; tune.ts), as matmuls do.
 */
export function convPlan(kind: Kind, d: ConvDims, ctx: GpuContext): ConvPlan {
  const KK = d.KH * d.KW;
  const [cout, cin] = kind === 'BACKWARD_INPUT' ? [d.Cg, d.Og] : [d.Og, d.Cg];
  if (ctx.software) return { kernel: 'direct', wg: kind === 'BACKWARD_WEIGHT' ? 16 : 64, ch: blockChannels(cout) };
  if (kind !== 'BACKWARD_WEIGHT' && (cout <= 16 || cin * KK < 32)) return { kernel: 'direct', wg: 64, ch: blockChannels(cout) };
  const [M, N] = gemmDims(kind, d);
  const plan: ConvPlan = { kernel: 'gemm', splitK: kind === 'BACKWARD_WEIGHT' };
  return bigTiles(ctx, d.G * Math.ceil(M / 128) * Math.ceil(N / 128)) ? { ...plan, tile: 128 } : plan;
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
 * x[N,C,H,W], w[O,C/g,KH,KW], bias?[O] → y[N,O,Ho,Wo]. Direct kernel: each thread sums a block
 * of 4 or 8 output channels x 4 adjacent pixels over (c, kh, kw). GEMM per group: w [Og, Cg*KH*KW]
 * times im2col(x) [Cg*KH*KW, N*Ho*Wo]; threads walk output pixels so neighbouring loads are
 * neighbours.
 *
 * @example
 * gpuRoutines.conv2d({ stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, bias: true }, [x, w, b], [y], ctx)
 */
export const conv2d: GpuRoutine<'conv2d'> = (cfg, inputs, [y], ctx) => {
  const [x, w, bias] = inputs;
  return convLaunches('conv2d', 'FORWARD', cfg, x, w, y, cfg.bias ? bias : undefined, cfg.bias ? [x, w, bias] : [x, w], y, ctx);
};

/**
 * gy[N,O,Ho,Wo], w[O,C/g,KH,KW] → gx[N,C,H,W]: a gather, each input pixel summing the taps that
 * land on a whole output pixel (at stride > 1 only some do). Direct kernel: the forward's with
 * roles swapped (blocks of input channels x 4 pixels, summing over (o, kh, kw)). GEMM per group:
 * w^T [Cg, Og*KH*KW] times a gather of gy [Og*KH*KW, N*H*W] whose entries are 0 where the tap
 * misses. Also serves convTranspose2d's forward.
 */
export const conv2dBackwardInput: GpuRoutine<'conv2dBackwardInput'> = (cfg, [gy, w], [gx], ctx) =>
  convLaunches('conv2dBackwardInput', 'BACKWARD_INPUT', cfg, gx, w, gy, undefined, [gy, w], gx, ctx);

/**
 * x[N,C,H,W], gy[N,O,Ho,Wo] → gw[O,C/g,KH,KW]. A reduction over batch x pixels (long) into few
 * outputs. Direct kernel: each workgroup sums one block of gw over all of it, its threads taking
 * alternate rows and meeting in workgroup memory (deterministic). GEMM: gy [Og, N*Ho*Wo] times
 * im2col(x)^T [N*Ho*Wo, Cg*KH*KW], K walked by consecutive threads; early layers have few output
 * tiles (Og = 64, Cg*9 = 576: 9 tiles) and a K of batch * pixels, so on GPUs K is split over extra
 * workgroups whose partial sums are added into a zeroed gw (float atomics: the summation order,
 * and so the last bits, can vary between runs).
 */
export const conv2dBackwardWeight: GpuRoutine<'conv2dBackwardWeight'> = (cfg, [x, gy], [gw], ctx) =>
  convLaunches('conv2dBackwardWeight', 'BACKWARD_WEIGHT', cfg, x, gw, gy, undefined, [x, gy], gw, ctx);
