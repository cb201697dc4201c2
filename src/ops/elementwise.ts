/**
 * Elementwise ops, each defined once as an IR expression and the IR of its gradient.
 *
 * An op's forward is one fused kernel whatever its size (gelu is one kernel, not eight), and so
 * is the gradient of each input. Inputs may be tensors or plain numbers (which become runtime
 * scalars, so changing a number never compiles a new kernel). Broadcasting follows numpy.
 */
import { IR, math, type Expr } from '../kernel/ir.js';
import { isDType, type DType } from '../dtype.js';
import { ArgumentError, DTypeError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { broadcastShapes } from '../shape.js';
import { needsGrad, record } from '../autograd/graph.js';
import { runElementwise, scalarDType, checkSameBackend } from './run.js';
import { engine } from '../engine.js';
import { seedToKey } from '../kernel/philox.js';
import { INT32_MAX, INT32_MIN } from '../dtype.js';
import { checkNumber, checkOperand, checkOptionalNumber, checkTensor, describeValue } from '../validate.js';

type X = readonly Expr[];
interface Def {
  /** number of tensor-or-number operands */
  arity: number;
  /** forward: operands x, extra scalar parameters p → output */
  f: (x: X, p: X) => Expr;
  /** gradient of each operand given operands x, output y, upstream gradient g; null = none */
  grad: ((x: X, y: Expr, g: Expr, p: X) => (Expr | null)[]) | null;
  /** the gradient reads the output y (so it is saved) */
  usesOut?: boolean;
  /** operands must be float (ints are cast first) */
  float?: boolean;
}

const { num, add, sub, mul, div, gt } = math;
const { where, unary } = IR;
const sigmoid = (x: Expr) => unary('recip', add(num(1), unary('exp', unary('neg', x))));
const SQRT1_2 = Math.SQRT1_2, GELU_C = Math.sqrt(2 / Math.PI), INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const zeroGrad = (n: number) => () => new Array<null>(n).fill(null);
/** every operand is bool (bool tensors, booleans) */
const bools = (x: X) => x.every((e) => e.dtype === 'bool');
const refuse = (op: string, why: string): never => {
  throw new DTypeError(`${op}: ${why}`);
};
/** max/min gradient: all of g to the winner, half each on a tie (as PyTorch) */
const pickGrad = (op: 'gt' | 'lt') => (x: X, _y: Expr, g: Expr): Expr[] => [
  mul(g, add(IR.cast(IR.binary(op, x[0], x[1]), 'float32'), mul(num(0.5), IR.cast(IR.binary('eq', x[0], x[1]), 'float32')))),
  mul(g, add(IR.cast(IR.binary(op, x[1], x[0]), 'float32'), mul(num(0.5), IR.cast(IR.binary('eq', x[0], x[1]), 'float32')))),
];

/** Every elementwise op: its math and its gradient's, one entry each. */
export const ELEMENTWISE = {
  neg: { arity: 1, f: (x) => (bools(x) ? refuse('neg', 'negating a bool tensor is not supported; use logicalNot()') : unary('neg', x[0])), grad: (_x, _y, g) => [unary('neg', g)] },
  abs: { arity: 1, f: (x) => unary('abs', x[0]), grad: (x, _y, g) => [mul(g, unary('sign', IR.cast(x[0], 'float32')))] },
  exp: { arity: 1, f: (x) => unary('exp', x[0]), grad: (_x, y, g) => [mul(g, y)], usesOut: true },
  log: { arity: 1, f: (x) => unary('log', x[0]), grad: (x, _y, g) => [div(g, x[0])] },
  sqrt: { arity: 1, f: (x) => unary('sqrt', x[0]), grad: (_x, y, g) => [div(mul(num(0.5), g), y)], usesOut: true },
  rsqrt: { arity: 1, f: (x) => unary('recip', unary('sqrt', x[0])), grad: (_x, y, g) => [mul(mul(num(-0.5), g), mul(y, mul(y, y)))], usesOut: true },
  sin: { arity: 1, f: (x) => unary('sin', x[0]), grad: (x, _y, g) => [mul(g, unary('cos', x[0]))] },
  cos: { arity: 1, f: (x) => unary('cos', x[0]), grad: (x, _y, g) => [unary('neg', mul(g, unary('sin', x[0])))] },
  tanh: { arity: 1, f: (x) => unary('tanh', x[0]), grad: (_x, y, g) => [mul(g, sub(num(1), mul(y, y)))], usesOut: true },
  // float: an int32 operand is converted first (negating INT32_MIN in int32 would wrap)
  sigmoid: { arity: 1, f: (x) => sigmoid(x[0]), grad: (_x, y, g) => [mul(g, mul(y, sub(num(1), y)))], usesOut: true, float: true },
  // NOTE: where(x < 0, 0, x) rather than max(x, 0): NaN must propagate, as in PyTorch
  relu: { arity: 1, f: (x) => where(IR.binary('lt', x[0], num(0)), IR.const(0, x[0].dtype), x[0]), grad: (x, _y, g) => [where(gt(x[0], num(0)), g, num(0))] },
  leakyRelu: { arity: 1, f: (x, p) => where(gt(x[0], num(0)), x[0], mul(x[0], p[0])), grad: (x, _y, g, p) => [where(gt(x[0], num(0)), g, mul(g, p[0]))], float: true },
  elu: { arity: 1, f: (x, p) => where(gt(x[0], num(0)), x[0], mul(p[0], unary('expm1', x[0]))), grad: (x, _y, g, p) => [where(gt(x[0], num(0)), g, mul(g, mul(p[0], unary('exp', x[0]))))], float: true },
  gelu: {
    arity: 1,
    f: (x) => mul(mul(num(0.5), x[0]), add(num(1), unary('erf', mul(x[0], num(SQRT1_2))))),
    grad: (x, _y, g) => [mul(g, add(mul(num(0.5), add(num(1), unary('erf', mul(x[0], num(SQRT1_2))))), mul(x[0], mul(num(INV_SQRT_2PI), unary('exp', mul(num(-0.5), mul(x[0], x[0])))))))],
    float: true,
  },
  geluTanh: {
    arity: 1,
    f: (x) => mul(mul(num(0.5), x[0]), add(num(1), unary('tanh', mul(num(GELU_C), add(x[0], mul(num(0.044715), mul(x[0], mul(x[0], x[0])))))))),
    grad: (x, _y, g) => {
      const t = unary('tanh', mul(num(GELU_C), add(x[0], mul(num(0.044715), mul(x[0], mul(x[0], x[0]))))));
      const dt = mul(sub(num(1), mul(t, t)), mul(num(GELU_C), add(num(1), mul(num(3 * 0.044715), mul(x[0], x[0])))));
      return [mul(g, add(mul(num(0.5), add(num(1), t)), mul(mul(num(0.5), x[0]), dt)))];
    },
    float: true,
  },
  silu: { arity: 1, f: (x) => mul(x[0], sigmoid(x[0])), grad: (x, _y, g) => { const s = sigmoid(x[0]); return [mul(g, mul(s, add(num(1), mul(x[0], sub(num(1), s)))))]; }, float: true },
  // p = [beta, threshold]; linear above the threshold, as PyTorch
  softplus: {
    arity: 1,
    f: (x, p) => where(gt(mul(x[0], p[0]), p[1]), x[0], div(unary('log1p', unary('exp', mul(x[0], p[0]))), p[0])),
    grad: (x, _y, g, p) => [where(gt(mul(x[0], p[0]), p[1]), g, mul(g, sigmoid(mul(x[0], p[0]))))],
    float: true,
  },
  sign: { arity: 1, f: (x) => unary('sign', x[0]), grad: zeroGrad(1) },
  floor: { arity: 1, f: (x) => (x[0].dtype === 'float32' ? unary('floor', x[0]) : x[0]), grad: zeroGrad(1) },
  ceil: { arity: 1, f: (x) => (x[0].dtype === 'float32' ? unary('ceil', x[0]) : x[0]), grad: zeroGrad(1) },
  round: { arity: 1, f: (x) => (x[0].dtype === 'float32' ? unary('round', x[0]) : x[0]), grad: zeroGrad(1) },
  // operands x, min, max (numbers: see clamp below)
  clamp: {
    arity: 3,
    f: (x) => IR.binary('min', IR.binary('max', x[0], x[1]), x[2]),
    grad: (x, _y, g) => [where(IR.binary('and', IR.binary('ge', x[0], x[1]), IR.binary('le', x[0], x[2])), g, num(0)), null, null],
  },
  square: { arity: 1, f: (x) => mul(x[0], x[0]), grad: (x, _y, g) => [mul(mul(num(2), g), x[0])] },
  reciprocal: { arity: 1, f: (x) => unary('recip', x[0]), grad: (_x, y, g) => [unary('neg', mul(g, mul(y, y)))], usesOut: true },
  log1p: { arity: 1, f: (x) => unary('log1p', x[0]), grad: (x, _y, g) => [div(g, add(num(1), x[0]))] },
  expm1: { arity: 1, f: (x) => unary('expm1', x[0]), grad: (_x, y, g) => [mul(g, add(y, num(1)))], usesOut: true },
  erf: { arity: 1, f: (x) => unary('erf', x[0]), grad: (x, _y, g) => [mul(g, mul(num(2 / Math.sqrt(Math.PI)), unary('exp', unary('neg', mul(x[0], x[0])))))] },
  // trigonometric and hyperbolic functions and their inverses (float; int32 inputs are
  // converted), gradients as torch's formulas: NaN or ±inf where the derivative is (asin at ±1)
  tan: { arity: 1, f: (x) => unary('tan', x[0]), grad: (_x, y, g) => [mul(g, add(num(1), mul(y, y)))], usesOut: true, float: true },
  asin: { arity: 1, f: (x) => unary('asin', x[0]), grad: (x, _y, g) => [div(g, unary('sqrt', sub(num(1), mul(x[0], x[0]))))], float: true },
  acos: { arity: 1, f: (x) => unary('acos', x[0]), grad: (x, _y, g) => [unary('neg', div(g, unary('sqrt', sub(num(1), mul(x[0], x[0])))))], float: true },
  atan: { arity: 1, f: (x) => unary('atan', x[0]), grad: (x, _y, g) => [div(g, add(num(1), mul(x[0], x[0])))], float: true },
  sinh: { arity: 1, f: (x) => unary('sinh', x[0]), grad: (x, _y, g) => [mul(g, unary('cosh', x[0]))], float: true },
  cosh: { arity: 1, f: (x) => unary('cosh', x[0]), grad: (x, _y, g) => [mul(g, unary('sinh', x[0]))], float: true },
  asinh: { arity: 1, f: (x) => unary('asinh', x[0]), grad: (x, _y, g) => [div(g, unary('sqrt', add(mul(x[0], x[0]), num(1))))], float: true },
  acosh: { arity: 1, f: (x) => unary('acosh', x[0]), grad: (x, _y, g) => [div(g, unary('sqrt', sub(mul(x[0], x[0]), num(1))))], float: true },
  atanh: { arity: 1, f: (x) => unary('atanh', x[0]), grad: (x, _y, g) => [div(g, sub(num(1), mul(x[0], x[0])))], float: true },
  log2: { arity: 1, f: (x) => unary('log2', x[0]), grad: (x, _y, g) => [div(g, mul(x[0], num(Math.LN2)))], float: true },
  log10: { arity: 1, f: (x) => unary('log10', x[0]), grad: (x, _y, g) => [div(g, mul(x[0], num(Math.LN10)))], float: true },
  // toward zero; an int32 tensor is returned as is (as floor, ceil, round)
  trunc: { arity: 1, f: (x) => (x[0].dtype === 'float32' ? unary('trunc', x[0]) : x[0]), grad: zeroGrad(1) },
  logicalNot: { arity: 1, f: (x) => unary('not', x[0]), grad: null },
  isNan: { arity: 1, f: (x) => unary('isnan', x[0]), grad: null },
  isInf: { arity: 1, f: (x) => unary('isinf', x[0]), grad: null },
  isFinite: { arity: 1, f: (x) => unary('not', IR.binary('or', unary('isnan', x[0]), unary('isinf', x[0]))), grad: null },
  /** cast to the dtype in p[0]'s expression (used by `toType`); differentiable float→float only */
  identity: { arity: 1, f: (x) => x[0], grad: (_x, _y, g) => [g] },

  // bool + bool is logical or, bool * bool logical and, bool - bool refused, as torch
  add: { arity: 2, f: (x) => (bools(x) ? IR.binary('or', x[0], x[1]) : add(x[0], x[1])), grad: (_x, _y, g) => [g, g] },
  sub: { arity: 2, f: (x) => (bools(x) ? refuse('sub', 'subtracting bool tensors is not supported; use a.ne(b) for exclusive or') : sub(x[0], x[1])), grad: (_x, _y, g) => [g, unary('neg', g)] },
  mul: { arity: 2, f: (x) => (bools(x) ? IR.binary('and', x[0], x[1]) : mul(x[0], x[1])), grad: (x, _y, g) => [mul(g, x[1]), mul(g, x[0])] },
  div: { arity: 2, f: (x) => div(x[0], x[1]), grad: (x, _y, g) => [div(g, x[1]), unary('neg', div(mul(g, x[0]), mul(x[1], x[1])))] },
  pow: {
    arity: 2,
    f: (x) => IR.binary('pow', x[0], x[1]),
    grad: (x, y, g) => [
      mul(g, mul(x[1], IR.binary('pow', x[0], sub(x[1], num(1))))),
      where(gt(x[0], num(0)), mul(g, mul(y, unary('log', x[0]))), num(0)),
    ],
    usesOut: true,
  },
  maximum: { arity: 2, f: (x) => (bools(x) ? IR.binary('or', x[0], x[1]) : IR.binary('max', x[0], x[1])), grad: pickGrad('gt') },
  minimum: { arity: 2, f: (x) => (bools(x) ? IR.binary('and', x[0], x[1]) : IR.binary('min', x[0], x[1])), grad: pickGrad('lt') },
  remainder: { arity: 2, f: (x) => IR.binary('mod', x[0], x[1]), grad: (x, _y, g) => [g, unary('neg', mul(g, unary('floor', div(x[0], x[1]))))] },
  // C's fmod (torch.fmod): the remainder of truncated division, with the dividend's sign;
  // int32 stays int32. Gradients as torch: g, and -g·trunc(a / b)
  fmod: { arity: 2, f: (x) => IR.binary('fmod', x[0], x[1]), grad: (x, _y, g) => [g, unary('neg', mul(g, unary('trunc', div(x[0], x[1]))))] },
  // the angle of (x, y) = (x[1], x[0]), as torch.atan2(input = y, other = x)
  atan2: {
    arity: 2,
    f: (x) => IR.binary('atan2', x[0], x[1]),
    grad: (x, _y, g) => {
      const r = add(mul(x[0], x[0]), mul(x[1], x[1]));
      return [div(mul(g, x[1]), r), unary('neg', div(mul(g, x[0]), r))];
    },
    float: true,
  },
  floorDivide: { arity: 2, f: (x) => IR.binary('idiv', x[0], x[1]), grad: null },
  eq: { arity: 2, f: (x) => IR.binary('eq', x[0], x[1]), grad: null },
  ne: { arity: 2, f: (x) => IR.binary('ne', x[0], x[1]), grad: null },
  lt: { arity: 2, f: (x) => IR.binary('lt', x[0], x[1]), grad: null },
  le: { arity: 2, f: (x) => IR.binary('le', x[0], x[1]), grad: null },
  gt: { arity: 2, f: (x) => IR.binary('gt', x[0], x[1]), grad: null },
  ge: { arity: 2, f: (x) => IR.binary('ge', x[0], x[1]), grad: null },
  logicalAnd: { arity: 2, f: (x) => IR.binary('and', x[0], x[1]), grad: null },
  logicalOr: { arity: 2, f: (x) => IR.binary('or', x[0], x[1]), grad: null },
  where: { arity: 3, f: (x) => where(x[0], x[1], x[2]), grad: (x, _y, g) => [null, where(x[0], g, num(0)), where(x[0], num(0), g)] },
  // binary cross-entropy of a probability x against t, as torch: logs clamped at -100, and the
  // gradient (x - t) / max(x(1 - x), 1e-12) (finite where x is 0 or 1; the composed form is 0/0)
  bce: {
    arity: 2,
    f: (x) => unary('neg', add(mul(x[1], IR.binary('max', unary('log', x[0]), num(-100))), mul(sub(num(1), x[1]), IR.binary('max', unary('log', sub(num(1), x[0])), num(-100))))),
    grad: (x, _y, g) => [
      div(mul(g, sub(x[0], x[1])), IR.binary('max', mul(x[0], sub(num(1), x[0])), num(1e-12))),
      mul(g, sub(unary('log', sub(num(1), x[0])), unary('log', x[0]))),
    ],
    float: true,
  },
  // p = [key0, key1, stream, p, 1/(1-p)]: the mask is regenerated from the seed in backward
  dropout: {
    arity: 1,
    f: (x, p) => where(IR.binary('lt', IR.rand(0), p[3]), num(0), mul(x[0], p[4])),
    grad: (_x, _y, g, p) => [where(IR.binary('lt', IR.rand(0), p[3]), num(0), mul(g, p[4]))],
    float: true,
  },
} satisfies Record<string, Def>;

export type ElementwiseName = keyof typeof ELEMENTWISE;

type Operand = Tensor | number | boolean;

/**
 * Runs elementwise op `name` on tensors/numbers with extra scalar parameters `params`
 * (the expression's `p`), recording its gradient.
 */
export function elementwise(name: ElementwiseName, operands: readonly Operand[], params: readonly number[] = []): Tensor {
  const def: Def = ELEMENTWISE[name];
  operands.forEach((o, i) => checkOperand(name, i, o));
  params.forEach((p, i) => checkNumber(name, `parameter ${i}`, p));
  const tensors = operands.filter((o): o is Tensor => o instanceof Tensor);
  if (tensors.length === 0) throw new DTypeError(`${name}: needs at least one tensor operand`);
  checkSameBackend(name, tensors);
  const tdt = tensors.map((t) => t.dtype);
  // plain numbers become runtime scalars after the tensor inputs; then the op's own params
  const scalars: number[] = [];
  let ti = 0;
  const xs: Expr[] = operands.map((o) => {
    if (o instanceof Tensor) {
      const dt = def.float && o.dtype !== 'float32' ? 'float32' : o.dtype;
      return IR.cast(IR.load(ti++, o.dtype), dt);
    }
    scalars.push(Number(o));
    return IR.scalar(scalars.length - 1, scalarDType(o, tdt));
  });
  if (name === 'pow' && tdt[0] !== 'float32' && typeof operands[1] === 'number' && Number.isInteger(operands[1]) && operands[1] < 0) {
    throw new ArgumentError(`pow: an integer tensor to a negative integer power is not supported (got ${operands[1]}); use x.float().pow(${operands[1]})`);
  }
  const pBase = scalars.length;
  scalars.push(...params);
  const ps = params.map((_, i) => IR.scalar(pBase + i, 'float32'));
  const expr = def.f(xs, ps);
  const shape = broadcastShapes(name, ...tensors.map((t) => t.shape));
  const out = runElementwise(name, expr, tensors, shape, scalars);
  if (def.grad && out.dtype === 'float32' && needsGrad(tensors)) {
    const wanted = tensors.map((t) => t.requiresGrad);
    const reads = gradReads(def, xs, ps, operands, wanted);
    const save = tensors.filter((_, i) => reads[i]);
    if (def.usesOut) save.push(out);
    record('elementwise', tensors, out, save, { def: name, scalars, wanted, reads, operands: operands.map((o) => (o instanceof Tensor ? null : Number(o))) });
  }
  return out;
}

/**
 * Which tensor inputs the gradients of the `wanted` ones read (as PyTorch saves only those): the
 * others are not saved, so fusion may fold them into later kernels (saved results are computed
 * when saved, src/autograd/graph.ts) and an in-place change to them does not touch the gradient.
 */
function gradReads(def: Def, xs: X, ps: X, operands: readonly Operand[], wanted: readonly boolean[]): boolean[] {
  const n = wanted.length;
  const grads = def.grad!(xs, IR.load(n, 'float32'), IR.load(n + 1, 'float32'), ps);
  const reads = new Array<boolean>(n).fill(false);
  const walk = (e: Expr): void => {
    if (e.op === 'load') {
      if (e.value! < n) reads[e.value!] = true;
    } else e.args.forEach(walk);
  };
  let k = 0;
  operands.forEach((o, i) => {
    if (!(o instanceof Tensor)) return;
    const ge = grads[i];
    if (ge && wanted[k]) walk(ge);
    k++;
  });
  return reads;
}

/**
 * The gradient kernels of an elementwise node: one fused kernel per input that needs one (those
 * that required gradients when the op ran, `wanted`). `saved` holds the tensor inputs these
 * gradients read (`reads`), then the output when the op uses it; `dtypes` are the inputs'.
 */
export function elementwiseBackward(name: ElementwiseName, saved: readonly Tensor[], meta: { wanted: readonly boolean[]; reads: readonly boolean[]; scalars: readonly number[]; operands: readonly (number | null)[] }, dtypes: readonly DType[], g: Tensor, want: readonly boolean[]): (Tensor | null)[] {
  const def: Def = ELEMENTWISE[name];
  const { scalars, operands, reads } = meta;
  const nSaved = reads.filter(Boolean).length;
  const ins = saved.slice(0, nSaved);
  const tensors = [...ins, g];
  const outSlot = def.usesOut ? saved[nSaved] : null;
  if (outSlot) tensors.push(outSlot);
  let ti = 0, li = 0, si = 0;
  const xs: Expr[] = operands.map((o) => {
    if (o === null) {
      const dt0 = dtypes[ti];
      const dt = def.float && dt0 !== 'float32' ? 'float32' : dt0;
      // an input no wanted gradient reads was not saved: its stand-in never reaches a kernel
      return reads[ti++] ? IR.cast(IR.load(li++, dt0), dt) : IR.const(0, dt);
    }
    return IR.scalar(si++, 'float32');
  });
  want = want.map((w, k) => w && meta.wanted[k]);
  const ps = scalars.slice(si).map((_, i) => IR.scalar(si + i, 'float32'));
  const gExpr = IR.load(nSaved, g.dtype);
  const yExpr = outSlot ? IR.load(nSaved + 1, outSlot.dtype) : IR.const(0);
  const grads = def.grad!(xs, yExpr, gExpr, ps);
  // map operand-grads back to tensor-input grads
  const out: (Tensor | null)[] = [];
  let k = 0;
  operands.forEach((o, i) => {
    if (o !== null) return;
    const ge = grads[i];
    // a gradient that is the upstream one itself (add, a cast, identity): no copy (the engine
    // takes it as a view)
    if (ge === gExpr && g.dtype === 'float32') out.push(want[k] ? g : null);
    else out.push(ge && want[k] ? runElementwise(`${name} backward`, IR.cast(ge, 'float32'), tensors, g.shape as number[], scalars as number[]) : null);
    k++;
  });
  return out;
}

/**
 * Clamps into [min, max] (either may be absent). Integer bounds keep an int32 tensor int32, as
 * torch; a float bound makes the result float32.
 *
 * @example wt.tensor([-2, 5]).clamp(0, 3) // [0, 3]
 */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  checkTensor('clamp', 'input', x);
  const lo = checkOptionalNumber('clamp', 'min', min), hi = checkOptionalNumber('clamp', 'max', max);
  // absent bounds: the dtype's own extremes, so they do not turn an int32 tensor float
  const int = x.dtype !== 'float32';
  return elementwise('clamp', [x, lo ?? (int ? INT32_MIN : -Infinity), hi ?? (int ? INT32_MAX : Infinity)]);
}

/** Cast to a dtype (no copy when already of that dtype). */
export function toType(x: Tensor, dtype: DType, op = 'to'): Tensor {
  if (!isDType(dtype)) throw new DTypeError(`${op}: unknown dtype ${describeValue(dtype)} (expected float32, int32 or bool)`);
  x._check(op);
  if (x.dtype === dtype) return x;
  const out = runElementwise('toType', IR.cast(IR.load(0, x.dtype), dtype), [x], x.shape as number[], []);
  if (x.dtype === 'float32' && dtype === 'float32') record('elementwise', [x], out, [], { def: 'identity', scalars: [], wanted: [true], reads: [false], operands: [null] });
  return out;
}

/** Dropout: zeroes each element with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p = 0.5, training = true, seed?: number): Tensor {
  checkNumber('dropout', 'p', p, { min: 0, max: 1 });
  checkOptionalNumber('dropout', 'seed', seed, { finite: true });
  checkTensor('dropout', 'input', x);
  if (!training || p === 0) return x;
  if (p === 1) return elementwise('mul', [x, 0]);
  const [k0, k1] = seedToKey(seed ?? engine.rngSeed);
  const stream = seed === undefined ? ++engine.rngStream : 0;
  return elementwise('dropout', [x], [k0, k1, stream, p, 1 / (1 - p)]);
}
