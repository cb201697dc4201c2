/**
 * The losses added for issue 21 (klDiv, smoothL1Loss, cosineEmbeddingLoss, marginRankingLoss),
 * each under the name it is called by: the functions of src/nn/losses.ts pass their own, the
 * modules of src/nn/loss-modules.ts theirs (`KLDivLoss.forward`), so errors name what was called.
 * Internal: not re-exported as it stands.
 */
import { DTypeError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { where } from '../ops/functions.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkFloat, checkNumber, checkOneOf, checkOptions, checkTensor } from '../validate.js';

type Reduction = 'mean' | 'sum' | 'none';
interface LossOptions {
  reduction?: Reduction;
}

function reduce(t: Tensor, r: Reduction = 'mean'): Tensor {
  return r === 'none' ? t : r === 'sum' ? t.sum() : t.mean();
}

export interface KLDivOptions {
  /** 'mean' (torch's default: the mean over every element), 'batchmean' (the sum divided by the batch size, the true KL divergence), 'sum' or 'none' */
  reduction?: Reduction | 'batchmean';
  /** the target is given as log-probabilities too */
  logTarget?: boolean;
}

/** torch.nn.functional.kl_div under the name `op` (klDiv, or a module's forward). */
export function klDiv(op: string, input: Tensor, target: Tensor, o: KLDivOptions = {}): Tensor {
  checkFloat(op, 'input', input);
  checkFloat(op, 'target', target);
  checkOptions(op, o, ['reduction', 'logTarget']);
  const r = o.reduction === undefined ? 'mean' : checkOneOf(op, 'reduction', o.reduction, ['mean', 'batchmean', 'sum', 'none']);
  const logTarget = o.logTarget === undefined ? false : checkBoolean(op, 'logTarget', o.logTarget);
  if (!shapesEqual(broadcastShapes(op, input.shape, target.shape), input.shape)) {
    throw new ShapeError(`${op}: target ${fmt(target.shape)} must have the shape of input ${fmt(input.shape)} (or broadcast to it)`);
  }
  return tidy(() => {
    let l: Tensor;
    if (logTarget) {
      l = target.exp().mul(target.sub(input));
    } else {
      // xlogy(t, t) - t·input: log of 1 where t is 0, so that 0·log(0) is 0 (value and gradient)
      const safe = where(target.eq(0), 1, target);
      l = target.mul(safe.log()).sub(target.mul(input));
    }
    if (r === 'batchmean') return input.ndim === 0 ? l.sum() : l.sum().div(input.shape[0]);
    return reduce(l, r);
  });
}

/** torch.nn.functional.smooth_l1_loss under the name `op`. */
export function smoothL1Loss(op: string, input: Tensor, target: Tensor, o: LossOptions & { beta?: number } = {}): Tensor {
  checkFloat(op, 'input', input);
  checkTensor(op, 'target', target);
  checkOptions(op, o, ['reduction', 'beta']);
  if (o.reduction !== undefined) checkOneOf(op, 'reduction', o.reduction, ['mean', 'sum', 'none']);
  if (!shapesEqual(input.shape, target.shape)) throw new ShapeError(`${op}: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  const beta = checkNumber(op, 'beta', o.beta ?? 1, { min: 0, finite: true });
  return tidy(() => {
    const d = input.sub(target), a = d.abs();
    if (beta === 0) return reduce(a, o.reduction);
    return reduce(where(a.lt(beta), d.square().mul(0.5 / beta), a.sub(0.5 * beta)), o.reduction);
  });
}

/** A ±1 label tensor (float32 or int32) for the pairwise losses. */
function checkLabels(op: string, target: unknown): asserts target is Tensor {
  checkTensor(op, 'target', target);
  if (target.dtype === 'bool') throw new DTypeError(`${op}: target must hold 1 or -1 (float32 or int32), got bool ${fmt(target.shape)}`);
}

/** The checks of the losses over two inputs and ±1 labels; returns the margin. */
function checkPairLoss(op: string, input1: Tensor, input2: Tensor, target: Tensor, o: LossOptions & { margin?: number }): number {
  checkFloat(op, 'input1', input1);
  checkFloat(op, 'input2', input2);
  checkLabels(op, target);
  checkOptions(op, o, ['reduction', 'margin']);
  if (o.reduction !== undefined) checkOneOf(op, 'reduction', o.reduction, ['mean', 'sum', 'none']);
  const margin = checkNumber(op, 'margin', o.margin ?? 0, { finite: true });
  return margin;
}

/** torch.nn.functional.cosine_embedding_loss under the name `op`. */
export function cosineEmbeddingLoss(op: string, input1: Tensor, input2: Tensor, target: Tensor, o: LossOptions & { margin?: number } = {}): Tensor {
  const margin = checkPairLoss(op, input1, input2, target, o);
  if (!shapesEqual(input1.shape, input2.shape) || (input1.ndim !== 1 && input1.ndim !== 2)) {
    throw new ShapeError(`${op}: input1 and input2 must both be [N, D] or [D], got ${fmt(input1.shape)} and ${fmt(input2.shape)}`);
  }
  const want = input1.ndim === 2 ? [input1.shape[0]] : [];
  if (!shapesEqual(target.shape, want)) {
    throw new ShapeError(`${op}: target must be ${fmt(want)} (one label per pair of input ${fmt(input1.shape)}), got ${fmt(target.shape)}`);
  }
  return tidy(() => {
    const d = input1.ndim - 1;
    const dot = input1.mul(input2).sum(d);
    const m1 = input1.square().sum(d).add(1e-12), m2 = input2.square().sum(d).add(1e-12);
    const cos = dot.div(m1.mul(m2).sqrt());
    const l = where(target.eq(1), cos.neg().add(1), 0).add(where(target.eq(-1), cos.sub(margin).relu(), 0));
    return reduce(l, o.reduction);
  });
}

/** torch.nn.functional.margin_ranking_loss under the name `op`. */
export function marginRankingLoss(op: string, input1: Tensor, input2: Tensor, target: Tensor, o: LossOptions & { margin?: number } = {}): Tensor {
  const margin = checkPairLoss(op, input1, input2, target, o);
  broadcastShapes(op, input1.shape, input2.shape, target.shape);
  return tidy(() => reduce(target.neg().mul(input1.sub(input2)).add(margin).relu(), o.reduction));
}
