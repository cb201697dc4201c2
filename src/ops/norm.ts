/**
 * Normalisation ops: softmax / logSoftmax, fused softmax-cross-entropy, layerNorm and
 * training-mode batchNorm (each one routine forward and one backward); batchNorm in evaluation
 * is a per-channel scale and shift composed from elementwise ops.
 *
 * The routines work on contiguous rows [R,D] (R rows, D row length). An op over another dim
 * moves that dim last (a permute, then one copy), runs the routine, and moves it back.
 */
import { record } from '../autograd/graph.js';
import type { GradTable } from '../autograd/rules.js';
import { noGrad } from '../engine.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { normAxis, numel, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { ones, zeros } from './creation.js';
import { checkIndexRange } from './indexing.js';
import { runOrZeros } from './run.js';
import { gradOut } from '../arena.js';
import { checkBoolean, checkFloat, checkNumber, checkOptions, checkTensor, describeValue } from '../validate.js';

// ---- rows: moving one dim last and back -------------------------------------------------------

/** The permutation that moves `dim` last, keeping the other dims in order. */
function lastPerm(ndim: number, dim: number): number[] {
  const p = Array.from({ length: ndim }, (_, i) => i).filter((i) => i !== dim);
  p.push(dim);
  return p;
}

/** x with `dim` moved last, as a contiguous [R,D] tensor (call inside tidy + noGrad). */
function toRows(x: Tensor, dim: number): Tensor {
  const D = x.shape[dim];
  const R = numel(x.shape.filter((_, i) => i !== dim));
  const t = dim === x.ndim - 1 ? x : x.permute(lastPerm(x.ndim, dim));
  return t.contiguous().reshape([R, D]);
}

/** Inverse of toRows: rows [R,D] back to `shape` with D at `dim`, contiguous. */
function fromRows(rows: Tensor, shape: readonly number[], dim: number): Tensor {
  if (dim === shape.length - 1) return rows.reshape([...shape]);
  const perm = lastPerm(shape.length, dim);
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return rows.reshape(perm.map((p) => shape[p])).permute(inv).contiguous();
}

// ---- softmax ----------------------------------------------------------------------------------

function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor, dim: number, causal = false): Tensor {
  checkFloat(op, 'input', x);
  // a 0-d tensor accepts dim 0 or -1, as PyTorch
  const d = normAxis(op, dim, Math.max(x.ndim, 1));
  const log = op === 'logSoftmax';
  // a 0-d tensor is one row of one element
  const shape = x.ndim === 0 ? [1] : [...x.shape];
  const out = tidy(() => noGrad(() => {
    let rows = toRows(x.reshape(shape), d);
    // causal: the routine sees the [.., L, D] matrices to know each row's position
    if (causal) rows = rows.reshape([-1, shape[shape.length - 2], shape[shape.length - 1]]);
    const [y] = runOrZeros('softmax', causal ? { log, causal } : { log }, [rows], [{ shape: rows.shape, dtype: 'float32' }], rows.numel());
    return fromRows(y, shape, d).reshape([...x.shape]);
  }));
  return record('softmax', [x], out, [out], { dim: d, log });
}

/**
 * Softmax over the last dim of x [.., L, S] with row i of each [L, S] matrix reading only columns
 * j ≤ i (the rest weigh 0): softmax(where(j > i, -inf, x)) in one kernel, as attention's causal
 * mask (top-left aligned, as torch's is_causal). Gradients as softmax's.
 */
export function causalSoftmax(x: Tensor): Tensor {
  checkFloat('causalSoftmax', 'input', x);
  if (x.ndim < 2) throw new ShapeError(`causalSoftmax: input must have at least 2 dims ([.., L, S]), got ${fmt(x.shape)}`);
  return softmaxOp('softmax', x, -1, x.numel() > 0);
}

/**
 * Softmax along `dim`: exp(x - max) / sum(exp(x - max)), stable for any magnitude. A row with a
 * NaN is all NaN, as PyTorch.
 *
 * @example
 * wt.softmax(wt.tensor([[1, 2, 3]]), -1); // [[0.090, 0.245, 0.665]]
 */
export function softmax(x: Tensor, dim = -1): Tensor {
  return softmaxOp('softmax', x, dim);
}

/**
 * log(softmax(x)) along `dim`, computed as x - logsumexp(x) (no log of a rounded-to-0 value).
 *
 * @example
 * wt.logSoftmax(wt.tensor([1000, 0]), 0); // [0, -1000]
 */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return softmaxOp('logSoftmax', x, dim);
}

// ---- cross-entropy ----------------------------------------------------------------------------

export interface CrossEntropyOptions {
  /** targets equal to this contribute 0 and are left out of the mean (default -100) */
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of unnormalised `logits` [N,C] or [N,C,d1,...] (or [C]) against int32 class
 * indices [N] / [N,d1,...] (or []), fused with the softmax: one routine forward, one backward.
 * 'mean' divides by the number of non-ignored targets (NaN when there are none, as PyTorch).
 * A float32 `target` of the logits' shape is read as class probabilities (composed, not fused).
 *
 * @example
 * const loss = wt.crossEntropy(logits, wt.tensor([2, 0, 1], { dtype: 'int32' })); // logits [3, C]
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  checkOptions('crossEntropy', opts, ['ignoreIndex', 'reduction']);
  const ignoreIndex = opts.ignoreIndex ?? -100, reduction = opts.reduction ?? 'mean';
  checkFloat('crossEntropy', 'logits', logits);
  checkTensor('crossEntropy', 'target', target);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') throw new ArgumentError(`crossEntropy: reduction must be 'mean', 'sum' or 'none', got ${describeValue(reduction)}`);
  if (!Number.isInteger(ignoreIndex)) throw new ArgumentError(`crossEntropy: ignoreIndex must be an integer, got ${describeValue(ignoreIndex)}`);
  if (logits.ndim === 0) throw new ShapeError('crossEntropy: logits must have a class dim ([C], [N,C] or [N,C,...]), got a 0-d tensor');
  const cdim = logits.ndim === 1 ? 0 : 1;
  const C = logits.shape[cdim];
  checkTargetKind('crossEntropy', logits, target, 'logits');
  if (target.dtype === 'float32') return softCrossEntropy(logits, target, cdim, reduction);
  if (target.dtype !== 'int32') throw new DTypeError(`crossEntropy: target must be int32 class indices (or float32 probabilities), got ${target.dtype} of shape ${fmt(target.shape)}`);
  const want = logits.shape.filter((_, i) => i !== cdim);
  if (!shapesEqual(target.shape, want)) throw new ShapeError(`crossEntropy: target ${fmt(target.shape)} does not match logits ${fmt(logits.shape)}: expected target ${fmt(want)}`);
  checkIndexRange('crossEntropy', 'target', target, C, `${C} classes of logits ${fmt(logits.shape)} (ignoreIndex ${ignoreIndex})`, ignoreIndex);
  const r = tidy(() => noGrad(() => {
    const rows = toRows(logits, cdim); // [R, C]
    const R = rows.shape[0];
    const t = target.reshape([R]).contiguous();
    const [loss] = runOrZeros('crossEntropy', { ignoreIndex }, [rows, t], [{ shape: [R], dtype: 'float32' }], R);
    if (reduction === 'none') return { out: loss.reshape([...target.shape]), rows, t, count: null };
    if (reduction === 'sum') return { out: loss.sum(), rows, t, count: null };
    const count = t.ne(ignoreIndex).sum();
    return { out: loss.sum().div(count), rows, t, count };
  }));
  const save = r.count ? [r.rows, r.t, r.count] : [r.rows, r.t];
  const out = record('crossEntropy', [logits], r.out, save, { ignoreIndex, reduction });
  save.forEach((s) => s.dispose());
  return out;
}

/**
 * The two mix-ups of a class target, named with their fix: an int32 target of the logits' shape
 * (one-hot labels, or probabilities cast to int32) and a float32 target of the class indices'
 * shape (labels that were never cast to int32). `probabilities` false: the op takes indices only.
 * @internal also used by F.crossEntropy's weighted path and F.nllLoss
 */
export function checkTargetKind(op: string, logits: Tensor, target: Tensor, name = 'input', probabilities = true): void {
  if (logits.ndim === 0) return;
  const cdim = logits.ndim === 1 ? 0 : 1;
  const indexShape = logits.shape.filter((_, i) => i !== cdim);
  const alt = probabilities ? ` or float32 probabilities of shape ${fmt(logits.shape)}` : '';
  if (target.dtype === 'int32' && shapesEqual(target.shape, logits.shape)) {
    const fix = probabilities ? 'use target.float() for one-hot or probability targets' : `for one-hot targets pass target.argmax(${cdim}), the class indices`;
    throw new DTypeError(`${op}: target is int32 of the same shape as the ${name} ${fmt(logits.shape)}; int32 means class indices, of shape ${fmt(indexShape)}: ${fix}`);
  }
  if (target.dtype !== 'int32' && target.dtype !== 'bool' && shapesEqual(target.shape, indexShape)) {
    throw new DTypeError(`${op}: target is ${target.dtype} ${fmt(target.shape)}, the shape of class indices for ${name} ${fmt(logits.shape)}: pass int32 class indices (target.int())${alt}`);
  }
}

/** -Σ target·logSoftmax(logits) over the class dim; mean divides by the number of rows. */
function softCrossEntropy(logits: Tensor, target: Tensor, cdim: number, reduction: 'mean' | 'sum' | 'none'): Tensor {
  if (!shapesEqual(target.shape, logits.shape)) throw new ShapeError(`crossEntropy: probability target ${fmt(target.shape)} must have the logits' shape ${fmt(logits.shape)}`);
  return tidy(() => {
    const l = logSoftmax(logits, cdim).mul(target).sum(cdim).neg();
    return reduction === 'none' ? l : reduction === 'sum' ? l.sum() : l.mean();
  });
}

// ---- layer norm -------------------------------------------------------------------------------

/**
 * Layer normalisation over the trailing `normalizedShape` dims: (x - mean) / sqrt(var + eps)
 * with the biased variance, then `* weight + bias` when given (each of normalizedShape).
 *
 * @example
 * const y = wt.layerNorm(x, [512], gamma, beta); // x [B, T, 512]
 */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  checkFloat('layerNorm', 'input', x);
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : Array.isArray(normalizedShape) ? [...normalizedShape] : null;
  if (!ns || !ns.every((d) => Number.isInteger(d) && d >= 0)) throw new ArgumentError(`layerNorm: normalizedShape must be a size or a list of sizes, got ${describeValue(normalizedShape)}`);
  if (ns.length === 0 || ns.length > x.ndim || !shapesEqual(x.shape.slice(x.ndim - ns.length), ns)) {
    throw new ShapeError(`layerNorm: normalizedShape ${fmt(ns)} does not match the last dims of input ${fmt(x.shape)}`);
  }
  for (const [arg, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    checkFloat('layerNorm', arg, t);
    if (!shapesEqual(t.shape, ns)) throw new ShapeError(`layerNorm: ${arg} ${fmt(t.shape)} must have normalizedShape ${fmt(ns)} (input ${fmt(x.shape)})`);
  }
  checkNumber('layerNorm', 'eps', eps, { min: 0, finite: true });
  const D = numel(ns), R = numel(x.shape.slice(0, x.ndim - ns.length));
  const affine = !!(weight || bias);
  const r = tidy(() => noGrad(() => {
    const xr = x.contiguous().reshape([R, D]);
    // one missing affine parameter is the identity for it: weight 1, bias 0
    const w = affine ? (weight ? weight.contiguous().reshape([D]) : ones([D])) : null;
    const b = affine ? (bias ? bias.contiguous().reshape([D]) : zeros([D])) : null;
    const [y, mean, rstd] = runOrZeros('layerNorm', { eps, affine }, affine ? [xr, w!, b!] : [xr], [
      { shape: [R, D], dtype: 'float32' }, { shape: [R, 2], dtype: 'float32' }, { shape: [R], dtype: 'float32' },
    ], R * D);
    return { y: y.reshape([...x.shape]), xr, mean, rstd, w, b };
  }));
  const inputs = affine ? [x, weight ?? r.w!, bias ?? r.b!] : [x];
  const save = affine ? [r.xr, r.mean, r.rstd, r.w!] : [r.xr, r.mean, r.rstd];
  const out = record('layerNorm', inputs, r.y, save, { eps, affine });
  [r.xr, r.mean, r.rstd, r.w, r.b].forEach((t) => t?.dispose());
  return out;
}

// ---- batch norm -------------------------------------------------------------------------------

export interface BatchNormOptions {
  /** batch statistics (and running-stat updates) when true; running statistics when false */
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation of x [N,C] or [N,C,...] per channel C, as torch.nn.functional.batch_norm.
 * Training normalises with the batch mean and biased variance (the fused `batchNorm` routine:
 * statistics and normalisation in one kernel, its gradient in one `batchNormBackward` kernel)
 * and, when running stats are given, updates them in place (not recorded by autograd) with
 * momentum, using the unbiased variance. Evaluation normalises with the running stats as one
 * per-channel scale and shift (x·scale + shift, composed ops, so differentiable as they are).
 *
 * @example
 * const y = wt.batchNorm(x, runningMean, runningVar, gamma, beta, { training: true });
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight?: Tensor | null, bias?: Tensor | null, opts: BatchNormOptions = {}): Tensor {
  checkOptions('batchNorm', opts, ['training', 'momentum', 'eps']);
  if (opts.training !== undefined) checkBoolean('batchNorm', 'training', opts.training);
  const training = opts.training ?? false, momentum = opts.momentum ?? 0.1, eps = opts.eps ?? 1e-5;
  checkFloat('batchNorm', 'input', x);
  if (x.ndim < 2) throw new ShapeError(`batchNorm: input must be [N,C] or [N,C,...], got ${fmt(x.shape)}`);
  const C = x.shape[1];
  for (const [arg, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    checkFloat('batchNorm', arg, t);
    if (!shapesEqual(t.shape, [C])) throw new ShapeError(`batchNorm: ${arg} ${fmt(t.shape)} must be [${C}] for input ${fmt(x.shape)}`);
  }
  if (!!runningMean !== !!runningVar) throw new ArgumentError('batchNorm: give both runningMean and runningVar, or neither');
  if (!training && !runningMean) throw new ArgumentError(`batchNorm: evaluation (training: false) needs runningMean and runningVar (input ${fmt(x.shape)})`);
  checkNumber('batchNorm', 'momentum', momentum, { min: 0, max: 1 });
  checkNumber('batchNorm', 'eps', eps, { min: 0, finite: true });
  const n = x.numel() / Math.max(C, 1);
  if (training && n <= 1) throw new ArgumentError(`batchNorm: expected more than 1 value per channel when training, got input ${fmt(x.shape)}`);
  if (training) return batchNormTrain(x, runningMean, runningVar, weight ?? null, bias ?? null, momentum, eps, n);
  const bshape = x.shape.map((s, i) => (i === 1 ? s : 1)); // [1, C, 1, ...]
  return tidy(() => {
    // the running stats fold into one scale and shift per channel ([C] work), so the full-size
    // tensor sees two elementwise kernels instead of four (PyTorch's CPU kernel does the same)
    let scale = runningVar!.add(eps).rsqrt();
    if (weight) scale = scale.mul(weight);
    let shift = runningMean!.mul(scale).neg();
    if (bias) shift = shift.add(bias);
    return x.mul(scale.reshape(bshape)).add(shift.reshape(bshape));
  });
}

/**
 * Training-mode batch norm through the fused routine; `n` values per channel (N·S). The input is
 * viewed as contiguous [N,C,S]; the routine's mean and invstd are saved for the gradient rule
 * and feed the running-stat update (var = invstd⁻² - eps).
 */
function batchNormTrain(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, momentum: number, eps: number, n: number): Tensor {
  const [N, C] = x.shape;
  const S = numel(x.shape.slice(2));
  const affine = !!(weight || bias);
  const r = tidy(() => noGrad(() => {
    const x3 = x.contiguous().reshape([N, C, S]);
    // one missing affine parameter is the identity for it: weight 1, bias 0
    // (reshape makes a new handle even when contiguous() returns the parameter itself, so the
    // dispose below never frees a caller's tensor)
    const w = affine ? (weight ? weight.contiguous().reshape([C]) : ones([C])) : null;
    const b = affine ? (bias ? bias.contiguous().reshape([C]) : zeros([C])) : null;
    const [y, mean, invstd] = runOrZeros('batchNorm', { eps, affine }, affine ? [x3, w!, b!] : [x3], [
      { shape: [N, C, S], dtype: 'float32' }, { shape: [C, 2], dtype: 'float32' }, { shape: [C], dtype: 'float32' },
    ], N * C * S);
    if (runningMean && runningVar) {
      // the routine's mean is a pair per channel (m0 + m1: kernel.ts)
      runningMean.mul_(1 - momentum).add_(mean.sum(1), momentum);
      // the biased variance back from invstd (clamped: for var << eps the subtraction can round
      // below 0); the running variance is the unbiased estimate, as PyTorch
      const v = invstd.square().reciprocal().sub(eps).clamp(0);
      runningVar.mul_(1 - momentum).add_(v, (momentum * n) / (n - 1));
    }
    return { y: y.reshape([...x.shape]), x3, mean, invstd, w, b };
  }));
  const inputs = affine ? [x, weight ?? r.w!, bias ?? r.b!] : [x];
  const save = affine ? [r.x3, r.mean, r.invstd, r.w!] : [r.x3, r.mean, r.invstd];
  const out = record('batchNorm', inputs, r.y, save, { affine });
  [r.x3, r.mean, r.invstd, r.w, r.b].forEach((t) => t?.dispose());
  return out;
}

// ---- gradient rules ---------------------------------------------------------------------------

export const normGrads: GradTable<'softmax' | 'crossEntropy' | 'layerNorm' | 'batchNorm'> = {
  softmax: (n, g) => {
    const [y] = n.saved;
    const { dim, log } = n.meta;
    const shape = y.ndim === 0 ? [1] : [...y.shape];
    return [tidy(() => {
      const yr = toRows(y.reshape(shape), dim), gr = toRows(g.reshape(shape), dim);
      const [gx] = runOrZeros('softmaxBackward', { log }, [yr, gr], [{ shape: yr.shape, dtype: 'float32' }], yr.numel());
      return fromRows(gx, shape, dim).reshape([...y.shape]);
    })];
  },
  crossEntropy: (n, g) => {
    const [rows, t, count] = n.saved;
    const { ignoreIndex, reduction } = n.meta;
    const logits = n.inputs[0];
    const cdim = logits.ndim === 1 ? 0 : 1;
    const R = rows.shape[0];
    return [tidy(() => {
      // the upstream gradient per row: g itself ('none'), or g (/ count) broadcast to every row
      const gs = reduction === 'mean' ? g.div(count) : g;
      // (a broadcast view: the routine reads gloss at its stride, 0 here, so no copy)
      const gl = reduction === 'none' ? gs.reshape([R]) : gs.reshape([1]).expand([R]);
      const [gr] = runOrZeros('crossEntropyBackward', { ignoreIndex }, [rows, t, gl], [{ shape: rows.shape, dtype: 'float32' }], rows.numel());
      return fromRows(gr, logits.shape, cdim);
    })];
  },
  layerNorm: (n, g, take) => {
    const [xr, mean, rstd, w] = n.saved;
    const { affine } = n.meta;
    const [R, D] = xr.shape;
    // x's gradient from its other consumers (a pre-norm block's skip path), added in the dx pass
    const prev = R * D > 0 ? take(0) : null;
    const out = tidy(() => {
      const gr = g.contiguous().reshape([R, D]);
      // the weight gradient straight into its slot of an optimizer's gradient arena, where it has one
      const gwOut = affine && R * D > 0 ? gradOut(n.inputs[1], [D]) : { shape: [D], dtype: 'float32' as const };
      const outs = [{ shape: [R, D], dtype: 'float32' as const }, ...(affine ? [gwOut, { shape: [D], dtype: 'float32' as const }] : [])];
      const ins = affine ? [xr, gr, mean, rstd, w] : [xr, gr, mean, rstd];
      if (prev) ins.push(prev.contiguous().reshape([R, D]));
      const [gx, gw, gb] = runOrZeros('layerNormBackward', { affine, residual: !!prev }, ins, outs, R * D);
      const res = [gx.reshape([...n.inputs[0].shape])];
      if (affine) res.push(gw.reshape([...n.inputs[1].shape]), gb.reshape([...n.inputs[2].shape]));
      return res;
    });
    prev?.dispose();
    return out;
  },
  batchNorm: (n, g) => {
    const [x3, mean, invstd, w] = n.saved;
    const { affine } = n.meta;
    const C = x3.shape[1];
    return tidy(() => {
      const g3 = g.contiguous().reshape([...x3.shape]);
      const outs = [{ shape: [...x3.shape], dtype: 'float32' as const }, { shape: [C], dtype: 'float32' as const }, { shape: [C], dtype: 'float32' as const }];
      const [gx, gw, gb] = runOrZeros('batchNormBackward', { affine }, affine ? [x3, g3, mean, invstd, w] : [x3, g3, mean, invstd], outs, x3.numel());
      const res = [gx.reshape([...n.inputs[0].shape])];
      if (affine) res.push(gw, gb);
      return res;
    });
  },
};
