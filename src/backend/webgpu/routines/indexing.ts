/**
 * WebGPU gather / indexSelect / scatterAdd / indexAdd on one rank-generic shader
 * (shaders/indexing.wgsl): one thread per element of the index's shape, every view walked by its
 * own strides (rank <= 8). indexSelect and indexAdd are the gather and scatter with their 1-D
 * index seen as a view broadcast (stride 0) over the other dims, so no extra shader is needed.
 *
 * gather / indexSelect move 32-bit words of any dtype (float32, int32, bool) as u32, so no value
 * ever passes through a float register. scatterAdd / indexAdd accumulate int32 with i32 atomics
 * and float32 with a compare-exchange loop on the float's bits: correct for repeated indices
 * (embedding gradients), at the price of a float summation order that can change between runs.
 * bool scatters never get here (the front end adds them as int32). Out-of-range indices read 0
 * or are skipped, as on the CPU.
 *
 * Napkin math: a gather moves 8 bytes per output element plus 4 per index; memory bound.
 */
import type { View } from '../../backend.js';
import { BackendError, DTypeError } from '../../../errors.js';
import type { GpuContext, GpuLaunch, GpuRoutine } from '../launch.js';
import { grid2d, maxGroups, numel, render } from './template.js';
import indexingSrc from '../../../../shaders/indexing.wgsl';
import { EMBEDDING_BACKWARD_THREADS } from '../../../kernel/kernel.js';
import embeddingBackwardSrc from '../../../../shaders/embedding-backward.wgsl';

const MAX_RANK = 8;

/** Eight words of a per-dim array, padded with `fill`. */
function dims8(a: readonly number[], fill: number): number[] {
  return Array.from({ length: MAX_RANK }, (_, d) => (d < a.length ? a[d] : fill));
}

/**
 * One indexing.wgsl launch. Iterates `index`'s shape; `indexed` is the view addressed through the
 * index along `dim` (x for a gather, out for a scatter); `elementwise` is addressed like the index
 * (out for a gather, src for a scatter).
 */
function indexingLaunch(routine: string, scatter: boolean, dim: number, indexed: View, index: View, elementwise: View, inputs: View[], outputs: View[], ctx: GpuContext): GpuLaunch[] {
  const rank = index.shape.length;
  if (rank > MAX_RANK) throw new BackendError(`${routine} (webgpu): rank ${rank} exceeds ${MAX_RANK}`);
  if (index.dtype !== 'int32') throw new DTypeError(`${routine} (webgpu): index must be int32, got ${index.dtype}`);
  if (indexed.dtype !== elementwise.dtype) throw new DTypeError(`${routine} (webgpu): data dtypes differ: ${indexed.dtype} and ${elementwise.dtype}`);
  if (scatter && indexed.dtype === 'bool') throw new DTypeError(`${routine} (webgpu): cannot accumulate bool (add it as int32)`);
  if (indexed.shape.length !== rank || elementwise.shape.length !== rank) {
    throw new BackendError(`${routine} (webgpu): ranks differ: [${indexed.shape}], index [${index.shape}], [${elementwise.shape}]`);
  }
  if (rank > 0 && (dim < 0 || dim >= rank)) throw new BackendError(`${routine} (webgpu): dim ${dim} out of range for rank ${rank}`);
  const total = numel(index.shape);
  if (total === 0) return [];
  const size = rank ? indexed.shape[dim] : 1;
  const uniforms = new Uint32Array([
    total, rank, rank ? dim : 0, size,
    indexed.offset, index.offset, elementwise.offset, 0,
    ...dims8(index.shape, 1),
    ...dims8(indexed.strides, 0),
    ...dims8(index.strides, 0),
    ...dims8(elementwise.strides, 0),
  ]);
  // a gather copies words whatever their dtype; a scatter's addition depends on it
  const flags = scatter ? ['SCATTER', ...(indexed.dtype === 'int32' ? ['INT'] : [])] : ['GATHER'];
  return [{
    key: `indexing|${flags.join('|')}`,
    code: () => render(indexingSrc, {}, flags, 'indexing.wgsl'),
    inputs,
    outputs,
    uniforms,
    workgroups: grid2d(Math.ceil(total / 256), maxGroups(ctx)),
  }];
}

/**
 * The 1-D index of indexSelect / indexAdd as a view over `shape` (the shape of the side it
 * runs along): its own stride along dim, 0 elsewhere.
 */
function broadcastIndex(routine: string, index: View, shape: readonly number[], dim: number): View {
  if (index.shape.length > 1) throw new BackendError(`${routine} (webgpu): index must be 1-D, got [${index.shape}]`);
  const L = index.shape.length ? index.shape[0] : 1;
  if (shape.length && shape[dim] !== L) throw new BackendError(`${routine} (webgpu): index has ${L} entries, but dim ${dim} of [${shape}] has ${shape[dim]}`);
  const stride = index.shape.length ? index.strides[0] : 0;
  return { ...index, shape: [...shape], strides: shape.map((_, d) => (d === dim ? stride : 0)) };
}

/**
 * x[...], index int32[...] (same rank) → out[index shape]: out[i] = x[i with dim := index[i]].
 *
 * @example
 * gpuRoutines.gather({ dim: 1 }, [x, idx], [out], ctx)
 */
export const gather: GpuRoutine<'gather'> = ({ dim }, [x, index], [out], ctx) =>
  indexingLaunch('gather', false, dim, x, index, out, [x, index], [out], ctx);

/** x[..., S, ...], index int32[L] → out[..., L, ...]: slices of x along dim (embedding lookup). */
export const indexSelect: GpuRoutine<'indexSelect'> = ({ dim }, [x, index], [out], ctx) =>
  indexingLaunch('indexSelect', false, dim, x, broadcastIndex('indexSelect', index, out.shape, dim), out, [x, index], [out], ctx);

/** index int32[...], src[...] (same shape) → out (accumulated): out[i with dim := index[i]] += src[i]. */
export const scatterAdd: GpuRoutine<'scatterAdd'> = ({ dim }, [index, src], [out], ctx) =>
  indexingLaunch('scatterAdd', true, dim, out, index, src, [index, src], [out], ctx);

/** index int32[L], src[..., L, ...] → out[..., S, ...] (accumulated): slice l of src added at index[l]. */
export const indexAdd: GpuRoutine<'indexAdd'> = ({ dim }, [index, src], [out], ctx) =>
  indexingLaunch('indexAdd', true, dim, out, broadcastIndex('indexAdd', index, src.shape, dim), src, [index, src], [out], ctx);


/**
 * index int32[N], g[N,C] → out[V,C], every row written: out[v] = Σ_{index[i] = v} g[i] in
 * increasing i (shaders/embedding-backward.wgsl: a thread per column and block of rows, each
 * walking the whole index; one block of all V rows on a software adapter, where threads are few
 * and walks are what costs).
 */
export const embeddingBackward: GpuRoutine<'embeddingBackward'> = (_config, [index, g], [out], ctx) => {
  if (index.dtype !== 'int32') throw new DTypeError(`embeddingBackward (webgpu): index must be int32, got ${index.dtype}`);
  if (g.dtype !== 'float32' || out.dtype !== 'float32') throw new DTypeError(`embeddingBackward (webgpu): g and out must be float32, got ${g.dtype} and ${out.dtype}`);
  if (index.shape.length !== 1 || g.shape.length !== 2 || out.shape.length !== 2) throw new BackendError(`embeddingBackward (webgpu): expected index [N], g [N,C], out [V,C], got [${index.shape}], [${g.shape}], [${out.shape}]`);
  const [N, C] = g.shape, V = out.shape[0];
  if (index.shape[0] !== N || out.shape[1] !== C) throw new BackendError(`embeddingBackward (webgpu): index [${index.shape}], g [${g.shape}] and out [${out.shape}] do not agree`);
  if (out.strides[0] !== C || (C > 1 && out.strides[1] !== 1)) throw new BackendError(`embeddingBackward (webgpu): out must be contiguous, got strides [${out.strides}]`);
  if (V * C === 0) return [];
  const R = ctx.software ? V : Math.max(1, Math.ceil((V * C) / EMBEDDING_BACKWARD_THREADS));
  const threads = C * Math.ceil(V / R);
  return [{
    key: 'embedding-backward',
    code: () => embeddingBackwardSrc,
    inputs: [index, g],
    outputs: [out],
    uniforms: new Uint32Array([N, C, V, R, index.offset, index.strides[0] ?? 0, g.offset, g.strides[0], g.strides[1], out.offset, 0, 0]),
    workgroups: grid2d(Math.ceil(threads / 64), maxGroups(ctx)),
  }];
};
