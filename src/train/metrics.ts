/**
 * Losses by name and metrics for the training loop. A metric is a function (yPred, yTrue) →
 * scalar tensor (the batch mean); fit() accumulates `value × batchSize` on the device and reads
 * the sums back only when it has to, so metrics never stall the GPU per step.
 *
 * @example
 * model.compile({ loss: 'crossEntropy', metrics: ['accuracy', { name: 'top2', fn: myTop2 }] });
 */
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import * as L from '../nn/losses.js';
import { Tensor } from '../tensor.js';
import { checkNumber, checkTensor, describeValue } from '../validate.js';

export type LossFn = (yPred: Tensor, yTrue: Tensor) => Tensor;
/** 'klDiv' is torch's: the prediction is log-probabilities, the target probabilities ('batchmean') */
export type LossName = 'crossEntropy' | 'mse' | 'bce' | 'bceWithLogits' | 'l1' | 'huber' | 'smoothL1' | 'nll' | 'hinge' | 'klDiv';
export type LossSpec = LossName | LossFn;

export type MetricFn = (yPred: Tensor, yTrue: Tensor) => Tensor;
/** 'accuracy' (alias 'acc'), a function (named by its `name`), or { name, fn }. */
export type MetricSpec = 'accuracy' | 'acc' | MetricFn | { name: string; fn: MetricFn };

export interface Resolved<F> {
  name: string;
  fn: F;
}

/**
 * Targets for elementwise losses: the same shape as the prediction (a [N] target for a [N,1]
 * output is reshaped, as Keras does) and float32 (int or bool labels are cast).
 */
function matchTarget(op: string, yPred: Tensor, yTrue: Tensor): Tensor {
  let y = yTrue;
  if (y.shape.length !== yPred.shape.length || y.shape.some((d, i) => d !== yPred.shape[i])) {
    if (y.numel() !== yPred.numel()) throw new ShapeError(`${op}: prediction ${fmt(yPred.shape)} and target ${fmt(yTrue.shape)} do not match`);
    y = y.reshape([...yPred.shape]);
  }
  return y.dtype === 'float32' ? y : y.float();
}

const elementwise = (name: string, f: (a: Tensor, b: Tensor) => Tensor): LossFn => (p, t) => tidy(() => f(p, matchTarget(name, p, t)));

const LOSSES: Record<LossName, LossFn> = {
  crossEntropy: (p, t) => L.crossEntropy(p, t),
  nll: (p, t) => L.nllLoss(p, t),
  mse: elementwise('mse', (p, t) => L.mseLoss(p, t)),
  l1: elementwise('l1', (p, t) => L.l1Loss(p, t)),
  huber: elementwise('huber', (p, t) => L.huberLoss(p, t)),
  smoothL1: elementwise('smoothL1', (p, t) => L.smoothL1Loss(p, t)),
  klDiv: elementwise('klDiv', (p, t) => L.klDiv(p, t, { reduction: 'batchmean' })),
  bce: elementwise('bce', (p, t) => L.bce(p, t)),
  bceWithLogits: elementwise('bceWithLogits', (p, t) => L.bceWithLogits(p, t)),
  hinge: elementwise('hinge', (p, t) => L.hingeLoss(p, t)),
};

/** A loss by name, or the given function (called as fn(yPred, yTrue), returning a scalar). @example resolveLoss('mse') */
export function resolveLoss(spec: LossSpec): Resolved<LossFn> {
  return lossOf('resolveLoss', spec);
}

/** resolveLoss for `op` (fit, compile, evaluate), which names it in errors. */
export function lossOf(op: string, spec: LossSpec): Resolved<LossFn> {
  if (typeof spec === 'function') return { name: spec.name || 'loss', fn: spec };
  // own keys only: 'toString' is no loss
  if (typeof spec !== 'string' || !Object.hasOwn(LOSSES, spec)) throw new ArgumentError(`${op}: unknown loss ${describeValue(spec)} (expected one of ${Object.keys(LOSSES).join(', ')}, or a function)`);
  return { name: spec, fn: LOSSES[spec as LossName] };
}

/**
 * Fraction of correct predictions. With more than one output per sample (last dim > 1) the
 * prediction is the argmax of the last dim, compared with int labels or the argmax of one-hot
 * targets; with one output it is `yPred > threshold` (0.5 for probabilities; fit uses 0 for
 * the logits of 'bceWithLogits'), compared with `yTrue > 0.5`.
 *
 * @example await wt.train.accuracy(logits, labels).item(); // e.g. 0.97
 */
export function accuracy(yPred: Tensor, yTrue: Tensor, threshold = 0.5): Tensor {
  checkTensor('accuracy', 'yPred', yPred);
  checkTensor('accuracy', 'yTrue', yTrue);
  checkNumber('accuracy', 'threshold', threshold);
  return tidy(() => {
    const multi = yPred.ndim >= 2 && yPred.shape[yPred.ndim - 1] > 1;
    if (multi) {
      const pred = yPred.argmax(-1);
      const sameShape = yTrue.ndim === yPred.ndim && yTrue.shape.every((d, i) => d === yPred.shape[i]);
      let truth = sameShape ? yTrue.argmax(-1) : yTrue;
      if (truth.numel() !== pred.numel()) throw new ShapeError(`accuracy: prediction ${fmt(yPred.shape)} and target ${fmt(yTrue.shape)} do not match (expected ${pred.numel()} labels)`);
      truth = truth.reshape([...pred.shape]);
      return pred.eq(truth.dtype === 'int32' ? truth : truth.int()).float().mean();
    }
    if (yTrue.numel() !== yPred.numel()) throw new ShapeError(`accuracy: prediction ${fmt(yPred.shape)} and target ${fmt(yTrue.shape)} do not match`);
    const truth = yTrue.reshape([...yPred.shape]).float().gt(0.5);
    return yPred.gt(threshold).eq(truth).float().mean();
  });
}

/** Resolves metric specs to named functions; the accuracy threshold follows the loss. @example resolveMetrics(['accuracy'], 'crossEntropy') */
export function resolveMetrics(specs: readonly MetricSpec[] = [], loss?: string): Resolved<MetricFn>[] {
  return metricsOf('resolveMetrics', specs, loss);
}

/** resolveMetrics for `op` (fit, compile, evaluate), which names it in errors. */
export function metricsOf(op: string, specs: readonly MetricSpec[] = [], loss?: string): Resolved<MetricFn>[] {
  if (!Array.isArray(specs)) throw new ArgumentError(`${op}: metrics must be an array, got ${describeValue(specs)}`);
  if (loss !== undefined && typeof loss !== 'string') throw new ArgumentError(`${op}: loss must be the name of a loss, got ${describeValue(loss)}`);
  const threshold = loss === 'bceWithLogits' ? 0 : 0.5;
  const out = specs.map((m, i): Resolved<MetricFn> => {
    if (m === 'accuracy' || m === 'acc') return { name: 'acc', fn: (p, t) => accuracy(p, t, threshold) };
    if (typeof m === 'function') return { name: m.name || `metric${i}`, fn: m };
    if (m && typeof m === 'object' && typeof m.fn === 'function' && typeof m.name === 'string') return { name: m.name, fn: m.fn };
    throw new ArgumentError(`${op}: unknown metric ${describeValue(m)} (expected 'accuracy', a function or { name, fn })`);
  });
  const names = out.map((m) => m.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i || n === 'loss' || n === 'lr');
  if (dup) throw new ArgumentError(`${op}: metric name ${describeValue(dup)} is used twice or is reserved`);
  return out;
}

/** The scalar a metric or loss returned (means a non-scalar), with a clear error otherwise. */
export function scalarOf(what: string, v: unknown): Tensor {
  if (!(v instanceof Tensor)) throw new ArgumentError(`fit: ${what} must return a Tensor, got ${v === null ? 'null' : typeof v}`);
  if (v.dtype !== 'float32') return v.float().mean();
  return v.numel() === 1 ? v.reshape([]) : v.mean();
}

/** valLoss, valAcc, ... : the validation name of a log key. */
export function valKey(name: string): string {
  return `val${name[0].toUpperCase()}${name.slice(1)}`;
}
