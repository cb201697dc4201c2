/**
 * WebGPU matmul: a[Z,M,K] @ b[Z,K,N] (+ bias[N]) → out[Z,M,N], on one of two cores
 * chosen per adapter and shape ({@link matmulPlan}): the tiled GEMM core of shaders/gemm.wgsl
 * (64x64 output tile per workgroup, 4x4 per thread, K in steps of 16 through workgroup memory;
 * shared with conv) or the direct core of shaders/matmul_direct.wgsl (4x4 per thread read straight
 * from memory, no barriers; optional in-workgroup split-K). Both render shaders/matmul.wgsl for
 * the operands and the bias epilogue, and an elementwise epilogue (config.epilogue: its
 * expressions generated into `wt_epi`, see {@link epilogueCode}) where fusion asks for one.
 *
 * Operands are read in place whatever their strides: the routine looks at each operand's strides
 * and picks how its tile is loaded (see {@link tileMode}); a transposed weight costs no copy.
 * Batch runs in workgroup z; launches split the batch where it exceeds the per-dimension limit.
 *
 * Napkin math: 2*Z*M*N*K flops; each workgroup re-reads a 64x16 + 16x64 slab per 16 k-steps of
 * 64x64x16 FMAs, i.e. 16 FMAs per shared-memory vec4 pair per thread.
 */
import type { View } from '../../backend.js';
import { epilogueInputs, matmulBatch, type MatmulEpilogue, type Routines } from '../../../kernel/kernel.js';
import { exprKey } from '../../../kernel/ir.js';
import { leafExprFunction } from '../../../kernel/wgsl.js';
import type { GpuContext, GpuLaunch, GpuRoutine } from '../launch.js';
import { grid2d, maxGroups, render, withHelpers, type TemplateVars } from './template.js';
import gemmSrc from '../../../../shaders/gemm.wgsl';
import tileSrc from '../../../../shaders/gemm_tile.wgsl';
import matmulSrc from '../../../../shaders/matmul.wgsl';
import directSrc from '../../../../shaders/matmul_direct.wgsl';
import { BackendError } from '../../../errors.js';

/**
 * Half-precision GEMM tiles (shaders/gemm.wgsl HALF; GpuContext.gemmHalf): 'f16' on a device
 * with shader-f16, 'emulate' rounds to f16 in f32 tiles (the same numerics, for testing).
 */
export type GemmHalf = 'f16' | 'emulate';

/** How a GEMM operand tile is loaded (see shaders/gemm_tile.wgsl). */
export type TileMode = 'vec4k' | 'vec4r' | 'kfast' | 'rfast';

const tileFlags: Record<TileMode, string[]> = { vec4k: ['VEC4_K'], vec4r: ['VEC4_R'], kfast: ['KFAST'], rfast: [] };

/**
 * The WGSL of a GEMM kernel: the core, `operand` (uniform `u` with M, N, K; loaders; storeC) and
 * the two tile loaders rendered from the shared template (modeB null: `operand` has its own
 * loadTileB, e.g. the quantized matmul's, which dequantizes W while staging it).
 */
export function gemmProgram(operand: string, name: string, modeA: TileMode, modeB: TileMode | null, vars: TemplateVars = {}, flags: string[] = [], half?: GemmHalf, tile: GemmTile = 64): string {
  const coreFlags = half === 'f16' ? ['HALF', 'F16'] : half === 'emulate' ? ['HALF'] : [];
  if (flags.includes('ROWSUM')) coreFlags.push('ROWSUM');
  if (tile === 128) coreFlags.push('BIG');
  // an enable directive must come before every declaration of the module
  return (half === 'f16' ? 'enable f16;\n' : '') + withHelpers([
    render(gemmSrc, {}, coreFlags, 'gemm.wgsl'),
    render(tileSrc, { OP: 'A', R: 'M' }, tileFlags[modeA], 'gemm_tile.wgsl (A)'),
    ...(modeB ? [render(tileSrc, { OP: 'B', R: 'N' }, tileFlags[modeB], 'gemm_tile.wgsl (B)')] : []),
    render(operand, vars, flags, name),
  ].join('\n'));
}

/** The pipeline-key suffix of a GEMM's tile precision (empty for f32 tiles). */
export const gemmHalfKey = (half?: GemmHalf): string => (half ? `|half-${half}` : '');

/**
 * Output tile of the tiled GEMM core (shaders/gemm.wgsl): 64x64 (4x4 per thread), or 128x128
 * (8x8 per thread, its BIG flag).
 */
export type GemmTile = 64 | 128;

/** Workgroups of a GEMM: the output tiles on a 2-D grid (see shaders/gemm.wgsl), z as given. */
export function gemmGrid(M: number, N: number, z: number, maxDim: number, tile: GemmTile = 64): [number, number, number] {
  const [x, y] = grid2d(Math.ceil(M / tile) * Math.ceil(N / tile), maxDim);
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

const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));


/**
 * [Z, d1, d2] sizes and strides of a rank-2, 3 or 4 view (rank 4: two batch dims, Z = Zo·Zi) and
 * the inner batch stride (see matmulBatch); strides of size-1 dims read as 0.
 */
function as3d(v: View, what: string, zIn: number): { shape: number[]; strides: number[]; inner: number } {
  if (v.dtype !== 'float32') throw new BackendError(`matmul (webgpu): ${what} must be float32, got ${v.dtype}`);
  const nd = v.shape.length;
  if (nd < 2 || nd > 4) throw new BackendError(`matmul (webgpu): ${what} must have rank 2, 3 or 4, got [${v.shape}]`);
  const { outer, inner } = matmulBatch(v.shape, v.strides, zIn);
  const z = v.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const [d1, d2] = v.shape.slice(-2), [s1, s2] = v.strides.slice(-2);
  return { shape: [z, d1, d2], strides: [outer, d1 === 1 ? 0 : s1, d2 === 1 ? 0 : s2], inner };
}

/**
 * How one matmul runs: the 64x64-tiled core of shaders/gemm.wgsl, or the direct core of
 * shaders/matmul_direct.wgsl with 4 x 4 outputs per thread, `ks` threads sharing each block's
 * K (in-workgroup split-K, deterministic) and `wg` threads per workgroup.
 */
export type MatmulPlan = { kernel: 'tiled'; tile?: GemmTile } | { kernel: 'direct'; ks: number; wg: number };

/**
 * Whether a GEMM with `count` 128x128 output tiles takes them: the tile chosen for the current
 * precision (GpuContext.gemmTile, or gemmTileHalf under half tiles) is 128 and there are at least
 * 32 of them (fewer would leave a large GPU idle). Shared by matmul and the conv implicit GEMMs.
 */
export function bigTiles(ctx: GpuContext, count: number): boolean {
  return (ctx.gemmHalf ? ctx.gemmTileHalf ?? ctx.gemmTile : ctx.gemmTile) === 128 && count >= 32;
}

/**
 * Picks the core for a [Z,M,K] @ [Z,K,N] product (see {@link MatmulPlan}).
 *
 * CPU-emulated adapters (SwiftShader): always the direct core. There a barrier parks every
 * thread of a group and workgroup memory costs what global memory does, so the tiled core's
 * reuse does not pay even for big products; measured (ms, same run, bench/RESULTS.md "WebGPU
 * small matmul and pool backward"): 32x10x784 50 → 9, 256³ 133 → 44, 512³ 576 → 299,
 * 1024³ 5742 → 2320. 16-thread workgroups when there are few blocks, so that both CPU threads
 * get some (a workgroup runs on one), else 64.
 * GPUs (unmeasured here): the tiled core unless the output has fewer than 32 64x64 tiles; then
 * the direct core, with K split over up to 16 threads per block while the blocks alone cannot
 * fill the device and each slice keeps at least 64 terms. With GpuContext.gemmTile 128 (or
 * gemmTileHalf under half tiles; tune.ts measures which is faster), products with at least 32
 * 128x128 tiles take those.
 */
export function matmulPlan(Z: number, M: number, N: number, K: number, ctx: GpuContext): MatmulPlan {
  const blocks = Z * Math.ceil(M / 4) * Math.ceil(N / 4);
  if (ctx.software) return { kernel: 'direct', ks: 1, wg: blocks < 256 ? 16 : 64 };
  const tiles = Z * Math.ceil(M / 64) * Math.ceil(N / 64);
  if (bigTiles(ctx, Z * Math.ceil(M / 128) * Math.ceil(N / 128))) return { kernel: 'tiled', tile: 128 };
  if (tiles >= 32) return { kernel: 'tiled' };
  let ks = 1;
  while (ks < 16 && blocks * ks < 8192 && K / (ks * 2) >= 64) ks *= 2;
  return { kernel: 'direct', ks, wg: 64 };
}

/**
 * a[Z,M,K], b[Z,K,N], bias?[N] (, epilogue inputs) → out[Z,M,N] = a @ b + bias (or the
 * epilogue's outputs). Z may be 1 (broadcast, stride 0) on either operand.
 *
 * @example
 * gpuRoutines.matmul({ bias: true }, [x, wT, bias], [y], ctx) // one launch
 */
export const matmul: GpuRoutine<'matmul'> = (config, inputs, outputs, ctx) => matmulLaunches(config, inputs, outputs, ctx);

/**
 * The WGSL of an epilogue (shaders/matmul.wgsl EPI): bindings for its inputs (after the
 * operands) and further outputs (after `c`, binding `out`), its expressions as `wt_expr`, and
 * `wt_epi(z, m, n, x)`, which evaluates them at [z, m, n] for the product x and stores each.
 */
function epilogueCode(epi: MatmulEpilogue, nOps: number, nIn: number, out: number): string {
  const nOut = epi.exprs.length;
  const lines: string[] = [];
  for (let i = 1; i <= nIn; i++) lines.push(`@group(0) @binding(${nOps + i}) var<storage, read> e${i}: array<f32>;`);
  for (let k = 1; k < nOut; k++) lines.push(`@group(0) @binding(${out + k}) var<storage, read_write> o${k}: array<f32>;`);
  lines.push(leafExprFunction(epi.exprs));
  // ev[j]: outputs 1.. first, then inputs 1..
  const at = (j: number): string => `u.ev[${j}].x + z * u.ev[${j}].y + m * u.ev[${j}].z + n * u.ev[${j}].w`;
  const loads = new Set<number>();
  const walk = (e: MatmulEpilogue['exprs'][number]): void => {
    if (e.op === 'load') loads.add(e.value!);
    e.args.forEach(walk);
  };
  epi.exprs.forEach(walk);
  for (let i = 1; i <= nIn; i++) if (!loads.has(i)) throw new BackendError(`matmul (webgpu): epilogue input ${i} is never read`);
  const args = [...loads].sort((x, y) => x - y).map((i) => (i === 0 ? 'x' : `e${i}[${at(nOut - 1 + i - 1)}]`));
  lines.push('fn wt_epi(z: u32, m: u32, n: u32, x: f32) {');
  lines.push(`  let r = wt_expr(${[...args, '(z * u.M + m) * u.N + n'].join(', ')});`);
  const v = (k: number): string => (nOut === 1 ? 'r' : `r.v${k}`);
  lines.push(`  c[u.cOff + z * u.cZ + m * u.cM + n * u.cN] = ${v(0)};`);
  for (let k = 1; k < nOut; k++) lines.push(`  o${k}[${at(k - 1)}] = ${v(k)};`);
  lines.push('}');
  return `\n${lines.join('\n')}\n`;
}

/** The launches of one matmul by `plan` (default: {@link matmulPlan}'s choice). */
export function matmulLaunches(config: Routines['matmul'], inputs: readonly View[], outputs: readonly View[], ctx: GpuContext, plan?: MatmulPlan): GpuLaunch[] {
  const [av, bv, biasv] = inputs;
  const [cv] = outputs;
  // two batch levels (rank-4 views): batch z at floor(z / zIn)·outer + (z mod zIn)·inner
  const zIn = cv.shape.length === 4 ? cv.shape[1] : 1;
  const epi = config.epilogue ?? null;
  const nOps = config.bias ? 3 : 2;
  const epiIn = epi ? epilogueInputs(epi) : 0;
  // the product's outputs (the epilogue's), then the row sums
  const nMain = epi ? epi.exprs.length : 1;
  const rsv = config.rowSums ? outputs[nMain] : null;
  if ((epi || rsv) && zIn > 1) throw new BackendError('matmul (webgpu): an epilogue or row sums take one batch level, got a [Bo,Bi] output');
  if (outputs.length !== nMain + (rsv ? 1 : 0) || inputs.length !== nOps + epiIn) {
    throw new BackendError(`matmul (webgpu): expected ${nMain + (rsv ? 1 : 0)} outputs and ${epiIn} epilogue inputs, got ${outputs.length} outputs and ${inputs.length - nOps} inputs after the operands`);
  }
  // further outputs, then epilogue inputs: [offset, z, m, n] strides each
  const mains = outputs.slice(0, nMain);
  const epiViews = epi ? [...mains.slice(1), ...inputs.slice(nOps)].map((v) => as3d(v, 'epilogue view', 1)) : [];
  const epiWords = epiViews.flatMap((v, i) => [(i < nMain - 1 ? mains[i + 1] : inputs[nOps + i - nMain + 1]).offset, ...v.strides]);
  // the row sums' [offset, z stride, m stride] (a [Z, M] or [M] view; size-1 dims stride 0)
  const rsWords = rsv ? [rsv.offset, rsv.shape.length === 2 && rsv.shape[0] !== 1 ? rsv.strides[0] : 0, rsv.strides[rsv.shape.length - 1], 0] : [];
  const a = as3d(av, 'a', zIn), b = as3d(bv, 'b', zIn), c = as3d(cv, 'out', zIn);
  const [Z, M, N] = c.shape;
  const K = a.shape[2];
  if (a.shape[1] !== M || b.shape[2] !== N || b.shape[1] !== K) {
    throw new BackendError(`matmul (webgpu): shapes a [${av.shape}], b [${bv.shape}], out [${cv.shape}] do not agree`);
  }
  if (Z * M * N === 0) return [];
  // a vec4 load needs both batch strides to be multiples of 4 (their gcd stands for them)
  const modeA = tileMode(M, K, a.strides[1], a.strides[2], gcd(a.strides[0], a.inner), av.offset);
  const modeB = tileMode(N, K, b.strides[2], b.strides[1], gcd(b.strides[0], b.inner), bv.offset);
  const biasWords = config.bias ? [biasv.offset, biasv.shape.length ? biasv.strides[biasv.shape.length - 1] : 0] : [0, 0];
  // the bias binding exists only when config.bias: pass exactly the views the shader declares
  const views = [...(config.bias ? [av, bv, biasv] : [av, bv]), ...inputs.slice(nOps, nOps + epiIn)];
  const outs = outputs;
  const vars = { OUT: nOps + 1 + epiIn, NEV: Math.max(1, epiViews.length), RS: nOps + 1 + epiIn + nMain };
  const epiKey = (config.bias ? 'bias' : '') + (epi ? `|epi:${epi.exprs.map(exprKey).join(';')}` : '') + (rsv ? '|rowsum' : '');
  const epiFlags = [...(epi ? ['EPI'] : []), ...(rsv ? ['ROWSUM'] : []), ...(epi || rsv ? ['EXTRA'] : [])];
  const epiCode = epi ? epilogueCode(epi, nOps, epiIn, vars.OUT) : '';
  const uniformsAt = (z0: number): Uint32Array => new Uint32Array([
    M, N, K, z0,
    av.offset, a.strides[0], a.strides[1], a.strides[2],
    bv.offset, b.strides[0], b.strides[1], b.strides[2],
    cv.offset, c.strides[0], c.strides[1], c.strides[2],
    ...biasWords, Z,
    zIn, a.inner, b.inner, c.inner,
    ...(epi || rsv ? [0] : []),
    ...rsWords,
    // (an epilogue with no further views still declares one ev entry)
    ...(epi ? (epiWords.length ? epiWords : [0, 0, 0, 0]) : []),
  ]);
  const z2 = zIn > 1 ? ['Z2'] : [];
  const p = plan ?? matmulPlan(Z, M, N, K, ctx);
  const zMax = maxGroups(ctx);
  if (p.kernel === 'direct') {
    // vec4 loads only along the axis the direct core reads in fours (k for A, n for B, or the
    // transposed axis where it transposes a 4x4 block)
    const flags: string[] = [];
    if (modeA === 'vec4k') flags.push('A_VEC4', 'A_K4');
    else if (modeA === 'vec4r') flags.push('A_VEC4', 'A_M4');
    if (modeB === 'vec4r') flags.push('B_VEC4', 'B_N4');
    else if (modeB === 'vec4k') flags.push('B_VEC4', 'B_K4');
    if (K % 4 === 0) flags.push('K4');
    // a matrix-vector product: 1 x 4 blocks (rows 1..3 of a 4 x 4 block would be thrown away)
    const row1 = M === 1;
    if (row1) flags.push('ROW1');
    if (p.ks > 1) flags.push('SPLIT');
    if (config.bias) flags.push('BIAS');
    flags.push(...z2, ...epiFlags);
    const threads = Z * (row1 ? 1 : Math.ceil(M / 4)) * Math.ceil(N / 4) * p.ks;
    return [{
      key: `matmul-direct|${flags.join('|')}|${epiKey}|${p.ks}|${p.wg}`,
      code: () => withHelpers([
        render(matmulSrc, vars, flags, 'matmul.wgsl'),
        render(directSrc, { KS: p.ks, WG: p.wg }, flags, 'matmul_direct.wgsl'),
        epiCode,
      ].join('\n')),
      inputs: views,
      outputs: outs,
      uniforms: uniformsAt(0),
      workgroups: grid2d(Math.ceil(threads / p.wg), zMax),
    }];
  }
  const flags: string[] = [];
  if (modeA.startsWith('vec4')) flags.push('A_VEC4');
  if (modeB.startsWith('vec4')) flags.push('B_VEC4');
  if (config.bias) flags.push('BIAS');
  flags.push(...z2, ...epiFlags);
  const half = ctx.gemmHalf;
  const tile: GemmTile = p.tile ?? 64;
  const key = `matmul|${modeA}|${modeB}|${epiKey}${z2.length ? '|Z2' : ''}${gemmHalfKey(half)}${tile === 128 ? '|t128' : ''}`;
  const code = (): string => gemmProgram(matmulSrc + epiCode, 'matmul.wgsl', modeA, modeB, vars, flags, half, tile);
  const launches: GpuLaunch[] = [];
  for (let z0 = 0; z0 < Z; z0 += zMax) {
    launches.push({ key, code, inputs: views, outputs: outs, uniforms: uniformsAt(z0), workgroups: gemmGrid(M, N, Math.min(zMax, Z - z0), zMax, tile) });
  }
  return launches;
}
