/**
 * WebGPU matmul: a[Z,M,K] @ b[Z,K,N] (+ bias[N], activation) → out[Z,M,N], on the tiled GEMM core
 * of shaders/gemm.wgsl (64x64 output tile per workgroup, 4x4 per thread, K in steps of 16).
 *
 * Operands are read in place whatever their strides: the routine looks at each operand's strides
 * and picks how its tile is loaded (see {@link tileMode}); a transposed weight costs no copy.
 * Batch runs in workgroup z; launches split the batch where it exceeds the per-dimension limit.
 *
 * Napkin math: 2*Z*M*N*K flops; each workgroup re-reads a 64x16 + 16x64 slab per 16 k-steps of
 * 64x64x16 FMAs, i.e. 16 FMAs per shared-memory vec4 pair per thread.
 */
import type { View } from '../../backend.js';
import type { Activation } from '../../../kernel/kernel.js';
import type { GpuLaunch, GpuRoutine } from '../launch.js';
import { grid2d, maxGroups, render, withHelpers, type TemplateVars } from './template.js';
import gemmSrc from '../../../../shaders/gemm.wgsl';
import tileSrc from '../../../../shaders/gemm_tile.wgsl';
import matmulSrc from '../../../../shaders/matmul.wgsl';

/** How a GEMM operand tile is loaded (see shaders/gemm_tile.wgsl). */
export type TileMode = 'vec4k' | 'vec4r' | 'kfast' | 'rfast';

const tileFlags: Record<TileMode, string[]> = { vec4k: ['VEC4_K'], vec4r: ['VEC4_R'], kfast: ['KFAST'], rfast: [] };

/**
 * The WGSL of a GEMM kernel: the core, `operand` (uniform `u` with M, N, K; loaders; storeC) and
 * the two tile loaders rendered from the shared template.
 */
export function gemmProgram(operand: string, name: string, modeA: TileMode, modeB: TileMode, vars: TemplateVars = {}, flags: string[] = []): string {
  return withHelpers([
    render(gemmSrc, {}, [], 'gemm.wgsl'),
    render(tileSrc, { OP: 'A', R: 'M' }, tileFlags[modeA], 'gemm_tile.wgsl (A)'),
    render(tileSrc, { OP: 'B', R: 'N' }, tileFlags[modeB], 'gemm_tile.wgsl (B)'),
    render(operand, vars, flags, name),
  ].join('\n'));
}

/** Workgroups of a GEMM: the 64x64 output tiles on a 2-D grid (see shaders/gemm.wgsl), z as given. */
export function gemmGrid(M: number, N: number, z: number, maxDim: number): [number, number, number] {
  const [x, y] = grid2d(Math.ceil(M / 64) * Math.ceil(N / 64), maxDim);
  return [x, y, z];
}

/**
 * Chooses the tile load of an operand seen as [R, K] with strides (sR, sK) plus a batch stride
 * sZ and an element offset: vec4 along whichever axis has unit stride when every other stride,
 * the offset and that axis' length are multiples of 4 (then a vec4 never straddles the edge of
 * the matrix nor the end of the buffer); else scalar loads with threads walking the smaller stride.
 */
export function tileMode(R: number, K: number, sR: number, sK: number, sZ: number, off: number): TileMode {
  const m4 = (x: number): boolean => x % 4 === 0;
  if (sK === 1) return m4(K) && m4(sR) && m4(sZ) && m4(off) ? 'vec4k' : 'kfast';
  if (sR === 1) return m4(R) && m4(sK) && m4(sZ) && m4(off) ? 'vec4r' : 'rfast';
  return sK <= sR ? 'kfast' : 'rfast';
}

const ACT: Record<Activation, number> = { none: 0, relu: 1, gelu: 2, sigmoid: 3, tanh: 4 };

/** [Z, d1, d2] sizes and strides of a rank-2 or rank-3 view; strides of size-1 dims read as 0. */
function as3d(v: View, what: string): { shape: number[]; strides: number[] } {
  if (v.dtype !== 'float32') throw new Error(`matmul (webgpu): ${what} must be float32, got ${v.dtype}`);
  if (v.shape.length !== 2 && v.shape.length !== 3) throw new Error(`matmul (webgpu): ${what} must have rank 2 or 3, got [${v.shape}]`);
  const shape = v.shape.length === 2 ? [1, ...v.shape] : [...v.shape];
  const strides = v.shape.length === 2 ? [0, ...v.strides] : [...v.strides];
  return { shape, strides: strides.map((s, d) => (shape[d] === 1 ? 0 : s)) };
}

/**
 * a[Z,M,K], b[Z,K,N], bias?[N] → out[Z,M,N] = act(a @ b + bias). Z may be 1 (broadcast, stride 0)
 * on either operand.
 *
 * @example
 * gpuRoutines.matmul({ bias: true, activation: 'relu' }, [x, wT, bias], [y], ctx) // one launch
 */
export const matmul: GpuRoutine<'matmul'> = (config, inputs, outputs, ctx) => {
  const [av, bv, biasv] = inputs;
  const [cv] = outputs;
  const a = as3d(av, 'a'), b = as3d(bv, 'b'), c = as3d(cv, 'out');
  const [Z, M, N] = c.shape;
  const K = a.shape[2];
  if (a.shape[1] !== M || b.shape[2] !== N || b.shape[1] !== K) {
    throw new Error(`matmul (webgpu): shapes a [${av.shape}], b [${bv.shape}], out [${cv.shape}] do not agree`);
  }
  if (Z * M * N === 0) return [];
  const modeA = tileMode(M, K, a.strides[1], a.strides[2], a.strides[0], av.offset);
  const modeB = tileMode(N, K, b.strides[2], b.strides[1], b.strides[0], bv.offset);
  const flags: string[] = [];
  if (modeA.startsWith('vec4')) flags.push('A_VEC4');
  if (modeB.startsWith('vec4')) flags.push('B_VEC4');
  if (config.bias) flags.push('BIAS');
  const key = `matmul|${modeA}|${modeB}|${config.bias ? 'bias' : ''}|${config.activation}`;
  const code = (): string => gemmProgram(matmulSrc, 'matmul.wgsl', modeA, modeB, { ACT: ACT[config.activation], OUT: config.bias ? 4 : 3 }, flags);
  const biasWords = config.bias ? [biasv.offset, biasv.shape.length ? biasv.strides[biasv.shape.length - 1] : 0] : [0, 0];
  // the bias binding exists only when config.bias: pass exactly the views the shader declares
  const views = config.bias ? [av, bv, biasv] : [av, bv];
  const launches: GpuLaunch[] = [];
  const zMax = maxGroups(ctx);
  for (let z0 = 0; z0 < Z; z0 += zMax) {
    const uniforms = new Uint32Array([
      M, N, K, z0,
      av.offset, a.strides[0], a.strides[1], a.strides[2],
      bv.offset, b.strides[0], b.strides[1], b.strides[2],
      cv.offset, c.strides[0], c.strides[1], c.strides[2],
      ...biasWords,
    ]);
    launches.push({ key, code, inputs: views, outputs: [cv], uniforms, workgroups: gemmGrid(M, N, Math.min(zMax, Z - z0), zMax) });
  }
  return launches;
};
