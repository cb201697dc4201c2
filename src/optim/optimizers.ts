/**
 * SGD, Adam, AdamW, RMSprop and Adagrad with PyTorch's update formulas and defaults.
 * Each `update` returns [new param, ...new state], every one in terms of the old values.
 */
import { math, type Expr } from '../kernel/ir.js';
import { fullLike } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, type ParamGroup, type UpdateInputs } from './optimizer.js';
import { ArgumentError } from '../errors.js';
import { checkBoolean, checkNumber, checkOptions, describeValue } from '../validate.js';

/** Checks hyperparameters of a group: each must be a finite number >= 0 (or in [0, 1] when listed in `unit`). */
function nonNegative(op: string, g: ParamGroup, names: string[], unit: string[] = []): void {
  for (const n of names) checkNumber(op, n, g[n], { finite: true, min: 0, ...(unit.includes(n) ? { max: 1 } : {}) });
}

const { num, add, sub, mul, div, max, sqrt } = math;

/** g + weightDecay * p (L2 penalty folded into the gradient, as PyTorch). */
const decayed = (x: UpdateInputs): Expr => add(x.g, mul(x.h.weightDecay, x.p));

type Params = Tensor[] | ParamGroup[] | Iterable<Tensor>;

export interface SGDOptions { lr?: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean }

/**
 * Stochastic gradient descent with optional momentum (PyTorch's form: the first step sets the
 * buffer to the gradient), dampening, Nesterov momentum and weight decay.
 * @example const opt = new wt.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 */
export class SGD extends Optimizer {
  constructor(params: Params, o: SGDOptions = {}) {
    checkOptions('SGD', o, ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov']);
    super(params, { lr: o.lr ?? 1e-3, momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, weightDecay: o.weightDecay ?? 0, nesterov: o.nesterov ?? false });
  }
  protected override checkGroup(g: ParamGroup): void {
    nonNegative('SGD', g, ['momentum', 'dampening', 'weightDecay'], ['dampening']);
    checkBoolean('SGD', 'nesterov', g.nesterov);
    if (g.nesterov && (g.momentum === 0 || g.dampening !== 0)) throw new ArgumentError('SGD: nesterov needs momentum > 0 and dampening 0 (as PyTorch)');
  }
  protected stateNames(g: ParamGroup): string[] {
    return (g.momentum as number) !== 0 ? ['momentumBuffer'] : [];
  }
  protected hypers(g: ParamGroup, step: number): Record<string, number> {
    return { lr: g.lr, weightDecay: g.weightDecay as number, momentum: g.momentum as number, damp: step === 1 ? 0 : (g.dampening as number), first: step === 1 ? 1 : 0 };
  }
  protected update(x: UpdateInputs, g: ParamGroup): Expr[] {
    const grad = decayed(x);
    if ((g.momentum as number) === 0) return [sub(x.p, mul(x.h.lr, grad))];
    // buf = first ? g : momentum*buf + (1-dampening)*g
    const buf = add(mul(sub(num(1), x.h.first), mul(x.h.momentum, x.s[0])), mul(sub(num(1), x.h.damp), grad));
    const dir = g.nesterov ? add(grad, mul(x.h.momentum, buf)) : buf;
    return [sub(x.p, mul(x.h.lr, dir)), buf];
  }
}

export interface AdamOptions { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number; amsgrad?: boolean }

function adamUpdate(x: UpdateInputs, grad: Expr, p: Expr, amsgrad: boolean): Expr[] {
  const { b1, b2, eps, stepSize, bc2sqrt } = x.h;
  const m = add(mul(b1, x.s[0]), mul(sub(num(1), b1), grad));
  const v = add(mul(b2, x.s[1]), mul(sub(num(1), b2), mul(grad, grad)));
  const vmax = amsgrad ? max(x.s[2], v) : v;
  const denom = add(div(sqrt(vmax), bc2sqrt), eps);
  const newP = sub(p, mul(stepSize, div(m, denom)));
  return amsgrad ? [newP, m, v, vmax] : [newP, m, v];
}

function adamHypers(g: ParamGroup, step: number): Record<string, number> {
  const [b1, b2] = g.betas as [number, number];
  const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
  return { lr: g.lr, b1, b2, eps: g.eps as number, weightDecay: g.weightDecay as number, stepSize: g.lr / bc1, bc2sqrt: Math.sqrt(bc2) };
}

/**
 * Adam (Kingma & Ba) with PyTorch's bias correction; weightDecay is an L2 penalty (see AdamW).
 * @example const opt = new wt.optim.Adam(model.parameters(), { lr: 1e-3 });
 */
export class Adam extends Optimizer {
  constructor(params: Params, o: AdamOptions = {}) {
    checkOptions(new.target.name, o, ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad']);
    super(params, { lr: o.lr ?? 1e-3, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0, amsgrad: o.amsgrad ?? false });
  }
  protected override checkGroup(g: ParamGroup): void {
    const op = this.constructor.name;
    const b = g.betas as unknown;
    if (!Array.isArray(b) || b.length !== 2 || !b.every((v) => typeof v === 'number' && v >= 0 && v < 1)) {
      throw new ArgumentError(`${op}: betas must be a pair of numbers in [0, 1), got ${describeValue(b)}`);
    }
    nonNegative(op, g, ['eps', 'weightDecay']);
    checkBoolean(op, 'amsgrad', g.amsgrad);
  }
  protected stateNames(g: ParamGroup): string[] {
    return g.amsgrad ? ['expAvg', 'expAvgSq', 'maxExpAvgSq'] : ['expAvg', 'expAvgSq'];
  }
  protected hypers(g: ParamGroup, step: number): Record<string, number> {
    return adamHypers(g, step);
  }
  protected update(x: UpdateInputs, g: ParamGroup): Expr[] {
    return adamUpdate(x, decayed(x), x.p, !!g.amsgrad);
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter): p ← p(1 − lr·wd) before the Adam step. */
export class AdamW extends Adam {
  constructor(params: Params, o: AdamOptions = {}) {
    checkOptions('AdamW', o, ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad']);
    super(params, { ...o, weightDecay: o.weightDecay ?? 1e-2 });
  }
  protected override update(x: UpdateInputs, g: ParamGroup): Expr[] {
    const shrunk = mul(x.p, sub(num(1), mul(x.h.lr, x.h.weightDecay)));
    return adamUpdate(x, x.g, shrunk, !!g.amsgrad);
  }
}

export interface RMSpropOptions { lr?: number; alpha?: number; eps?: number; weightDecay?: number; momentum?: number; centered?: boolean }

/** RMSprop as PyTorch (eps added outside the square root; optional centering and momentum). */
export class RMSprop extends Optimizer {
  constructor(params: Params, o: RMSpropOptions = {}) {
    checkOptions('RMSprop', o, ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered']);
    super(params, { lr: o.lr ?? 1e-2, alpha: o.alpha ?? 0.99, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0, momentum: o.momentum ?? 0, centered: o.centered ?? false });
  }
  protected override checkGroup(g: ParamGroup): void {
    nonNegative('RMSprop', g, ['alpha', 'eps', 'weightDecay', 'momentum'], ['alpha']);
    checkBoolean('RMSprop', 'centered', g.centered);
  }
  protected stateNames(g: ParamGroup): string[] {
    return ['squareAvg', ...((g.momentum as number) > 0 ? ['momentumBuffer'] : []), ...(g.centered ? ['gradAvg'] : [])];
  }
  protected hypers(g: ParamGroup): Record<string, number> {
    return { lr: g.lr, alpha: g.alpha as number, eps: g.eps as number, weightDecay: g.weightDecay as number, momentum: g.momentum as number };
  }
  protected update(x: UpdateInputs, g: ParamGroup): Expr[] {
    const grad = decayed(x);
    const { alpha, eps, lr, momentum } = x.h;
    const sq = add(mul(alpha, x.s[0]), mul(sub(num(1), alpha), mul(grad, grad)));
    const hasMom = (g.momentum as number) > 0;
    const gaIdx = hasMom ? 2 : 1;
    const ga = g.centered ? add(mul(alpha, x.s[gaIdx]), mul(sub(num(1), alpha), grad)) : null;
    const avg = add(sqrt(ga ? sub(sq, mul(ga, ga)) : sq), eps);
    const out: Expr[] = [];
    if (hasMom) {
      const buf = add(mul(momentum, x.s[1]), div(grad, avg));
      out.push(sub(x.p, mul(lr, buf)), sq, buf);
    } else out.push(sub(x.p, mul(lr, div(grad, avg))), sq);
    if (ga) out.push(ga);
    return out;
  }
}

export interface AdagradOptions { lr?: number; lrDecay?: number; weightDecay?: number; initialAccumulatorValue?: number; eps?: number }

/** Adagrad as PyTorch: clr = lr / (1 + (step − 1)·lrDecay). */
export class Adagrad extends Optimizer {
  constructor(params: Params, o: AdagradOptions = {}) {
    checkOptions('Adagrad', o, ['lr', 'lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps']);
    super(params, { lr: o.lr ?? 1e-2, lrDecay: o.lrDecay ?? 0, weightDecay: o.weightDecay ?? 0, initialAccumulatorValue: o.initialAccumulatorValue ?? 0, eps: o.eps ?? 1e-10 });
  }
  protected override checkGroup(g: ParamGroup): void {
    nonNegative('Adagrad', g, ['lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps']);
  }
  protected stateNames(): string[] {
    return ['sum'];
  }
  protected override initState(_n: string, p: Tensor, g: ParamGroup): Tensor {
    return fullLike(p, g.initialAccumulatorValue as number);
  }
  protected hypers(g: ParamGroup, step: number): Record<string, number> {
    return { clr: g.lr / (1 + (step - 1) * (g.lrDecay as number)), weightDecay: g.weightDecay as number, eps: g.eps as number };
  }
  protected update(x: UpdateInputs): Expr[] {
    const grad = decayed(x);
    const sum = add(x.s[0], mul(grad, grad));
    return [sub(x.p, mul(x.h.clr, div(grad, add(sqrt(sum), x.h.eps)))), sum];
  }
}
