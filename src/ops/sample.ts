/**
 * Sampling category indices from rows of weights (multinomial), on the device: the uniform
 * numbers come from the library's Philox generator (`rand`), so a seed gives the same draws on
 * every backend, and nothing is read back. Checks on the weights' values (negative, NaN, infinite,
 * all-zero rows) run on the device where reads are asynchronous (src/deferred.ts) and are reported
 * by the first read of the samples.
 */
import { attach, deferCheck, flagSlot } from '../deferred.js';
import { noGrad } from '../engine.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { IR } from '../kernel/ir.js';
import { tidy } from '../memory.js';
import { isRecording, readBufferSync } from '../record.js';
import type { Tensor } from '../tensor.js';
import { rand, zeros } from './creation.js';
import { elementwise } from './elementwise.js';
import { runRoutine } from './run.js';
import { topk } from './sort.js';
import { checkBoolean, checkNumber, checkOptionalNumber, checkOptions, checkTensor } from '../validate.js';

export interface MultinomialOptions {
  /** fixes the draws; without it the global generator (wt.manualSeed) advances */
  seed?: number;
}

const BAD_ENTRY = 'weights must be finite and non-negative';

/**
 * Throws (or, where reads are asynchronous, queues a check that `out`'s reads report) if a
 * weight of w [R, D] (contiguous) is negative, NaN or infinite, or a row sums to 0.
 */
function checkWeights(w: Tensor, shape: readonly number[], out: Tensor | null): void {
  const [R, D] = w.shape;
  if (!isRecording() && w.backend.readSync) {
    if (out) return; // checked before sampling
    const v = readBufferSync(w.backend, w._view().buf, 'float32', w.offset, R * D)!;
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let j = 0; j < D; j++) {
        const x = v[r * D + j];
        if (!(x >= 0) || x === Infinity) throw new ArgumentError(`multinomial: input ${fmt(shape)} holds ${x} at ${shape.length === 2 ? `row ${r}, column ${j}` : `position ${j}`}: ${BAD_ENTRY}`);
        s += x;
      }
      if (!(s > 0)) throw new ArgumentError(`multinomial: ${shape.length === 2 ? `row ${r} of input` : 'input'} ${fmt(shape)} sums to 0: it needs a positive weight`);
    }
    return;
  }
  if (!out) return; // queued once the samples exist
  const x = IR.load(0, 'float32');
  const bad = IR.binary('or', IR.unary('not', IR.binary('ge', x, IR.const(0))), IR.unary('isinf', x));
  const entries = flagSlot(w.backend, w._view(), IR.cast(bad, 'int32'));
  const sums = noGrad(() => w.sum(1));
  const zero = flagSlot(w.backend, sums._view(), IR.cast(IR.unary('not', IR.binary('gt', IR.load(0, 'float32'), IR.const(0))), 'int32'));
  sums.dispose();
  const where = fmt(shape);
  const check = deferCheck(w.backend, [entries, zero], ([e, z]) =>
    e ? new ArgumentError(`multinomial: input ${where} holds a negative, NaN or infinite value: ${BAD_ENTRY} (checked on the device; reported by reads of the samples)`)
      : z ? new ArgumentError(`multinomial: a row of input ${where} sums to 0: each row needs a positive weight (checked on the device; reported by reads of the samples)`)
        : null);
  attach(out._store, check);
}

/**
 * Draws `numSamples` int32 category indices from each row of `probs` (1-D [D] → [numSamples],
 * 2-D [R, D] → [R, numSamples]), category j of a row with probability proportional to its weight
 * (non-negative, not necessarily summing to 1), as torch.multinomial.
 *
 * With `replacement`, each draw inverts the row's cumulative sum at a uniform number (a binary
 * search per draw: O(R·D + R·numSamples·log D)); zero weights are never drawn. Without, the
 * draws are distinct: the numSamples largest of log(w) + Gumbel noise (a sort of each row), which
 * draws in order as sequential sampling without replacement does; once the positive weights are
 * used up, zero-weight categories follow in index order (as PyTorch's CPU).
 *
 * Bad weights (negative, NaN, infinite, a row summing to 0) are ArgumentErrors: at once on the
 * CPU, at the first read of the samples on WebGPU (a device check; nothing waits).
 *
 * @example
 * const next = wt.multinomial(logits.softmax(-1), 1, false, { seed: 0 }); // [B, 1] token ids
 * wt.multinomial(wt.tensor([1, 0, 3]), 10, true); // ten draws of 0 or 2 (2 three times as often)
 */
export function multinomial(probs: Tensor, numSamples: number, replacement = false, opts: MultinomialOptions = {}): Tensor {
  checkTensor('multinomial', 'input', probs);
  checkOptions('multinomial', opts, ['seed']);
  checkBoolean('multinomial', 'replacement', replacement);
  checkOptionalNumber('multinomial', 'seed', opts.seed, { finite: true });
  if (probs.dtype !== 'float32') throw new DTypeError(`multinomial: input must be float32 weights, got ${probs.dtype} of shape ${fmt(probs.shape)}`);
  if (probs.ndim !== 1 && probs.ndim !== 2) throw new ShapeError(`multinomial: input must be 1-D [categories] or 2-D [rows, categories], got shape ${fmt(probs.shape)}`);
  checkNumber('multinomial', 'numSamples', numSamples, { int: true, min: 1 });
  const D = probs.shape[probs.ndim - 1], R = probs.ndim === 2 ? probs.shape[0] : 1;
  if (D === 0) throw new ShapeError(`multinomial: input ${fmt(probs.shape)} has no categories`);
  if (!replacement && numSamples > D) throw new ArgumentError(`multinomial: cannot draw ${numSamples} distinct samples from ${D} categories (input ${fmt(probs.shape)}); pass replacement = true`);
  const outShape = probs.ndim === 2 ? [R, numSamples] : [numSamples];
  const S = numSamples;
  if (R === 0) return zeros(outShape, { dtype: 'int32' });
  return tidy(() => noGrad(() => {
    const w = probs.reshape([R, D]).contiguous();
    checkWeights(w, probs.shape, null);
    const u = rand([R, replacement ? S : D], { seed: opts.seed ?? undefined });
    // computed now, through the path that registers its random stream with wt.compile's recorder
    u._store.materialize();
    let out: Tensor;
    if (replacement) {
      const cdf = w.cumsum(1); // [R, D]
      const total = cdf.narrow(1, D - 1, 1); // [R, 1]
      // the draw's point in [0, total): clamped below total, which u·total may round to
      const t = u.mul(total).minimum(total.mul(1 - 2 ** -23)); // [R, S]
      // the first category whose cumulative weight passes t (a binary search per draw)
      out = runRoutine('sampleCategorical', {}, [cdf, w, t.contiguous()], [{ shape: [R, S], dtype: 'int32' }])[0];
    } else {
      // Gumbel-top-k: log w − log E, E ~ Exp(1) from 1 − u in (0, 1]; zero weights rank last
      const e = u.neg().add(1).log().neg();
      const keys = elementwise('where', [w.gt(0), w.log().sub(e.log()), -Infinity]);
      const { values, indices } = topk(keys, S, 1);
      values.dispose();
      out = indices;
    }
    checkWeights(w, probs.shape, out);
    return out.reshape(outShape);
  }));
}
