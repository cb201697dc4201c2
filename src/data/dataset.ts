/**
 * Datasets: the indexable collections a DataLoader draws batches from.
 *
 * A dataset has a `length` and `get(i)` (one sample). It may also have `getBatch(indices)`,
 * which returns a whole batch at once; the DataLoader prefers it, because gathering a batch with
 * one indexSelect per tensor is a single kernel, where per-sample slicing plus `stack` is B
 * views and a copy each.
 *
 * @example
 * const ds = new wt.data.TensorDataset(x, y);       // x [N, 784], y [N]
 * const [xi, yi] = ds.get(0);                       // views: [784] and []
 * const [train, val] = wt.data.randomSplit(ds, [0.9, 0.1], 42);
 */
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { checkNumber, checkTensor, describeValue } from '../validate.js';
import { MAX_NUMEL } from '../shape.js';

/** Anything a DataLoader can index: `length` samples, `get(i)` one, `getBatch` optionally many. */
export interface DatasetLike<T = unknown> {
  readonly length: number;
  get(i: number): T;
  /** A whole batch, already stacked along a new dim 0 (the fast path). */
  getBatch?(indices: readonly number[]): T;
}

/**
 * The base class of datasets (PyTorch's `torch.utils.data.Dataset`): subclasses define
 * `length` and `get(i)`, and may add `getBatch(indices)` to collate a batch themselves.
 *
 * @example
 * class Squares extends wt.data.Dataset<[number, number]> {
 *   get length() { return 100; }
 *   get(i: number): [number, number] { return [i, i * i]; }
 * }
 */
export abstract class Dataset<T = unknown> implements DatasetLike<T> {
  abstract get length(): number;
  abstract get(i: number): T;
}

/** A dataset: a non-negative integer `length` and a `get(i)` method. */
export function checkDataset(op: string, ds: unknown): asserts ds is DatasetLike<unknown> {
  const d = ds as Partial<DatasetLike> | null;
  if (typeof d !== 'object' || d === null || typeof d.get !== 'function' || !Number.isInteger(d.length) || d.length! < 0) {
    throw new ArgumentError(`${op}: dataset must have an integer \`length\` and a \`get(i)\` method, got ${describeValue(ds)}`);
  }
}

/** Throws the ArgumentError every dataset gives for an index outside [0, length). */
export function checkIndex(name: string, i: number, length: number): number {
  const j = i < 0 ? i + length : i;
  if (!Number.isInteger(j) || j < 0 || j >= length) throw new ArgumentError(`${name}.get: index ${describeValue(i)} is out of range for a dataset of ${length} samples`);
  return j;
}

/** Batch indices must be in [0, length) (no negative indexing) and not empty. */
export function checkBatch(name: string, indices: readonly number[], length: number): void {
  if (!Array.isArray(indices) || !indices.length) throw new ArgumentError(`${name}.getBatch: expected a non-empty list of indices, got ${describeValue(indices)}`);
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= length) throw new ArgumentError(`${name}.getBatch: index ${describeValue(i)} is out of range for a dataset of ${length} samples`);
  }
}

/**
 * Samples are the rows (dim 0) of the given tensors, which must agree in size along dim 0.
 * `get(i)` returns views (no copy); `getBatch` gathers with one indexSelect per tensor, or takes
 * a zero-copy narrow view when the indices are consecutive (an unshuffled loader).
 * The tensors stay owned by the caller.
 */
export class TensorDataset extends Dataset<Tensor[]> {
  readonly tensors: readonly Tensor[];
  constructor(...tensors: Tensor[]) {
    super();
    if (!tensors.length) throw new ArgumentError('TensorDataset: expected at least one tensor');
    tensors.forEach((t, i) => checkTensor('TensorDataset', `tensors[${i}]`, t));
    const n = tensors[0].ndim ? tensors[0].shape[0] : -1;
    for (const t of tensors) {
      if (t.ndim === 0 || t.shape[0] !== n) {
        throw new ShapeError(`TensorDataset: every tensor needs the same size in dim 0, got ${tensors.map((x) => fmt(x.shape)).join(', ')}`);
      }
    }
    this.tensors = tensors;
  }
  get length(): number {
    return this.tensors[0].shape[0];
  }
  get(i: number): Tensor[] {
    const j = checkIndex('TensorDataset', i, this.length);
    return this.tensors.map((t) => t.select(0, j));
  }
  getBatch(indices: readonly number[]): Tensor[] {
    checkBatch('TensorDataset', indices, this.length);
    const start = indices[0];
    if (indices.every((v, k) => v === start + k)) return this.tensors.map((t) => t.narrow(0, start, indices.length));
    // one small upload of the indices, then one gather kernel per tensor
    const idx = tensor(Int32Array.from(indices));
    try {
      return this.tensors.map((t) => t.indexSelect(0, idx));
    } finally {
      idx.dispose();
    }
  }
}

/** The samples of `dataset` at `indices` (what randomSplit returns). */
export class Subset<T = unknown> extends Dataset<T> {
  readonly indices: Int32Array;
  constructor(readonly dataset: DatasetLike<T>, indices: ArrayLike<number>) {
    super();
    checkDataset('Subset', dataset);
    if (!Array.isArray(indices) && !ArrayBuffer.isView(indices)) throw new ArgumentError(`Subset: indices must be a list of sample indices, got ${describeValue(indices)}`);
    const n = dataset.length;
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new ArgumentError(`Subset: index ${i} (at position ${k}) is out of range for a dataset of ${n} samples`);
    }
    this.indices = Int32Array.from(indices);
  }
  get length(): number {
    return this.indices.length;
  }
  get(i: number): T {
    return this.dataset.get(this.indices[checkIndex('Subset', i, this.length)]);
  }
  /** Present whenever the parent has it; otherwise the loader collates `get` results. */
  get getBatch(): ((indices: readonly number[]) => T) | undefined {
    const parent = this.dataset;
    if (!parent.getBatch) return undefined;
    return (indices) => {
      checkBatch('Subset', indices, this.length);
      return parent.getBatch!(indices.map((i) => this.indices[i]));
    };
  }
}

/**
 * mulberry32: a small, fast, seeded generator of uniform numbers in [0, 1). Shuffling happens
 * on the host (an index permutation is tiny), so it does not need the device's Philox stream.
 */
export function seededRandom(seed: number): () => number {
  checkNumber('seededRandom', 'seed', seed, { finite: true });
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded random permutation of 0..n-1 (Fisher–Yates). @example randperm(5, 1) // e.g. [3,0,4,1,2] */
export function randperm(n: number, seed: number): Int32Array {
  checkNumber('randperm', 'n', n, { int: true, min: 0, max: MAX_NUMEL });
  checkNumber('randperm', 'seed', seed, { finite: true });
  const r = seededRandom(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** A fresh seed for callers that gave none (so two unseeded loaders shuffle differently). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

/**
 * Splits a dataset into non-overlapping random subsets, by lengths that add up to its length
 * or by fractions that add up to 1 (the remainder after flooring goes to the first subsets
 * round-robin, as PyTorch).
 *
 * @example const [train, val] = wt.data.randomSplit(ds, [0.8, 0.2], 0);
 */
export function randomSplit<T>(dataset: DatasetLike<T>, lengths: readonly number[], seed: number = randomSeed()): Subset<T>[] {
  checkDataset('randomSplit', dataset);
  checkNumber('randomSplit', 'seed', seed, { finite: true });
  const n = dataset.length;
  if (!Array.isArray(lengths) || !lengths.length || lengths.some((l) => !(typeof l === 'number' && Number.isFinite(l) && l >= 0))) {
    throw new ArgumentError(`randomSplit: lengths must be a list of non-negative sizes or fractions, got ${describeValue(lengths)}`);
  }
  let sizes = [...lengths];
  const total = sizes.reduce((a, b) => a + b, 0);
  if (sizes.every(Number.isInteger) && total === n) {
    // absolute lengths
  } else if (Math.abs(total - 1) < 1e-6 && sizes.every((f) => f <= 1)) {
    sizes = lengths.map((f) => Math.floor(f * n));
    let left = n - sizes.reduce((a, b) => a + b, 0);
    for (let i = 0; left > 0; i = (i + 1) % sizes.length, left--) sizes[i]++;
  } else {
    throw new ArgumentError(`randomSplit: lengths [${lengths.join(', ')}] must add up to the dataset's ${n} samples, or be fractions that add up to 1`);
  }
  const perm = randperm(n, seed);
  let off = 0;
  return sizes.map((s) => new Subset(dataset, perm.subarray(off, (off += s))));
}
