/** Gradient clipping, computed on the device (no read back to the host). */
import { noGrad } from '../engine.js';
import { ArgumentError } from '../errors.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';
import { checkNumber, checkTensor, describeValue } from '../validate.js';

/** The parameters as a checked list (any iterable of tensors, e.g. model.parameters()). */
function paramList(op: string, params: Iterable<Tensor>): Tensor[] {
  if (typeof (params as Iterable<Tensor> | null)?.[Symbol.iterator] !== 'function') throw new ArgumentError(`${op}: params must be a list of tensors, got ${describeValue(params)}`);
  const list = [...params];
  list.forEach((p, i) => checkTensor(op, `params[${i}]`, p));
  return list;
}

/**
 * Scales all gradients so their combined norm is at most maxNorm; returns the norm before
 * clipping as a scalar tensor.
 * @example wt.optim.clipGradNorm(model.parameters(), 1.0);
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType: number = 2): Tensor {
  checkNumber('clipGradNorm', 'maxNorm', maxNorm, { above: 0 });
  checkNumber('clipGradNorm', 'normType', normType, { above: 0 });
  const grads = paramList('clipGradNorm', params).map((p) => p.grad).filter((g): g is Tensor => !!g);
  // the norm goes to the caller's scope (not keep()): a step wrapped in tidy frees it
  return noGrad(() => tidy(() => {
    if (!grads.length) throw new ArgumentError('clipGradNorm: no parameter has a gradient');
    let total: Tensor;
    if (normType === Infinity) total = grads.map((g) => g.abs().max()).reduce((a, b) => a.maximum(b));
    else total = grads.map((g) => g.abs().pow(normType).sum()).reduce((a, b) => a.add(b)).pow(1 / normType);
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
    for (const g of grads) g.mul_(coef);
    return total;
  }));
}

/** Clamps every gradient element to [-clip, clip]. */
export function clipGradValue(params: Iterable<Tensor>, clip: number): void {
  checkNumber('clipGradValue', 'clip', clip, { above: 0 });
  const list = paramList('clipGradValue', params);
  noGrad(() => {
    for (const p of list) {
      if (!p.grad) continue;
      const c = p.grad.clamp(-clip, clip);
      p.grad.copy_(c);
      c.dispose();
    }
  });
}
