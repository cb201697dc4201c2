/**
 * CPU routines for index-driven data movement: gather / scatterAdd (per-element indices, same
 * rank as the data) and indexSelect / indexAdd (a 1-D list of slices along one dim: embedding
 * lookups and their gradient).
 *
 * Out-of-range indices (< 0 or >= the size of `dim`) never read or write out of bounds: a gather
 * or indexSelect reads 0 there, a scatterAdd or indexAdd skips the element. The WebGPU shaders
 * follow the same rule. The front end rejects such indices with a clear error whenever it can
 * read them on the host (the CPU backend); on a GPU they cannot be checked without a stall.
 *
 * gather and scatterAdd walk every view by its strides; indexSelect and indexAdd copy whole
 * contiguous blocks (outer × index × inner), as their layout promises contiguous views.
 */
import type { CpuRoutine, CpuView } from './view.js';

/**
 * Calls fn(offs) for each row-major position of `shape`, with offs[k] the element offset of that
 * position in views[k]; the offset into views[0] leaves out dim `skip` (the caller adds the
 * looked-up index times that stride).
 */
function forEachPosition(shape: readonly number[], views: readonly CpuView[], skip: number, fn: (offs: Int32Array) => void): void {
  const nd = shape.length;
  let total = 1;
  for (const s of shape) total *= s;
  if (total === 0) return;
  const pos = new Int32Array(nd);
  const offs = Int32Array.from(views, (v) => v.offset);
  for (let i = 0; i < total; i++) {
    fn(offs);
    // odometer increment over all views (views[0] without `skip`)
    for (let d = nd - 1; d >= 0; d--) {
      pos[d]++;
      const k0 = d === skip ? 1 : 0;
      for (let k = k0; k < views.length; k++) offs[k] += views[k].strides[d];
      if (pos[d] < shape[d]) break;
      for (let k = k0; k < views.length; k++) offs[k] -= shape[d] * views[k].strides[d];
      pos[d] = 0;
    }
  }
}

/**
 * x[...], index int32[...] (same rank) → out[index shape]:
 * out[i₀..i_dim..iₙ] = x[i₀..index[i]..iₙ].
 */
export const gather: CpuRoutine<'gather'> = ({ dim }, [x, index], [out]) => {
  const size = x.shape.length ? x.shape[dim] : 1;
  const xs = x.strides.length ? x.strides[dim] : 0;
  const xa = x.data, ia = index.data, oa = out.data;
  // offs: [x without dim, index, out]
  forEachPosition(index.shape, [x, index, out], dim, (offs) => {
    const k = ia[offs[1]];
    oa[offs[2]] = k >= 0 && k < size ? xa[offs[0] + k * xs] : 0;
  });
};

/**
 * index int32[...], src[...] (same shape) → out (read-write): out[i₀..index[i]..iₙ] += src[i].
 * Repeated indices accumulate.
 */
export const scatterAdd: CpuRoutine<'scatterAdd'> = ({ dim }, [index, src], [out]) => {
  const size = out.shape.length ? out.shape[dim] : 1;
  const os = out.strides.length ? out.strides[dim] : 0;
  const ia = index.data, sa = src.data, oa = out.data;
  forEachPosition(index.shape, [out, index, src], dim, (offs) => {
    const k = ia[offs[1]];
    if (k >= 0 && k < size) oa[offs[0] + k * os] += sa[offs[2]];
  });
};

/** Sizes before, along and after `dim` of a shape. */
function split3(shape: readonly number[], dim: number): [number, number, number] {
  let outer = 1, inner = 1;
  for (let d = 0; d < dim; d++) outer *= shape[d];
  for (let d = dim + 1; d < shape.length; d++) inner *= shape[d];
  return [outer, shape.length ? shape[dim] : 1, inner];
}

/** x[..., S, ...], index int32[L] → out[..., L, ...]: block index[l] of x along dim, for each l. */
export const indexSelect: CpuRoutine<'indexSelect'> = ({ dim }, [x, index], [out]) => {
  const [outer, S, inner] = split3(x.shape, dim);
  const L = index.shape.length ? index.shape[0] : 1;
  const xa = x.data, ia = index.data, oa = out.data;
  for (let o = 0; o < outer; o++) {
    for (let l = 0; l < L; l++) {
      const k = ia[index.offset + l];
      const dst = out.offset + (o * L + l) * inner;
      if (k >= 0 && k < S) {
        const src = x.offset + (o * S + k) * inner;
        for (let j = 0; j < inner; j++) oa[dst + j] = xa[src + j];
      } else {
        for (let j = 0; j < inner; j++) oa[dst + j] = 0;
      }
    }
  }
};

/** index int32[L], src[..., L, ...] → out[..., S, ...] (read-write): block index[l] += src block l. */
export const indexAdd: CpuRoutine<'indexAdd'> = ({ dim }, [index, src], [out]) => {
  const [outer, S, inner] = split3(out.shape, dim);
  const L = index.shape.length ? index.shape[0] : 1;
  const sa = src.data, ia = index.data, oa = out.data;
  for (let o = 0; o < outer; o++) {
    for (let l = 0; l < L; l++) {
      const k = ia[index.offset + l];
      if (k < 0 || k >= S) continue;
      const s = src.offset + (o * L + l) * inner;
      const dst = out.offset + (o * S + k) * inner;
      for (let j = 0; j < inner; j++) oa[dst + j] += sa[s + j];
    }
  }
};

/**
 * index int32[N], g[N,C] (any strides) → out[V,C]: every row written, out[v] = Σ_{index[i] = v} g[i]
 * in increasing i (float32 sums, as the WebGPU kernel's: the two agree bit for bit); indices
 * outside [0, V) skipped.
 */
export const embeddingBackward: CpuRoutine<'embeddingBackward'> = (_config, [index, g], [out]) => {
  const [N, C] = g.shape, V = out.shape[0];
  const ia = index.data, ga = g.data, oa = out.data;
  const is = index.strides[0] ?? 0, [gr, gc] = g.strides;
  oa.fill(0, out.offset, out.offset + V * C);
  for (let i = 0; i < N; i++) {
    const v = ia[index.offset + i * is];
    if (v < 0 || v >= V) continue;
    const src = g.offset + i * gr, dst = out.offset + v * C;
    for (let c = 0; c < C; c++) oa[dst + c] += ga[src + c * gc];
  }
};
