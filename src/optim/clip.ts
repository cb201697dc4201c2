/** Gradient clipping, computed on the device (no read back to the host). */
import { noGrad } from '../engine.js';
import { ArgumentError } from '../errors.js';
import { tidy, keep } from '../memory.js';
import type { Tensor } from '../tensor.js';

/**
 * Scales all gradients so their combined norm is at most maxNorm; returns the norm before
 * clipping as a scalar tensor.
 * @example wt.optim.clipGradNorm(model.parameters(), 1.0);
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType: number = 2): Tensor {
  if (!(maxNorm > 0)) throw new ArgumentError(`clipGradNorm: maxNorm must be positive, got ${maxNorm}`);
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => !!g);
  return noGrad(() => keep(tidy(() => {
    if (!grads.length) throw new ArgumentError('clipGradNorm: no parameter has a gradient');
    let total: Tensor;
    if (normType === Infinity) total = grads.map((g) => g.abs().max()).reduce((a, b) => a.maximum(b));
    else total = grads.map((g) => g.abs().pow(normType).sum()).reduce((a, b) => a.add(b)).pow(1 / normType);
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
    for (const g of grads) g.mul_(coef);
    return total;
  })));
}

/** Clamps every gradient element to [-clip, clip]. */
export function clipGradValue(params: Iterable<Tensor>, clip: number): void {
  if (!(clip > 0)) throw new ArgumentError(`clipGradValue: clip must be positive, got ${clip}`);
  noGrad(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const c = p.grad.clamp(-clip, clip);
      p.grad.copy_(c);
      c.dispose();
    }
  });
}
