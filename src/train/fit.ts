/**
 * The Keras-like training loop behind `model.compile / fit / evaluate / predict`.
 *
 * Memory: every training and evaluation step runs inside `tidy`, so batches, activations and
 * temporaries are freed each step and a run stays flat in memory with no user calls. Only the
 * running sums of the loss and metrics persist; they are accumulated on the device and read
 * back once per `logEvery` steps (only when a progress bar, batch hook or event listener wants
 * them) and at the end of each epoch, so the GPU is never stalled by a per-step read.
 *
 * @example
 * const model = new nn.Sequential(new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
 * model.compile({ optimizer: new wt.optim.Adam(model.parameters(), { lr: 1e-3 }), loss: 'crossEntropy', metrics: ['accuracy'] });
 * const h = await model.fit([x, y], { epochs: 5, batchSize: 64, validationSplit: 0.1 });
 * h.history.valAcc; // one value per epoch
 */
import { DataLoader } from '../data/loader.js';
import { Subset, TensorDataset, type DatasetLike } from '../data/dataset.js';
import { noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { checkBoolean, checkNumber, checkOptionalNumber, checkOptions, describeValue, type OptionKeys } from '../validate.js';
import { keep, tidy } from '../memory.js';
import { FIT_STEP, fitRunning, noteStep } from '../debug.js';
import { compile as compileStep, type Compiled as CompiledStep } from '../compile.js';
import { GradScaler } from '../amp.js';
import { getFloat32MatmulPrecision, setFloat32MatmulPrecision } from '../init.js';
import type { Trainable } from './model.js';
import { zeros } from '../ops/creation.js';
import { cat, stack } from '../ops/movement.js';
import { Optimizer } from '../optim/optimizer.js';
import { Adagrad, Adam, AdamW, RMSprop, SGD } from '../optim/optimizers.js';
import { Tensor } from '../tensor.js';
import type { CallbackLike, Logs, TrainContext } from './callbacks.js';
import { lossOf, metricsOf, scalarOf, valKey, type LossFn, type LossSpec, type MetricFn, type MetricSpec, type Resolved } from './metrics.js';
import { ProgressLogger, stdoutIsTTY } from './progress.js';

/** [x, y] tensors (more tensors: all inputs, then the target; or [[x1, x2], y]), a Dataset, or a DataLoader. */
export type FitData = DataLoader<unknown> | DatasetLike<unknown> | readonly Tensor[] | readonly [readonly Tensor[], Tensor];
export type OptimizerName = 'adam' | 'adamw' | 'sgd' | 'rmsprop' | 'adagrad';

export interface CompileConfig {
  /** an optimizer over the model's parameters, or a name (built with `lr`); default Adam */
  optimizer?: Optimizer | OptimizerName;
  /** learning rate for an optimizer given by name (default: that optimizer's default) */
  lr?: number;
  loss?: LossSpec;
  metrics?: MetricSpec[];
}

export interface TrainEvent {
  type: 'trainBegin' | 'epochBegin' | 'batchEnd' | 'epochEnd' | 'trainEnd';
  epoch: number;
  batch?: number;
  logs: Logs;
}

export interface FitOptions extends CompileConfig {
  epochs?: number;
  /** used when data is tensors or a Dataset (default 32) */
  batchSize?: number;
  /** reshuffle the training data every epoch (default true; tensors or a Dataset only) */
  shuffle?: boolean;
  seed?: number;
  validationData?: FitData;
  /** the last fraction of the data (before shuffling, as Keras) held out for validation */
  validationSplit?: number;
  validationBatchSize?: number;
  callbacks?: CallbackLike[];
  /** 0 silent; 1 a progress bar on a terminal, else a line per epoch (default); 2 a line per epoch */
  verbose?: 0 | 1 | 2 | boolean;
  /** read the running loss and metrics back every this many steps when something shows them (default 20) */
  logEvery?: number;
  /** called for each event, e.g. to draw a chart in a page */
  onEvent?: (e: TrainEvent) => void;
  /** an EventTarget that receives the same events as CustomEvents (`e.detail` is the TrainEvent) */
  events?: { dispatchEvent(e: Event): boolean };
  /**
   * Run each training step through `wt.compile` (default true, as Keras's `jit_compile`): on
   * WebGPU, after three steps of a batch shape, steps replay the recorded kernels without the
   * JavaScript front end (dropout draws fresh random streams on each replay). Steps that cannot
   * be captured (a read inside a custom loss) run eagerly, as with false.
   */
  jitCompile?: boolean;
  /**
   * Mixed precision, as Keras's 'mixed_float16' policy: true, or the `wt.amp.GradScaler` to use.
   * During fit, matmuls and convolutions run at 'medium' precision (f16 GEMM tiles where the
   * device has shader-f16; see `wt.setFloat32MatmulPrecision`) and the loss is scaled
   * dynamically: a step whose gradients overflow is skipped and the scale backs off. Costs one
   * scalar read per step. Default false.
   */
  mixedPrecision?: boolean | GradScaler;
}

/** What fit returns: one value per epoch for each log key (loss, acc, valLoss, valAcc, lr, ...). */
export class History {
  readonly epoch: number[] = [];
  readonly history: { loss: number[]; [key: string]: number[] } = { loss: [] };
  push(epoch: number, logs: Logs): void {
    checkNumber('History.push', 'epoch', epoch, { int: true, min: 0 });
    if (typeof logs !== 'object' || logs === null || Array.isArray(logs)) throw new ArgumentError(`History.push: logs must be an object of numbers, got ${describeValue(logs)}`);
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) if (v !== undefined) (this.history[k] ??= []).push(v);
  }
}

interface Compiled {
  optimizer?: Optimizer;
  loss?: Resolved<LossFn>;
  metrics?: Resolved<MetricFn>[];
}
// kept beside the model rather than on it, so compile adds no enumerable state to a Module
const compiled = new WeakMap<Trainable, Compiled>();
/** optimizers webtensor made from a name (compile / fit): theirs to dispose, with the model */
const owned = new WeakSet<Optimizer>();

/** Sets a model's training defaults; an optimizer made from a name that they drop is disposed. */
function setCompiled(model: Trainable, c: Compiled): void {
  const old = compiled.get(model)?.optimizer;
  if (old && old !== c.optimizer && owned.has(old)) old.dispose();
  compiled.set(model, c);
}

/**
 * Forgets a model's training defaults and disposes the optimizer state webtensor made for it
 * (`Module.dispose`); an optimizer the user passed in stays theirs.
 */
export function releaseTraining(model: Trainable): void {
  const opt = compiled.get(model)?.optimizer;
  if (opt && owned.has(opt)) opt.dispose();
  compiled.delete(model);
}

function makeOptimizer(op: string, model: Trainable, spec: Optimizer | OptimizerName, lr?: number): Optimizer {
  if (spec instanceof Optimizer) return spec;
  const o = lr === undefined ? {} : { lr };
  const opt = newOptimizer(op, model, spec, o);
  owned.add(opt);
  return opt;
}

function newOptimizer(op: string, model: Trainable, spec: OptimizerName, o: { lr?: number }): Optimizer {
  switch (spec) {
    case 'adam': return new Adam(model.parameters(), o);
    case 'adamw': return new AdamW(model.parameters(), o);
    case 'sgd': return new SGD(model.parameters(), o);
    case 'rmsprop': return new RMSprop(model.parameters(), o);
    case 'adagrad': return new Adagrad(model.parameters(), o);
  }
  throw new ArgumentError(`${op}: optimizer must be a wt.optim optimizer or one of adam, adamw, sgd, rmsprop, adagrad, got ${describeValue(spec)}`);
}

const COMPILE_KEYS: OptionKeys<CompileConfig> = ['optimizer', 'lr', 'loss', 'metrics'];
const FIT_KEYS: OptionKeys<FitOptions> = [
  ...COMPILE_KEYS, 'epochs', 'batchSize', 'shuffle', 'seed', 'validationData', 'validationSplit', 'validationBatchSize',
  'callbacks', 'verbose', 'logEvery', 'onEvent', 'events', 'jitCompile', 'mixedPrecision',
];

/** A model: an nn.Module (checked by shape: train/ does not import nn/, see model.ts). */
function checkModel(op: string, model: unknown): asserts model is Trainable {
  const m = model as Partial<Trainable> | null;
  if (typeof m !== 'object' || m === null || typeof m.forward !== 'function' || typeof m.parameters !== 'function') {
    throw new ArgumentError(`${op}: model must be an nn.Module, got ${describeValue(model)}`);
  }
}

/**
 * Sets the optimizer, loss and metrics fit/evaluate use when not given (a fit also leaves the
 * ones it used as the defaults). @example compileModel(model, { loss: 'mse' })
 */
export function compileModel(model: Trainable, cfg: CompileConfig): void {
  checkModel('compile', model);
  if (cfg === undefined) throw new ArgumentError('compile: expected { optimizer, loss, metrics }');
  checkOptions('compile', cfg, COMPILE_KEYS);
  checkOptionalNumber('compile', 'lr', cfg.lr, { min: 0, finite: true });
  const loss = cfg.loss === undefined ? undefined : lossOf('compile', cfg.loss);
  setCompiled(model, {
    optimizer: cfg.optimizer === undefined ? undefined : makeOptimizer('compile', model, cfg.optimizer, cfg.lr),
    loss,
    metrics: cfg.metrics === undefined ? undefined : metricsOf('compile', cfg.metrics, loss?.name),
  });
}

function resolveConfig(model: Trainable, o: CompileConfig, op: string, needOptimizer: boolean) {
  const c = compiled.get(model) ?? {};
  const loss = o.loss !== undefined ? lossOf(op, o.loss) : c.loss;
  if (!loss && op === 'fit') throw new ArgumentError("fit: no loss: pass { loss: 'crossEntropy' | 'mse' | ... | fn } to fit or compile");
  const metrics = o.metrics !== undefined ? metricsOf(op, o.metrics, loss?.name) : c.metrics ?? [];
  let optimizer: Optimizer | undefined;
  if (needOptimizer) {
    if (o.optimizer !== undefined) optimizer = makeOptimizer(op, model, o.optimizer, o.lr);
    else if (c.optimizer) optimizer = c.optimizer;
    else setCompiled(model, { ...c, optimizer: (optimizer = makeOptimizer(op, model, 'adam', o.lr)) }); // reused by later fits
  }
  return { loss, metrics, optimizer };
}

function isDataset(d: unknown): d is DatasetLike<unknown> {
  return !!d && typeof (d as DatasetLike).get === 'function' && typeof (d as DatasetLike).length === 'number';
}

const isTensorList = (v: unknown): v is Tensor[] => Array.isArray(v) && v.length > 0 && v.every((t) => t instanceof Tensor);

/** Inputs and target have the same number of samples (dim 0); the error names x's and y's shapes. */
function checkSamples(op: string, xs: readonly Tensor[], y: Tensor): void {
  for (const t of [...xs, y]) t._check(op);
  const xName = (i: number) => (xs.length > 1 ? `x[${i}]` : 'x');
  const bad = [...xs.map((t, i) => [xName(i), t] as const), ['y', y] as const].find(([, t]) => t.ndim === 0);
  if (bad) throw new ShapeError(`${op}: ${bad[0]} must have a sample dim (dim 0), got a 0-d tensor`);
  const n = xs[0].shape[0];
  xs.forEach((t, i) => {
    if (t.shape[0] !== n) throw new ShapeError(`${op}: the inputs differ in their number of samples (dim 0): x[0] ${fmt(xs[0].shape)} and ${xName(i)} ${fmt(t.shape)}`);
  });
  if (y.shape[0] !== n) throw new ShapeError(`${op}: ${xs.length > 1 ? 'the inputs' : 'x'} ${xs.map((t) => fmt(t.shape)).join(', ')} and y ${fmt(y.shape)} differ in their number of samples (dim 0): ${n} and ${y.shape[0]}`);
}

/**
 * The two ways to pass data to fit and evaluate: `(data, opts)` with data [x, y] (or
 * [x1, x2, ..., y], [[x1, x2], y]), a Dataset or a DataLoader; or Keras's and TF.js's
 * `(x, y, opts)`, told apart by the second argument: a Tensor (or a one-element list of one) is y.
 */
export function dataArgs<O>(op: string, a: unknown, b: unknown, c: unknown): { data: FitData; opts: O } {
  if (b instanceof Tensor || isTensorList(b)) {
    if (Array.isArray(b) && b.length !== 1) throw new ArgumentError(`${op}: y must be one target tensor (a model here has one output), got a list of ${b.length} tensors`);
    const y = b instanceof Tensor ? b : b[0];
    if (a instanceof DataLoader || isDataset(a)) throw new ArgumentError(`${op}: a Dataset or DataLoader brings its own targets: call ${op}(data, opts) without y`);
    if (!(a instanceof Tensor) && !isTensorList(a)) throw new ArgumentError(`${op}: with y given, x must be a tensor or a list of input tensors, got ${describeValue(a)}`);
    const xs = a instanceof Tensor ? [a] : a;
    checkSamples(op, xs, y);
    return { data: [...xs, y], opts: (c === undefined ? {} : c) as O };
  }
  if (c !== undefined) throw new ArgumentError(`${op}: got a third argument (${describeValue(c)}) but the second is not a target tensor: call ${op}(x, y, opts) or ${op}([x, y], opts)`);
  if (a instanceof Tensor) throw new ArgumentError(`${op}: got x ${fmt(a.shape)} without y: call ${op}(x, y, opts) or ${op}([x, y], opts)`);
  return { data: a as FitData, opts: (b === undefined ? {} : b) as O };
}

function toDataset(data: FitData, op: string): DatasetLike<unknown> | null {
  if (data instanceof DataLoader) return null;
  if (Array.isArray(data)) {
    // [[x1, x2], y]: a list of inputs and the target
    const flat: unknown[] = data.length === 2 && isTensorList(data[0]) ? [...data[0], data[1]] : data;
    if (flat.length < 2 || !flat.every((t) => t instanceof Tensor)) throw new ArgumentError(`${op}: expected [x, y] tensors, a Dataset or a DataLoader, got ${describeValue(data)}`);
    const ts = flat as Tensor[];
    checkSamples(op, ts.slice(0, -1), ts[ts.length - 1]);
    return new TensorDataset(...ts);
  }
  if (isDataset(data)) return data;
  if (data instanceof Tensor) throw new ArgumentError(`${op}: got x ${fmt(data.shape)} without y: pass [x, y]`);
  throw new ArgumentError(`${op}: expected [x, y] tensors, a Dataset or a DataLoader, got ${describeValue(data)}`);
}

function toLoader(data: FitData, o: { batchSize: number; shuffle: boolean; seed?: number }, op: string): DataLoader<unknown> {
  return data instanceof DataLoader ? data : new DataLoader(toDataset(data, op)!, o);
}

/** A batch as inputs and target: [x, y], [x1, x2, ..., y], [[x1, x2], y] or { x, y }. */
function splitBatch(b: unknown, op: string): { xs: Tensor[]; y: Tensor } {
  let xs: unknown, y: unknown;
  if (Array.isArray(b) && b.length >= 2) {
    y = b[b.length - 1];
    xs = b.length === 2 && Array.isArray(b[0]) ? b[0] : b.slice(0, -1);
  } else if (b && typeof b === 'object' && 'x' in b && 'y' in b) {
    ({ x: xs, y } = b as { x: unknown; y: unknown });
    if (!Array.isArray(xs)) xs = [xs];
  } else {
    throw new ArgumentError(`${op}: each batch must be [x, y] (or { x, y }), got ${Array.isArray(b) ? `an array of ${b.length}` : typeof b}`);
  }
  const list = xs as unknown[];
  if (!list.length || !list.every((t) => t instanceof Tensor) || !(y instanceof Tensor)) throw new ArgumentError(`${op}: the inputs and target of a batch must be tensors`);
  return { xs: list as Tensor[], y };
}

function forward(model: Trainable, xs: Tensor[], op: string): Tensor {
  const out = model.forward(...xs);
  if (!(out instanceof Tensor)) throw new ArgumentError(`${op}: model.forward must return a Tensor, got ${Array.isArray(out) ? 'an array' : typeof out}`);
  return out;
}

/** Training flags of every sub-module, to put back exactly after eval/fit. */
function saveModes(model: Trainable): () => void {
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  return () => modes.forEach(([m, t]) => (m.training = t));
}

// one read for all the sums (a read is what stalls a GPU, not its size)
async function readMeans(sums: Tensor[], names: string[], count: number): Promise<Logs> {
  const all = tidy(() => stack(sums));
  try {
    const v = await all.data();
    return Object.fromEntries(names.map((n, i) => [n, v[i] / Math.max(count, 1)]));
  } finally {
    all.dispose();
  }
}

// a macrotask turn, so a page can repaint and timers run during a long fit
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

const newSums = (n: number): Tensor[] => Array.from({ length: n }, () => keep(zeros([])));

/** Loss and metric means over a loader, in eval mode without gradients; one read at the end. */
async function evaluateLoader(model: Trainable, loader: DataLoader<unknown>, loss: Resolved<LossFn> | undefined, metrics: Resolved<MetricFn>[], op: string): Promise<Logs> {
  const fns = [...(loss ? [loss] : []), ...metrics];
  if (!fns.length) throw new ArgumentError(`${op}: nothing to compute: give a loss or metrics (to fit, evaluate or compile)`);
  const restore = saveModes(model);
  model.eval();
  const sums = newSums(fns.length);
  let seen = 0;
  const it = loader[Symbol.iterator]();
  try {
    for (let step = 0; ; step++) {
      const bs = tidy(() => noGrad(() => {
        const n = it.next();
        if (n.done) return -1;
        const { xs, y } = splitBatch(n.value, op);
        const yPred = forward(model, xs, op);
        fns.forEach((f, i) => sums[i].add_(scalarOf(`${f.name}`, f.fn(yPred, y)), xs[0].shape[0]));
        return xs[0].shape[0];
      }));
      if (bs < 0) break;
      seen += bs;
      if (step % 50 === 49) await yieldToEventLoop();
    }
    return await readMeans(sums, fns.map((f) => (f === loss ? 'loss' : f.name)), seen);
  } finally {
    it.return?.();
    sums.forEach((s) => s.dispose());
    restore();
  }
}

/**
 * Trains `model` on `data` for `epochs` epochs; resolves to the History. See FitOptions and the
 * callbacks in src/train/callbacks.ts.
 *
 * `(model, x, y, opts)` works too, as Keras's and TF.js's fit (see dataArgs).
 *
 * @example const h = await wt.train.fit(model, [x, y], { loss: 'mse', epochs: 10, verbose: 0 });
 * @example const h = await wt.train.fit(model, x, y, { loss: 'mse', epochs: 10, validationData: [xv, yv] });
 */
export function fitModel(model: Trainable, data: FitData, opts?: FitOptions): Promise<History>;
export function fitModel(model: Trainable, x: Tensor | readonly Tensor[], y: Tensor | readonly [Tensor], opts?: FitOptions): Promise<History>;
export async function fitModel(model: Trainable, a: FitData | Tensor, b?: FitOptions | Tensor | readonly [Tensor], c?: FitOptions): Promise<History> {
  checkModel('fit', model);
  const { data, opts } = dataArgs<FitOptions>('fit', a, b, c);
  const o = checkFitOptions(opts);
  const { loss, metrics, optimizer } = resolveConfig(model, opts, 'fit', true) as { loss: Resolved<LossFn>; metrics: Resolved<MetricFn>[]; optimizer: Optimizer };
  // what fit used becomes the model's default, so a later evaluate() or fit() needs no repeats
  setCompiled(model, { loss, metrics, optimizer });
  const { loader, valLoader } = fitLoaders(data, opts, o.batchSize);
  const callbacks = fitCallbacks(opts, o.verbose);
  const ctx: TrainContext = { model, optimizer, epochs: o.epochs, steps: loader.length, stopTraining: false };
  for (const c of callbacks) c.setContext?.(ctx);
  const step = trainStep(model, loss, metrics, optimizer, o.scaler);
  const run: FitRun = {
    model, optimizer, loss, metrics, loader, valLoader, callbacks, ctx, step,
    compiled: opts.jitCompile === false ? null : compileStep(step.fn),
    emit: emitter(opts),
    names: ['loss', ...metrics.map((m) => m.name)],
    logEvery: o.logEvery,
    // batch values are read back only for someone who shows them: a bar, a user hook, a listener
    readBatches: !!opts.onEvent || !!opts.events || callbacks.some((c) => typeof c.onBatchEnd === 'function' && c.wantsBatchLogs !== false),
  };
  const history = new History();
  const restoreModes = saveModes(model);
  const precision = getFloat32MatmulPrecision();
  if (o.scaler) setFloat32MatmulPrecision('medium');
  let last: Logs = {};
  for (const c of callbacks) await c.onTrainBegin?.({});
  run.emit('trainBegin', 0, {});
  fitRunning(1);
  try {
    for (let epoch = 0; epoch < o.epochs && !ctx.stopTraining; epoch++) {
      last = await fitEpoch(run, epoch);
      history.push(epoch, last);
      for (const c of callbacks) await c.onEpochEnd?.(epoch, last);
      run.emit('epochEnd', epoch, last);
      await yieldToEventLoop();
    }
  } finally {
    fitRunning(-1);
    restoreModes();
    run.compiled?.dispose();
    if (o.scaler) setFloat32MatmulPrecision(precision);
    // a scaler fit made is fit's own; one passed in stays the caller's (with its tensors)
    if (opts.mixedPrecision === true) o.scaler?.dispose();
    // gradients are fit's working state, not results: free them (PyTorch would keep them)
    optimizer.zeroGrad();
    model.zeroGrad();
  }
  for (const c of callbacks) await c.onTrainEnd?.(last);
  run.emit('trainEnd', history.epoch.length ? history.epoch[history.epoch.length - 1] : 0, last);
  return history;
}

/** fit's options checked, with their defaults; the scaler of mixed precision (or null). */
function checkFitOptions(opts: FitOptions) {
  checkOptions('fit', opts, FIT_KEYS);
  const epochs = checkNumber('fit', 'epochs', opts.epochs ?? 1, { int: true, min: 0 });
  const logEvery = checkNumber('fit', 'logEvery', opts.logEvery ?? 20, { int: true, min: 1 });
  checkOptionalNumber('fit', 'lr', opts.lr, { min: 0, finite: true });
  checkOptionalNumber('fit', 'seed', opts.seed, { finite: true });
  checkOptionalNumber('fit', 'validationBatchSize', opts.validationBatchSize, { int: true, min: 1 });
  if (opts.shuffle !== undefined) checkBoolean('fit', 'shuffle', opts.shuffle);
  if (opts.verbose !== undefined && ![0, 1, 2, true, false].includes(opts.verbose)) throw new ArgumentError(`fit: verbose must be 0, 1, 2, true or false, got ${describeValue(opts.verbose)}`);
  if (opts.onEvent !== undefined && typeof opts.onEvent !== 'function') throw new ArgumentError(`fit: onEvent must be a function, got ${describeValue(opts.onEvent)}`);
  if (opts.events !== undefined && typeof (opts.events as { dispatchEvent?: unknown } | null)?.dispatchEvent !== 'function') throw new ArgumentError(`fit: events must be an EventTarget, got ${describeValue(opts.events)}`);
  if (opts.callbacks !== undefined && !Array.isArray(opts.callbacks)) throw new ArgumentError(`fit: callbacks must be a list, got ${describeValue(opts.callbacks)}`);
  if (opts.jitCompile !== undefined) checkBoolean('fit', 'jitCompile', opts.jitCompile);
  const mp = opts.mixedPrecision ?? false;
  if (typeof mp !== 'boolean' && !(mp instanceof GradScaler)) throw new ArgumentError(`fit: mixedPrecision must be true, false or a wt.amp.GradScaler, got ${describeValue(mp)}`);
  const batchSize = checkNumber('fit', 'batchSize', opts.batchSize ?? 32, { int: true, min: 1 });
  const verbose = opts.verbose === true ? 1 : opts.verbose === false ? 0 : opts.verbose ?? 1;
  return { epochs, logEvery, batchSize, verbose, scaler: mp === true ? new GradScaler() : mp || null };
}

/** The training loader, and the validation one (validationData, or the split's tail). */
function fitLoaders(data: FitData, opts: FitOptions, batchSize: number): { loader: DataLoader<unknown>; valLoader: DataLoader<unknown> | null } {
  let trainData = data, valData = opts.validationData;
  if (opts.validationSplit !== undefined) {
    const f = opts.validationSplit;
    if (valData) throw new ArgumentError('fit: pass validationData or validationSplit, not both');
    if (!(typeof f === 'number' && f > 0 && f < 1)) throw new ArgumentError(`fit: validationSplit must be in (0, 1), got ${describeValue(f)}`);
    const ds = toDataset(data, 'fit');
    if (!ds) throw new ArgumentError('fit: validationSplit needs tensors or a Dataset, not a DataLoader; pass validationData instead');
    const n = ds.length, nVal = Math.floor(n * f);
    if (nVal < 1 || nVal >= n) throw new ArgumentError(`fit: validationSplit ${f} of ${n} samples leaves ${nVal} for validation and ${n - nVal} for training`);
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    trainData = new Subset(ds, range(0, n - nVal));
    valData = new Subset(ds, range(n - nVal, n));
  }
  const loader = toLoader(trainData, { batchSize, shuffle: opts.shuffle ?? true, seed: opts.seed }, 'fit');
  const valLoader = valData ? toLoader(valData, { batchSize: opts.validationBatchSize ?? batchSize, shuffle: false }, 'fit: validationData') : null;
  if (loader.length === 0) throw new ArgumentError(`fit: the training data gives no batches (${loader.dataset.length} samples, batchSize ${loader.batchSize}${loader.dropLast ? ', dropLast' : ''})`);
  return { loader, valLoader };
}

/** The user's callbacks, and the progress logger `verbose` asks for. */
function fitCallbacks(opts: FitOptions, verbose: number): CallbackLike[] {
  const callbacks: CallbackLike[] = [...(opts.callbacks ?? [])];
  if (callbacks.some((c) => !c || typeof c !== 'object')) throw new ArgumentError('fit: callbacks must be objects with hook methods (onEpochEnd, ...)');
  if (verbose) callbacks.push(new ProgressLogger(verbose === 1 && stdoutIsTTY() ? 'bar' : 'epoch'));
  return callbacks;
}

type Emit = (type: TrainEvent['type'], epoch: number, logs: Logs, batch?: number) => void;

/** Sends a TrainEvent to onEvent and to the `events` target. */
function emitter(opts: FitOptions): Emit {
  return (type, epoch, logs, batch) => {
    if (!opts.onEvent && !opts.events) return;
    const e: TrainEvent = { type, epoch, batch, logs: { ...logs } };
    opts.onEvent?.(e);
    if (opts.events) opts.events.dispatchEvent(typeof CustomEvent === 'function' ? new CustomEvent(type, { detail: e }) : Object.assign(new Event(type), { detail: e }));
  };
}

/** One training step, and what the host does after it under mixed precision. */
interface TrainStep {
  /** (...xs, y) → the batch's loss and metrics, then with mixed precision the overflow flag */
  fn: (...args: Tensor[]) => Tensor[];
  /** with mixed precision: reads the step's overflow flag, takes back a skipped update's step counts, adjusts the scale */
  after: ((found: Tensor) => Promise<void>) | null;
}

/**
 * The step fit runs (compiled unless jitCompile is false). Plain: backward and the update, in
 * place. Mixed precision: the scaled loss backward, the gradients unscaled (by the scaler's kept
 * inverse, so a replay uses the current scale) and the update gated on the device by the overflow
 * flag (Optimizer._stepUnless): the gradients never leave the step. The host reads the flag
 * after the step (4 bytes) to take back the skipped update's step counts, so that the next bias
 * corrections and learning rates are PyTorch's, and to adjust the scale.
 */
function trainStep(model: Trainable, loss: Resolved<LossFn>, metrics: Resolved<MetricFn>[], optimizer: Optimizer, scaler: GradScaler | null): TrainStep {
  /** the step counts the update advances (the same states each replay) */
  let stepped: { step: number }[] = [];
  const fn = (...args: Tensor[]): Tensor[] => {
    const xs = args.slice(0, -1), y = args[args.length - 1];
    optimizer.zeroGrad();
    const yPred = forward(model, xs, 'fit');
    const l = scalarOf('the loss', loss.fn(yPred, y));
    if (!l.requiresGrad) throw new ArgumentError('fit: the loss does not depend on any tensor that requires grad (are the model parameters frozen?)');
    (scaler ? scaler.scale(l) : l).backward();
    let found: Tensor | null = null;
    if (scaler) {
      found = scaler._unscaleInStep(optimizer);
      stepped = optimizer._stepUnless(found);
    } else optimizer.step();
    const values = [l, ...noGrad(() => metrics.map((m) => scalarOf(`metric ${m.name}`, m.fn(yPred, y))))];
    return found ? [...values, found] : values;
  };
  const after = scaler && (async (found: Tensor) => {
    const overflowed = (await found.item()) !== 0;
    if (overflowed) optimizer._unstep(stepped);
    scaler._endIteration(overflowed);
  });
  return { fn, after };
}

/** What one fit call's epochs share. */
interface FitRun {
  model: Trainable;
  optimizer: Optimizer;
  loss: Resolved<LossFn>;
  metrics: Resolved<MetricFn>[];
  loader: DataLoader<unknown>;
  valLoader: DataLoader<unknown> | null;
  callbacks: CallbackLike[];
  ctx: TrainContext;
  step: TrainStep;
  compiled: CompiledStep<Tensor[], Tensor[]> | null;
  emit: Emit;
  names: string[];
  logEvery: number;
  readBatches: boolean;
}

/** One epoch: the batches' steps with their hooks, then validation; resolves to the epoch's logs. */
async function fitEpoch(run: FitRun, epoch: number): Promise<Logs> {
  const { model, callbacks, step, names, ctx } = run;
  const steps = run.loader.length;
  model.train();
  for (const c of callbacks) await c.onEpochBegin?.(epoch, {});
  run.emit('epochBegin', epoch, {});
  const sums = newSums(names.length);
  let seen = 0;
  const it = run.loader[Symbol.iterator]();
  let logs: Logs;
  try {
    for (let b = 0; ; b++) {
      let found: Tensor | null = null;
      const bs = tidy(() => {
        const n = it.next();
        if (n.done) return -1;
        const { xs, y } = splitBatch(n.value, 'fit');
        const values = run.compiled ? run.compiled(...xs, y) : step.fn(...xs, y);
        if (step.after) found = keep(values.pop()!);
        const size = xs[0].shape[0];
        noGrad(() => values.forEach((v, i) => sums[i].add_(v, size)));
        return size;
      });
      if (bs < 0) break;
      if (found) {
        const f: Tensor = found;
        try {
          await step.after!(f);
        } finally {
          f.dispose();
        }
      }
      seen += bs;
      const blogs: Logs = { batch: b, size: bs };
      if (run.readBatches && ((b + 1) % run.logEvery === 0 || b + 1 === steps)) {
        Object.assign(blogs, await readMeans(sums, names, seen));
        await yieldToEventLoop();
      }
      for (const c of callbacks) await c.onBatchEnd?.(b, blogs);
      run.emit('batchEnd', epoch, blogs, b);
      noteStep(run, FIT_STEP); // debug mode: something outside the step (a hook) keeps tensors
      if (ctx.stopTraining) break;
    }
    logs = await readMeans(sums, names, seen);
  } finally {
    it.return?.();
    sums.forEach((s) => s.dispose());
  }
  if (run.valLoader) {
    const v = await evaluateLoader(model, run.valLoader, run.loss, run.metrics, 'fit: validation');
    for (const [k, x] of Object.entries(v)) logs[valKey(k)] = x;
  }
  logs.lr = run.optimizer.lr;
  return logs;
}

export interface EvaluateOptions {
  batchSize?: number;
  loss?: LossSpec;
  metrics?: MetricSpec[];
}

/**
 * Mean loss and metrics over the data, in eval mode without gradients; one read back at the end.
 * Takes `(data, opts)` or `(x, y, opts)`, as fit.
 * @example const { loss, acc } = await model.evaluate([xTest, yTest], { metrics: ['accuracy'] });
 * @example const { loss } = await model.evaluate(xTest, yTest, { batchSize: 256 });
 */
export function evaluateModel(model: Trainable, data: FitData, opts?: EvaluateOptions): Promise<Logs>;
export function evaluateModel(model: Trainable, x: Tensor | readonly Tensor[], y: Tensor | readonly [Tensor], opts?: EvaluateOptions): Promise<Logs>;
export async function evaluateModel(model: Trainable, a: FitData | Tensor, b?: EvaluateOptions | Tensor | readonly [Tensor], c?: EvaluateOptions): Promise<Logs> {
  checkModel('evaluate', model);
  const { data, opts } = dataArgs<EvaluateOptions>('evaluate', a, b, c);
  checkOptions('evaluate', opts, ['batchSize', 'loss', 'metrics']);
  checkOptionalNumber('evaluate', 'batchSize', opts.batchSize, { int: true, min: 1 });
  const { loss, metrics } = resolveConfig(model, opts, 'evaluate', false);
  const loader = toLoader(data, { batchSize: opts.batchSize ?? 32, shuffle: false }, 'evaluate');
  return evaluateLoader(model, loader, loss, metrics, 'evaluate');
}

export interface PredictOptions {
  batchSize?: number;
}

/**
 * The model's outputs for every sample, computed in batches in eval mode without gradients and
 * concatenated along dim 0. x: a tensor, a list of input tensors, or a Dataset / DataLoader (the
 * inputs of each batch: all but its last element, the target, when it has several).
 *
 * @example const probs = model.predict(xTest, { batchSize: 256 }).softmax(-1);
 */
export function predictModel(model: Trainable, x: Tensor | readonly Tensor[] | FitData, opts: PredictOptions = {}): Tensor {
  checkModel('predict', model);
  checkOptions('predict', opts, ['batchSize']);
  const bs = checkNumber('predict', 'batchSize', opts.batchSize ?? 32, { int: true, min: 1 });
  let batches: Iterable<Tensor[]>;
  if (x instanceof Tensor || (Array.isArray(x) && x.length && x.every((t) => t instanceof Tensor))) {
    const xs = x instanceof Tensor ? [x] : (x as Tensor[]);
    xs.forEach((t) => t._check('predict'));
    const n = xs[0].ndim ? xs[0].shape[0] : 0;
    if (xs.some((t) => !t.ndim || t.shape[0] !== n)) throw new ArgumentError(`predict: inputs need the same size in dim 0, got ${xs.map((t) => `[${t.shape}]`).join(', ')}`);
    batches = (function* () {
      for (let i = 0; i < n; i += bs) yield xs.map((t) => t.narrow(0, i, Math.min(bs, n - i)));
    })();
  } else if (x instanceof DataLoader || isDataset(x)) {
    const loader = x instanceof DataLoader ? x : new DataLoader(x, { batchSize: bs });
    batches = (function* () {
      for (const b of loader as Iterable<unknown>) {
        if (b instanceof Tensor) yield [b];
        else if (Array.isArray(b) && b.length === 1) yield b as Tensor[];
        else yield splitBatch(b, 'predict').xs;
      }
    })();
  } else {
    throw new ArgumentError('predict: expected a tensor, a list of input tensors, a Dataset or a DataLoader');
  }
  const restore = saveModes(model);
  model.eval();
  const outs: Tensor[] = [];
  const it = batches[Symbol.iterator]();
  try {
    for (;;) {
      // the batch is pulled inside the scope, so its tensors are freed with the activations
      const out = tidy(() => noGrad(() => {
        const n = it.next();
        return n.done ? null : forward(model, n.value, 'predict');
      }));
      if (!out) break;
      outs.push(out);
    }
    if (!outs.length) throw new ArgumentError('predict: got no samples');
    if (outs.length === 1) return outs[0];
    const all = cat(outs, 0);
    outs.forEach((o) => o.dispose());
    return all;
  } catch (e) {
    outs.forEach((o) => o.dispose());
    throw e;
  } finally {
    it.return?.();
    restore();
  }
}
