/**
 * WebGPU routines along rows: scans (shaders/scan.wgsl), the stable sort (shaders/sort.wgsl) and
 * multinomial's categorical draws (shaders/sample.wgsl).
 * Semantics follow the CPU routines in src/backend/cpu/routines/sort.ts.
 *
 * Legend: R rows, D row length (the last dim; R = numel / D). Views are contiguous, as the
 * routine table promises, and may start at any offset.
 *
 * Napkin math: a scan reads and writes the row once (8·R·D bytes), one workgroup per row (a
 * single very long row runs on one workgroup, tile after tile: fine for rows of vocabulary size,
 * slow for a scan of millions); the sort is a bitonic network,
 * log2(P)·(log2(P)+1)/2 compare steps for rows padded to P = 2^⌈log2 D⌉, all in workgroup memory up
 * to 512 positions (rows up to 32 one thread each, by insertion); longer rows take a launch per step of 512 or more (each reading and writing the
 * keys and indices once) and one per stage for the shorter steps.
 */
import type { View } from '../../backend.js';
import { BackendError } from '../../../errors.js';
import type { GpuLaunch, GpuRoutine } from '../launch.js';
import { grid2d, isContiguous, maxGroups, numel, render } from './template.js';
import scanSrc from '../../../../shaders/scan.wgsl';
import sortSrc from '../../../../shaders/sort.wgsl';
import sampleSrc from '../../../../shaders/sample.wgsl';

/** [R, D] of a contiguous view whose last dim is the row; throws on a strided view. */
function rows(routine: string, what: string, v: View): [number, number] {
  if (!isContiguous(v.shape, v.strides)) throw new BackendError(`${routine} (webgpu): ${what} must be contiguous, got strides [${v.strides}]`);
  const D = v.shape.length ? v.shape[v.shape.length - 1] : 1;
  return [D === 0 ? 0 : numel(v.shape) / D, D];
}

function sameSize(routine: string, what: string, v: View, n: number): void {
  if (numel(v.shape) !== n) throw new BackendError(`${routine} (webgpu): ${what} has shape [${v.shape}], expected ${n} elements`);
}

/** Threads per row of the workgroup scan, and elements per thread per tile. */
const SCAN_WG = 64, SCAN_CH = 4;
/** Rows up to this long are scanned one thread per row (no barriers). */
export const SCAN_THREAD_ROW_MAX = 32;

/**
 * x[R,D] → y[R,D] inclusive sum or product ('affine': a[R,D], b[R,D] → y, y_i = a_i·y_{i-1} + b_i),
 * from the row's end when `reverse`.
 *
 * @example
 * gpuRoutines.scan({ op: 'sum', reverse: false }, [x], [y], ctx)
 */
export const scan: GpuRoutine<'scan'> = ({ op, reverse }, inputs, [y], ctx) => {
  const [R, D] = rows('scan', 'y', y);
  const affine = op === 'affine';
  if (inputs.length !== (affine ? 2 : 1)) throw new BackendError(`scan (webgpu): ${op} takes ${affine ? 2 : 1} inputs, got ${inputs.length}`);
  for (const [i, v] of inputs.entries()) {
    rows('scan', `input ${i}`, v);
    sameSize('scan', `input ${i}`, v, R * D);
    if (v.dtype !== y.dtype) throw new BackendError(`scan (webgpu): input ${i} is ${v.dtype} but y is ${y.dtype}`);
  }
  if (y.dtype === 'bool' || (affine && y.dtype !== 'float32')) throw new BackendError(`scan (webgpu): cannot scan ${y.dtype} (${op})`);
  if (R * D === 0) return [];
  const thread = D <= SCAN_THREAD_ROW_MAX;
  const E = affine ? 'vec2<f32>' : y.dtype === 'int32' ? 'i32' : 'f32';
  const flags = [...(affine ? ['AFFINE'] : op === 'prod' ? ['PROD'] : []), ...(thread ? ['ROWTHREAD'] : [])];
  const WG = SCAN_WG;
  const uniforms = new Uint32Array([R, D, inputs[0].offset, affine ? inputs[1].offset : 0, y.offset]);
  return [{
    key: `scan|${flags.join('|')}|${E}|${reverse}`,
    code: () => render(scanSrc, { WG, CH: SCAN_CH, E, REVERSE: String(reverse) }, flags, 'scan.wgsl'),
    inputs,
    outputs: [y],
    uniforms,
    workgroups: grid2d(thread ? Math.ceil(R / WG) : R, maxGroups(ctx)),
  }];
};

/** Threads per sort workgroup; a block of 2·SORT_WG positions sorts in workgroup memory. */
const SORT_WG = 256;
const BLOCK = 2 * SORT_WG;
/**
 * Rows up to this long sort one thread per row by insertion (at most 496 comparisons), not a
 * 256-thread workgroup of barriers per row (which costs per thread on CPU-emulated adapters).
 */
export const SORT_THREAD_ROW_MAX = 32;

/**
 * The launches of a sort of R rows of D: one LOCAL launch (every stage up to the block), then for
 * each longer stage its GLOBAL steps and a MERGE (see shaders/sort.wgsl). Exported for tests.
 */
export function sortSteps(D: number): { mode: 0 | 1 | 2; k: number; j: number }[] {
  let P = 1;
  while (P < D) P *= 2;
  const steps: { mode: 0 | 1 | 2; k: number; j: number }[] = [{ mode: 0, k: 0, j: 0 }];
  for (let k = 2 * BLOCK; k <= P; k *= 2) {
    for (let j = k / 2; j >= BLOCK; j /= 2) steps.push({ mode: 2, k, j });
    steps.push({ mode: 1, k, j: 0 });
  }
  return steps;
}

/**
 * x[R,D] → values[R,D], indices int32[R,D]: rows sorted stably, NaN largest.
 *
 * @example
 * gpuRoutines.sort({ descending: true }, [x], [values, indices], ctx)
 */
export const sort: GpuRoutine<'sort'> = ({ descending }, [x], [values, indices], ctx) => {
  const [R, D] = rows('sort', 'x', x);
  rows('sort', 'values', values);
  rows('sort', 'indices', indices);
  sameSize('sort', 'values', values, R * D);
  sameSize('sort', 'indices', indices, R * D);
  if (x.dtype === 'bool' || values.dtype !== x.dtype || indices.dtype !== 'int32') {
    throw new BackendError(`sort (webgpu): x ${x.dtype} → values ${values.dtype}, indices ${indices.dtype} (expected float32 or int32 x, values of its dtype, int32 indices)`);
  }
  if (R * D === 0) return [];
  let P = 1;
  while (P < D) P *= 2;
  const steps = sortSteps(D);
  if (D <= SORT_THREAD_ROW_MAX) {
    return [{
      key: `sort|${SORT_WG}`,
      code: () => render(sortSrc, { WG: SORT_WG }, [], 'sort.wgsl'),
      inputs: [x],
      outputs: [values, indices],
      uniforms: new Uint32Array([R, D, P, 0, 0, 3, 1, descending ? 1 : 0, x.dtype === 'int32' ? 1 : 0, x.offset, values.offset, indices.offset]),
      workgroups: grid2d(Math.ceil(R / SORT_WG), maxGroups(ctx)),
    }];
  }
  const blocks = R * Math.ceil(D / BLOCK);
  const pairs = R * (P / 2);
  return steps.map((s, i): GpuLaunch => ({
    key: `sort|${SORT_WG}`,
    code: () => render(sortSrc, { WG: SORT_WG }, [], 'sort.wgsl'),
    inputs: [x],
    outputs: [values, indices],
    uniforms: new Uint32Array([
      R, D, P, s.k, s.j, s.mode, i === steps.length - 1 ? 1 : 0, descending ? 1 : 0,
      x.dtype === 'int32' ? 1 : 0, x.offset, values.offset, indices.offset,
    ]),
    workgroups: grid2d(s.mode === 2 ? Math.ceil(pairs / SORT_WG) : blocks, maxGroups(ctx)),
  }));
};

/**
 * cdf[R,D], w[R,D], t[R,S] → out int32[R,S]: the category each t falls in (one thread per draw).
 *
 * @example
 * gpuRoutines.sampleCategorical({}, [cdf, w, t], [out], ctx)
 */
export const sampleCategorical: GpuRoutine<'sampleCategorical'> = (_, [cdf, w, t], [out], ctx) => {
  const [R, D] = rows('sampleCategorical', 'cdf', cdf);
  rows('sampleCategorical', 'w', w);
  sameSize('sampleCategorical', 'w', w, R * D);
  const [Rt, S] = rows('sampleCategorical', 't', t);
  rows('sampleCategorical', 'out', out);
  if (R * D > 0 && Rt !== R) throw new BackendError(`sampleCategorical (webgpu): t has ${Rt} rows, cdf ${R}`);
  sameSize('sampleCategorical', 'out', out, R * S);
  if ([cdf, w, t].some((v) => v.dtype !== 'float32') || out.dtype !== 'int32') throw new BackendError('sampleCategorical (webgpu): cdf, w, t must be float32 and out int32');
  if (R * S === 0 || D === 0) return [];
  return [{
    key: 'sampleCategorical',
    code: () => render(sampleSrc, {}, [], 'sample.wgsl'),
    inputs: [cdf, w, t],
    outputs: [out],
    uniforms: new Uint32Array([R, D, S, cdf.offset, w.offset, t.offset, out.offset, 0]),
    workgroups: grid2d(Math.ceil((R * S) / 64), maxGroups(ctx)),
  }];
};
