/**
 * Checks on values an op computes, for input PyTorch refuses by value (bce's probabilities
 * outside [0, 1], an int32 sum that overflows): where the backend reads synchronously (the CPU)
 * the op throws at once; elsewhere (WebGPU, a step being recorded) reading back would stall the
 * queue, so the check is queued with the op and reads of the results that depend on the values
 * throw (src/deferred.ts), as for out-of-range indices (ops/indexing.ts).
 */
import { isRecording, readBufferSync } from '../record.js';
import { attach, carry, deferCheck, flagSlot } from '../deferred.js';
import { noGrad } from '../engine.js';
import { ArgumentError } from '../errors.js';
import { IR } from '../kernel/ir.js';
import type { Tensor } from '../tensor.js';

/**
 * Throws an ArgumentError with `message` when any element of the bool tensor `bad` is true (see
 * the file comment for when); disposes `bad`. Deferred, the check goes with `on`: reads of it
 * throw (`self`), or only reads of results computed from it (`self` false: the input of an op
 * whose result the values would make wrong).
 *
 * @example refuseWhere(input.lt(0).logicalOr(input.gt(1)), 'bce: input must be in [0, 1]', input, false);
 */
export function refuseWhere(bad: Tensor, message: string, on: Tensor, self: boolean): void {
  try {
    if (bad.numel() === 0) return;
    if (isRecording() || !bad.backend.readSync) {
      const slot = flagSlot(bad.backend, bad._view(), IR.cast(IR.load(0, 'bool'), 'int32'));
      const check = deferCheck(bad.backend, [slot], ([flag]) => (flag ? new ArgumentError(`${message} (checked on the device; reported by reads of results computed from it)`) : null));
      (self ? attach : carry)(on._store, check);
      return;
    }
    const any = noGrad(() => bad.any());
    const v = readBufferSync(bad.backend, any._view().buf, 'bool', any.offset, 1)!;
    any.dispose();
    if (v[0]) throw new ArgumentError(message);
  } finally {
    bad.dispose();
  }
}

/** Float32 rounding unit. */
const U = 2 ** -24;

/**
 * Refuses an int32 sum or product whose exact value does not fit in int32 (PyTorch promotes it
 * to int64, which webtensor does not have): `result` is the (wrapped) int32 reduction of x over
 * `axes` (kept as size 1). The float32 reduction F of the same values is within a bound B of the
 * exact value S (sum: (n−1)·u·Σ|x|; product: (n−1)·u·|F|, u = 2^-24); the int32 result equals S
 * when it fits and differs from it by a multiple of 2^32 when it wraps, so as long as B is below
 * 2^30 (else the values are refused as unverifiable), S overflowed exactly when |F| − B ≥ 2^31 or
 * the int32 result is farther than B from F.
 */
export function refuseIntOverflow(op: 'sum' | 'prod', x: Tensor, axes: readonly number[], result: Tensor): void {
  const n = axes.reduce((a, d) => a * x.shape[d], 1);
  if (n < 2 || x.dtype !== 'int32') return;
  const bad = noGrad(() => {
    const xf = x.float();
    const f = op === 'sum' ? xf.sum([...axes], true) : xf.prod([...axes], true);
    const scale = op === 'sum' ? xf.abs().sum([...axes], true) : f.abs();
    // + 256: the int32 result's own rounding to float32 (at most 128 below 2^31)
    const bound = scale.mul((n - 1) * U * 1.01).add(256);
    const r = result.float().reshape([...f.shape]);
    const out = f.abs().sub(bound).ge(2 ** 31).logicalOr(r.sub(f).abs().gt(bound)).logicalOr(bound.ge(2 ** 30));
    [xf, f, scale, bound, r].forEach((t) => t.dispose());
    return out;
  });
  refuseWhere(bad, `${op}: the int32 ${op === 'sum' ? 'sum' : 'product'} of a tensor of shape [${x.shape.join(',')}] does not fit in int32 (PyTorch would return int64, which webtensor does not have); reduce x.float() instead`, result, true);
}
