/**
 * Loss functions, as torch.nn.functional: each takes (input, target, options) with
 * `reduction: 'mean' | 'sum' | 'none'` (default 'mean').
 */
import { noGrad } from '../engine.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { checkIndexRange } from '../ops/indexing.js';
import { refuseWhere } from '../ops/checks.js';
import { checkFloat, checkNumber, checkOneOf, checkOptions, checkTensor, describeValue, type OptionKeys } from '../validate.js';
import { tidy } from '../memory.js';
import { checkTargetKind, crossEntropy as fusedCrossEntropy, logSoftmax } from '../ops/norm.js';
import { where } from '../ops/functions.js';
import { elementwise } from '../ops/elementwise.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import * as more from './losses-more.js';
import type { KLDivOptions } from './losses-more.js';

export type Reduction = 'mean' | 'sum' | 'none';
export interface LossOptions {
  reduction?: Reduction;
}

function reduce(op: string, t: Tensor, r: Reduction = 'mean'): Tensor {
  if (r === 'none') return t;
  if (r === 'mean') return t.mean();
  if (r === 'sum') return t.sum();
  throw new ArgumentError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${describeValue(r)}`);
}

/** The checks every loss makes: tensors, options (only `known` keys), reduction, and (by default) equal shapes. */
function checkLoss<O extends LossOptions>(op: string, input: Tensor, target: Tensor, o: O, known: OptionKeys<O>, same = true): void {
  checkFloat(op, 'input', input);
  checkTensor(op, 'target', target);
  checkOptions(op, o, known);
  if (o.reduction !== undefined) checkOneOf(op, 'reduction', o.reduction, ['mean', 'sum', 'none']);
  if (same && !shapesEqual(input.shape, target.shape)) {
    throw new ShapeError(`${op}: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
}

/** A float target (probabilities, labels in {0, 1}) and optional weights broadcasting to the input. */
function checkWeighted(op: string, input: Tensor, target: Tensor, weights: Record<string, Tensor | undefined>): void {
  checkFloat(op, 'target', target, ' (use target.float())');
  for (const [name, w] of Object.entries(weights)) {
    if (w === undefined || w === null) continue;
    checkTensor(op, name, w);
    if (!shapesEqual(broadcastShapes(`${op}: ${name}`, input.shape, w.shape), input.shape)) {
      throw new ShapeError(`${op}: ${name} ${fmt(w.shape)} must broadcast to the input ${fmt(input.shape)}`);
    }
  }
}

/** Mean squared error. @example F.mseLoss(pred, y) */
export function mseLoss(input: Tensor, target: Tensor, o: LossOptions = {}): Tensor {
  checkLoss('mseLoss', input, target, o, ['reduction']);
  return tidy(() => reduce('mseLoss', input.sub(target).square(), o.reduction));
}

/** Mean absolute error. */
export function l1Loss(input: Tensor, target: Tensor, o: LossOptions = {}): Tensor {
  checkLoss('l1Loss', input, target, o, ['reduction']);
  return tidy(() => reduce('l1Loss', input.sub(target).abs(), o.reduction));
}

/** Huber loss: quadratic below `delta`, linear above. */
export function huberLoss(input: Tensor, target: Tensor, o: LossOptions & { delta?: number } = {}): Tensor {
  checkLoss('huberLoss', input, target, o, ['reduction', 'delta']);
  const delta = o.delta ?? 1;
  checkNumber('huberLoss', 'delta', delta, { above: 0 });
  return tidy(() => {
    const d = input.sub(target), a = d.abs();
    return reduce('huberLoss', where(a.lt(delta), d.square().mul(0.5), a.sub(0.5 * delta).mul(delta)), o.reduction);
  });
}

/** Binary cross-entropy of probabilities; logs are clamped at -100 as PyTorch. */
export function bce(input: Tensor, target: Tensor, o: LossOptions & { weight?: Tensor } = {}): Tensor {
  checkLoss('bce', input, target, o, ['reduction', 'weight']);
  checkWeighted('bce', input, target, { weight: o.weight });
  // as torch: a probability outside [0, 1] (or NaN) is a bug upstream, not a loss to report
  refuseWhere(noGrad(() => input.ge(0).logicalAnd(input.le(1)).logicalNot()), `bce: every element of input ${fmt(input.shape)} must be a probability in [0, 1] (use bceWithLogits for logits)`, input, false);
  return tidy(() => {
    let l = elementwise('bce', [input, target]);
    if (o.weight) l = l.mul(o.weight);
    return reduce('bce', l, o.reduction);
  });
}

/** Binary cross-entropy on logits, computed stably; `posWeight` weighs positive examples. */
export function bceWithLogits(input: Tensor, target: Tensor, o: LossOptions & { weight?: Tensor; posWeight?: Tensor } = {}): Tensor {
  checkLoss('bceWithLogits', input, target, o, ['reduction', 'weight', 'posWeight']);
  checkWeighted('bceWithLogits', input, target, { weight: o.weight, posWeight: o.posWeight });
  return tidy(() => {
    // log(1 + exp(-|x|)) + max(-x, 0) = -log(sigmoid(x)), without overflow
    const softTerm = input.abs().neg().exp().log1p().add(input.neg().relu());
    let l: Tensor;
    if (o.posWeight) {
      const coef = o.posWeight.sub(1).mul(target).add(1);
      l = target.neg().add(1).mul(input).add(coef.mul(softTerm));
    } else {
      l = target.neg().add(1).mul(input).add(softTerm);
    }
    if (o.weight) l = l.mul(o.weight);
    return reduce('bceWithLogits', l, o.reduction);
  });
}

export interface CrossEntropyLossOptions extends LossOptions {
  ignoreIndex?: number;
  /** mixes the target with a uniform distribution over classes (PyTorch's label_smoothing) */
  labelSmoothing?: number;
  /** a float32 [C] weight per class (PyTorch's weight): 'mean' then divides by the targets' total weight */
  weight?: Tensor;
}

/** A class-weight tensor: float32 [C]. */
function checkClassWeight(op: string, w: unknown, C: number): Tensor {
  checkFloat(op, 'weight', w);
  if (w.ndim !== 1 || w.shape[0] !== C) throw new ShapeError(`${op}: weight must have one entry per class: [${C}], got ${fmt(w.shape)}`);
  return w;
}

/**
 * The weight of each target's class, 0 where the target is ignored: [target shape] (the indices
 * were range-checked by the caller's fused or gathered loss).
 */
function targetWeights(w: Tensor, target: Tensor, ignore: number): Tensor {
  return tidy(() => {
    const valid = target.ne(ignore);
    const safe = where(valid, target, 0);
    return w.indexSelect(0, safe.reshape([safe.numel()])).reshape([...target.shape]).mul(valid.float());
  });
}

/** weight [C] shaped to broadcast along the class dim of an input of `ndim` dims. */
function alongClasses(w: Tensor, ndim: number, cdim: number): Tensor {
  return w.reshape(Array.from({ length: ndim }, (_, i) => (i === cdim ? w.shape[0] : 1)));
}

/** `weight`: class weights [C] (crossEntropy and nllLoss) */
const CROSS_ENTROPY_KEYS: OptionKeys<CrossEntropyLossOptions> = ['reduction', 'ignoreIndex', 'labelSmoothing', 'weight'];

/**
 * Cross-entropy of logits [N,C] (or [N,C,d...]) against int32 class indices or float class
 * probabilities; the index form is one fused kernel each way.
 * @example const loss = F.crossEntropy(model.forward(x), y);
 */
export function crossEntropy(input: Tensor, target: Tensor, o: CrossEntropyLossOptions = {}): Tensor {
  checkLoss('crossEntropy', input, target, o, CROSS_ENTROPY_KEYS, false);
  const eps = o.labelSmoothing ?? 0;
  checkNumber('crossEntropy', 'labelSmoothing', eps, { min: 0, max: 1 });
  const reduction = o.reduction ?? 'mean';
  if (o.weight !== undefined && o.weight !== null) return weightedCrossEntropy(input, target, o.weight, eps, reduction, o.ignoreIndex ?? -100);
  if (eps === 0 || target.dtype === 'float32') {
    if (eps === 0) return fusedCrossEntropy(input, target, { ignoreIndex: o.ignoreIndex, reduction });
    // probabilities: smooth the target distribution itself
    return tidy(() => {
      const C = input.shape[input.ndim === 1 ? 0 : 1];
      return fusedCrossEntropy(input, target.mul(1 - eps).add(eps / C), { reduction });
    });
  }
  return tidy(() => {
    const cdim = input.ndim === 1 ? 0 : 1;
    const C = input.shape[cdim];
    const ignore = o.ignoreIndex ?? -100;
    const nll = fusedCrossEntropy(input, target, { ignoreIndex: ignore, reduction: 'none' });
    const valid = noGrad(() => target.ne(ignore).float());
    const smooth = logSoftmax(input, cdim).sum(cdim).neg().mul(valid);
    const per = nll.mul(1 - eps).add(smooth.mul(eps / C));
    if (reduction === 'none') return per;
    if (reduction === 'sum') return per.sum();
    return per.sum().div(valid.sum());
  });
}

/**
 * crossEntropy with class weights, as torch: each term is weighted by its class; with class
 * indices 'mean' divides by the total weight of the (non-ignored) targets, with probabilities by
 * the number of rows. The index form keeps the fused kernel for the log-likelihood term.
 */
function weightedCrossEntropy(input: Tensor, target: Tensor, weight: Tensor, eps: number, reduction: Reduction, ignore: number): Tensor {
  if (input.ndim === 0) throw new ShapeError('crossEntropy: input must have a class dim ([C], [N,C] or [N,C,...]), got a 0-d tensor');
  const cdim = input.ndim === 1 ? 0 : 1;
  const C = input.shape[cdim];
  const w = checkClassWeight('crossEntropy', weight, C);
  checkNumber('crossEntropy', 'ignoreIndex', ignore, { int: true });
  checkTargetKind('crossEntropy', input, target);
  if (target.dtype === 'float32') {
    if (!shapesEqual(target.shape, input.shape)) throw new ShapeError(`crossEntropy: probability target ${fmt(target.shape)} must have the shape of input ${fmt(input.shape)}`);
    return tidy(() => {
      const p = eps > 0 ? target.mul(1 - eps).add(eps / C) : target;
      const per = logSoftmax(input, cdim).mul(p).mul(alongClasses(w, input.ndim, cdim)).sum(cdim).neg();
      return reduction === 'mean' ? per.sum().div(Math.max(per.numel(), 1)) : reduce('crossEntropy', per, reduction);
    });
  }
  // the fused loss checks the target's dtype, shape and range
  const nll = fusedCrossEntropy(input, target, { ignoreIndex: ignore, reduction: 'none' });
  return tidy(() => {
    const tw = noGrad(() => targetWeights(w, target, ignore));
    let per = nll.mul(tw);
    if (eps > 0) {
      const valid = noGrad(() => target.ne(ignore).float());
      const smooth = logSoftmax(input, cdim).mul(alongClasses(w, input.ndim, cdim)).sum(cdim).neg().mul(valid);
      per = per.mul(1 - eps).add(smooth.mul(eps / C));
    }
    nll.dispose();
    return reduction === 'mean' ? per.sum().div(tw.sum()) : reduce('crossEntropy', per, reduction);
  });
}

/** Negative log-likelihood of log-probabilities [N,C] against int32 class indices. */
export function nllLoss(input: Tensor, target: Tensor, o: LossOptions & { ignoreIndex?: number; weight?: Tensor } = {}): Tensor {
  checkLoss('nllLoss', input, target, o, ['reduction', 'ignoreIndex', 'weight'], false);
  if (input.ndim === 2) checkTargetKind('nllLoss', input, target, 'input', false);
  if (input.ndim !== 2 || target.ndim !== 1 || target.shape[0] !== input.shape[0]) {
    throw new ShapeError(`nllLoss: expected input [N,C] and target [N], got ${fmt(input.shape)} and ${fmt(target.shape)}`);
  }
  const ignore = checkNumber('nllLoss', 'ignoreIndex', o.ignoreIndex ?? -100, { int: true });
  if (target.dtype !== 'int32') throw new DTypeError(`nllLoss: target must be int32 class indices, got ${target.dtype} (use target.int())`);
  checkIndexRange('nllLoss', 'target', target, input.shape[1], `${input.shape[1]} classes of input ${fmt(input.shape)} (ignoreIndex ${ignore})`, ignore);
  const w = o.weight === undefined || o.weight === null ? null : checkClassWeight('nllLoss', o.weight, input.shape[1]);
  return tidy(() => {
    const valid = target.ne(ignore);
    const safe = where(valid, target, 0);
    // each target's weight (1 without class weights), 0 where ignored
    const tw = w ? noGrad(() => targetWeights(w, target, ignore)) : valid.float();
    const picked = input.gather(1, safe.unsqueeze(1)).squeeze(1).neg().mul(tw);
    const r = o.reduction ?? 'mean';
    if (r === 'mean') return picked.sum().div(tw.sum());
    return reduce('nllLoss', picked, r);
  });
}

/** Hinge loss for binary labels in {-1, 1} (0 is read as -1), as Keras: max(0, 1 - y·x). */
export function hingeLoss(input: Tensor, target: Tensor, o: LossOptions & { margin?: number } = {}): Tensor {
  checkLoss('hingeLoss', input, target, o, ['reduction', 'margin']);
  const margin = checkNumber('hingeLoss', 'margin', o.margin ?? 1, { finite: true });
  return tidy(() => {
    const y = where(target.eq(0), -1, target);
    return reduce('hingeLoss', y.mul(input).neg().add(margin).relu(), o.reduction);
  });
}

export type { KLDivOptions } from './losses-more.js';

/**
 * Kullback-Leibler divergence, as torch.nn.functional.kl_div: `input` holds log-probabilities,
 * `target` probabilities (log-probabilities with `logTarget`); pointwise target·(log(target) −
 * input), 0 where the target is 0. 'batchmean' divides the sum by input.shape[0]; torch's
 * default 'mean' divides by the number of elements.
 *
 * @example F.klDiv(logits.logSoftmax(-1), probs, { reduction: 'batchmean' })
 */
export function klDiv(input: Tensor, target: Tensor, o: KLDivOptions = {}): Tensor {
  return more.klDiv('klDiv', input, target, o);
}

/**
 * Smooth L1 loss, as torch: 0.5·d²/beta where |d| < beta, |d| − 0.5·beta elsewhere (d = input −
 * target); beta 0 is the L1 loss. huberLoss with delta = beta is beta times this.
 */
export function smoothL1Loss(input: Tensor, target: Tensor, o: LossOptions & { beta?: number } = {}): Tensor {
  return more.smoothL1Loss('smoothL1Loss', input, target, o);
}

/**
 * Cosine embedding loss, as torch: for rows x1[i], x2[i] ([N, D], or one pair [D]) with label
 * y[i] = 1: 1 − cos, y[i] = -1: max(0, cos − margin), other labels 0; cos is torch's
 * Σ x1·x2 / sqrt((Σ x1² + 1e-12)(Σ x2² + 1e-12)).
 */
export function cosineEmbeddingLoss(input1: Tensor, input2: Tensor, target: Tensor, o: LossOptions & { margin?: number } = {}): Tensor {
  return more.cosineEmbeddingLoss('cosineEmbeddingLoss', input1, input2, target, o);
}

/**
 * Margin ranking loss, as torch: max(0, −y·(x1 − x2) + margin) for labels y in {1, -1} (1: x1
 * should rank higher); the three tensors broadcast.
 */
export function marginRankingLoss(input1: Tensor, input2: Tensor, target: Tensor, o: LossOptions & { margin?: number } = {}): Tensor {
  return more.marginRankingLoss('marginRankingLoss', input1, input2, target, o);
}
