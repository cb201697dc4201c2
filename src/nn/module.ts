/**
 * nn.Module: the base of every layer. Like PyTorch, sub-modules and parameters are found by
 * looking at the module's own properties, so a model is written as a plain class:
 *
 * @example
 * class Net extends nn.Module {
 *   fc1 = new nn.Linear(784, 128);
 *   fc2 = new nn.Linear(128, 10);
 *   forward(x: Tensor) { return this.fc2.forward(this.fc1.forward(x).relu()); }
 * }
 *
 * Parameters are tensors marked with `parameter()` (every layer's weights are); buffers (e.g.
 * BatchNorm's running statistics) are registered with `registerBuffer`. A module owns both:
 * they live outside `tidy` scopes until `dispose()`.
 */
import { DISPOSE, noGrad } from '../engine.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { keep } from '../memory.js';
import { Tensor } from '../tensor.js';
import { checkBoolean, checkFloat, checkOptionalTensor, checkTensor, describeValue } from '../validate.js';
// fit.ts imports Module only as a type, so this import adds no cycle at module-evaluation time
import { compileModel, evaluateModel, fitModel, predictModel, releaseTraining, type CompileConfig, type EvaluateOptions, type FitData, type FitOptions, type History, type PredictOptions } from '../train/fit.js';
import type { Logs } from '../train/callbacks.js';
import { printSummary } from './summary.js';
import { INSPECT } from '../format.js';

const PARAMS = new WeakSet<Tensor>();

/** Marks a tensor as a parameter (requiresGrad on, kept out of tidy scopes); returns it. */
export function parameter(t: Tensor, requiresGrad = true): Tensor {
  checkTensor('parameter', 'tensor', t);
  if (checkBoolean('parameter', 'requiresGrad', requiresGrad)) {
    checkFloat('parameter', 'tensor', t); // only float tensors take gradients
    t.requiresGrad = true;
  }
  PARAMS.add(keep(t));
  return t;
}

export function isParameter(t: unknown): t is Tensor {
  return t instanceof Tensor && PARAMS.has(t);
}

/**
 * The state-dict key of a property: its snake_case form, which is PyTorch's spelling of the same
 * name (weightIh_l0 → weight_ih_l0, selfAttn → self_attn, inProjWeight → in_proj_weight, fcQKV →
 * fc_qkv); names already snake_case or lowercase stay as they are. Module properties are
 * camelCase; every dotted name a module gives out (namedParameters, stateDict, ...) uses keys.
 */
export function stateKey(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** A dotted name: the prefix (a module's path, '' at the root) and a key. */
function join(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

export abstract class Module {
  /** true in training mode (dropout active, batch norm uses batch statistics) */
  training = true;
  private _buffers = new Set<string>();

  /** The computation; subclasses define it. `call` is an alias. */
  abstract forward(...args: unknown[]): unknown;

  /** Same as forward (PyTorch's `model(x)`). */
  call(...args: unknown[]): unknown {
    return this.forward(...args);
  }

  /** Registers a non-parameter tensor (saved in stateDict, owned by the module). */
  registerBuffer(name: string, t: Tensor | null): void {
    if (typeof name !== 'string' || !name) throw new ArgumentError(`registerBuffer: name must be a non-empty string, got ${describeValue(name)}`);
    checkOptionalTensor('registerBuffer', 'tensor', t);
    this._buffers.add(name);
    if (t) keep(t);
    (this as unknown as Record<string, unknown>)[name] = t;
  }

  /**
   * Direct sub-modules with their keys: a property's snake_case name (`selfAttn` → `self_attn`),
   * and `name.i` for an array of modules (a ModuleList in PyTorch). Sequential names its
   * children `0`, `1`, ... as PyTorch.
   */
  namedChildren(): [string, Module][] {
    return this._namedChildren(false);
  }

  /** namedChildren, or with `legacy` the names older webtensor checkpoints used (property names as written). */
  protected _namedChildren(legacy: boolean): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [p, v] of Object.entries(this)) {
      const k = legacy ? p : stateKey(p);
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v)) v.forEach((m, i) => { if (m instanceof Module) out.push([`${k}.${i}`, m]); });
    }
    return out;
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and all descendants, depth first, with dotted names. */
  namedModules(prefix = ''): [string, Module][] {
    if (typeof prefix !== 'string') throw new ArgumentError(`namedModules: prefix must be a string, got ${describeValue(prefix)}`);
    return this._namedModules(prefix, false);
  }

  private _namedModules(prefix: string, legacy: boolean): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [k, m] of this._namedChildren(legacy)) out.push(...m._namedModules(join(prefix, k), legacy));
    return out;
  }

  /** This module's own parameters and buffers (not its children's) by key, in property order. */
  private ownTensors(legacy: boolean): { params: [string, Tensor][]; buffers: [string, Tensor][] } {
    const params: [string, Tensor][] = [], buffers: [string, Tensor][] = [];
    for (const [p, v] of Object.entries(this)) if (isParameter(v)) params.push([legacy ? p : stateKey(p), v]);
    for (const p of this._buffers) {
      const v = (this as unknown as Record<string, unknown>)[p];
      if (v instanceof Tensor) buffers.push([legacy ? p : stateKey(p), v]);
    }
    return { params, buffers };
  }

  /** Parameters with dotted names (PyTorch's: snake_case keys), each once. */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v] of m.ownTensors(false).params) {
        if (!seen.has(v)) {
          seen.add(v);
          out.push([join(prefix, k), v]);
        }
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /**
   * The parameters that take gradients (requiresGrad): what an optimizer should update once
   * some are frozen (LoRA's base weights), PyTorch's `filter(lambda p: p.requires_grad, ...)`.
   * @example const opt = new wt.optim.AdamW(model.trainableParameters(), { lr: 1e-4 });
   */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }

  /** Buffers (running statistics, ...) with dotted names. */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [k, v] of m.ownTensors(false).buffers) out.push([join(prefix, k), v]);
    return out;
  }

  /** Sets training mode here and in every descendant. */
  train(mode = true): this {
    checkBoolean('train', 'mode', mode);
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears the gradients of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /**
   * Parameters and buffers by dotted name (the tensors themselves, not copies). The keys and
   * their order are PyTorch's state_dict(): each module's own parameters, then its buffers, then
   * its children's; a parameter shared by two modules appears under both names, as in PyTorch.
   */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.stateEntries(false));
  }

  /** The state dict's entries, or with `legacy` under the names older webtensor checkpoints used. */
  private stateEntries(legacy: boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<string>();
    for (const [prefix, m] of this._namedModules('', legacy)) {
      const { params, buffers } = m.ownTensors(legacy);
      for (const [k, v] of [...params, ...buffers]) {
        const key = join(prefix, k);
        if (seen.has(key) && !legacy) {
          throw new ArgumentError(`stateDict: two tensors of ${m.constructor.name} ${prefix ? `"${prefix}" ` : ''}share the key "${key}" (properties whose snake_case names coincide); rename one`);
        }
        seen.add(key);
        out.push([key, v]);
      }
    }
    return out;
  }

  /**
   * Copies values from a state dict into this module's tensors (in place, so optimizers keep
   * working). With strict, missing or unexpected keys throw. Keys are PyTorch's (see
   * stateDict); the names older webtensor checkpoints used (property names as written:
   * `runningMean`, `layers.0.weight`, `weightIh_l0`) are read as aliases, and such a checkpoint
   * may lack BatchNorm's `num_batches_tracked` (the counter then stays as it is).
   */
  loadStateDict(state: Record<string, Tensor>, strict = true): { missing: string[]; unexpected: string[] } {
    if (typeof state !== 'object' || state === null || Array.isArray(state) || state instanceof Tensor) {
      throw new ArgumentError(`loadStateDict: expected an object of named tensors (e.g. await wt.load(file)), got ${describeValue(state)}`);
    }
    checkBoolean('loadStateDict', 'strict', strict);
    for (const [k, t] of Object.entries(state)) {
      if (!(t instanceof Tensor)) throw new ArgumentError(`loadStateDict: ${k} must be a Tensor, got ${describeValue(t)}`);
      t._check(`loadStateDict: ${k}`);
    }
    const has = (k: string) => Object.prototype.hasOwnProperty.call(state, k);
    const own = this.stateEntries(false), legacyNames = this.stateEntries(true).map(([k]) => k);
    const sources: [string, Tensor, Tensor][] = []; // key, the model's tensor, the state dict's
    const used = new Set<string>();
    const missing: string[] = [];
    let legacy = false;
    own.forEach(([k, t], i) => {
      // the two walks visit the same tensors in the same order
      const old = legacyNames[i];
      const from = has(k) ? k : old !== k && has(old) ? old : null;
      if (from === null) return void missing.push(k);
      if (from !== k) legacy = true;
      used.add(from);
      sources.push([k, t, state[from]]);
    });
    const unexpected = Object.keys(state).filter((k) => !used.has(k));
    // as PyTorch for checkpoints from before BatchNorm counted its batches
    const missingNow = legacy ? missing.filter((k) => k !== 'num_batches_tracked' && !k.endsWith('.num_batches_tracked')) : missing;
    if (strict && (missingNow.length || unexpected.length)) {
      throw new ArgumentError(`loadStateDict: missing keys [${missingNow.join(', ')}], unexpected keys [${unexpected.join(', ')}]`);
    }
    // every shape checked before anything is copied, so a refused state dict changes nothing
    for (const [k, t, src] of sources) {
      if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        throw new ShapeError(`loadStateDict: ${k} has shape ${fmt(src.shape)} in the state dict but ${fmt(t.shape)} in the model`);
      }
    }
    noGrad(() => {
      for (const [, t, src] of sources) t.copy_(src);
    });
    return { missing: missingNow, unexpected };
  }

  /** Number of parameter elements (trainable only with `trainable`). */
  numParameters(trainable = false): number {
    checkBoolean('numParameters', 'trainable', trainable);
    return this.parameters().filter((p) => !trainable || p.requiresGrad).reduce((n, p) => n + p.numel(), 0);
  }

  /**
   * Frees parameters (and their gradients), buffers, and the optimizer state that `compile` or
   * `fit` made from a name (an optimizer you passed in is yours to dispose).
   */
  dispose(): void {
    for (const p of this.parameters()) { p.zeroGrad(); p.dispose(); }
    for (const [, b] of this.namedBuffers()) b.dispose();
    releaseTraining(this);
  }

  /** dispose(), for `using model = new Net()`. */
  [DISPOSE](): void {
    this.dispose();
  }

  // ---- Keras-style training (the loop lives in src/train/) ----------------------------------

  /**
   * Sets the optimizer, loss and metrics that fit/evaluate use when not given (optional).
   * @example model.compile({ optimizer: new wt.optim.Adam(model.parameters()), loss: 'crossEntropy', metrics: ['accuracy'] });
   */
  compile(cfg: CompileConfig): this {
    compileModel(this, cfg);
    return this;
  }

  /**
   * Trains on [x, y] tensors, a Dataset or a DataLoader, or on x and y as Keras's fit(x, y, opts);
   * resolves to the History.
   * @example const h = await model.fit([x, y], { epochs: 5, batchSize: 64, validationSplit: 0.1 });
   * @example const h = await model.fit(x, y, { epochs: 5, batchSize: 64, validationData: [xv, yv] });
   */
  fit(data: FitData, opts?: FitOptions): Promise<History>;
  fit(x: Tensor | readonly Tensor[], y: Tensor | readonly [Tensor], opts?: FitOptions): Promise<History>;
  fit(a: FitData | Tensor, b?: FitOptions | Tensor | readonly [Tensor], c?: FitOptions): Promise<History> {
    return (fitModel as (...args: unknown[]) => Promise<History>)(this, a, b, c);
  }

  /** Mean loss and metrics over the data ((data, opts) or (x, y, opts)). @example const { loss, acc } = await model.evaluate(x, y); */
  evaluate(data: FitData, opts?: EvaluateOptions): Promise<Logs>;
  evaluate(x: Tensor | readonly Tensor[], y: Tensor | readonly [Tensor], opts?: EvaluateOptions): Promise<Logs>;
  evaluate(a: FitData | Tensor, b?: EvaluateOptions | Tensor | readonly [Tensor], c?: EvaluateOptions): Promise<Logs> {
    return (evaluateModel as (...args: unknown[]) => Promise<Logs>)(this, a, b, c);
  }

  /** Outputs for every sample, batched, in eval mode without gradients. @example model.predict(x).argmax(-1) */
  predict(x: Tensor | readonly Tensor[] | FitData, opts: PredictOptions = {}): Tensor {
    return predictModel(this, x, opts);
  }

  /**
   * Prints the Keras-style table of sub-modules, output shapes (from one forward pass on zeros of
   * `inputShape`; `?` without one) and parameter counts, and returns its text. `printFn`
   * replaces console.log (Keras's print_fn); `wt.nn.summary` returns the rows instead.
   * @example model.summary([1, 784]);
   */
  summary(inputShape?: number[] | number[][] | null, opts: { dtype?: 'float32' | 'int32'; printFn?: (text: string) => void } = {}): string {
    return printSummary(this, inputShape, opts);
  }

  /** What Node's console.log shows: the toString() tree. */
  [INSPECT](): string {
    return this.toString();
  }

  /** One-line description used by summary() and toString(). */
  extraRepr(): string {
    return '';
  }

  toString(): string {
    const kids = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (!kids.length) return `${head})`;
    const body = kids.map(([k, m]) => `  (${k}): ${m.toString().replace(/\n/g, '\n  ')}`).join('\n');
    return `${head}\n${body}\n)`;
  }
}
