/**
 * The kernel IR for expression kernels (elementwise and reductions).
 *
 * An Expr is a tree evaluated once per output element. Leaves read inputs at the current index
 * (`load`), runtime scalars (`scalar`, passed in uniforms so one pipeline serves every value),
 * constants, the linear output index, or Philox random numbers. Adding a primitive is an entry in
 * the tables here (its CPU semantics: the CPU evaluators read them) and one in src/kernel/wgsl.ts
 * (its WGSL spelling); both tables are mapped types, so the compiler refuses a missing entry.
 */
import type { DType } from '../dtype.js';
import { erf } from './math.js';

export type UnaryOp =
  | 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'sin' | 'cos' | 'tanh' | 'erf' | 'floor' | 'ceil'
  | 'round' | 'sign' | 'log1p' | 'expm1' | 'recip' | 'not' | 'isnan' | 'isinf'
  | 'tan' | 'asin' | 'acos' | 'atan' | 'sinh' | 'cosh' | 'asinh' | 'acosh' | 'atanh' | 'log2' | 'log10' | 'trunc';
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'mod' | 'idiv' | 'fmod' | 'atan2'
  | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne' | 'and' | 'or';
export type LeafOp = 'load' | 'scalar' | 'const' | 'index' | 'rand';
export type Op = LeafOp | UnaryOp | BinaryOp | 'where' | 'cast';

/**
 * One IR node. `value` is the input index (load), the scalar-parameter index (scalar), the
 * constant (const), or for `rand` the index of its first of three scalar parameters
 * (key0, key1, stream); `lane` picks one of Philox's four output words.
 */
export interface Expr {
  readonly op: Op;
  readonly dtype: DType;
  readonly args: readonly Expr[];
  readonly value?: number;
  readonly lane?: number;
}

/**
 * CPU semantics of each unary primitive (float unless `keepsInt`: then an int32 operand stays
 * int32). Its WGSL spelling is src/kernel/wgsl.ts UNARY_WGSL, a table the compiler also keeps
 * complete.
 */
export const UNARY: { [K in UnaryOp]: { cpu: (x: number) => number; keepsInt?: boolean } } = {
  neg: { cpu: (x) => -x, keepsInt: true },
  abs: { cpu: Math.abs, keepsInt: true },
  exp: { cpu: Math.exp },
  log: { cpu: Math.log },
  sqrt: { cpu: Math.sqrt },
  sin: { cpu: Math.sin },
  cos: { cpu: Math.cos },
  tanh: { cpu: Math.tanh },
  erf: { cpu: erf },
  floor: { cpu: Math.floor },
  ceil: { cpu: Math.ceil },
  // round half to even, as PyTorch and WGSL's round()
  round: { cpu: (x) => { const r = Math.round(x); return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; } },
  // 0 for NaN, as torch
  sign: { cpu: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0), keepsInt: true },
  log1p: { cpu: Math.log1p },
  expm1: { cpu: Math.expm1 },
  recip: { cpu: (x) => 1 / x },
  not: { cpu: (x) => (x ? 0 : 1), keepsInt: true },
  isnan: { cpu: (x) => (Number.isNaN(x) ? 1 : 0) },
  isinf: { cpu: (x) => (x === Infinity || x === -Infinity ? 1 : 0) },
  tan: { cpu: Math.tan },
  asin: { cpu: Math.asin },
  acos: { cpu: Math.acos },
  atan: { cpu: Math.atan },
  sinh: { cpu: Math.sinh },
  cosh: { cpu: Math.cosh },
  asinh: { cpu: Math.asinh },
  acosh: { cpu: Math.acosh },
  atanh: { cpu: Math.atanh },
  log2: { cpu: Math.log2 },
  log10: { cpu: Math.log10 },
  // toward zero; the op keeps an int32 tensor int32 itself (ops/elementwise.ts)
  trunc: { cpu: Math.trunc },
};

/** pow as C and torch: x^0 = 1 and 1^y = 1 even for NaN, (−1)^±inf = 1 (Math.pow gives NaN). */
function powC(a: number, b: number): number {
  if (b === 0 || a === 1 || (a === -1 && (b === Infinity || b === -Infinity))) return 1;
  return Math.pow(a, b);
}

/**
 * int32 power, wrapping as int32 arithmetic does (square and multiply). A negative exponent gives
 * the integer part of 1/a^|b|: 1 for a = 1, ±1 for a = −1, else 0 (as torch for tensor exponents).
 */
function ipow(a: number, b: number): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b % 2 === 0 ? 1 : -1) : 0;
  let r = 1, base = a | 0;
  for (let e = b; e > 0; e >>>= 1) {
    if (e & 1) r = Math.imul(r, base);
    base = Math.imul(base, base);
  }
  return r;
}

/** Floor modulo from fmod, as torch: exact, and x mod ±inf is x or ±inf by the signs. */
function floorMod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && b < 0 !== r < 0 ? r + b : r;
}

/** Floor division as torch's div_floor (Python's //): (a − fmod(a, b)) / b, rounded; a / b when b is 0. */
function floorDiv(a: number, b: number): number {
  if (b === 0) return a / b;
  const m = a % b;
  let d = (a - m) / b;
  if (m !== 0 && b < 0 !== m < 0) d -= 1;
  if (d === 0) return a / b < 0 || Object.is(a / b, -0) ? -0 : 0; // copysign(0, a / b)
  const f = Math.floor(d);
  return d - f > 0.5 ? f + 1 : f;
}

/** Comparison and logical ops produce bool. */
export const COMPARE: ReadonlySet<BinaryOp> = new Set(['lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or']);

/** CPU semantics of each binary primitive for float and for int operands. */
export const BINARY: { [K in BinaryOp]: { cpu: (a: number, b: number) => number; int?: (a: number, b: number) => number } } = {
  add: { cpu: (a, b) => a + b, int: (a, b) => (a + b) | 0 },
  sub: { cpu: (a, b) => a - b, int: (a, b) => (a - b) | 0 },
  mul: { cpu: (a, b) => a * b, int: Math.imul },
  div: { cpu: (a, b) => a / b, int: (a, b) => (b === 0 ? a : (a / b) | 0) },
  pow: { cpu: powC, int: ipow },
  max: { cpu: (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b) },
  min: { cpu: (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b) },
  // floor modulo and floor division, as PyTorch's remainder and floor_divide
  mod: { cpu: floorMod, int: (a, b) => (b === 0 ? 0 : (a - Math.floor(a / b) * b) | 0) },
  idiv: { cpu: floorDiv, int: (a, b) => (b === 0 ? 0 : Math.floor(a / b) | 0) },
  // C's fmod, as torch.fmod: the result has the sign of the dividend (JavaScript's %); an int
  // divisor of 0 gives 0 (torch raises ZeroDivisionError on the CPU)
  fmod: { cpu: (a, b) => a % b, int: (a, b) => (b === 0 ? 0 : a % b | 0) },
  // C's atan2 (signed zeros and infinities included)
  atan2: { cpu: Math.atan2 },
  lt: { cpu: (a, b) => (a < b ? 1 : 0) },
  le: { cpu: (a, b) => (a <= b ? 1 : 0) },
  gt: { cpu: (a, b) => (a > b ? 1 : 0) },
  ge: { cpu: (a, b) => (a >= b ? 1 : 0) },
  eq: { cpu: (a, b) => (a === b ? 1 : 0) },
  ne: { cpu: (a, b) => (a !== b ? 1 : 0) },
  and: { cpu: (a, b) => (a && b ? 1 : 0) },
  or: { cpu: (a, b) => (a || b ? 1 : 0) },
};

// ---- builders -------------------------------------------------------------------------------

const node = (op: Op, dtype: DType, args: Expr[] = [], value?: number, lane?: number): Expr =>
  lane === undefined ? (value === undefined ? { op, dtype, args } : { op, dtype, args, value }) : { op, dtype, args, value, lane };

/** Builders for IR trees; binary builders cast both sides to a common dtype first. */
export const IR = {
  load: (input: number, dtype: DType): Expr => node('load', dtype, [], input),
  scalar: (index: number, dtype: DType = 'float32'): Expr => node('scalar', dtype, [], index),
  const: (value: number, dtype: DType = 'float32'): Expr => node('const', dtype, [], value),
  index: (): Expr => node('index', 'int32'),
  /** Uniform [0,1) from Philox word `lane`; scalars p, p+1, p+2 hold key0, key1 and the stream. */
  rand: (p: number, lane = 0): Expr => node('rand', 'float32', [], p, lane),
  cast: (a: Expr, dtype: DType): Expr => (a.dtype === dtype ? a : node('cast', dtype, [a])),
  unary: (op: UnaryOp, a: Expr): Expr => {
    if (op === 'not') return node(op, 'bool', [IR.cast(a, 'bool')]);
    if (op === 'isnan' || op === 'isinf') return node(op, 'bool', [a]);
    const dt = UNARY[op].keepsInt && a.dtype !== 'bool' ? a.dtype : 'float32';
    return node(op, dt, [IR.cast(a, dt)]);
  },
  binary: (op: BinaryOp, a: Expr, b: Expr): Expr => {
    if (op === 'and' || op === 'or') return node(op, 'bool', [IR.cast(a, 'bool'), IR.cast(b, 'bool')]);
    let dt: DType = a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : 'int32';
    if (op === 'div' || op === 'atan2') dt = 'float32';
    const args = [IR.cast(a, dt), IR.cast(b, dt)];
    return node(op, COMPARE.has(op) ? 'bool' : dt, args);
  },
  where: (c: Expr, a: Expr, b: Expr): Expr => {
    const dt: DType = a.dtype === b.dtype ? a.dtype : a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : 'int32';
    return node('where', dt, [IR.cast(c, 'bool'), IR.cast(a, dt), IR.cast(b, dt)]);
  },
};

/**
 * Arithmetic on IR trees, named as the math they write: the op table (ops/elementwise.ts) and the
 * optimizers' updates (optim/) are written with these. `num(v)` is a float32 constant.
 */
export const math = {
  num: (v: number): Expr => IR.const(v),
  add: (a: Expr, b: Expr): Expr => IR.binary('add', a, b),
  sub: (a: Expr, b: Expr): Expr => IR.binary('sub', a, b),
  mul: (a: Expr, b: Expr): Expr => IR.binary('mul', a, b),
  div: (a: Expr, b: Expr): Expr => IR.binary('div', a, b),
  max: (a: Expr, b: Expr): Expr => IR.binary('max', a, b),
  gt: (a: Expr, b: Expr): Expr => IR.binary('gt', a, b),
  sqrt: (a: Expr): Expr => IR.unary('sqrt', a),
};

/**
 * A stable string key of an expression: equal keys mean the same generated code. Built in one
 * walk into one array of parts: nesting template strings per node would rebuild every subtree's
 * key, quadratic in a long fused chain's length.
 */
export function exprKey(e: Expr): string {
  const parts: string[] = [];
  const walk = (x: Expr): void => {
    parts.push(x.op, ':', x.dtype);
    if (x.value !== undefined) parts.push(':', String(x.value), x.lane ? `.${x.lane}` : '');
    if (x.args.length) {
      parts.push('(');
      x.args.forEach((a, i) => {
        if (i) parts.push(',');
        walk(a);
      });
      parts.push(')');
    }
  };
  walk(e);
  return parts.join('');
}
