/**
 * Matrix products: `matmul` with PyTorch's semantics and `linear` (x @ wᵀ + b), both on the one
 * `matmul` routine (src/kernel/kernel.ts: a[B,M,K] @ b[B,K,N] with any strides, optional bias
 * epilogue), and their gradient rules.
 *
 * Layout policy, so that no operand is copied unless strides cannot express it:
 * - a transposed or sliced operand goes to the routine as a strided view (read in place);
 * - when b has no batch dims, a's batch dims fold into M (one big GEMM instead of many small
 *   ones) whenever a's strides allow viewing it as [B·M, K];
 * - broadcast batch dims become stride 0 when the batch dims collapse to a single stride, or to
 *   two (the routine takes two batch levels: attention's head-split q, k, v are read in place);
 *   only otherwise is an expanded copy materialised.
 */
import { record } from '../autograd/graph.js';
import type { Node } from '../autograd/graph.js';
import type { GradTable } from '../autograd/rules.js';
import { engine, noGrad } from '../engine.js';
import { ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { broadcastStrides, numel, viewStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { checkSameBackend, copyInto, empty, runMatmul, runRoutine } from './run.js';
import { checkFloat } from '../validate.js';
import { gradOut } from '../arena.js';

/** The one stride that walks `shape` in row-major order, or null when the dims do not merge. */
function collapseStride(shape: readonly number[], strides: readonly number[]): number | null {
  let stride: number | null = null, expect = 0;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (stride === null) stride = strides[i];
    else if (strides[i] !== expect) return null;
    expect = strides[i] * shape[i];
  }
  return stride ?? 0;
}

/**
 * A [Bt, r, c] view of an operand (given as shape/strides of at least 2 dims over t's storage)
 * broadcast to the batch shape `batch`: stride 0 for broadcast batch dims when the batch dims
 * collapse to one stride, else a materialised expanded copy. Call inside tidy + noGrad.
 */
function batched3(t: Tensor, shape: readonly number[], strides: readonly number[], batch: readonly number[]): Tensor {
  const nd = shape.length, r = shape[nd - 2], c = shape[nd - 1];
  const bt = numel(batch);
  const bs = broadcastStrides(shape.slice(0, -2), strides.slice(0, -2), batch);
  const sb = collapseStride(batch, bs);
  if (sb !== null) return t._viewAs([bt, r, c], [sb, strides[nd - 2], strides[nd - 1]], t.offset);
  const src = t._viewAs(shape, strides, t.offset);
  const dst = empty([...batch, r, c], 'float32', t.backend);
  copyInto(src, dst._view());
  return dst._viewAs([bt, r, c], [r * c, c, 1], 0);
}

/**
 * Views of a and b (shape/strides of at least 2 dims; bsA, bsB: their batch strides broadcast to
 * `batch`) as [Zo, Zi, r, c] with two batch strides
 * each, the batch dims split in two groups that each collapse to one stride in both operands; null
 * when no split works. A head-split operand ([B, T, H, D] permuted to [B, H, T, D]) is one.
 */
function twoLevel(a: Tensor, aS: readonly number[], aSt: readonly number[], bsA: readonly number[], b: Tensor, bS: readonly number[], bSt: readonly number[], bsB: readonly number[], batch: readonly number[]): [Tensor, Tensor] | null {
  for (let p = 1; p < batch.length; p++) {
    const outer = batch.slice(0, p), inner = batch.slice(p);
    const ao = collapseStride(outer, bsA.slice(0, p)), ai = collapseStride(inner, bsA.slice(p));
    const bo = collapseStride(outer, bsB.slice(0, p)), bi = collapseStride(inner, bsB.slice(p));
    if (ao === null || ai === null || bo === null || bi === null) continue;
    const zo = numel(outer), zi = numel(inner), n = aS.length, m = bS.length;
    return [
      a._viewAs([zo, zi, aS[n - 2], aS[n - 1]], [ao, ai, aSt[n - 2], aSt[n - 1]], a.offset),
      b._viewAs([zo, zi, bS[m - 2], bS[m - 1]], [bo, bi, bSt[m - 2], bSt[m - 1]], b.offset),
    ];
  }
  return null;
}

/** Runs the routine on [..Z,M,K] @ [..Z,K,N] (+ bias[N]) → a new [..Z,M,N] (Z: one batch dim or two). */
function bmm(a3: Tensor, b3: Tensor, bias: Tensor | null): Tensor {
  const nd = a3.ndim;
  const shape = [...a3.shape.slice(0, -1), b3.shape[nd - 1]];
  if (numel(shape) === 0) return empty(shape, 'float32', a3.backend);
  return runMatmul({ bias: !!bias }, bias ? [a3, b3, bias] : [a3, b3], shape);
}

/** matmul without autograd recording (shared by the op and the gradient rules). */
function matmulRaw(a: Tensor, b: Tensor): Tensor {
  const aS = a.ndim === 1 ? [1, a.shape[0]] : a.shape, aSt = a.ndim === 1 ? [0, a.strides[0]] : a.strides;
  const bS = b.ndim === 1 ? [b.shape[0], 1] : b.shape, bSt = b.ndim === 1 ? [b.strides[0], 0] : b.strides;
  const M = aS[aS.length - 2], K = aS[aS.length - 1], Kb = bS[bS.length - 2], N = bS[bS.length - 1];
  if (K !== Kb) throw new ShapeError(`matmul: inner dimensions differ: a is ${fmt(a.shape)}, b is ${fmt(b.shape)} (${K} != ${Kb})`);
  const batchA = aS.slice(0, -2), batchB = bS.slice(0, -2);
  const batch = broadcastBatch(batchA, batchB, a, b);
  const outShape = [...batch, ...(a.ndim > 1 ? [M] : []), ...(b.ndim > 1 ? [N] : [])];
  return tidy(() => noGrad(() => {
    if (numel(outShape) === 0) return empty(outShape, 'float32', a.backend);
    const bt = numel(batch);
    if (batchB.length === 0 && batchA.length > 0) {
      // fold a's batch into M: one [B·M, K] @ [K, N] GEMM
      const st = viewStrides(aS, aSt, [bt * M, K]);
      if (st) {
        const y = bmm(a._viewAs([1, bt * M, K], [0, ...st], a.offset), b._viewAs([1, K, N], [0, ...bSt], b.offset), null);
        return y.reshape(outShape);
      }
    }
    // batch dims that do not collapse to one stride (a head split): two batch levels, read in place
    const bsA = broadcastStrides(aS.slice(0, -2), aSt.slice(0, -2), batch), bsB = broadcastStrides(bS.slice(0, -2), bSt.slice(0, -2), batch);
    if (batch.length > 1 && (collapseStride(batch, bsA) === null || collapseStride(batch, bsB) === null)) {
      const views = twoLevel(a, aS, aSt, bsA, b, bS, bSt, bsB, batch);
      if (views) return bmm(views[0], views[1], null).reshape(outShape);
    }
    return bmm(batched3(a, aS, aSt, batch), batched3(b, bS, bSt, batch), null).reshape(outShape);
  }));
}

function broadcastBatch(x: readonly number[], y: readonly number[], a: Tensor, b: Tensor): number[] {
  const nd = Math.max(x.length, y.length);
  const out: number[] = [];
  for (let i = 0; i < nd; i++) {
    const p = x[i - nd + x.length] ?? 1, q = y[i - nd + y.length] ?? 1;
    if (p !== q && p !== 1 && q !== 1) {
      throw new ShapeError(`matmul: batch dimensions ${fmt(x)} and ${fmt(y)} cannot be broadcast: a is ${fmt(a.shape)}, b is ${fmt(b.shape)}`);
    }
    out.push(p === 1 ? q : p);
  }
  return out;
}

/**
 * Matrix product with PyTorch's rules: 1-D·1-D is a dot product, a 1-D operand is promoted to
 * a row (a) or column (b) and that dim removed from the result, and leading batch dims
 * broadcast. Transposed and sliced operands are read in place.
 *
 * @example
 * const y = wt.matmul(wt.randn([8, 3, 4]), wt.randn([4, 5])); // [8, 3, 5]
 * const s = wt.matmul(wt.tensor([1, 2]), wt.tensor([3, 4]));  // 11, shape []
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkFloat('matmul', 'a', a);
  checkFloat('matmul', 'b', b);
  checkSameBackend('matmul', [a, b]);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: both operands must be at least 1-D, got a ${fmt(a.shape)} and b ${fmt(b.shape)}`);
  return record('matmul', [a, b], matmulRaw(a, b), [a, b], { linear: false });
}

/**
 * Matrix product of two 2-D tensors (torch.mm); use `matmul` for batches and vectors.
 *
 * @example wt.mm(wt.ones([2, 3]), wt.ones([3, 4])); // [2, 4] of 3s
 */
export function mm(a: Tensor, b: Tensor): Tensor {
  checkFloat('mm', 'a', a);
  checkFloat('mm', 'b', b);
  if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`mm: both operands must be 2-D, got a ${fmt(a.shape)} and b ${fmt(b.shape)}`);
  return matmul(a, b);
}

/**
 * y = x @ weightᵀ + bias, PyTorch's F.linear: x[..., in], weight[out, in], bias?[out] →
 * y[..., out]. The weight is read transposed in place, x's leading dims fold into one GEMM,
 * and the bias is added by the routine's epilogue (no extra pass).
 *
 * @example
 * const y = wt.linear(wt.randn([32, 10]), wt.randn([4, 10]), wt.zeros([4])); // [32, 4]
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const op = 'linear';
  checkFloat(op, 'input', x);
  checkFloat(op, 'weight', weight);
  if (bias != null) checkFloat(op, 'bias', bias);
  checkSameBackend(op, bias ? [x, weight, bias] : [x, weight]);
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-D [out, in], got ${fmt(weight.shape)}`);
  const [nOut, nIn] = weight.shape;
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== nIn) {
    throw new ShapeError(`linear: input features differ: x is ${fmt(x.shape)}, weight is ${fmt(weight.shape)} (${x.shape[x.ndim - 1] ?? 'none'} != ${nIn})`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== nOut)) {
    throw new ShapeError(`linear: bias must have shape [${nOut}] for weight ${fmt(weight.shape)}, got ${fmt(bias.shape)}`);
  }
  const lead = x.shape.slice(0, -1);
  const outShape = [...lead, nOut];
  const R = numel(lead);
  const y = tidy(() => noGrad(() => {
    if (numel(outShape) === 0) return empty(outShape, 'float32', x.backend);
    const st = viewStrides(x.shape, x.strides, [R, nIn]);
    const xc = st ? x : x.contiguous();
    const x3 = xc._viewAs([1, R, nIn], [0, ...(st ?? [nIn, 1])], xc.offset);
    const w3 = weight._viewAs([1, nIn, nOut], [0, weight.strides[1], weight.strides[0]], weight.offset);
    return bmm(x3, w3, bias ? bias.contiguous() : null).reshape(outShape);
  }));
  return record('matmul', bias ? [x, weight, bias] : [x, weight], y, [x, weight], { linear: true });
}

function matmulGrad(n: Node<'matmul'>, g: Tensor): (Tensor | null)[] {
  const [a, b] = n.saved;
  const [wantA, wantB] = n.inputs.map((t) => t.requiresGrad);
  return tidy(() => {
    const K = a.shape[a.ndim - 1];
    const a2 = a.ndim === 1 ? a.reshape([1, K]) : a, b2 = b.ndim === 1 ? b.reshape([K, 1]) : b;
    const M = a2.shape[a2.ndim - 2], N = b2.shape[b2.ndim - 1];
    const batch = broadcastBatch(a2.shape.slice(0, -2), b2.shape.slice(0, -2), a, b);
    const g2 = g.reshape([...batch, M, N]);
    let gA: Tensor | null = null, gB: Tensor | null = null;
    if (wantA) {
      // gA = g @ bᵀ; broadcast batch dims are summed back by the engine
      gA = matmulRaw(g2, b2.transpose(-2, -1));
      if (a.ndim === 1) gA = gA.reshape([...batch, K]);
    }
    if (wantB) {
      if (b2.ndim === 2 && batch.length > 0) {
        // b was shared by every batch: sum over the batch inside one GEMM, [K, B·M] @ [B·M, N]
        gB = matmulRaw(a2.reshape([-1, K]).transpose(0, 1), g2.reshape([-1, N]));
      } else {
        gB = matmulRaw(a2.transpose(-2, -1), g2);
      }
      if (b.ndim === 1) gB = gB.reshape([...gB.shape.slice(0, -2), K]);
    }
    return [gA, gB];
  });
}

function linearGrad(n: Node<'matmul'>, g: Tensor): (Tensor | null)[] {
  const [x, w] = n.saved;
  const want = n.inputs.map((t) => t.requiresGrad);
  const [nOut, nIn] = w.shape;
  const wantBias = n.inputs.length > 2 && want[2];
  const R = g.numel() / nOut;
  if (want[1] && wantBias && R > 0 && engine.matmulEpilogues) {
    // the weight gradient gᵀ @ x and the bias gradient (g's column sums, the row sums of gᵀ) in
    // one GEMM (the routine's rowSums)
    return tidy(() => {
      const g2 = g.reshape([-1, nOut]), x2 = x.reshape([-1, nIn]);
      const a3 = g2._viewAs([1, nOut, R], [0, g2.strides[1], g2.strides[0]], g2.offset);
      const b3 = x2._viewAs([1, R, nIn], [0, x2.strides[0], x2.strides[1]], x2.offset);
      // the weight gradient straight into its slot of an optimizer's gradient arena, where it has one
      const [gW, gB] = runRoutine('matmul', { bias: false, rowSums: true }, [a3, b3], [gradOut(n.inputs[1], [1, nOut, nIn]), { shape: [1, nOut], dtype: 'float32' }]);
      return [want[0] ? matmulRaw(g, w) : null, gW.reshape([nOut, nIn]), gB.reshape([nOut])];
    });
  }
  const grads = tidy(() => [
    want[0] ? matmulRaw(g, w) : null,
    want[1] ? matmulRaw(g.reshape([-1, nOut]).transpose(0, 1), x.reshape([-1, nIn])) : null,
  ]);
  // the bias gradient is g summed over the leading dims, which the engine does for us
  return wantBias ? [...grads, g] : grads;
}

export const linalgGrads: GradTable<'matmul'> = {
  matmul: (n, g) => (n.meta.linear ? linearGrad(n, g) : matmulGrad(n, g)),
};
