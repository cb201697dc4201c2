/**
 * Learning-rate schedulers, chainable as PyTorch's: each `step()` moves every group's *current*
 * learning rate by that step's change (StepLR multiplies it by gamma at each stepSize; cosine
 * annealing follows its recursive form), so two schedulers stepped together compose, and a rate
 * set by hand carries on from where it was set. `LinearWarmup` hands over to another scheduler.
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
  /** The multiplier of the base learning rates after `epoch` steps (the closed form, > 0). */
  abstract factor(epoch: number): number;
  step(): void {
    this.lastEpoch++;
    this.apply();
  }
  /** Applies this step's change to the current rates: factor(e) / factor(e − 1). */
  protected apply(): void {
    const r = this.factor(this.lastEpoch) / this.factor(this.lastEpoch - 1);
    for (const g of this.optimizer.paramGroups) g.lr *= r;
  }
  /** Current learning rates of every group. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
  stateDict(): { lastEpoch: number; lastLr: number[] } {
    return { lastEpoch: this.lastEpoch, lastLr: this.getLastLr() };
  }
  /** Restores the step count and (when saved) the groups' learning rates. */
  loadStateDict(s: { lastEpoch: number; lastLr?: number[] }): void {
    const op = `${this.constructor.name}.loadStateDict`;
    if (typeof s !== 'object' || s === null) throw new ArgumentError(`${op}: expected { lastEpoch, lastLr } from stateDict(), got ${describeValue(s)}`);
    checkNumber(op, 'lastEpoch', s.lastEpoch, { int: true, min: 0 });
    if (s.lastLr !== undefined && (!Array.isArray(s.lastLr) || s.lastLr.length !== this.optimizer.paramGroups.length || !s.lastLr.every((v) => typeof v === 'number' && v >= 0))) {
      throw new ArgumentError(`${op}: lastLr must be one learning rate per parameter group (${this.optimizer.paramGroups.length}), got ${describeValue(s.lastLr)}`);
    }
    this.lastEpoch = s.lastEpoch;
    s.lastLr?.forEach((lr, i) => (this.optimizer.paramGroups[i].lr = lr));
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

/**
 * Cosine from the base rate down to etaMin over tMax steps, in PyTorch's recursive form (so it
 * follows a rate changed by hand or by another scheduler; alone, it is the closed form
 * etaMin + (base − etaMin)·(1 + cos(π·e/tMax))/2).
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: Optimizer, readonly o: { tMax: number; etaMin?: number }) {
    super(opt);
    checkOptions('CosineAnnealingLR', o, ['tMax', 'etaMin']);
    checkNumber('CosineAnnealingLR', 'tMax', o?.tMax, { above: 0, finite: true });
    checkOptionalNumber('CosineAnnealingLR', 'etaMin', o.etaMin, { finite: true, min: 0 });
  }
  factor(e: number): number {
    checkEpoch(this, e);
    return (1 + Math.cos((Math.PI * e) / this.o.tMax)) / 2;
  }
  protected override apply(): void {
    const e = this.lastEpoch, T = this.o.tMax, etaMin = this.o.etaMin ?? 0;
    const restart = (((e - 1 - T) % (2 * T)) + 2 * T) % (2 * T) === 0; // the bottom, where the ratio is 0/0
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = restart
        ? g.lr + ((this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / T))) / 2
        : ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (g.lr - etaMin) + etaMin;
    });
  }
}

/**
 * Linear warm-up from startFactor × the rate to the rate over warmupSteps (PyTorch's LinearLR),
 * then hands over to `after`, which counts its steps from the end of the warm-up.
 */
export class LinearWarmup extends LRScheduler {
  constructor(opt: Optimizer, readonly o: { warmupSteps: number; startFactor?: number; after?: LRScheduler }) {
    super(opt);
    checkOptions('LinearWarmup', o, ['warmupSteps', 'startFactor', 'after']);
    checkNumber('LinearWarmup', 'warmupSteps', o?.warmupSteps, { int: true, min: 0 });
    checkOptionalNumber('LinearWarmup', 'startFactor', o.startFactor, { above: 0, max: 1 });
    if (o.after !== undefined && !(o.after instanceof LRScheduler)) throw new ArgumentError('LinearWarmup: after must be a scheduler');
    if (o.warmupSteps > 0) for (const g of opt.paramGroups) g.lr *= this.factor(0);
  }
  factor(e: number): number {
    checkEpoch(this, e);
    const s = this.o.startFactor ?? 1 / 3;
    return e >= this.o.warmupSteps ? 1 : s + ((1 - s) * e) / this.o.warmupSteps;
  }
  override step(): void {
    this.lastEpoch++;
    if (this.lastEpoch <= this.o.warmupSteps) this.apply();
    else this.o.after?.step();
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
