/**
 * Loss functions, as torch.nn.functional: each takes (input, target, options) with
 * `reduction: 'mean' | 'sum' | 'none'` (default 'mean').
 */
import { noGrad } from '../engine.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { checkIndexRange } from '../ops/indexing.js';
import { checkNumber, checkOneOf, checkOptions, checkTensor, describeValue, type OptionKeys } from '../validate.js';
import { tidy } from '../memory.js';
import { crossEntropy as fusedCrossEntropy, logSoftmax } from '../ops/norm.js';
import { where } from '../ops/functions.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';

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
  checkTensor(op, 'input', input);
  checkTensor(op, 'target', target);
  checkOptions(op, o, known);
  if (o.reduction !== undefined) checkOneOf(op, 'reduction', o.reduction, ['mean', 'sum', 'none']);
  if (input.dtype !== 'float32') throw new DTypeError(`${op}: input must be float32, got ${input.dtype} of shape ${fmt(input.shape)}`);
  if (same && !shapesEqual(input.shape, target.shape)) {
    throw new ShapeError(`${op}: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
}

/** A float target (probabilities, labels in {0, 1}) and optional weights broadcasting to the input. */
function checkWeighted(op: string, input: Tensor, target: Tensor, weights: Record<string, Tensor | undefined>): void {
  if (target.dtype !== 'float32') throw new DTypeError(`${op}: target must be float32 (use target.float()), got ${target.dtype}`);
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
  return tidy(() => {
    const lp = input.log().clamp(-100), lq = input.neg().add(1).log().clamp(-100);
    let l = target.mul(lp).add(target.neg().add(1).mul(lq)).neg();
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
}

/** `weight`: class weights [C] (crossEntropy and nllLoss) */
type ClassWeights = { weight?: unknown };
const CROSS_ENTROPY_KEYS: OptionKeys<CrossEntropyLossOptions & ClassWeights> = ['reduction', 'ignoreIndex', 'labelSmoothing', 'weight'];

/**
 * Cross-entropy of logits [N,C] (or [N,C,d...]) against int32 class indices or float class
 * probabilities; the index form is one fused kernel each way.
 * @example const loss = F.crossEntropy(model.forward(x), y);
 */
export function crossEntropy(input: Tensor, target: Tensor, o: CrossEntropyLossOptions = {}): Tensor {
  checkLoss('crossEntropy', input, target, o as CrossEntropyLossOptions & ClassWeights, CROSS_ENTROPY_KEYS, false);
  const eps = o.labelSmoothing ?? 0;
  checkNumber('crossEntropy', 'labelSmoothing', eps, { min: 0, max: 1 });
  const reduction = o.reduction ?? 'mean';
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

/** Negative log-likelihood of log-probabilities [N,C] against int32 class indices. */
export function nllLoss(input: Tensor, target: Tensor, o: LossOptions & { ignoreIndex?: number } = {}): Tensor {
  checkLoss('nllLoss', input, target, o as LossOptions & { ignoreIndex?: number } & ClassWeights, ['reduction', 'ignoreIndex', 'weight'], false);
  if (input.ndim !== 2 || target.ndim !== 1 || target.shape[0] !== input.shape[0]) {
    throw new ShapeError(`nllLoss: expected input [N,C] and target [N], got ${fmt(input.shape)} and ${fmt(target.shape)}`);
  }
  const ignore = checkNumber('nllLoss', 'ignoreIndex', o.ignoreIndex ?? -100, { int: true });
  if (target.dtype !== 'int32') throw new DTypeError(`nllLoss: target must be int32 class indices, got ${target.dtype}`);
  checkIndexRange('nllLoss', 'target', target, input.shape[1], `${input.shape[1]} classes of input ${fmt(input.shape)} (ignoreIndex ${ignore})`, ignore);
  return tidy(() => {
    const valid = target.ne(ignore);
    const safe = where(valid, target, 0);
    const picked = input.gather(1, safe.unsqueeze(1)).squeeze(1).neg().mul(valid.float());
    const r = o.reduction ?? 'mean';
    if (r === 'mean') return picked.sum().div(valid.float().sum());
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
