/**
 * Argument checks for public entry points. Each throws a typed error naming the op and the
 * argument (`op: arg must be ..., got ...`), so bad input never reaches a kernel as NaN, a
 * raw TypeError or a WGSL validation error. Shape and axis checks live in shape.ts.
 *
 * @example checkNumber('leakyRelu', 'negativeSlope', slope);
 */
import type { DType } from './dtype.js';
import { ArgumentError, DTypeError, fmt } from './errors.js';
import { MAX_NUMEL } from './shape.js';
import { Tensor } from './tensor.js';
import { isAsyncFunction } from './engine.js';

const isPrimitive = (v: unknown): boolean => v === null || (typeof v !== 'object' && typeof v !== 'function');

/**
 * A short description of a bad value for messages: `"abc"`, `undefined`, `NaN`, `2n (a BigInt)`,
 * `[2,NaN]` (short arrays of plain values), `an object`. Never throws (JSON.stringify would on a
 * BigInt, and prints NaN as null).
 */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n (a BigInt)`;
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v instanceof Tensor) return `a tensor of shape ${fmt(v.shape)}`;
  if (Array.isArray(v)) {
    if (v.length <= 8 && v.every(isPrimitive)) return `[${v.map((x) => (typeof x === 'bigint' ? `${x}n` : describeValue(x))).join(',')}]`;
    return `an array of length ${v.length}`;
  }
  if (typeof v === 'function') return 'a function';
  let name: unknown;
  try {
    name = (v as object).constructor?.name;
  } catch {
    name = undefined; // a hostile getter or a revoked proxy
  }
  return typeof name === 'string' && name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** `t` is a live Tensor. */
export function checkTensor(op: string, arg: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${arg} must be a Tensor, got ${describeValue(t)}`);
  t._check(op);
}

/**
 * `t` as a live Tensor, for the function forms of methods: `wt.sub('a', t)` must not call the
 * String method of that name. @example tensorArg('relu', 'input', x).relu()
 */
export function tensorArg(op: string, arg: string, t: unknown): Tensor {
  checkTensor(op, arg, t);
  return t;
}

/** `t` is a live Tensor of one of `dtypes`; `hint` follows the rule in the message (how to convert). */
export function checkTensorDType(op: string, arg: string, t: unknown, dtypes: readonly DType[], hint = ''): asserts t is Tensor {
  checkTensor(op, arg, t);
  if (!dtypes.includes(t.dtype)) throw new DTypeError(`${op}: ${arg} must be ${dtypes.join(' or ')}${hint}, got ${t.dtype} of shape ${fmt(t.shape)}`);
}

/** `t` is a live float32 Tensor: the argument check of every op that computes in floats. */
export function checkFloat(op: string, arg: string, t: unknown, hint = ''): asserts t is Tensor {
  checkTensorDType(op, arg, t, ['float32'], hint);
}

/** `t` is a live Tensor, or null/undefined (an optional tensor argument). */
export function checkOptionalTensor(op: string, arg: string, t: unknown): asserts t is Tensor | null | undefined {
  if (t !== null && t !== undefined) checkTensor(op, arg, t);
}

export interface NumberRule {
  /** must be an integer */
  int?: boolean;
  /** must not be NaN or ±Infinity */
  finite?: boolean;
  min?: number;
  max?: number;
  /** strictly above min */
  above?: number;
}

/** `v` is a number obeying `rule` (by default any number, NaN and infinities included). */
export function checkNumber(op: string, arg: string, v: unknown, rule: NumberRule = {}): number {
  const n = v as number;
  const ok = typeof v === 'number' && (!rule.int || Number.isInteger(n)) && (!rule.finite || Number.isFinite(n)) &&
    (rule.min === undefined || n >= rule.min) && (rule.max === undefined || n <= rule.max) && (rule.above === undefined || n > rule.above);
  if (!ok) throw new ArgumentError(`${op}: ${arg} must be ${describeRule(rule)}, got ${describeValue(v)}`);
  return n;
}

/** What a NumberRule asks for, in words: `a positive integer`, `a number in [0, 1]`, `a finite number > 0`. */
function describeRule({ int, finite, min, max, above }: NumberRule): string {
  if (int && min === 1 && max === undefined) return 'a positive integer';
  if (int && min === 0 && max === undefined) return 'a non-negative integer';
  const kind = int ? 'an integer' : finite ? 'a finite number' : 'a number';
  const range = min !== undefined && max !== undefined ? ` in [${min}, ${max}]` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
  return `${kind}${range}${above !== undefined ? ` > ${above}` : ''}`;
}

/** An optional number: undefined (and null) pass. */
export function checkOptionalNumber(op: string, arg: string, v: unknown, rule: NumberRule = {}): number | undefined {
  return v === undefined || v === null ? undefined : checkNumber(op, arg, v, rule);
}

/**
 * A tensor of `shape` fits the element limit: a layer checks its parameters' shapes before it
 * allocates them, so `new Linear(2 ** 31, 3)` names the layer, not an allocation inside it.
 */
export function checkNumel(op: string, what: string, shape: readonly number[]): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_NUMEL) throw new ArgumentError(`${op}: ${what} of shape ${fmt(shape)} would have ${n} elements, more than a tensor holds (${MAX_NUMEL})`);
}

/** A positive integer (sizes, counts). */
export const checkPositiveInt = (op: string, arg: string, v: unknown): number => checkNumber(op, arg, v, { int: true, min: 1 });

export function checkBoolean(op: string, arg: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ArgumentError(`${op}: ${arg} must be true or false, got ${describeValue(v)}`);
  return v;
}

export function checkFunction(op: string, arg: string, v: unknown): void {
  if (typeof v !== 'function') throw new ArgumentError(`${op}: ${arg} must be a function, got ${describeValue(v)}`);
}

/**
 * A function that is not `async`: a scope around it (tidy, noGrad) ends at its first await, so
 * what runs after would escape it; `why` says what would go wrong.
 */
export function checkSyncFunction(op: string, arg: string, v: unknown, why: string): void {
  checkFunction(op, arg, v);
  if (isAsyncFunction(v)) throw new ArgumentError(`${op}: ${arg} must be synchronous, got an async function (${why})`);
}

/** `v` is one of `values`. */
export function checkOneOf<T extends string>(op: string, arg: string, v: unknown, values: readonly T[]): T {
  if (!values.includes(v as T)) {
    const q = values.map((x) => `'${x}'`);
    const list = q.length > 1 ? `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}` : q[0];
    throw new ArgumentError(`${op}: ${arg} must be ${list}, got ${describeValue(v)}`);
  }
  return v as T;
}

/** The option names an options type allows (checked by the compiler against the type). */
export type OptionKeys<T> = readonly (keyof NonNullable<T> & string)[];

/**
 * An options argument: undefined or a plain object (not a string, array or tensor) whose own
 * keys are all in `known`, so a misspelt or unsupported option is an error instead of being
 * ignored: `crossEntropy: unknown option 'wieght' (did you mean 'weight'? known: reduction, ...)`.
 *
 * @example checkOptions('DataLoader', opts, ['batchSize', 'shuffle', 'seed', 'dropLast', 'collate']);
 */
export function checkOptions<T>(op: string, o: T, known: OptionKeys<T>, arg = 'options'): T {
  if (o === undefined) return o;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || o instanceof Tensor) {
    throw new ArgumentError(`${op}: ${arg} must be an object, got ${describeValue(o)}`);
  }
  for (const k of Object.keys(o)) {
    if ((known as readonly string[]).includes(k)) continue;
    const near = closest(k, known);
    const list = known.length ? `known: ${known.join(', ')}` : `${op} takes no options`;
    const what = arg === 'options' ? `option '${k}'` : `key '${k}' in ${arg}`;
    throw new ArgumentError(`${op}: unknown ${what} (${near ? `did you mean '${near}'? ` : ''}${list})`);
  }
  return o;
}

/** The known name within edit distance 2 of `k` (or equal ignoring case), if any. */
function closest(k: string, known: readonly string[]): string | undefined {
  let best: string | undefined, bestD = 3;
  for (const c of known) {
    const d = c.toLowerCase() === k.toLowerCase() ? 0 : editDistance(k, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** An elementwise operand: a tensor, a number or a boolean. */
export function checkOperand(op: string, i: number, v: unknown): void {
  if (v instanceof Tensor || typeof v === 'number' || typeof v === 'boolean') return;
  throw new ArgumentError(`${op}: operand ${i} must be a Tensor, a number or a boolean, got ${describeValue(v)}`);
}

/** An integer >= min, or a pair of them (kernel sizes, strides, padding). */
export function checkIntPair(op: string, arg: string, v: unknown, min: number): [number, number] {
  const p = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? v : null;
  if (!p || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new ArgumentError(`${op}: ${arg} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer or a pair of them, got ${describeValue(v)}`);
  }
  return [p[0], p[1]];
}
