/**
 * DataLoader: iterates a dataset in batches, optionally shuffled by a seeded permutation that
 * changes every epoch (seed + epoch), so runs are reproducible yet epochs differ.
 *
 * Ownership: each batch is a set of new tensors (or views) that belong to the caller. Wrap the
 * step in `wt.tidy` (fit() does) or dispose them, or they stay alive.
 *
 * @example
 * const loader = new wt.data.DataLoader(new wt.data.TensorDataset(x, y), { batchSize: 64, shuffle: true, seed: 0 });
 * for (const [xb, yb] of loader) {
 *   wt.tidy(() => { opt.zeroGrad(); F.crossEntropy(model.forward(xb), yb).backward(); opt.step(); });
 * }
 */
import { ArgumentError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { stack } from '../ops/movement.js';
import { Tensor } from '../tensor.js';
import { checkDataset, randomSeed, randperm, type DatasetLike } from './dataset.js';
import { checkBoolean, checkFunction, checkNumber, checkOptionalNumber, checkOptions, describeValue } from '../validate.js';

export interface DataLoaderOptions<B> {
  /** samples per batch (default 1) */
  batchSize?: number;
  /** reshuffle every epoch (default false) */
  shuffle?: boolean;
  /** seed of the shuffle; epoch e uses seed + e (default: a random seed) */
  seed?: number;
  /** drop the last batch when it is smaller than batchSize (default false) */
  dropLast?: boolean;
  /** turns a list of samples into a batch; used when the dataset has no getBatch */
  collate?: (samples: unknown[]) => B;
}

/** @example new DataLoader(ds, { batchSize: 32, shuffle: true, seed: 1 }) */
export class DataLoader<B = Tensor[]> implements Iterable<B> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** epochs started so far; the next iteration shuffles with seed + epoch */
  epoch = 0;
  private readonly collate: (samples: unknown[]) => B;

  constructor(readonly dataset: DatasetLike<unknown>, opts: DataLoaderOptions<B> = {}) {
    checkDataset('DataLoader', dataset);
    checkOptions('DataLoader', opts, ['batchSize', 'shuffle', 'seed', 'dropLast', 'collate']);
    const bs = checkNumber('DataLoader', 'batchSize', opts.batchSize ?? 1, { int: true, min: 1 });
    checkOptionalNumber('DataLoader', 'seed', opts.seed, { finite: true });
    if (opts.shuffle !== undefined) checkBoolean('DataLoader', 'shuffle', opts.shuffle);
    if (opts.dropLast !== undefined) checkBoolean('DataLoader', 'dropLast', opts.dropLast);
    if (opts.collate !== undefined) checkFunction('DataLoader', 'collate', opts.collate);
    this.batchSize = bs;
    this.shuffle = opts.shuffle ?? false;
    this.seed = opts.seed ?? randomSeed();
    this.dropLast = opts.dropLast ?? false;
    this.collate = opts.collate ?? (defaultCollate as (s: unknown[]) => B);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Samples per epoch (fewer than the dataset's with dropLast). */
  get numSamples(): number {
    return this.dropLast ? this.length * this.batchSize : this.dataset.length;
  }

  /** Sets the epoch the next iteration uses for its shuffle (as DistributedSampler.set_epoch). */
  setEpoch(epoch: number): void {
    this.epoch = epoch;
  }

  /** The sample order of an epoch: the identity, or the permutation seeded with seed + epoch. */
  order(epoch = this.epoch): Int32Array {
    const n = this.dataset.length;
    if (this.shuffle) return randperm(n, this.seed + epoch);
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return p;
  }

  /** One pass over the dataset; each call starts a new epoch. */
  *[Symbol.iterator](): Iterator<B> {
    const order = this.order(this.epoch++);
    const nb = this.length;
    for (let b = 0; b < nb; b++) {
      const idx = Array.from(order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length)));
      yield this.batch(idx);
    }
  }

  /** The batch of the given sample indices (getBatch when the dataset has it, else collate). */
  batch(indices: readonly number[]): B {
    const n = this.dataset.length;
    if (!Array.isArray(indices) || !indices.length || !indices.every((i) => Number.isInteger(i) && i >= 0 && i < n)) {
      throw new ArgumentError(`DataLoader.batch: indices must be a non-empty list of sample indices in [0, ${n}), got ${describeValue(indices)}`);
    }
    const ds = this.dataset;
    if (typeof ds.getBatch === 'function') return ds.getBatch(indices) as B;
    // per-sample tensors are not disposed here: `get` may return tensors the dataset owns
    return this.collate(indices.map((i) => ds.get(i)));
  }
}

const isNumber = (v: unknown): v is number => typeof v === 'number';
const isNumeric = (v: unknown): boolean => isNumber(v) || (Array.isArray(v) && v.length > 0 && v.every(isNumeric));

/**
 * The default collate, after PyTorch's: tensors are stacked along a new dim 0; plain numbers
 * become a [B] tensor (int32 when all are integers, as class labels usually are, else float32);
 * typed arrays and nested number arrays inside a sample become float32 (int32 for Int32Array)
 * [B, ...] tensors; a top-level array or a plain object is a tuple/record collated field by field.
 *
 * @example defaultCollate([[t0, 3], [t1, 7]]) // [stack([t0, t1]), tensor([3, 7], int32)]
 */
export function defaultCollate(samples: unknown[], depth = 0): unknown {
  if (!Array.isArray(samples) || !samples.length) throw new ArgumentError(`defaultCollate: expected a non-empty list of samples, got ${describeValue(samples)}`);
  const first = samples[0];
  const where = depth ? ` (field at depth ${depth})` : '';
  const same = (pred: (v: unknown) => boolean, what: string) => {
    const k = samples.findIndex((s) => !pred(s));
    if (k >= 0) throw new ArgumentError(`defaultCollate: sample 0 is ${what} but sample ${k} is not${where}`);
  };
  if (first instanceof Tensor) {
    same((s) => s instanceof Tensor, 'a tensor');
    return stack(samples as Tensor[]);
  }
  if (isNumber(first)) {
    same(isNumber, 'a number');
    const ints = (samples as number[]).every(Number.isInteger);
    return tensor(samples as number[], { dtype: ints ? 'int32' : 'float32' });
  }
  if (first instanceof Float32Array || first instanceof Int32Array || first instanceof Uint8Array || first instanceof Float64Array) {
    const len = first.length;
    same((s) => ArrayBuffer.isView(s) && (s as Float32Array).length === len, `a typed array of length ${len}`);
    const isInt = first instanceof Int32Array;
    const out = isInt ? new Int32Array(samples.length * len) : new Float32Array(samples.length * len);
    samples.forEach((s, i) => out.set(s as ArrayLike<number>, i * len));
    return tensor(out, { shape: [samples.length, len] });
  }
  if (Array.isArray(first)) {
    if (depth > 0 && isNumeric(first)) return tensor(samples as number[][], { dtype: 'float32' });
    same((s) => Array.isArray(s) && s.length === first.length, `an array of length ${first.length}`);
    return first.map((_, j) => defaultCollate(samples.map((s) => (s as unknown[])[j]), depth + 1));
  }
  if (first && typeof first === 'object') {
    return Object.fromEntries(Object.keys(first).map((k) => [k, defaultCollate(samples.map((s) => (s as Record<string, unknown>)[k]), depth + 1)]));
  }
  throw new ArgumentError(`defaultCollate: cannot batch samples of type ${typeof first}${where}; pass a \`collate\` function`);
}
