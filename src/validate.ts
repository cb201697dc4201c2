/**
 * Argument checks for public entry points. Each throws a typed error naming the op and the
 * argument (`op: arg must be ..., got ...`), so bad input never reaches a kernel as NaN, a
 * raw TypeError or a WGSL validation error. Shape and axis checks live in shape.ts.
 *
 * @example checkNumber('leakyRelu', 'negativeSlope', slope);
 */
import { ArgumentError, fmt } from './errors.js';
import { Tensor } from './tensor.js';
import { isAsyncFunction } from './engine.js';

/** A short description of a bad value for messages: `"abc"`, `undefined`, `an object`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v instanceof Tensor) return `a tensor of shape ${fmt(v.shape)}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'function') return 'a function';
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** `t` is a live Tensor. */
export function checkTensor(op: string, arg: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${arg} must be a Tensor, got ${describeValue(t)}`);
  t._check(op);
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
  const bad = (why: string): never => { throw new ArgumentError(`${op}: ${arg} must be ${why}, got ${describeValue(v)}`); };
  if (typeof v !== 'number') bad(rule.int ? 'an integer' : 'a number');
  const n = v as number;
  if (rule.int && !Number.isInteger(n)) bad('an integer');
  if (rule.finite && !Number.isFinite(n)) bad('a finite number');
  if (rule.min !== undefined && !(n >= rule.min)) bad(`>= ${rule.min}`);
  if (rule.max !== undefined && !(n <= rule.max)) bad(`<= ${rule.max}`);
  if (rule.above !== undefined && !(n > rule.above)) bad(`> ${rule.above}`);
  return n;
}

/** An optional number: undefined (and null) pass. */
export function checkOptionalNumber(op: string, arg: string, v: unknown, rule: NumberRule = {}): number | undefined {
  return v === undefined || v === null ? undefined : checkNumber(op, arg, v, rule);
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
  if (!values.includes(v as T)) throw new ArgumentError(`${op}: ${arg} must be ${values.map((x) => `'${x}'`).join(', ')}, got ${describeValue(v)}`);
  return v as T;
}

/** An options argument: undefined or a plain object (not a string, array or tensor). */
export function checkOptions<T>(op: string, o: T, arg = 'options'): T {
  if (o === undefined) return o;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || o instanceof Tensor) {
    throw new ArgumentError(`${op}: ${arg} must be an object, got ${describeValue(o)}`);
  }
  return o;
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
