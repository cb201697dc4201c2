/**
 * Callbacks for fit(): hooks called at the start and end of training, of each epoch and after
 * each batch. A callback is any object with some of the hook methods (a plain object works), or
 * a subclass of `Callback`, which also gets the training context (model, optimizer, and the
 * `stopTraining` flag a hook may set). Hooks may be async; fit awaits them.
 *
 * Logs: epoch logs hold `loss`, each metric (`acc`, ...), their validation versions (`valLoss`,
 * `valAcc`, ...) and `lr`. Batch logs hold `batch` and `size`, plus the running epoch means of
 * the loss and metrics on the steps where fit read them back (every `logEvery` steps).
 *
 * @example
 * await model.fit([x, y], { epochs: 50, validationSplit: 0.1, callbacks: [
 *   new wt.train.EarlyStopping({ monitor: 'valLoss', patience: 3, restoreBestWeights: true }),
 *   { onEpochEnd: (epoch, logs) => console.log(epoch, logs.loss) },
 * ] });
 */
import { noGrad } from '../engine.js';
import { ArgumentError } from '../errors.js';
import { keep } from '../memory.js';
import type { Trainable } from './model.js';
import { LRScheduler, ReduceLROnPlateau } from '../optim/lr.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkFunction, checkNumber, checkOptionalNumber, checkOptions, describeValue } from '../validate.js';

export type Logs = Record<string, number | undefined>;

/** What fit shares with callbacks. */
export interface TrainContext {
  model: Trainable;
  optimizer: Optimizer;
  epochs: number;
  /** batches per epoch */
  steps: number;
  /** set to true to end training after the current batch */
  stopTraining: boolean;
}

/** The hooks; every one is optional. */
export interface CallbackLike {
  /** false when onBatchEnd needs no loss values, so fit need not read them back for it */
  readonly wantsBatchLogs?: boolean;
  setContext?(ctx: TrainContext): void;
  onTrainBegin?(logs: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
}

/** Base class: keeps the context in `this.ctx` (Keras's `self.model`). */
export class Callback implements CallbackLike {
  ctx!: TrainContext;
  setContext(ctx: TrainContext): void {
    this.ctx = ctx;
  }
}

export type Mode = 'min' | 'max' | 'auto';

/** The name of the metric a callback watches (default valLoss). */
function checkMonitor(op: string, monitor: unknown): string {
  if (monitor === undefined) return 'valLoss';
  if (typeof monitor !== 'string' || !monitor) throw new ArgumentError(`${op}: monitor must be the name of a metric (e.g. 'valLoss'), got ${describeValue(monitor)}`);
  return monitor;
}

/** 'auto' watches accuracy-like metrics for a rise and everything else for a fall. */
function resolveMode(op: string, mode: Mode, monitor: string): 'min' | 'max' {
  if (mode !== 'auto' && mode !== 'min' && mode !== 'max') throw new ArgumentError(`${op}: mode must be 'min', 'max' or 'auto', got ${describeValue(mode)}`);
  return mode === 'auto' ? (/acc|auc|precision|recall|f1/i.test(monitor) ? 'max' : 'min') : mode;
}

// one warning per callback and metric, not one per epoch
const warned = new WeakMap<object, Set<string>>();
function missing(self: object, who: string, monitor: string, logs: Logs): void {
  const seen = warned.get(self) ?? new Set<string>();
  warned.set(self, seen);
  if (seen.has(monitor)) return;
  seen.add(monitor);
  console.warn(`${who}: metric ${JSON.stringify(monitor)} is not in the logs (available: ${Object.keys(logs).join(', ')}); skipping`);
}

/**
 * Stops training when `monitor` has not improved by more than `minDelta` for `patience`
 * epochs. With `restoreBestWeights`, the weights of the best epoch are put back when training
 * ends (stopped early or not). `baseline`: the value to beat before any epoch counts as better.
 *
 * @example new wt.train.EarlyStopping({ monitor: 'valLoss', patience: 2, restoreBestWeights: true })
 */
export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBestWeights: boolean;
  readonly baseline?: number;
  best = NaN;
  bestEpoch = -1;
  /** the epoch training stopped after, or -1 */
  stoppedEpoch = -1;
  private wait = 0;
  private lastEpoch = -1;
  private snapshot: Record<string, Tensor> | null = null;

  constructor(o: { monitor?: string; patience?: number; minDelta?: number; mode?: Mode; restoreBestWeights?: boolean; baseline?: number } = {}) {
    super();
    const op = 'EarlyStopping';
    checkOptions(op, o, ['monitor', 'patience', 'minDelta', 'mode', 'restoreBestWeights', 'baseline']);
    this.monitor = checkMonitor(op, o.monitor);
    this.mode = resolveMode(op, o.mode ?? 'auto', this.monitor);
    this.patience = checkNumber(op, 'patience', o.patience ?? 0, { int: true, min: 0 });
    this.minDelta = Math.abs(checkNumber(op, 'minDelta', o.minDelta ?? 0, { finite: true }));
    this.restoreBestWeights = checkBoolean(op, 'restoreBestWeights', o.restoreBestWeights ?? false);
    this.baseline = checkOptionalNumber(op, 'baseline', o.baseline);
  }

  private better(v: number): boolean {
    if (Number.isNaN(this.best)) return true;
    return this.mode === 'min' ? v < this.best - this.minDelta : v > this.best + this.minDelta;
  }

  onTrainBegin(): void {
    this.wait = 0;
    this.best = this.baseline ?? NaN;
    this.bestEpoch = this.stoppedEpoch = this.lastEpoch = -1;
    this.dropSnapshot();
  }

  onEpochEnd(epoch: number, logs: Logs): void {
    this.lastEpoch = epoch;
    const v = logs[this.monitor];
    if (v === undefined) return missing(this, 'EarlyStopping', this.monitor, logs);
    this.wait++;
    if (this.better(v)) {
      this.best = v;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.restoreBestWeights) this.takeSnapshot();
      return;
    }
    // as Keras: stop once `patience` epochs in a row failed to improve
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      this.ctx.stopTraining = true;
    }
  }

  onTrainEnd(): void {
    if (this.snapshot && this.bestEpoch !== this.lastEpoch) this.ctx.model.loadStateDict(this.snapshot);
    this.dropSnapshot();
  }

  private takeSnapshot(): void {
    this.dropSnapshot();
    const sd = this.ctx.model.stateDict();
    // copies, not the live tensors: training keeps updating those in place
    this.snapshot = noGrad(() => Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, keep(t.clone())])));
  }

  private dropSnapshot(): void {
    if (this.snapshot) for (const t of Object.values(this.snapshot)) t.dispose();
    this.snapshot = null;
  }
}

type LrFn = (epoch: number, lr: number) => number;

/**
 * Drives a learning-rate schedule from fit: a `wt.optim.lr` scheduler is stepped after every
 * epoch (or every batch with `perBatch`), a ReduceLROnPlateau is fed the monitored metric
 * (default valLoss, else loss), and a function (epoch, lr) → lr sets the rate before each epoch.
 * The scheduler must be built on the optimizer fit uses.
 *
 * @example
 * const opt = new wt.optim.SGD(model.parameters(), { lr: 0.1 });
 * model.fit(data, { optimizer: opt, callbacks: [new wt.train.LearningRateScheduler(new wt.optim.lr.StepLR(opt, { stepSize: 10 }))] });
 */
export class LearningRateScheduler extends Callback {
  readonly wantsBatchLogs = false;
  constructor(readonly scheduler: LRScheduler | ReduceLROnPlateau | LrFn, readonly o: { monitor?: string; perBatch?: boolean } = {}) {
    super();
    const ok = typeof scheduler === 'function' || scheduler instanceof LRScheduler || scheduler instanceof ReduceLROnPlateau;
    if (!ok) throw new ArgumentError(`LearningRateScheduler: expected a wt.optim.lr scheduler, a ReduceLROnPlateau or a function (epoch, lr) => lr, got ${describeValue(scheduler)}`);
    checkOptions('LearningRateScheduler', o, ['monitor', 'perBatch']);
    if (o.monitor !== undefined) checkMonitor('LearningRateScheduler', o.monitor);
    if (o.perBatch !== undefined) checkBoolean('LearningRateScheduler', 'perBatch', o.perBatch);
  }

  onTrainBegin(): void {
    const s = this.scheduler;
    if (typeof s !== 'function' && s.optimizer !== this.ctx.optimizer) {
      throw new ArgumentError('LearningRateScheduler: the scheduler drives a different optimizer than the one fit uses; pass that optimizer to fit/compile');
    }
  }

  onEpochBegin(epoch: number): void {
    const s = this.scheduler;
    if (typeof s !== 'function') return;
    const lr = s(epoch, this.ctx.optimizer.lr);
    if (!(typeof lr === 'number' && lr >= 0)) throw new ArgumentError(`LearningRateScheduler: the schedule function returned ${lr} for epoch ${epoch}; expected a non-negative number`);
    for (const g of this.ctx.optimizer.paramGroups) g.lr = lr;
  }

  onBatchEnd(): void {
    if (this.o.perBatch && this.scheduler instanceof LRScheduler) this.scheduler.step();
  }

  onEpochEnd(_epoch: number, logs: Logs): void {
    const s = this.scheduler;
    if (s instanceof ReduceLROnPlateau) {
      const monitor = this.o.monitor ?? ('valLoss' in logs ? 'valLoss' : 'loss');
      const v = logs[monitor];
      if (v === undefined) return missing(this, 'LearningRateScheduler', monitor, logs);
      s.step(v);
    } else if (s instanceof LRScheduler && !this.o.perBatch) s.step();
  }
}

/**
 * Hands the model's state dict to `save` after each epoch, or only when `monitor` improved
 * (`saveBestOnly`). The tensors are the live parameters: read or copy them inside `save` (fit
 * waits for its promise before training on). Writing safetensors files comes with wt.save.
 *
 * @example new wt.train.ModelCheckpoint({ save: async (sd, epoch) => { best = await toArrays(sd); }, saveBestOnly: true })
 */
export class ModelCheckpoint extends Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly saveBestOnly: boolean;
  best = NaN;
  /** epochs at which save was called */
  readonly saved: number[] = [];

  constructor(readonly o: { save: (stateDict: Record<string, Tensor>, epoch: number, logs: Logs) => void | Promise<void>; monitor?: string; saveBestOnly?: boolean; mode?: Mode }) {
    super();
    const op = 'ModelCheckpoint';
    if (o === undefined) throw new ArgumentError(`${op}: expected { save: (stateDict, epoch, logs) => void }`);
    checkOptions(op, o, ['save', 'monitor', 'saveBestOnly', 'mode']);
    checkFunction(op, 'save', o.save);
    this.monitor = checkMonitor(op, o.monitor);
    this.mode = resolveMode(op, o.mode ?? 'auto', this.monitor);
    this.saveBestOnly = checkBoolean(op, 'saveBestOnly', o.saveBestOnly ?? false);
  }

  onTrainBegin(): void {
    this.best = NaN;
  }

  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (this.saveBestOnly) {
      const v = logs[this.monitor];
      if (v === undefined) return missing(this, 'ModelCheckpoint', this.monitor, logs);
      const better = Number.isNaN(this.best) || (this.mode === 'min' ? v < this.best : v > this.best);
      if (!better) return;
      this.best = v;
    }
    this.saved.push(epoch);
    await this.o.save(this.ctx.model.stateDict(), epoch, logs);
  }
}

/** A callback from plain functions (Keras's LambdaCallback); a plain object works the same. */
export class LambdaCallback extends Callback {
  constructor(hooks: Omit<CallbackLike, 'setContext'>) {
    super();
    const op = 'LambdaCallback';
    if (hooks === undefined) throw new ArgumentError(`${op}: expected an object of hooks, e.g. { onEpochEnd: (epoch, logs) => ... }`);
    checkOptions(op, hooks, ['wantsBatchLogs', 'onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'], 'hooks');
    for (const [k, v] of Object.entries(hooks)) {
      if (k === 'wantsBatchLogs') checkBoolean(op, k, v);
      else checkFunction(op, k, v);
    }
    Object.assign(this, hooks);
  }
}
