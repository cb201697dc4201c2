/**
 * Tensor creation: from data, constant fills, ranges, identity and seeded random numbers.
 * Random numbers come from Philox (`rand` IR leaves), so a seed gives the same uniform bits on
 * every backend.
 */
import { INT32_MAX, INT32_MIN, isDType, type DType } from '../dtype.js';
import { engine } from '../engine.js';
import { Storage } from '../storage.js';
import { allocBuffer, writeBuffer } from '../record.js';
import { ArgumentError, DTypeError, fmt } from '../errors.js';
import { IR, type Expr } from '../kernel/ir.js';
import { seedToKey } from '../kernel/philox.js';
import { MAX_NUMEL, checkShape, contiguousStrides, numel } from '../shape.js';
import { Tensor, type NestedArray } from '../tensor.js';
import { runElementwise } from './run.js';
import { checkBoolean, checkNumber, checkOptionalNumber, checkOptions, checkTensor, describeValue, type OptionKeys } from '../validate.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

const CREATE_KEYS: OptionKeys<CreateOptions> = ['dtype', 'requiresGrad'];

/** Checks `requiresGrad` against the dtype before anything is made (a refusal leaks nothing). */
function checkRequiresGrad(op: string, opts: CreateOptions, dtype: DType): void {
  if (opts.requiresGrad === undefined) return;
  if (checkBoolean(op, 'requiresGrad', opts.requiresGrad) && dtype !== 'float32') {
    throw new DTypeError(`${op}: only float32 tensors can require gradients, got dtype ${dtype}`);
  }
}

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function checkDType(op: string, d: unknown): DType {
  if (d === undefined) return 'float32';
  if (!isDType(d)) throw new DTypeError(`${op}: unknown dtype ${describeValue(d)} (expected float32, int32 or bool)`);
  return d;
}

/** Nesting a data array may have (PyTorch's limit on dims); deeper is refused before any walk. */
const MAX_DIMS = 64;

type TensorData = NestedArray | Float32Array | Float64Array | Int32Array | Uint8Array | readonly number[];

/**
 * Creates a tensor from nested arrays, a typed array or a number. Default dtype: float32 (bool
 * for booleans, int32 for an Int32Array).
 *
 * @example wt.tensor([[1, 2], [3, 4]]); wt.tensor(new Int32Array([0, 2]), { shape: [2, 1] });
 */
export function tensor(data: TensorData, opts: CreateOptions & { shape?: number[] } = {}): Tensor {
  checkOptions('tensor', opts, ['dtype', 'requiresGrad', 'shape']);
  if (opts.shape !== undefined) checkShape('tensor', opts.shape, 'shape option');
  let shape: number[];
  let flat: ArrayLike<number>;
  let inferred: DType = 'float32';
  if (ArrayBuffer.isView(data)) {
    if (data instanceof DataView) throw new ArgumentError('tensor: data must be a typed array of numbers, got a DataView');
    flat = data as ArrayLike<number>;
    shape = opts.shape ?? [flat.length];
    inferred = data instanceof Int32Array ? 'int32' : data instanceof Uint8Array ? 'bool' : 'float32';
  } else if (typeof data === 'number' || typeof data === 'boolean') {
    flat = [Number(data)];
    shape = [];
    if (typeof data === 'boolean') inferred = 'bool';
  } else if (Array.isArray(data)) {
    shape = [];
    let probe: unknown = data;
    while (Array.isArray(probe)) {
      // also ends a self-containing (cyclic) array
      if (shape.length === MAX_DIMS) throw new ArgumentError(`tensor: the nested arrays are more than ${MAX_DIMS} levels deep (a tensor has at most ${MAX_DIMS} dims)`);
      shape.push(probe.length);
      probe = probe[0];
    }
    if (typeof probe === 'boolean') inferred = 'bool';
    const out: number[] = [];
    const walk = (x: unknown, dim: number): void => {
      if (dim === shape.length) {
        if (typeof x !== 'number' && typeof x !== 'boolean') throw new ArgumentError(`tensor: expected a number at depth ${dim}, got ${describeValue(x)}`);
        out.push(Number(x));
        return;
      }
      if (!Array.isArray(x) || x.length !== shape[dim]) throw new ArgumentError(`tensor: ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${Array.isArray(x) ? x.length : describeValue(x)}`);
      for (const y of x) walk(y, dim + 1);
    };
    walk(data, 0);
    flat = out;
    if (opts.shape) shape = opts.shape;
  } else {
    throw new ArgumentError(`tensor: data must be a number, a (nested) array or a typed array, got ${describeValue(data)}`);
  }
  if (numel(shape) !== flat.length) throw new ArgumentError(`tensor: ${flat.length} values do not fill shape ${fmt(shape)}`);
  const dtype = opts.dtype === undefined ? inferred : checkDType('tensor', opts.dtype);
  checkRequiresGrad('tensor', opts, dtype);
  const backend = engine.requireBackend();
  const buf = allocBuffer(backend, flat.length, dtype);
  if (flat.length) {
    const conv = dtype === 'float32' ? flat : dtype === 'int32' ? toInt32('tensor', flat) : Int32Array.from(flat, (v) => (v ? 1 : 0));
    writeBuffer(backend, buf, conv);
  }
  return finish(Tensor._make(new Storage(backend, buf, dtype), shape, contiguousStrides(shape), 0, dtype), opts);
}

/**
 * Values truncated to int32, or an ArgumentError naming the first that does not fit (NaN, ±inf,
 * beyond ±2^31), as torch ("value cannot be converted to type int32 without overflow").
 */
function toInt32(op: string, flat: ArrayLike<number>): Int32Array {
  const out = new Int32Array(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = Math.trunc(flat[i]);
    if (!(v >= INT32_MIN && v <= INT32_MAX)) throw new ArgumentError(`${op}: value ${flat[i]}${flat.length > 1 ? ` (at flat position ${i})` : ''} does not fit in int32 [-2^31, 2^31 - 1]`);
    out[i] = v;
  }
  return out;
}

function generate(op: string, shape: readonly number[], expr: Expr, scalars: number[], opts: CreateOptions): Tensor {
  checkShape(op, shape);
  const dtype = checkDType(op, opts.dtype ?? expr.dtype);
  checkRequiresGrad(op, opts, dtype);
  return finish(runElementwise(op, IR.cast(expr, dtype), [], shape, scalars), opts);
}

/** `value` everywhere; `op` is the function the user called, for messages. */
function fill(op: string, shape: readonly number[], value: number | boolean, opts: CreateOptions): Tensor {
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new ArgumentError(`${op}: value must be a number or a boolean, got ${describeValue(value)}`);
  checkOptions(op, opts, CREATE_KEYS);
  const dtype = checkDType(op, opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32'));
  if (dtype === 'int32') toInt32(op, [Number(value)]);
  return generate(op, shape, IR.scalar(0, dtype), [Number(value)], { ...opts, dtype });
}

/** A tensor filled with `value`. @example wt.full([2, 3], 7, { dtype: 'int32' }) */
export function full(shape: readonly number[], value: number | boolean, opts: CreateOptions = {}): Tensor {
  return fill('full', shape, value, opts);
}
/** Zeros. @example wt.zeros([2, 3]) */
export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => fill('zeros', shape, 0, opts);
/** Ones. @example wt.ones([2, 3], { requiresGrad: true }) */
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => fill('ones', shape, 1, opts);
/** Zeros of t's shape (and dtype, unless given). @example wt.zerosLike(x) */
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  checkTensor('zerosLike', 'input', t);
  return fill('zerosLike', t.shape, 0, { dtype: t.dtype, ...checkOptions('zerosLike', opts, CREATE_KEYS) });
}
/** Ones of t's shape (and dtype, unless given). @example wt.onesLike(x) */
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  checkTensor('onesLike', 'input', t);
  return fill('onesLike', t.shape, 1, { dtype: t.dtype, ...checkOptions('onesLike', opts, CREATE_KEYS) });
}
/** `value` in t's shape (and dtype, unless given). @example wt.fullLike(x, 0.5) */
export function fullLike(t: Tensor, value: number, opts: CreateOptions = {}): Tensor {
  checkTensor('fullLike', 'input', t);
  return fill('fullLike', t.shape, value, { dtype: t.dtype, ...checkOptions('fullLike', opts, CREATE_KEYS) });
}

/** Values start, start+step, ... below end. int32 when all arguments are integers. @example wt.arange(0, 10, 2) */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  checkOptions('arange', opts, CREATE_KEYS);
  if (end === undefined) [start, end] = [0, start];
  checkNumber('arange', 'start', start, { finite: true });
  checkNumber('arange', 'end', end, { finite: true });
  checkNumber('arange', 'step', step);
  if (step === 0 || !Number.isFinite(step)) throw new ArgumentError(`arange: step must be finite and non-zero, got ${describeValue(step)}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  if (n > MAX_NUMEL) throw new ArgumentError(`arange: ${n} values from ${start} to ${end} by ${step} are more than a tensor holds (${MAX_NUMEL})`);
  const isInt = [start, end, step].every(Number.isInteger);
  const dt: DType = opts.dtype ?? (isInt ? 'int32' : 'float32');
  // the first and last values must fit (the kernel computes in int32 when the arguments are integers)
  // integer arguments count in int32 unless float32 is asked for: every value must fit
  const it: DType = isInt && dt !== 'float32' ? 'int32' : 'float32';
  const last = start + (n - 1) * step;
  if (n > 0 && (it === 'int32' || dt === 'int32') && !(Math.min(start, last) >= INT32_MIN && Math.max(start, last) <= INT32_MAX)) {
    throw new ArgumentError(`arange: the values ${start} to ${last} do not fit in int32 [-2^31, 2^31 - 1]${opts.dtype === undefined ? " (pass { dtype: 'float32' })" : ''}`);
  }
  const expr = IR.binary('add', IR.scalar(0, it), IR.binary('mul', IR.cast(IR.index(), it), IR.scalar(1, it)));
  return generate('arange', [n], expr, [start, step], { ...opts, dtype: dt });
}

/** `steps` values evenly spaced from start to end inclusive. @example wt.linspace(0, 1, 5) */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  checkOptions('linspace', opts, CREATE_KEYS);
  checkNumber('linspace', 'start', start, { finite: true });
  checkNumber('linspace', 'end', end, { finite: true });
  checkNumber('linspace', 'steps', steps, { int: true, min: 0 });
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  const expr = IR.binary('add', IR.scalar(0), IR.binary('mul', IR.cast(IR.index(), 'float32'), IR.scalar(1)));
  return generate('linspace', [steps], expr, [start, step], opts);
}

/** The n×m identity matrix. @example wt.eye(3) */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  checkOptions('eye', opts, CREATE_KEYS);
  checkNumber('eye', 'n', n, { int: true, min: 0 });
  checkNumber('eye', 'm', m, { int: true, min: 0 });
  const i = IR.index(), cols = IR.scalar(0, 'int32');
  const expr = IR.cast(IR.binary('eq', IR.binary('idiv', i, cols), IR.binary('mod', i, cols)), 'float32');
  return generate('eye', [n, m], expr, [Math.max(m, 1)], opts);
}

/**
 * A bool [rows, cols] mask of the upper (col − row ≥ diagonal) or lower (col − row ≤ diagonal)
 * triangle, made by one kernel from the element index (triu, tril, causal attention masks).
 */
export function triangleMask(rows: number, cols: number, diagonal: number, upper: boolean): Tensor {
  const op = upper ? 'triu' : 'tril';
  checkNumber(op, 'diagonal', diagonal, { int: true });
  const i = IR.index(), c = IR.scalar(0, 'int32');
  const offset = IR.binary('sub', IR.binary('mod', i, c), IR.binary('idiv', i, c)); // col − row
  const expr = IR.binary(upper ? 'ge' : 'le', offset, IR.scalar(1, 'int32'));
  return generate(op, [rows, cols], expr, [Math.max(cols, 1), diagonal], { dtype: 'bool' });
}

export interface RandomOptions extends CreateOptions {
  /** fixes the stream; without it the global generator (wt.manualSeed) advances */
  seed?: number;
}

const RANDOM_KEYS: OptionKeys<RandomOptions> = [...CREATE_KEYS, 'seed'];

/**
 * The options of a random op and its dtype, one of `allowed` (the first is the default): random
 * floats cannot be made as integers or bools, as torch.rand / torch.normal refuse them.
 */
function randomOptions(op: string, opts: RandomOptions, allowed: readonly DType[]): DType {
  checkOptions(op, opts, RANDOM_KEYS);
  const d = opts.dtype === undefined ? allowed[0] : checkDType(op, opts.dtype);
  if (!allowed.includes(d)) throw new DTypeError(`${op}: dtype must be ${allowed.join(' or ')}, got ${d}`);
  return d;
}

function keyScalars(op: string, seed: number | undefined): number[] {
  if (seed !== undefined) checkNumber(op, 'seed', seed, { finite: true });
  const [k0, k1] = seedToKey(seed ?? engine.rngSeed);
  return [k0, k1, seed === undefined ? ++engine.rngStream : 0];
}

/** Uniform numbers in [0, 1) (float32). @example wt.rand([2, 3], { seed: 0 }) */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  randomOptions('rand', opts, ['float32']);
  return generate('rand', shape, IR.rand(0), keyScalars('rand', opts.seed), opts);
}

/** Standard normal numbers (Box–Muller on two Philox words; float32). @example wt.randn([2, 3], { seed: 0 }) */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  randomOptions('randn', opts, ['float32']);
  const u1 = IR.binary('sub', IR.const(1), IR.rand(0, 0)); // in (0, 1]
  const u2 = IR.rand(0, 1);
  const r = IR.unary('sqrt', IR.binary('mul', IR.const(-2), IR.unary('log', u1)));
  const expr = IR.binary('mul', r, IR.unary('cos', IR.binary('mul', IR.const(2 * Math.PI), u2)));
  return generate('randn', shape, expr, keyScalars('randn', opts.seed), opts);
}

/**
 * Integers uniformly in [low, high) (int32; `dtype: 'float32'` converts them). Each draws 32
 * random bits (two 16-bit halves of one Philox block) reduced modulo high − low, so every value is
 * reachable and the bias is at most (high − low) / 2^32. high − low is at most 2^31 − 1.
 *
 * @example wt.randint(0, 10, [3], { seed: 1 }) // int32 [3] in 0..9
 */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  randomOptions('randint', opts, ['int32', 'float32']);
  checkNumber('randint', 'low', low, { int: true, min: INT32_MIN });
  checkNumber('randint', 'high', high, { int: true, max: INT32_MAX + 1 });
  if (high <= low) throw new ArgumentError(`randint: need low < high, got low ${low}, high ${high}`);
  if (high - low > INT32_MAX) throw new ArgumentError(`randint: high - low must be at most 2^31 - 1 (int32 draws), got ${high - low}`);
  const half = (lane: number) => IR.cast(IR.unary('floor', IR.binary('mul', IR.rand(0, lane), IR.const(65536))), 'int32');
  // 32 bits as int32 (wrapping), floor-modulo the range: in [0, high - low)
  const bits = IR.binary('add', IR.binary('mul', half(0), IR.const(65536, 'int32')), half(1));
  const expr = IR.binary('add', IR.scalar(3, 'int32'), IR.binary('mod', bits, IR.scalar(4, 'int32')));
  return generate('randint', shape, expr, [...keyScalars('randint', opts.seed), low, high - low], { dtype: 'int32', ...opts });
}

/** Normal numbers with the given mean and std (float32). @example wt.normal([3], 0, 0.02, { seed: 1 }) */
export function normal(shape: readonly number[], mean = 0, std = 1, opts: RandomOptions = {}): Tensor {
  randomOptions('normal', opts, ['float32']);
  checkRequiresGrad('normal', opts, 'float32');
  const seed = checkOptionalNumber('normal', 'seed', opts.seed, { finite: true });
  checkNumber('normal', 'mean', mean);
  checkNumber('normal', 'std', std, { min: 0 });
  checkShape('normal', shape);
  const z = randn(shape, { seed });
  const out = z.mul(std).add(mean);
  z.dispose();
  return finish(out, opts);
}

/** Uniform numbers in [low, high) (float32). @example wt.uniform([3], -1, 1, { seed: 1 }) */
export function uniform(shape: readonly number[], low = 0, high = 1, opts: RandomOptions = {}): Tensor {
  randomOptions('uniform', opts, ['float32']);
  checkRequiresGrad('uniform', opts, 'float32');
  const seed = checkOptionalNumber('uniform', 'seed', opts.seed, { finite: true });
  checkNumber('uniform', 'low', low, { finite: true });
  checkNumber('uniform', 'high', high, { finite: true });
  if (low > high) throw new ArgumentError(`uniform: low ${low} must not exceed high ${high}`);
  checkShape('uniform', shape);
  const u = rand(shape, { seed });
  const out = u.mul(high - low).add(low);
  u.dispose();
  return finish(out, opts);
}
