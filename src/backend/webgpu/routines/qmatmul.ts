/**
 * The quantized matmul on WebGPU (shaders/qmatmul.wgsl; semantics in src/kernel/kernel.ts
 * `qmatmul` and the CPU reference src/backend/cpu/routines/qmatmul.ts). A barrier-free direct
 * kernel, one thread per 4×4 block (1×4 for a matrix-vector product), u32 words unpacked in
 * registers, for decode and small M; from {@link QMATMUL_TILED_ROWS} rows the same shader's TILED
 * variant, the operand of the tiled GEMM core (shaders/gemm.wgsl): x and the dequantized W staged
 * through workgroup tiles (64×64 outputs, 16 deep), the packed words decoded once per tile.
 */
import type { View } from '../../backend.js';
import { BackendError } from '../../../errors.js';
import type { GpuRoutine } from '../launch.js';
import { grid2d, isContiguous, maxGroups, numel, render } from './template.js';
import { gemmGrid, gemmProgram } from './matmul.js';
import qmatmulSrc from '../../../../shaders/qmatmul.wgsl';

/**
 * Rows of x (M) from which the tiled kernel runs on GPUs (below, the direct one). Software adapters
 * always take the direct kernel, as their float matmuls do (matmul.ts matmulPlan: barriers and
 * workgroup memory do not pay on a CPU).
 */
export const QMATMUL_TILED_ROWS = 32;

export const qmatmul: GpuRoutine<'qmatmul'> = (cfg, inputs, outputs, ctx) => {
  const { bits, groupSize: G, mins, transpose } = cfg;
  if (inputs.length !== (mins ? 4 : 3)) throw new BackendError(`qmatmul (webgpu): expected ${mins ? 4 : 3} inputs, got ${inputs.length}`);
  const [x, q, sc, mn] = inputs;
  const [out] = outputs;
  const named: [string, View][] = [['x', x], ['q', q], ['scales', sc], ['out', out], ...(mn ? [['mins', mn] as [string, View]] : [])];
  for (const [what, v] of named) {
    if (!isContiguous(v.shape, v.strides)) throw new BackendError(`qmatmul (webgpu): ${what} must be contiguous, got shape [${v.shape}] strides [${v.strides}]`);
  }
  const xc = x.shape[x.shape.length - 1], oc = out.shape[out.shape.length - 1];
  const M = xc ? numel(x.shape) / xc : 0;
  const N = q.shape[0], K = transpose ? oc : xc;
  const P = 32 / bits, Gn = Math.ceil(K / G), Wd = (Gn * G) / P;
  if (q.shape[1] !== Wd || sc.shape[0] !== N || sc.shape[1] !== Gn || (transpose ? xc !== N : oc !== N)) {
    throw new BackendError(`qmatmul (webgpu): shapes x [${x.shape}], q [${q.shape}], scales [${sc.shape}], out [${out.shape}] do not agree (group ${G})`);
  }
  if (M * N * K === 0) return [];
  const flags = [...(mins ? ['MINS'] : []), ...(transpose ? ['TRANSPOSE'] : [])];
  const vars = { BITS: bits, G, P, R: 1, HALVES: P / 4 };
  if (!ctx.software && M >= QMATMUL_TILED_ROWS) {
    // the GEMM's columns and depth: (N, K) forward, (K, N) for the transpose
    const [gn, gk] = transpose ? [K, N] : [N, K];
    return [{
      key: `qmatmul|tiled|${bits}|${G}|${flags.join('|')}`,
      code: () => gemmProgram(qmatmulSrc, 'qmatmul.wgsl', 'kfast', null, vars, ['TILED', ...flags]),
      inputs,
      outputs: [out],
      uniforms: new Uint32Array([M, gn, gk, Wd, Gn, x.offset, q.offset, sc.offset, mn ? mn.offset : 0, out.offset, 0, 0]),
      workgroups: gemmGrid(M, gn, 1, maxGroups(ctx)),
    }];
  }
  const R = M === 1 ? 1 : 4;
  const rowBlocks = Math.ceil(M / R);
  const colBlocks = Math.ceil((transpose ? K : N) / 4);
  if (R === 1) flags.push('ROW1');
  // x as vec4s where a row of 4 never straddles a row end or the buffer's alignment
  if (!transpose && K % 4 === 0 && x.offset % 4 === 0) flags.push('X4');
  return [{
    key: `qmatmul|${bits}|${G}|${flags.join('|')}`,
    code: () => render(qmatmulSrc, { ...vars, R }, flags, 'qmatmul.wgsl'),
    inputs,
    outputs: [out],
    uniforms: new Uint32Array([M, N, K, Wd, Gn, x.offset, q.offset, sc.offset, mn ? mn.offset : 0, out.offset, rowBlocks, colBlocks]),
    workgroups: grid2d(Math.ceil((rowBlocks * colBlocks) / 64), maxGroups(ctx)),
  }];
};

/**
 * Gather-dequantize (src/kernel/kernel.ts `qembedding`): the direct kernel's transposed path
 * under GATHER (shaders/qmatmul.wgsl), one thread per 4 consecutive values of an output row,
 * the row's id read from binding 1 in place of x.
 */
export const qembedding: GpuRoutine<'qembedding'> = (cfg, inputs, outputs, ctx) => {
  const { bits, groupSize: G, mins } = cfg;
  if (inputs.length !== (mins ? 4 : 3)) throw new BackendError(`qembedding (webgpu): expected ${mins ? 4 : 3} inputs, got ${inputs.length}`);
  const [ids, q, sc, mn] = inputs;
  const [out] = outputs;
  const named: [string, View][] = [['ids', ids], ['q', q], ['scales', sc], ['out', out], ...(mn ? [['mins', mn] as [string, View]] : [])];
  for (const [what, v] of named) {
    if (!isContiguous(v.shape, v.strides)) throw new BackendError(`qembedding (webgpu): ${what} must be contiguous, got shape [${v.shape}] strides [${v.strides}]`);
  }
  const K = out.shape[out.shape.length - 1], R = K ? numel(out.shape) / K : 0;
  const N = q.shape[0];
  const P = 32 / bits, Gn = Math.ceil(K / G), Wd = (Gn * G) / P;
  if (numel(ids.shape) !== R || q.shape[1] !== Wd || sc.shape[0] !== N || sc.shape[1] !== Gn) {
    throw new BackendError(`qembedding (webgpu): ids [${ids.shape}], q [${q.shape}], scales [${sc.shape}], out [${out.shape}] do not agree (group ${G})`);
  }
  if (R * K === 0) return [];
  const flags = [...(mins ? ['MINS'] : []), 'TRANSPOSE', 'ROW1', 'GATHER'];
  const colBlocks = Math.ceil(K / 4);
  return [{
    key: `qmatmul|${bits}|${G}|${flags.join('|')}`,
    code: () => render(qmatmulSrc, { BITS: bits, G, P, R: 1, HALVES: P / 4 }, flags, 'qmatmul.wgsl'),
    inputs,
    outputs: [out],
    uniforms: new Uint32Array([R, N, K, Wd, Gn, ids.offset, q.offset, sc.offset, mn ? mn.offset : 0, out.offset, R, colBlocks]),
    workgroups: grid2d(Math.ceil((R * colBlocks) / 64), maxGroups(ctx)),
  }];
};
