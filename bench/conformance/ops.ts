/**
 * Expression kernels: every elementwise op (the ELEMENTWISE table of src/ops/elementwise.ts,
 * typed `{ [K in ElementwiseName]: … }` here so a new op does not compile without a case), every
 * reduction op of the IR (`{ [K in ReduceOp]: … }`), the creation ops that reach the IR's index
 * and random leaves, and copies of float32, int32 and bool data. `irCoverage` then walks the
 * expressions of the tested ops and names any primitive of src/kernel/ir.ts (UNARY, BINARY,
 * where, cast) that no case reaches.
 *
 * Tolerances are per op (tolerance.ts explains the families), chosen from the WGSL spec's
 * accuracy for the builtins an op uses, over the input domain given next to it: domains keep the
 * spec's bounds finite (sin/cos on [-π, π]) and keep floor() away from a quotient that one ulp
 * could move to the next integer (remainder divides by powers of two).
 */
import * as wt from '../../src/index.js';
import { BINARY, IR, UNARY, type Expr, type LeafOp } from '../../src/kernel/ir.js';
import type { ReduceOp } from '../../src/kernel/kernel.js';
import { ELEMENTWISE, elementwise, type ElementwiseName } from '../../src/ops/elementwise.js';
import { EXPR, ROWS, fmtShape, numel, rng, uniformData, withGrads, type Case, type Out } from './cases.js';
import { exact, sum, ulps, type Tol } from './tolerance.js';

// ---- operand data ---------------------------------------------------------------------------------

/** Builds one operand's values; `prev` holds the operands before it (for ties with them). */
type Arg = { dtype: wt.DType; data: (n: number, seed: number, prev: readonly Float32Array[]) => Float32Array };

const range = (lo: number, hi: number): Arg => ({ dtype: 'float32', data: (n, seed) => uniformData(n, seed, lo, hi) });
/** |x| in [lo, hi] with either sign (away from a pole at 0) */
const signed = (lo: number, hi: number): Arg => ({ dtype: 'float32', data: (n, seed) => uniformData(n, seed, lo, hi).map((v, i) => (i % 2 ? -v : v)) });
const bools: Arg = { dtype: 'bool', data: (n, seed) => uniformData(n, seed, 0, 1).map((v) => (v < 0.5 ? 0 : 1)) };
/** finite values with NaN, ±Infinity and ±0 mixed in */
const specials: Arg = {
  dtype: 'float32',
  data: (n, seed) => uniformData(n, seed, -3, 3).map((v, i) => [v, NaN, Infinity, -Infinity, 0, -0, v][i % 7]),
};
/** ±0.5, ±1, ±2, ±4: division by them is exact, so floor(a / b) is the same on any device */
const powersOfTwo: Arg = { dtype: 'float32', data: (n, seed) => uniformData(n, seed, 0, 8).map((v) => [0.5, -0.5, 1, -1, 2, -2, 4, -4][Math.floor(v)]) };
/** operand k's values where a seeded coin says so (ties for comparisons and max/min), else [-3, 3) */
const tiesWith = (k: number, p: number): Arg => ({
  dtype: 'float32',
  data: (n, seed, prev) => {
    const r = rng(seed), other = uniformData(n, seed + 1, -3, 3);
    return other.map((v, i) => (r() < p ? prev[k][i] : v));
  },
});

interface EwSpec {
  args: Arg[];
  /** the op's scalar parameters (leakyRelu's slope, clamp's bounds, ...) */
  params?: number[];
  tol: Tol;
  /** the gradients' bound (default: the forward's) */
  grad?: Tol;
}

const ANY = range(-3, 3);
const TWO = [ANY, ANY];

/**
 * Each op with its domain and bounds. ulp counts: the spec's bound for the builtins on the
 * domain plus the CPU's half ulp; absolute terms where the spec gives one or the formula
 * cancels (noted). A gradient that reads the op's output y (exp, sqrt, tanh, ...) inherits the
 * GPU's error in y, scaled by how the formula uses it.
 */
const ELEMENTWISE_SPECS: { [K in ElementwiseName]: EwSpec } = {
  neg: { args: [ANY], tol: exact },
  abs: { args: [ANY], tol: exact },
  exp: { args: [ANY], tol: ulps(10) }, // 3 + 2|x| ulp, |x| ≤ 3
  log: { args: [range(0.05, 10)], tol: ulps(4, 2 ** -21), grad: ulps(3) }, // 3 ulp; 2^-21 absolute on [0.5, 2]
  sqrt: { args: [range(0.01, 10)], tol: ulps(6), grad: ulps(9) }, // 1 / inverseSqrt: 2 + 2.5 ulp; g / 2y: y's 6 + a division
  rsqrt: { args: [range(0.01, 10)], tol: ulps(8), grad: ulps(26) }, // -g·y³/2: three times y's 8
  sin: { args: [range(-Math.PI, Math.PI)], tol: ulps(2, 2 ** -11) }, // absolute 2^-11 on [-π, π]
  cos: { args: [range(-Math.PI, Math.PI)], tol: ulps(2, 2 ** -11) },
  tanh: { args: [ANY], tol: ulps(32, 2 ** -21), grad: ulps(4, 2 ** -17) }, // sinh/cosh of exp; g·(1 - y²): 2|y| times y's error, absolute as 1 - y² cancels
  sigmoid: { args: [range(-6, 6)], tol: ulps(16), grad: ulps(4, 2 ** -19) }, // g·y(1 - y): |1 - 2y| ≤ 1 times y's 16 ulp
  relu: { args: [ANY], tol: exact },
  leakyRelu: { args: [ANY], params: [0.1], tol: exact },
  elu: { args: [ANY], params: [1.5], tol: ulps(16, 2 ** -22), grad: ulps(12) },
  gelu: { args: [ANY], tol: ulps(16, 2 ** -19), grad: ulps(32, 2 ** -19) }, // 1 + erf(x) cancels for x ≪ 0: 0.5|x| times erf's few ulps of 1
  geluTanh: { args: [ANY], tol: ulps(32, 2 ** -20), grad: ulps(64, 2 ** -19) },
  silu: { args: [ANY], tol: ulps(16, 2 ** -22), grad: ulps(24, 2 ** -21) },
  softplus: { args: [range(-5, 5)], params: [1, 20], tol: ulps(16, 2 ** -21), grad: ulps(16) },
  sign: { args: [ANY], tol: exact },
  floor: { args: [ANY], tol: exact },
  ceil: { args: [ANY], tol: exact },
  round: { args: [range(-5, 5)], tol: exact },
  clamp: { args: [ANY, range(-0.6, -0.4), range(0.6, 0.8)], tol: exact }, // bounds as tensors (numbers become the same operands)
  square: { args: [ANY], tol: exact, grad: ulps(1) },
  reciprocal: { args: [signed(0.1, 3)], tol: ulps(3), grad: ulps(7) }, // division: 2.5 ulp; -g·y²: twice y's
  log1p: { args: [range(-0.9, 5)], tol: ulps(8, 2 ** -22), grad: ulps(3) },
  expm1: { args: [ANY], tol: ulps(16, 2 ** -22) },
  erf: { args: [ANY], tol: ulps(8, 2 ** -22), grad: ulps(24) }, // the gradient's exp(-x²): 3 + 2·9 ulp
  // the inverse and hyperbolic functions are WGSL helpers of their own (src/kernel/wgsl-lib.ts:
  // fdlibm's and Cephes' reductions over wt_exp, wt_log, wt_log1p and wt_sincos), not builtins
  tan: { args: [range(-1.4, 1.4)], tol: ulps(8), grad: ulps(24) }, // sin / cos; g·(1 + y²): twice y's error
  asin: { args: [range(-0.95, 0.95)], tol: ulps(8), grad: ulps(6) }, // atan2(x, sqrt((1 - x)(1 + x)))
  acos: { args: [range(-0.95, 0.95)], tol: ulps(8), grad: ulps(6) },
  atan: { args: [ANY], tol: ulps(4), grad: ulps(3) },
  atan2: { args: [signed(0.1, 3), signed(0.1, 3)], tol: ulps(8), grad: ulps(4) },
  sinh: { args: [ANY], tol: ulps(8), grad: ulps(8) },
  cosh: { args: [ANY], tol: ulps(8), grad: ulps(8) },
  asinh: { args: [range(-5, 5)], tol: ulps(8), grad: ulps(6) },
  acosh: { args: [range(1.05, 5)], tol: ulps(8), grad: ulps(6) },
  atanh: { args: [range(-0.95, 0.95)], tol: ulps(8), grad: ulps(3) },
  log2: { args: [range(0.05, 10)], tol: ulps(4), grad: ulps(3) },
  log10: { args: [range(0.05, 10)], tol: ulps(4), grad: ulps(3) },
  trunc: { args: [ANY], tol: exact },
  fmod: { args: [range(-8, 8), powersOfTwo], tol: exact }, // exact quotients, as remainder's
  logicalNot: { args: [specials], tol: exact },
  isNan: { args: [specials], tol: exact },
  isInf: { args: [specials], tol: exact },
  isFinite: { args: [specials], tol: exact },
  identity: { args: [ANY], tol: exact },
  add: { args: TWO, tol: exact },
  sub: { args: TWO, tol: exact },
  mul: { args: TWO, tol: exact },
  div: { args: [ANY, signed(0.1, 3)], tol: ulps(3), grad: ulps(4) },
  pow: { args: [range(0.1, 3), range(-3, 3)], tol: ulps(32), grad: ulps(40, 2 ** -20) }, // exp2(y·log2 x)
  maximum: { args: [ANY, tiesWith(0, 0.1)], tol: exact },
  minimum: { args: [ANY, tiesWith(0, 0.1)], tol: exact },
  remainder: { args: [range(-8, 8), powersOfTwo], tol: exact },
  floorDivide: { args: [range(-8, 8), powersOfTwo], tol: exact },
  eq: { args: [ANY, tiesWith(0, 0.3)], tol: exact },
  ne: { args: [ANY, tiesWith(0, 0.3)], tol: exact },
  lt: { args: [ANY, tiesWith(0, 0.3)], tol: exact },
  le: { args: [ANY, tiesWith(0, 0.3)], tol: exact },
  gt: { args: [ANY, tiesWith(0, 0.3)], tol: exact },
  ge: { args: [ANY, tiesWith(0, 0.3)], tol: exact },
  logicalAnd: { args: [bools, bools], tol: exact },
  logicalOr: { args: [bools, bools], tol: exact },
  where: { args: [bools, ANY, ANY], tol: exact },
  bce: { args: [range(0.01, 0.99), range(0, 1)], tol: ulps(16, 2 ** -21), grad: ulps(16, 2 ** -21) }, // logs of x and 1 - x
  // through wt.dropout (its parameters are a Philox key): the same bits on both backends
  dropout: { args: [ANY], tol: exact },
};

/** Which operands have a gradient expression (sign, floor, ... have none: their gradient is zero). */
function gradOperands(name: ElementwiseName): boolean[] {
  const def = ELEMENTWISE[name], spec = ELEMENTWISE_SPECS[name];
  const xs = spec.args.map((a, i) => IR.load(i, a.dtype));
  const g = def.grad?.(xs, IR.load(9, 'float32'), IR.load(10, 'float32'), [0, 1, 2, 3, 4].map((i) => IR.scalar(i)));
  return spec.args.map((a, i) => a.dtype === 'float32' && !!g?.[i]);
}

function operands(name: ElementwiseName, shape: readonly number[], seed: number): wt.Tensor[] {
  const spec = ELEMENTWISE_SPECS[name], grads = gradOperands(name);
  const prev: Float32Array[] = [];
  return spec.args.map((a, k) => {
    const v = a.data(numel(shape), seed + 17 * k, prev);
    prev.push(v);
    return wt.tensor(v, { shape: [...shape], dtype: a.dtype, requiresGrad: grads[k] });
  });
}

function elementwiseCase(name: ElementwiseName, shape: readonly number[]): Case {
  const spec = ELEMENTWISE_SPECS[name];
  return {
    name, group: 'elementwise', target: name, size: fmtShape(shape), variants: EXPR,
    run: () => {
      const xs = operands(name, shape, 1000 + name.length);
      const y = name === 'dropout' ? wt.dropout(xs[0], 0.3, true, 1234) : elementwise(name, xs, spec.params ?? []);
      const floats = xs.map((x, i) => [`x${i}`, x, spec.grad ?? spec.tol] as const).filter(([, x]) => x.requiresGrad);
      if (!y.requiresGrad || floats.length === 0) return [{ name: 'y', value: y, tol: spec.tol }];
      return withGrads(y, spec.tol, floats);
    },
  };
}

/** Strided, broadcast and odd-sized operands: the kernels' scalar (non-vec4) paths. */
function layoutCases(small: boolean): Case[] {
  const [R, C] = small ? [33, 65] : [1023, 2049];
  const mk = (name: string, run: () => Out[]): Case => ({ name, group: 'elementwise', target: 'strided', size: `[${R},${C}]`, variants: EXPR, run });
  return [
    mk('add, broadcast row and column', () => {
      const a = wt.tensor(uniformData(R, 1), { shape: [R, 1], requiresGrad: true }), b = wt.tensor(uniformData(C, 2), { shape: [C], requiresGrad: true });
      return withGrads(a.add(b), exact, [['a', a, sum(C)], ['b', b, sum(R)]]);
    }),
    mk('mul, transposed operand', () => {
      const a = wt.tensor(uniformData(R * C, 3), { shape: [R, C], requiresGrad: true }), b = wt.tensor(uniformData(R * C, 4), { shape: [C, R], requiresGrad: true });
      return withGrads(a.mul(b.transpose(0, 1)), exact, [['a', a, exact], ['b', b, exact]]);
    }),
    mk('exp of a slice, then tanh', () => {
      const a = wt.tensor(uniformData(R * C, 5), { shape: [R, C], requiresGrad: true });
      // exp's 3 + 2 ulp into tanh's 32; the gradient as tanh's (1 - y² cancels)
      return withGrads(a.slice(1, 1, C - 1).exp().tanh(), ulps(48, 2 ** -21), [['a', a, ulps(48, 2 ** -17)]]);
    }),
    mk('where with broadcast condition', () => {
      const c = wt.tensor(uniformData(C, 6).map((v) => (v > 0 ? 1 : 0)), { shape: [C], dtype: 'bool' });
      const a = wt.tensor(uniformData(R * C, 7), { shape: [R, C], requiresGrad: true });
      return withGrads(wt.where(c, a, a.neg()), exact, [['a', a, exact]]);
    }),
  ];
}

// ---- reductions -------------------------------------------------------------------------------------

function reduceCase(target: string, name: string, shape: number[], run: (x: wt.Tensor) => { y: wt.Tensor; tol: Tol; grad?: Tol }, lo = -1, hi = 1): Case {
  return {
    name, group: 'reduction', target, size: fmtShape(shape), variants: ROWS,
    run: () => {
      const x = wt.tensor(uniformData(numel(shape), 2000 + name.length, lo, hi), { shape, requiresGrad: true });
      const r = run(x);
      if (!r.grad || !r.y.requiresGrad) return [{ name: 'y', value: r.y, tol: r.tol }];
      return withGrads(r.y, r.tol, [['x', x, r.grad]]);
    },
  };
}

/** Every reduction op of the IR, over rows, columns (strided), everything, a middle dim. */
function reductionCases(small: boolean): { [K in ReduceOp]: Case[] } {
  const [R, C] = small ? [67, 1100] : [2048, 2052];
  const shape = [R, C];
  const cube = small ? [9, 13, 33] : [64, 130, 257];
  return {
    sum: [
      reduceCase('sum', 'sum rows', shape, (x) => ({ y: x.sum(1), tol: sum(C), grad: exact })),
      reduceCase('sum', 'sum columns', shape, (x) => ({ y: x.sum(0), tol: sum(R), grad: exact })),
      reduceCase('sum', 'sum of everything', shape, (x) => ({ y: x.sum(), tol: sum(R * C), grad: exact })),
    ],
    mean: [
      reduceCase('mean', 'mean middle dim', cube, (x) => ({ y: x.mean(1), tol: sum(cube[1]), grad: ulps(1) })),
      reduceCase('mean', 'mean of squares, two dims', cube, (x) => ({ y: x.square().mean([0, 2], true), tol: sum(cube[0] * cube[2]), grad: ulps(2) })),
    ],
    max: [
      reduceCase('max', 'max rows', shape, (x) => ({ y: x.amax(1), tol: exact, grad: exact })),
      reduceCase('max', 'max of everything', shape, (x) => ({ y: x.max(), tol: exact, grad: exact })),
    ],
    min: [reduceCase('min', 'min columns', shape, (x) => ({ y: x.amin(0), tol: exact, grad: exact }))],
    // products of 16 terms in [0.5, 1.5]: each rounding half an ulp on either side
    prod: [reduceCase('prod', 'prod of 16', small ? [700, 16] : [262144, 16], (x) => ({ y: x.prod(1), tol: ulps(16), grad: ulps(20) }), 0.5, 1.5)],
    argmax: [
      reduceCase('argmax', 'argmax rows', shape, (x) => ({ y: x.argmax(1), tol: exact })),
      reduceCase('argmax', 'argmax middle dim', cube, (x) => ({ y: x.argmax(1), tol: exact })),
    ],
    argmin: [reduceCase('argmin', 'argmin columns', shape, (x) => ({ y: x.argmin(0), tol: exact }))],
  };
}

/** Reductions composed of the IR's: variance, std, logsumexp, all, any. */
function derivedReductions(small: boolean): Case[] {
  const [R, C] = small ? [67, 1100] : [2048, 2052];
  return [
    reduceCase('var', 'var rows', [R, C], (x) => ({ y: x.var(1), tol: sum(C), grad: sum(C) })),
    reduceCase('std', 'std columns', [R, C], (x) => ({ y: x.std(0), tol: sum(R), grad: sum(R) })),
    reduceCase('logsumexp', 'logsumexp rows', [R, C], (x) => ({ y: x.logsumexp(1), tol: sum(C), grad: sum(C) }), -5, 5),
    reduceCase('all', 'all / any rows', [R, C], (x) => ({ y: wt.stack([x.gt(-0.9999).all(1), x.gt(0.9999).any(1)]), tol: exact })),
  ];
}

// ---- creation: the IR's index and random leaves ---------------------------------------------------

function creationCases(small: boolean): Case[] {
  const n = small ? 10_001 : 4_194_301;
  const side = small ? 77 : 2049;
  const mk = (name: string, target: string, size: string, run: () => Out[]): Case => ({ name, group: 'creation', target, size, variants: EXPR, run });
  return [
    mk('arange, linspace', 'index', `[${n}]`, () => [
      { name: 'arange', value: wt.arange(n), tol: exact },
      // start + i·step may be one fused multiply-add on a GPU: one rounding fewer
      { name: 'linspace', value: wt.linspace(-1, 1, n), tol: ulps(2, 2 ** -24) },
    ]),
    mk('eye, triu, tril', 'index', `[${side},${side + 3}]`, () => {
      const x = wt.tensor(uniformData(side * (side + 3), 9), { shape: [side, side + 3] });
      return [{ name: 'eye', value: wt.eye(side, side + 3), tol: exact }, { name: 'triu', value: wt.triu(x, 1), tol: exact }, { name: 'tril', value: wt.tril(x, -2), tol: exact }];
    }),
    mk('rand, randint, uniform', 'rand', `[${n}]`, () => [
      { name: 'rand', value: wt.rand([n], { seed: 5 }), tol: exact },
      { name: 'randint', value: wt.randint(-7, 100, [n], { seed: 6 }), tol: exact },
      { name: 'uniform', value: wt.uniform([n], -2, 3, { seed: 7 }), tol: ulps(2, 2 ** -22) },
    ]),
    // Box-Muller: sqrt(-2 log u) up to ~5.8 times cos(2πu'), whose spec bound is 2^-11 absolute
    mk('randn, normal', 'rand', `[${n}]`, () => [
      { name: 'randn', value: wt.randn([n], { seed: 8 }), tol: ulps(16, 6 * 2 ** -11) },
      { name: 'normal', value: wt.normal([n], 1, 0.5, { seed: 9 }), tol: ulps(16, 3 * 2 ** -11) },
    ]),
  ];
}

// ---- copies of every dtype ----------------------------------------------------------------------------

/** Copies only move 32-bit words: float32, int32 and bool must all come through unchanged. */
function copyCase(dtype: wt.DType, small: boolean, known?: string): Case {
  const [R, C] = small ? [33, 70] : [1025, 2048];
  return {
    name: `copies of ${dtype}`, group: 'movement', target: `copy ${dtype}`, size: `[${R},${C}]`, variants: EXPR, known,
    run: () => {
      const v = dtype === 'float32' ? uniformData(R * C, 11) : uniformData(R * C, 11, 0, dtype === 'bool' ? 2 : 1e6).map(Math.floor);
      const x = wt.tensor(v, { shape: [R, C], dtype });
      const y = x.slice(1, 3, C - 1).reshape([R, C - 4]);
      const outs: [string, wt.Tensor][] = [
        ['transpose', x.transpose(0, 1).contiguous()],
        ['cat', wt.cat([x.slice(1, 0, C - 4), y, x.flip(0).slice(1, 4, C)], 0)],
        ['stack', wt.stack([x, x.flip(0)], 1)],
        ['pad', wt.pad(x, [2, 1, 0, 3])],
        ['flip', x.flip([0, 1])],
        ['where', wt.where(wt.tensor(uniformData(C, 12).map((t) => (t > 0 ? 1 : 0)), { dtype: 'bool' }), x, x.flip(1))],
      ];
      return outs.map(([name, value]) => ({ name, value, tol: exact }));
    },
  };
}

// ---- IR coverage ----------------------------------------------------------------------------------------

/** The leaves of the IR and the cases that reach each (typed, so a new leaf needs an entry). */
const LEAVES: { [K in LeafOp]: string } = { load: 'every case', scalar: 'clamp, leakyRelu, dropout', const: 'relu, gelu', index: 'arange, eye', rand: 'rand, randn, dropout' };

/**
 * The IR primitives (ir.ts UNARY and BINARY, where, cast) that the expressions of the tested
 * elementwise ops, forward and gradient, never use: each must be empty for a complete run.
 */
export function irCoverage(tested: readonly ElementwiseName[]): { missing: string[]; leaves: typeof LEAVES } {
  const seen = new Set<string>();
  const walk = (e: Expr | null): void => {
    if (!e) return;
    seen.add(e.op);
    e.args.forEach(walk);
  };
  for (const name of tested) {
    const def = ELEMENTWISE[name], spec = ELEMENTWISE_SPECS[name];
    const xs = spec.args.map((a, i) => IR.load(i, a.dtype));
    const ps = [0, 1, 2, 3, 4].map((i) => IR.scalar(i));
    const y = def.f(xs, ps);
    walk(y);
    def.grad?.(xs, IR.load(9, 'float32'), IR.load(10, 'float32'), ps).forEach(walk);
  }
  const wanted = [...Object.keys(UNARY), ...Object.keys(BINARY), 'where', 'cast'];
  return { missing: wanted.filter((op) => !seen.has(op)), leaves: LEAVES };
}

/** Every expression-kernel case at realistic (`small`: SwiftShader) sizes. */
export function expressionCases(small: boolean): { elementwise: Case[]; reductions: Case[]; tested: ElementwiseName[] } {
  const shape = small ? [64, 132] : [2048, 2052];
  const tested = Object.keys(ELEMENTWISE_SPECS) as ElementwiseName[];
  const reductions = reductionCases(small);
  return {
    elementwise: [
      ...tested.map((n) => elementwiseCase(n, shape)),
      ...layoutCases(small),
      ...creationCases(small),
      copyCase('float32', small),
      copyCase('int32', small),
      copyCase('bool', small),
    ],
    reductions: [...(Object.keys(reductions) as ReduceOp[]).flatMap((k) => reductions[k]), ...derivedReductions(small)],
    tested,
  };
}
