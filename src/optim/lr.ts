/**
 * Learning-rate schedulers. Each one is a multiplier of the optimizer's initial learning rates
 * as a function of the step count, so they compose: `LinearWarmup` wraps any other.
 * Call `step()` once per epoch (or per batch, as you choose), after `optimizer.step()`.
 *
 * @example
 * const sched = new wt.optim.lr.LinearWarmup(opt, { warmupSteps: 5, after: new wt.optim.lr.CosineAnnealingLR(opt, { tMax: 50 }) });
 */
import { ArgumentError } from '../errors.js';
import { Optimizer } from './optimizer.js';
import { checkNumber, checkOneOf, checkOptionalNumber, checkOptions, describeValue } from '../validate.js';

function checkOptimizer(op: string, opt: unknown): void {
  if (!(opt instanceof Optimizer)) throw new ArgumentError(`${op}: expected an optimizer, got ${describeValue(opt)}`);
}

/** The step count a factor is asked for. */
function checkEpoch(s: LRScheduler, e: unknown): void {
  checkNumber(`${s.constructor.name}.factor`, 'epoch', e, { int: true, min: 0 });
}

function checkGamma(op: string, gamma: unknown): void {
  checkOptionalNumber(op, 'gamma', gamma, { finite: true, above: 0 });
}

export abstract class LRScheduler {
  readonly baseLrs: number[];
  /** number of step() calls so far */
  lastEpoch = 0;
  constructor(readonly optimizer: Optimizer) {
    checkOptimizer(this.constructor.name, optimizer);
    this.baseLrs = optimizer.paramGroups.map((g) => (g.initialLr as number | undefined) ?? g.lr);
    optimizer.paramGroups.forEach((g, i) => (g.initialLr = this.baseLrs[i]));
  }
  /** The multiplier of the base learning rates after `epoch` steps. */
  abstract factor(epoch: number): number;
  step(): void {
    this.lastEpoch++;
    this.apply();
  }
  protected apply(): void {
    const f = this.factor(this.lastEpoch);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.baseLrs[i] * f));
  }
  /** Current learning rates of every group. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
  stateDict(): { lastEpoch: number } {
    return { lastEpoch: this.lastEpoch };
  }
  loadStateDict(s: { lastEpoch: number }): void {
    const op = `${this.constructor.name}.loadStateDict`;
    if (typeof s !== 'object' || s === null) throw new ArgumentError(`${op}: expected { lastEpoch } from scheduler.stateDict(), got ${describeValue(s)}`);
    this.lastEpoch = checkNumber(op, 'lastEpoch', s.lastEpoch, { int: true, min: 0 });
    this.apply();
  }
}

/** Multiplies by gamma every stepSize steps. */
export class StepLR extends LRScheduler {
  constructor(opt: Optimizer, readonly o: { stepSize: number; gamma?: number }) {
    super(opt);
    checkOptions('StepLR', o, ['stepSize', 'gamma']);
    checkNumber('StepLR', 'stepSize', o?.stepSize, { int: true, min: 1 });
    checkGamma('StepLR', o.gamma);
  }
  factor(e: number): number {
    checkEpoch(this, e);
    return (this.o.gamma ?? 0.1) ** Math.floor(e / this.o.stepSize);
  }
}

/** Multiplies by gamma at each milestone. */
export class MultiStepLR extends LRScheduler {
  constructor(opt: Optimizer, readonly o: { milestones: number[]; gamma?: number }) {
    super(opt);
    checkOptions('MultiStepLR', o, ['milestones', 'gamma']);
    if (!Array.isArray(o?.milestones) || !o.milestones.every((m) => Number.isInteger(m) && m >= 0)) {
      throw new ArgumentError(`MultiStepLR: milestones must be a list of non-negative integers, got ${describeValue(o?.milestones)}`);
    }
    checkGamma('MultiStepLR', o.gamma);
  }
  factor(e: number): number {
    checkEpoch(this, e);
    return (this.o.gamma ?? 0.1) ** this.o.milestones.filter((m) => m <= e).length;
  }
}

/** Multiplies by gamma every step. */
export class ExponentialLR extends LRScheduler {
  constructor(opt: Optimizer, readonly o: { gamma: number }) {
    super(opt);
    checkOptions('ExponentialLR', o, ['gamma']);
    checkNumber('ExponentialLR', 'gamma', o?.gamma, { finite: true, above: 0 });
  }
  factor(e: number): number {
    checkEpoch(this, e);
    return this.o.gamma ** e;
  }
}

/** Cosine from the base rate down to etaMin over tMax steps (the closed form of PyTorch's). */
export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: Optimizer, readonly o: { tMax: number; etaMin?: number }) {
    super(opt);
    checkOptions('CosineAnnealingLR', o, ['tMax', 'etaMin']);
    checkNumber('CosineAnnealingLR', 'tMax', o?.tMax, { above: 0, finite: true });
    checkOptionalNumber('CosineAnnealingLR', 'etaMin', o.etaMin, { finite: true, min: 0 });
  }
  factor(e: number): number {
    checkEpoch(this, e);
    return 1; // unused: apply() is overridden because etaMin is absolute, not a multiplier
  }
  protected override apply(): void {
    const etaMin = this.o.etaMin ?? 0;
    const c = (1 + Math.cos((Math.PI * this.lastEpoch) / this.o.tMax)) / 2;
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = etaMin + (this.baseLrs[i] - etaMin) * c));
  }
}

/**
 * Linear warm-up from startFactor × base to the base rate over warmupSteps, then hands over to
 * `after` (counting its steps from the end of the warm-up).
 */
export class LinearWarmup extends LRScheduler {
  constructor(opt: Optimizer, readonly o: { warmupSteps: number; startFactor?: number; after?: LRScheduler }) {
    super(opt);
    checkOptions('LinearWarmup', o, ['warmupSteps', 'startFactor', 'after']);
    checkNumber('LinearWarmup', 'warmupSteps', o?.warmupSteps, { int: true, min: 0 });
    checkOptionalNumber('LinearWarmup', 'startFactor', o.startFactor, { min: 0, max: 1 });
    if (o.after !== undefined && !(o.after instanceof LRScheduler)) throw new ArgumentError('LinearWarmup: after must be a scheduler');
    this.apply();
  }
  factor(e: number): number {
    checkEpoch(this, e);
    const s = this.o.startFactor ?? 1 / 3;
    return e >= this.o.warmupSteps ? 1 : s + ((1 - s) * e) / this.o.warmupSteps;
  }
  protected override apply(): void {
    const w = this.o.warmupSteps;
    if (this.lastEpoch < w || !this.o.after) return super.apply();
    this.o.after.lastEpoch = this.lastEpoch - w;
    (this.o.after as unknown as { apply(): void }).apply();
  }
}

export interface PlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  cooldown?: number;
  minLr?: number;
}

/** Reduces the rate by `factor` when a metric has not improved for `patience` steps. */
export class ReduceLROnPlateau {
  private best: number;
  private bad = 0;
  private cool = 0;
  constructor(readonly optimizer: Optimizer, readonly o: PlateauOptions = {}) {
    const op = 'ReduceLROnPlateau';
    checkOptimizer(op, optimizer);
    checkOptions(op, o, ['mode', 'factor', 'patience', 'threshold', 'cooldown', 'minLr']);
    if (o.mode !== undefined) checkOneOf(op, 'mode', o.mode, ['min', 'max']);
    checkOptionalNumber(op, 'factor', o.factor, { min: 0, max: 1 });
    if (o.factor === 1) throw new ArgumentError(`${op}: factor must be below 1, got 1`);
    checkOptionalNumber(op, 'patience', o.patience, { int: true, min: 0 });
    checkOptionalNumber(op, 'threshold', o.threshold, { min: 0, finite: true });
    checkOptionalNumber(op, 'cooldown', o.cooldown, { int: true, min: 0 });
    checkOptionalNumber(op, 'minLr', o.minLr, { min: 0, finite: true });
    this.best = (o.mode ?? 'min') === 'min' ? Infinity : -Infinity;
  }
  /** Feeds the latest metric (e.g. validation loss). */
  step(metric: number): void {
    checkNumber('ReduceLROnPlateau.step', 'metric', metric);
    const th = this.o.threshold ?? 1e-4;
    const better = (this.o.mode ?? 'min') === 'min' ? metric < this.best * (1 - th) : metric > this.best * (1 + th);
    if (better) {
      this.best = metric;
      this.bad = 0;
    } else this.bad++;
    if (this.cool > 0) {
      this.cool--;
      this.bad = 0;
    }
    if (this.bad > (this.o.patience ?? 10)) {
      for (const g of this.optimizer.paramGroups) g.lr = Math.max(g.lr * (this.o.factor ?? 0.1), this.o.minLr ?? 0);
      this.cool = this.o.cooldown ?? 0;
      this.bad = 0;
    }
  }
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}
