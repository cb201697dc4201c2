/**
 * WebGPU row-wise routines: softmax / log-softmax and backward, fused softmax-cross-entropy and
 * backward (shaders/softmax.wgsl), layer norm and backward (shaders/layernorm.wgsl). One
 * workgroup per row, the row's threads meeting in workgroup-memory reductions
 * (shaders/rowreduce.wgsl); rows run on a 2-D grid of workgroups.
 *
 * Legend: R rows, D row length (the last dim; R = numel / D). Views are contiguous, as the
 * routine table promises, and may start at any offset. Semantics (NaN rows, ignored and
 * out-of-range targets) follow the CPU routines in src/backend/cpu/routines/norm.ts.
 *
 * Napkin math: softmax reads the row twice and writes it once, so 12*R*D bytes; layerNorm
 * forward 16*R*D (three reads, one write); all memory bound.
 */
import type { View } from '../../backend.js';
import { f32, type GpuContext, type GpuLaunch, type GpuRoutine } from '../launch.js';
import { grid2d, isContiguous, maxGroups, numel, render, withHelpers, type TemplateVars } from './template.js';
import reduceSrc from '../../../../shaders/rowreduce.wgsl';
import softmaxSrc from '../../../../shaders/softmax.wgsl';
import layernormSrc from '../../../../shaders/layernorm.wgsl';
import { BackendError } from '../../../errors.js';

/**
 * Threads per row: one 32-wide group (a warp on NVIDIA hardware) for rows up to 4096, the
 * classic warp-per-row softmax; 128 beyond. Measured on SwiftShader, 256-thread groups made
 * softmax over [1024, 1024] 4x slower than 32 (1229 ms vs 293 ms): every workgroup barrier
 * costs per thread there, and short rows leave big groups idle on real GPUs too.
 */
export function rowThreads(D: number): number {
  return D > 4096 ? 128 : 32;
}

/** Longest row that {@link rowPlan} gives one thread on a CPU-emulated adapter. */
export const THREAD_ROW_MAX = 256;

/**
 * How the rows of a row routine run: `group`, one workgroup of `wg` threads per row meeting in
 * tree reductions (shaders/rowreduce.wgsl); `thread`, one thread per row looping over it, `wg`
 * rows per workgroup, no workgroup memory or barriers (the ROWTHREAD flag); or `subgroup`, one
 * subgroup per row reducing with subgroup operations, wg / subgroup size rows per workgroup, no
 * workgroup memory or barriers either (the SUBGROUP flag).
 */
export type RowPlan = { kernel: 'group' | 'thread' | 'subgroup'; wg: number };

/**
 * CPU-emulated adapters (SwiftShader) with rows up to {@link THREAD_ROW_MAX}: one thread per
 * row, since there every barrier costs per thread and a workgroup has a large fixed cost, so a
 * 32-thread tree reduction per short row costs far more than the row's arithmetic (measured in
 * bench/RESULTS.md, "WebGPU short-row softmax/layerNorm (issue 7)"); 16 rows per workgroup while
 * there are few rows, so that every CPU thread gets some, else 64. Longer rows, where the context
 * has a subgroup size (subgroup rows on, GpuContext.subgroupSize): one subgroup per row in
 * 64-thread workgroups (SwiftShader, subgroups of 4: softmax [256, 512] 9.2 → 2.7 ms, layerNorm
 * 12.5 → 3.3 ms; bench/RESULTS.md 2026-11-22). Otherwise (and on GPUs, unmeasured) one
 * workgroup of {@link rowThreads} per row.
 */
export function rowPlan(R: number, D: number, ctx: GpuContext): RowPlan {
  if (ctx.software && D <= THREAD_ROW_MAX) return { kernel: 'thread', wg: R < 1024 ? 16 : 64 };
  if (ctx.subgroupSize) return { kernel: 'subgroup', wg: Math.max(64, ctx.subgroupSize) };
  return { kernel: 'group', wg: rowThreads(D) };
}

/** [R, D] of a contiguous view whose last dim is the row; throws on a strided view or wrong dtype. */
function rows(routine: string, what: string, v: View, dtype: 'float32' | 'int32' = 'float32'): [number, number] {
  if (v.dtype !== dtype) throw new BackendError(`${routine} (webgpu): ${what} must be ${dtype}, got ${v.dtype}`);
  if (!isContiguous(v.shape, v.strides)) throw new BackendError(`${routine} (webgpu): ${what} must be contiguous, got strides [${v.strides}]`);
  const D = v.shape.length ? v.shape[v.shape.length - 1] : 1;
  return [D === 0 ? 0 : numel(v.shape) / D, D];
}

/** Throws unless `v` holds exactly n elements. */
function expectNumel(routine: string, what: string, v: View, n: number): void {
  if (numel(v.shape) !== n) throw new BackendError(`${routine} (webgpu): ${what} has shape [${v.shape}], expected ${n} elements`);
}

/** A launch of a row shader: `src` follows rowreduce.wgsl, laid out by `plan`. */
function rowLaunch(key: string, src: string, name: string, R: number, D: number, vars: TemplateVars, flags: string[],
  inputs: readonly View[], outputs: readonly View[], words: number[], ctx: GpuContext, plan = rowPlan(R, D, ctx)): GpuLaunch[] {
  if (R === 0) return [];
  const WG = plan.wg, SG = ctx.subgroupSize ?? 1;
  const all = plan.kernel === 'thread' ? [...flags, 'ROWTHREAD', 'LANEROWS'] : plan.kernel === 'subgroup' ? [...flags, 'SUBGROUP', 'LANEROWS'] : flags;
  // rows per workgroup: one (group), WG (thread), WG / SG (subgroup)
  const perGroup = plan.kernel === 'thread' ? WG : plan.kernel === 'subgroup' ? WG / SG : 1;
  // the lanes of a row are one subgroup, so the subgroup operations run in (subgroup-)uniform
  // control flow even though WGSL's analysis, which works per workgroup, cannot tell
  const head = plan.kernel === 'subgroup' ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n' : '';
  return [{
    key: `${key}|${plan.kernel}|${WG}|${plan.kernel === 'subgroup' ? SG : ''}`,
    code: () => head + withHelpers(render(reduceSrc, { WG, SG }, all, 'rowreduce.wgsl') + '\n' + render(src, vars, all, name)),
    inputs,
    outputs,
    uniforms: new Uint32Array(words),
    workgroups: grid2d(Math.ceil(R / perGroup), maxGroups(ctx)),
  }];
}

/** Offsets of the views, in binding order, padded to `n` words. */
const offsets = (views: readonly View[], n: number): number[] => Array.from({ length: n }, (_, i) => views[i]?.offset ?? 0);

/**
 * A softmax.wgsl launch. Uniforms: R, D, the offsets of inputs then outputs, ignoreIndex.
 */
function softmaxLaunch(routine: string, flag: string, log: boolean, ignoreIndex: number, x: View, inputs: readonly View[], outputs: readonly View[], ctx: GpuContext, causal = false): GpuLaunch[] {
  const [R, D] = rows(routine, inputs[0] === x ? 'x' : 'y', x);
  for (const v of [...inputs, ...outputs]) {
    if (v.dtype === 'int32' || v.shape.length < x.shape.length) expectNumel(routine, 'per-row operand', v, R);
    else expectNumel(routine, 'operand', v, R * D);
  }
  const L = causal ? causalRows(routine, x) : 0;
  // XENT_BACKWARD reads its per-row gloss (inputs[2]) with its stride: 0 broadcasts one value
  const gstride = flag === 'XENT_BACKWARD' ? inputs[2].strides[0] ?? 0 : 0;
  const words = [R, D, ...offsets([...inputs, ...outputs], 4), ignoreIndex | 0, L, gstride];
  const flags = causal ? [flag, 'CAUSAL'] : [flag];
  return rowLaunch(`softmax|${flags.join('|')}|${log}`, softmaxSrc, 'softmax.wgsl', R, D, { LOG: String(log) }, flags, inputs, outputs, words, ctx);
}

/**
 * x[R,D] → y[R,D]: softmax, or log-softmax when `log`.
 *
 * @example
 * gpuRoutines.softmax({ log: true }, [logits], [logp], ctx)
 */
export const softmax: GpuRoutine<'softmax'> = ({ log, causal }, [x], [y], ctx) => softmaxLaunch('softmax', 'SOFTMAX', log, 0, x, [x], [y], ctx, !!causal);

/** L of a causal softmax's x [.., L, D] (rows per matrix). */
function causalRows(routine: string, x: View): number {
  if (x.shape.length < 2) throw new BackendError(`${routine}: a causal softmax needs x of rank 2 or more ([.., L, D]), got [${x.shape}]`);
  return x.shape[x.shape.length - 2];
}

/** y[R,D] (the forward output), gy[R,D] → gx[R,D]. */
export const softmaxBackward: GpuRoutine<'softmaxBackward'> = ({ log }, [y, gy], [gx], ctx) =>
  softmaxLaunch('softmaxBackward', 'SOFTMAX_BACKWARD', log, 0, y, [y, gy], [gx], ctx);

/** logits[R,D], target int32[R] → loss[R] = logsumexp(row) - row[target]; 0 where ignored, NaN out of range. */
export const crossEntropy: GpuRoutine<'crossEntropy'> = ({ ignoreIndex }, [logits, target], [loss], ctx) =>
  softmaxLaunch('crossEntropy', 'XENT', false, ignoreIndex, logits, [logits, target], [loss], ctx);

/** logits[R,D], target int32[R], gloss[R] (any stride) → glogits[R,D] = (softmax(row) - onehot) * gloss. */
export const crossEntropyBackward: GpuRoutine<'crossEntropyBackward'> = ({ ignoreIndex }, [logits, target, gloss], [glogits], ctx) =>
  softmaxLaunch('crossEntropyBackward', 'XENT_BACKWARD', false, ignoreIndex, logits, [logits, target, gloss], [glogits], ctx);

/**
 * x[R,D], w?[D], b?[D] → y[R,D], mean[R,2] (the mean as a pair m0 + m1), rstd[R]; w and b exist
 * when `affine`.
 *
 * @example
 * gpuRoutines.layerNorm({ eps: 1e-5, affine: true }, [x, w, b], [y, mean, rstd], ctx)
 */
export const layerNorm: GpuRoutine<'layerNorm'> = ({ eps, affine }, inputs, outputs, ctx) => {
  const ins = affine ? inputs.slice(0, 3) : inputs.slice(0, 1);
  const [R, D] = rows('layerNorm', 'x', ins[0]);
  const [y, mean, rstd] = outputs;
  rows('layerNorm', 'y', y);
  expectNumel('layerNorm', 'mean', mean, 2 * R);
  expectNumel('layerNorm', 'rstd', rstd, R);
  if (affine) ins.slice(1).forEach((v, i) => expectNumel('layerNorm', i ? 'b' : 'w', v, D));
  const views = [...ins, ...outputs];
  const first = ins.length + 1;
  const words = [R, D, f32(eps), ...offsets(views, 7)];
  const vars = { Y: first, MEAN: first + 1, RSTD: first + 2, GX: 0 };
  return rowLaunch(`layernorm|FORWARD|${affine}`, layernormSrc, 'layernorm.wgsl', R, D, vars, affine ? ['FORWARD', 'AFFINE'] : ['FORWARD'], ins, outputs, words, ctx);
};

/**
 * x[R,D], gy[R,D], mean[R,2], rstd[R], w?[D], gres?[R,D] → gx[R,D] (+ gres with `residual`), then
 * gw[D], gb[D] when affine (a second launch: 32 columns per workgroup reducing over every row, so
 * gw/gb are overwritten, not accumulated, and deterministic).
 */
export const layerNormBackward: GpuRoutine<'layerNormBackward'> = ({ affine, residual }, inputs, outputs, ctx) => {
  const [x, gy, mean, rstd] = inputs;
  const ins = inputs.slice(0, 4 + (affine ? 1 : 0) + (residual ? 1 : 0));
  const [R, D] = rows('layerNormBackward', 'x', x);
  rows('layerNormBackward', 'gy', gy);
  expectNumel('layerNormBackward', 'mean', mean, 2 * R);
  expectNumel('layerNormBackward', 'rstd', rstd, R);
  if (residual) expectNumel('layerNormBackward', 'gres', ins[ins.length - 1], R * D);
  const [gx, gw, gb] = outputs;
  rows('layerNormBackward', 'gx', gx);
  const flags = ['BACKWARD', ...(affine ? ['AFFINE'] : []), ...(residual ? ['RESIDUAL'] : [])];
  // binding i + 1 and offset field o{i} for the i-th view: x gy mean rstd [w] [gres] gx
  const n = ins.length;
  const vars = { Y: 0, MEAN: 0, RSTD: 0, GX: n + 1, RES: n, OW: 'o4', ORES: `o${n - 1}`, OGX: `o${n}` };
  const launches = rowLaunch(`layernorm|BACKWARD|${affine}|${!!residual}`, layernormSrc, 'layernorm.wgsl', R, D, vars, flags, ins, [gx],
    [R, D, 0, ...offsets([...ins, gx], 7)], ctx);
  if (affine && D > 0) {
    expectNumel('layerNormBackward', 'gw', gw, D);
    expectNumel('layerNormBackward', 'gb', gb, D);
    const pins = [x, gy, mean, rstd];
    launches.push({
      key: 'layernorm|PARAMS',
      code: () => withHelpers(render(layernormSrc, {}, ['PARAMS'], 'layernorm.wgsl')),
      inputs: pins,
      outputs: [gw, gb],
      uniforms: new Uint32Array([R, D, 0, ...offsets([...pins, gw, gb], 7)]),
      workgroups: grid2d(Math.ceil(D / 32), maxGroups(ctx)),
    });
  }
  return launches;
};
