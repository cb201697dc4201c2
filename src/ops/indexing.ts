/**
 * Index-driven ops: gather, indexSelect (and embedding on top of it), scatterAdd, oneHot, and
 * reflect / replicate / circular padding built from indexSelect with host-made index lists.
 *
 * Indices are int32 tensors. Out-of-range values are rejected with an ArgumentError when the
 * backend can read them synchronously (CPU), which is cheap next to the op itself. On WebGPU
 * reading them would stall the queue: the kernels never touch memory out of bounds (a bad index
 * reads 0, or is skipped by scatterAdd), and a small reduction queued with the op flags it: reads
 * of what is computed from the index (the op's result, and anything computed from that) throw
 * the ArgumentError naming the op (src/deferred.ts). The CPU does the same inside a step being
 * recorded (`wt.compile`): its replays cannot read either.
 *
 * Gradients: gather ↔ scatterAdd and indexSelect ↔ indexAdd are each other's adjoints.
 */
import { record } from '../autograd/graph.js';
import type { GradTable } from '../autograd/rules.js';
import { noGrad } from '../engine.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { MAX_NUMEL, broadcastShapes, normAxis, numel, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { arange, full, tensor, zeros } from './creation.js';
import { elementwise } from './elementwise.js';
import { cropNegative, pad, padPairs } from './movement.js';
import { copyInto, runOrZeros, runRoutine } from './run.js';
import { gradOut } from '../arena.js';
import { IR } from '../kernel/ir.js';
import { EMBEDDING_BACKWARD_THREADS } from '../kernel/kernel.js';
import { carry, deferCheck, flagSlot } from '../deferred.js';
import { isRecording, readBufferSync } from '../record.js';
import { checkNumber, checkOptions, checkTensor, describeValue } from '../validate.js';

/**
 * Throws an ArgumentError if an int32 index tensor holds a value outside [0, size) (other than
 * `allowed`), when its backend can read synchronously; otherwise (WebGPU, or a step being recorded)
 * the check is queued and reported at the next read (see the file comment).
 * `where` describes the indexed dim for the message, e.g. "dim 1 of input [3,5]".
 * @internal
 */
export function checkIndexRange(op: string, arg: string, index: Tensor, size: number, where: string, allowed?: number): void {
  // a step being recorded (wt.compile) cannot read back: its replays check on the device too
  const read = isRecording() ? undefined : index.backend.readSync;
  if (index.numel() === 0) return;
  if (!read) {
    // k outside [0, size) and not `allowed` (scalars: size, allowed)
    const k = IR.load(0, 'int32');
    let bad = IR.binary('or', IR.binary('lt', k, IR.const(0, 'int32')), IR.binary('ge', k, IR.scalar(0, 'int32')));
    if (allowed !== undefined) bad = IR.binary('and', bad, IR.binary('ne', k, IR.scalar(1, 'int32')));
    const slot = flagSlot(index.backend, index._view(), IR.cast(bad, 'int32'), allowed === undefined ? [size] : [size, allowed]);
    const shape = fmt(index.shape);
    const check = deferCheck(index.backend, [slot], ([flag]) => (flag ? new ArgumentError(`${op}: ${arg} ${shape} holds a value out of range [0, ${size}) for ${where} (checked on the device; reported by reads of results computed from it)`) : null));
    // what is computed from the index from now on (the op's result, its gradient) carries the check
    carry(index._store, check);
    return;
  }
  const vals = noGrad(() => {
    const c = index.contiguous();
    const v = readBufferSync(index.backend, c._view().buf, index.dtype, c.offset, c.numel())!;
    if (c !== index) c.dispose();
    return v;
  });
  for (let i = 0; i < vals.length; i++) {
    const k = vals[i];
    if ((k < 0 || k >= size) && k !== allowed) {
      throw new ArgumentError(`${op}: ${arg} ${fmt(index.shape)} holds ${k} (at flat position ${i}), out of range [0, ${size}) for ${where}`);
    }
  }
}

function checkIndexDType(op: string, arg: string, index: Tensor): void {
  checkTensor(op, arg, index);
  if (index.dtype !== 'int32') throw new DTypeError(`${op}: ${arg} must be int32, got ${index.dtype} of shape ${fmt(index.shape)}`);
}

/** A new zero tensor of x's shape with g scattered into it along dim (the gather adjoint). */
function scatterIntoZeros(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor {
  const z = zeros(shape, { dtype: src.dtype });
  return tidy(() => runOrZeros('scatterAdd', { dim }, [index.contiguous(), src.contiguous()], [z], index.numel())[0]);
}

/**
 * Picks values along `dim` by a same-rank int32 index: out[i][j][k] = x[i][index[i][j][k]][k]
 * for dim 1. index may be smaller than x in every dim but `dim`, as PyTorch.
 *
 * @example
 * const x = wt.tensor([[1, 2], [3, 4]]);
 * x.gather(1, wt.tensor([[0, 0], [1, 0]], { dtype: 'int32' })); // [[1, 1], [4, 3]]
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkTensor('gather', 'input', x);
  checkIndexDType('gather', 'index', index);
  if (index.ndim !== x.ndim) throw new ShapeError(`gather: index has ${index.ndim} dims but input ${fmt(x.shape)} has ${x.ndim}`);
  const d = normAxis('gather', dim, x.ndim);
  for (let i = 0; i < x.ndim; i++) {
    if (i !== d && index.shape[i] > x.shape[i]) {
      throw new ShapeError(`gather: index ${fmt(index.shape)} is larger than input ${fmt(x.shape)} in dim ${i} (only dim ${d} may be larger)`);
    }
  }
  checkIndexRange('gather', 'index', index, x.ndim ? x.shape[d] : 1, `dim ${d} of input ${fmt(x.shape)}`);
  const out = tidy(() => noGrad(() =>
    runOrZeros('gather', { dim: d }, [x.contiguous(), index.contiguous()], [{ shape: index.shape, dtype: x.dtype }], index.numel())[0]));
  return record('gather', [x], out, [index], { dim: d });
}

/**
 * Selects whole slices of x along `dim` by a 1-D int32 index (repeats allowed): the result has
 * index.numel() entries in `dim`. A 0-d index counts as a list of one.
 *
 * @example
 * const w = wt.randn([10, 4]);
 * w.indexSelect(0, wt.tensor([3, 3, 7], { dtype: 'int32' })); // rows 3, 3, 7: [3, 4]
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkTensor('indexSelect', 'input', x);
  checkIndexDType('indexSelect', 'index', index);
  if (index.ndim > 1) throw new ShapeError(`indexSelect: index must be 1-D, got shape ${fmt(index.shape)} for input ${fmt(x.shape)}`);
  if (x.ndim === 0) throw new ShapeError('indexSelect: input must have at least 1 dim, got a 0-d tensor');
  const d = normAxis('indexSelect', dim, x.ndim);
  checkIndexRange('indexSelect', 'index', index, x.shape[d], `dim ${d} of input ${fmt(x.shape)}`);
  return selectChecked(x, d, index);
}

/** Most index entries embeddingBackward's threads read in all (threads × N): 2^28. */
const EMBEDDING_BACKWARD_WORK = 2 ** 28;

/**
 * Whether indexSelect's gradient for x of `shape` along `dim` with N indices is the
 * embeddingBackward routine (dim 0: every row written by one deterministic kernel, no zero-fill)
 * rather than a zero-fill and indexAdd: the WebGPU kernel walks the whole index once per thread
 * (up to 65,536 of them), so a long index over a large table takes indexAdd's atomics instead.
 * @internal (also the conformance check's)
 */
export function usesEmbeddingBackward(shape: readonly number[], dim: number, N: number): boolean {
  const n = numel(shape);
  return dim === 0 && n > 0 && N * Math.min(n, EMBEDDING_BACKWARD_THREADS) <= EMBEDDING_BACKWARD_WORK;
}

/** indexSelect once its arguments are checked (embedding checks its indices itself: one check, not two). */
function selectChecked(x: Tensor, d: number, index: Tensor): Tensor {
  const L = index.numel();
  const shape = x.shape.map((s, i) => (i === d ? L : s));
  const out = tidy(() => noGrad(() =>
    runOrZeros('indexSelect', { dim: d }, [x.contiguous(), index.reshape([L]).contiguous()], [{ shape, dtype: x.dtype }], numel(shape))[0]));
  return record('indexSelect', [x], out, [index], { dim: d });
}

/**
 * Embedding lookup: rows of `weight` [V,D] picked by int32 `indices` of any shape →
 * [...indices.shape, D]. The gradient of weight is a scatter-add of the output gradient (rows
 * hit twice accumulate). With `paddingIdx`, that row gets no gradient (its value is still returned).
 *
 * @example
 * const w = wt.randn([100, 16], { requiresGrad: true });
 * const e = wt.embedding(wt.tensor([[1, 2], [5, 1]], { dtype: 'int32' }), w); // [2, 2, 16]
 */
export function embedding(indices: Tensor, weight: Tensor, opts: { paddingIdx?: number | null } = {}): Tensor {
  checkOptions('embedding', opts, ['paddingIdx']);
  checkTensor('embedding', 'weight', weight);
  checkIndexDType('embedding', 'indices', indices);
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be 2-D [numEmbeddings, dim], got ${fmt(weight.shape)}`);
  const [V, D] = weight.shape;
  let pad: number | null = opts.paddingIdx ?? null;
  if (pad !== null) {
    if (!Number.isInteger(pad) || pad < -V || pad >= V) throw new ArgumentError(`embedding: paddingIdx ${pad} is out of range for weight ${fmt(weight.shape)}`);
    if (pad < 0) pad += V;
  }
  checkIndexRange('embedding', 'indices', indices, V, `weight ${fmt(weight.shape)}`);
  return tidy(() => {
    const flat = indices.reshape([indices.numel()]);
    const rows = selectChecked(weight, 0, flat); // [n, D]
    const out = rows.reshape([...indices.shape, D]);
    if (pad === null || !out.requiresGrad) return out;
    // same values, but the padding rows take their value from a detached copy: no gradient
    const keepGrad = indices.unsqueeze(-1).ne(pad);
    return elementwise('where', [keepGrad, out, out.detach()]);
  });
}

/**
 * Out-of-place scatter-add: a copy of x with src[i][j][k] added at x[i][index[i][j][k]][k]
 * (for dim 1); repeated indices accumulate. index has x's rank and is no larger than src in any
 * dim, nor than x outside `dim`; only the first index.shape part of src is used. float32, int32
 * or bool (bool values are or-ed, as PyTorch).
 *
 * @example
 * const out = wt.scatterAdd(wt.zeros([3]), 0, wt.tensor([0, 2, 0], { dtype: 'int32' }), wt.ones([3])); // [2, 0, 1]
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkTensor('scatterAdd', 'input', x);
  checkTensor('scatterAdd', 'src', src);
  checkIndexDType('scatterAdd', 'index', index);
  if (src.dtype !== x.dtype) throw new DTypeError(`scatterAdd: src dtype ${src.dtype} differs from input dtype ${x.dtype}`);
  // bool + bool is a logical or (as PyTorch); summing 0/1 words would store 2 as a bool
  if (x.dtype === 'bool') return tidy(() => scatterAdd(x.int(), dim, index, src.int()).ne(0));
  if (index.ndim !== x.ndim || src.ndim !== x.ndim) {
    throw new ShapeError(`scatterAdd: input ${fmt(x.shape)}, index ${fmt(index.shape)} and src ${fmt(src.shape)} must have the same number of dims`);
  }
  const d = normAxis('scatterAdd', dim, x.ndim);
  for (let i = 0; i < x.ndim; i++) {
    if (index.shape[i] > src.shape[i] || (i !== d && index.shape[i] > x.shape[i])) {
      throw new ShapeError(`scatterAdd: index ${fmt(index.shape)} must be no larger than src ${fmt(src.shape)} in every dim and than input ${fmt(x.shape)} in dims other than ${d} (dim ${i})`);
    }
  }
  checkIndexRange('scatterAdd', 'index', index, x.ndim ? x.shape[d] : 1, `dim ${d} of input ${fmt(x.shape)}`);
  const out = tidy(() => noGrad(() => {
    const o = x.clone();
    let s = src;
    index.shape.forEach((n, i) => (s = n < s.shape[i] ? s.narrow(i, 0, n) : s));
    return runOrZeros('scatterAdd', { dim: d }, [index.contiguous(), s.contiguous()], [o], index.numel())[0];
  }));
  return record('scatterAdd', [x, src], out, [index], { dim: d });
}

/**
 * One-hot encoding of int32 class indices → int32 [...indices.shape, numClasses]. numClasses = -1
 * infers max + 1, which needs a synchronous read (CPU backend); pass it explicitly on WebGPU.
 *
 * @example
 * wt.oneHot(wt.tensor([0, 2], { dtype: 'int32' }), 3); // [[1, 0, 0], [0, 0, 1]]
 */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  checkIndexDType('oneHot', 'indices', indices);
  if (!Number.isInteger(numClasses) || numClasses < -1 || numClasses > MAX_NUMEL) throw new ArgumentError(`oneHot: numClasses must be a non-negative integer or -1, got ${describeValue(numClasses)}`);
  if (numClasses === -1) {
    if (!indices.backend.readSync) throw new ArgumentError(`oneHot: numClasses must be given on the ${indices.backend.name} backend (inferring it needs a synchronous read of indices ${fmt(indices.shape)})`);
    if (indices.numel() === 0) throw new ArgumentError(`oneHot: cannot infer numClasses from empty indices ${fmt(indices.shape)}`);
    const m = noGrad(() => indices.max());
    numClasses = readBufferSync(indices.backend, m._view().buf, 'int32', m.offset, 1)![0] + 1;
    m.dispose();
  }
  checkIndexRange('oneHot', 'indices', indices, numClasses, `numClasses ${numClasses}`);
  return tidy(() => indices.unsqueeze(-1).eq(arange(0, numClasses, 1, { dtype: 'int32' })).int());
}

export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/** Source position of output position j (in [-l, n + r)) for each padding mode. */
const SOURCE: Record<Exclude<PadMode, 'constant'>, (j: number, n: number) => number> = {
  reflect: (j, n) => (j < 0 ? -j : j >= n ? 2 * (n - 1) - j : j),
  replicate: (j, n) => Math.min(Math.max(j, 0), n - 1),
  circular: (j, n) => ((j % n) + n) % n,
};

/**
 * Padding with a mode, as torch.nn.functional.pad: `pads` = [lastLeft, lastRight, prevLeft,
 * prevRight, ...]. 'reflect' mirrors without repeating the edge (pad < size), 'replicate' repeats
 * the edge, 'circular' wraps (pad <= size), 'constant' fills with `value`. Each padded dim is one
 * indexSelect with an index list built on the host, so the gradient is an index-add.
 *
 * @example
 * wt.padMode(wt.tensor([[1, 2, 3]]), [2, 1], 'reflect'); // [[3, 2, 1, 2, 3, 2]]
 */
export function padMode(x: Tensor, pads: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  return padWith('padMode', x, pads, mode, value);
}

/** `padMode` under the name the user called it by (`F.pad` is the same function). @internal */
export function padWith(op: string, x: Tensor, pads: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  checkTensor(op, 'input', x);
  if (mode !== 'constant' && !(typeof mode === 'string' && mode in SOURCE)) throw new ArgumentError(`${op}: unknown mode ${describeValue(mode)} (expected constant, reflect, replicate or circular)`);
  checkNumber(op, 'value', value);
  if (mode === 'constant') return pad(x, pads, value);
  const full = padPairs(op, x, pads);
  const src = SOURCE[mode];
  return tidy(() => {
    // negative amounts crop first (as torch); the rest pads the cropped view
    const c = cropNegative(x, full);
    let cur = c.x;
    for (let d = 0; d < x.ndim; d++) {
      const n = c.x.shape[d], l = c.pads[2 * d], r = c.pads[2 * d + 1];
      const bad = mode === 'reflect' ? l >= n || r >= n : mode === 'circular' ? l > n || r > n : (l > 0 || r > 0) && n === 0;
      if (bad) {
        const rule = mode === 'reflect' ? 'less than' : mode === 'circular' ? 'at most' : 'possible only with';
        throw new ArgumentError(`${op}: ${mode} padding (${l}, ${r}) of dim ${d} must be ${rule} its size ${n} (input ${fmt(x.shape)})`);
      }
    }
    for (let d = x.ndim - 1; d >= 0; d--) {
      const n = c.x.shape[d], l = c.pads[2 * d], r = c.pads[2 * d + 1];
      if (l === 0 && r === 0) continue;
      const idx = Int32Array.from({ length: n + l + r }, (_, j) => src(j - l, n));
      cur = indexSelect(cur, d, tensor(idx, { dtype: 'int32' }));
    }
    return cur === c.x ? cur.clone() : cur;
  });
}

/**
 * x with `value` where the bool `mask` (broadcast to x's shape) is true, as torch.masked_fill.
 * The value is converted to x's dtype (truncated for int32, as torch); the gradient of x is zero
 * where filled. A 0-d tensor value is taken as a tensor (its gradient is the sum over the filled
 * places).
 *
 * @example wt.tensor([1, 2, 3]).maskedFill(wt.tensor([true, false, true]), 0) // [0, 2, 0]
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number | boolean | Tensor): Tensor {
  checkTensor('maskedFill', 'input', x);
  checkTensor('maskedFill', 'mask', mask);
  if (mask.dtype !== 'bool') throw new DTypeError(`maskedFill: mask must be bool, got ${mask.dtype} of shape ${fmt(mask.shape)} (use mask.bool() or a comparison)`);
  if (!shapesEqual(broadcastShapes('maskedFill', x.shape, mask.shape), x.shape)) {
    throw new ShapeError(`maskedFill: mask ${fmt(mask.shape)} must broadcast to the input ${fmt(x.shape)}`);
  }
  if (value instanceof Tensor) {
    if (value.ndim !== 0) throw new ShapeError(`maskedFill: a tensor value must be 0-d, got ${fmt(value.shape)}`);
    return tidy(() => elementwise('where', [mask, value.dtype === x.dtype ? value : value.to(x.dtype), x]));
  }
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new ArgumentError(`maskedFill: value must be a number, a boolean or a 0-d tensor, got ${describeValue(value)}`);
  const v = x.dtype === 'bool' ? Boolean(value) : x.dtype === 'int32' ? Math.trunc(Number(value)) | 0 : Number(value);
  if (x.dtype === 'int32' && !Number.isFinite(Number(value))) throw new ArgumentError(`maskedFill: value ${value} cannot be stored in an int32 tensor`);
  return elementwise('where', [mask, v, x]);
}

/**
 * Out-of-place scatter, as torch.scatter: a copy of x with src[i][j][k] written at
 * x[i][index[i][j][k]][k] (for dim 1), `src` a tensor of x's dtype (only its first index.shape
 * part is used) or a number. The shape rules are scatterAdd's.
 *
 * Repeated indices: torch leaves unspecified which write wins; here the result is deterministic:
 * the mean of the values scattered to that place (for int32, their sum divided by the count,
 * truncated). With unique indices it is exactly the scattered value. Gradients: zero for x
 * where scattered, and src gets the result's gradient gathered (divided by the count where
 * indices repeat, the gradient of the mean).
 *
 * @example
 * wt.scatter(wt.zeros([4]), 0, wt.tensor([3, 0], { dtype: 'int32' }), wt.tensor([5, 6])) // [6, 0, 0, 5]
 */
export function scatter(x: Tensor, dim: number, index: Tensor, src: Tensor | number | boolean): Tensor {
  checkTensor('scatter', 'input', x);
  checkIndexDType('scatter', 'index', index);
  if (index.ndim !== x.ndim) throw new ShapeError(`scatter: index ${fmt(index.shape)} must have as many dims as the input ${fmt(x.shape)}`);
  const d = normAxis('scatter', dim, x.ndim);
  if (src instanceof Tensor) {
    checkTensor('scatter', 'src', src);
    if (src.dtype !== x.dtype) throw new DTypeError(`scatter: src dtype ${src.dtype} differs from input dtype ${x.dtype}`);
    if (src.ndim !== x.ndim) throw new ShapeError(`scatter: input ${fmt(x.shape)}, index ${fmt(index.shape)} and src ${fmt(src.shape)} must have the same number of dims`);
  } else if (typeof src !== 'number' && typeof src !== 'boolean') {
    throw new ArgumentError(`scatter: src must be a tensor, a number or a boolean, got ${describeValue(src)}`);
  }
  for (let i = 0; i < x.ndim; i++) {
    if ((src instanceof Tensor && index.shape[i] > src.shape[i]) || (i !== d && index.shape[i] > x.shape[i])) {
      throw new ShapeError(`scatter: index ${fmt(index.shape)} must be no larger than ${src instanceof Tensor ? `src ${fmt(src.shape)} in every dim and than ` : ''}input ${fmt(x.shape)} in dims other than ${d} (dim ${i})`);
    }
  }
  checkIndexRange('scatter', 'index', index, x.ndim ? x.shape[d] : 1, `dim ${d} of input ${fmt(x.shape)}`);
  return tidy(() => {
    // how many writes land on each place of x (no gradient flows through counts)
    const count = noGrad(() => scatterAdd(zeros(x.shape, { dtype: 'int32' }), d, index, full(index.shape, 1, { dtype: 'int32' })));
    const hit = count.gt(0);
    if (!(src instanceof Tensor)) {
      const v = x.dtype === 'bool' ? Boolean(src) : x.dtype === 'int32' ? Math.trunc(Number(src)) | 0 : Number(src);
      return elementwise('where', [hit, v, x]);
    }
    let s = src;
    index.shape.forEach((n, i) => (s = n < s.shape[i] ? s.narrow(i, 0, n) : s));
    if (x.dtype === 'bool') {
      // or-ing the writes: true if any is (the places written once are exact)
      return elementwise('where', [hit, scatterAdd(zeros(x.shape, { dtype: 'bool' }), d, index, s.contiguous()), x]);
    }
    const summed = scatterAdd(zeros(x.shape, { dtype: x.dtype }), d, index, s.contiguous());
    // unique places keep the exact value; repeated ones the mean (a division, so only there)
    const vals = x.dtype === 'int32'
      ? elementwise('where', [count.gt(1), summed.float().div(count).int(), summed])
      : elementwise('where', [count.gt(1), summed.div(count), summed]);
    return elementwise('where', [hit, vals, x]);
  });
}

export const indexGrads: GradTable<'gather' | 'indexSelect' | 'scatterAdd'> = {
  gather: (n, g) => [scatterIntoZeros(n.inputs[0].shape, n.meta.dim, n.saved[0], g)],
  indexSelect: (n, g) => {
    const [index] = n.saved;
    const x = n.inputs[0];
    const N = index.numel(), V = x.shape[0], C = V ? x.numel() / V : 0;
    // an embedding: straight into the weight's slot of an optimizer's gradient arena where it has one
    if (usesEmbeddingBackward(x.shape, n.meta.dim, N)) {
      return [tidy(() => runRoutine('embeddingBackward', {}, [index.reshape([N]), g.reshape([N, C])], [gradOut(x, [V, C])])[0].reshape([...x.shape]))];
    }
    const z = zeros(x.shape);
    return [tidy(() => runOrZeros('indexAdd', { dim: n.meta.dim }, [index.reshape([N]).contiguous(), g.contiguous()], [z], g.numel())[0])];
  },
  scatterAdd: (n, g) => {
    const [index] = n.saved;
    const src = n.inputs[1];
    const gsrc = tidy(() => {
      // src's gradient is g read back at the scattered positions; src beyond index's extent gets 0
      const picked = runOrZeros('gather', { dim: n.meta.dim }, [g.contiguous(), index.contiguous()], [{ shape: index.shape, dtype: 'float32' }], index.numel())[0];
      if (shapesEqual(index.shape, src.shape)) return picked;
      const z = zeros(src.shape);
      if (picked.numel()) copyInto(picked, { ...z._view(), shape: index.shape });
      return z;
    });
    return [g, gsrc];
  },
};
