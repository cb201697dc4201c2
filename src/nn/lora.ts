/**
 * LoRA (low-rank adapters, Hu et al. 2021) in the layout of Hugging Face PEFT, so that an adapter
 * trained here loads in PEFT / transformers and one trained there loads here.
 *
 * `apply(model, config)` wraps every targeted `Linear` (and GPT-2 `Conv1D`, weight [in, out]) in
 * a `LoraLinear`, PEFT's `lora.Linear`: the original layer becomes its `base_layer` and each
 * adapter adds `lora_A.<name>` (a Linear in → r, no bias) and `lora_B.<name>` (r → out, no
 * bias), so the model's module paths and state-dict keys are PEFT's
 * (`h.0.attn.c_attn.base_layer.weight`, `h.0.attn.c_attn.lora_A.default.weight`). Every other
 * parameter of the model is frozen (`requiresGrad` false: backward computes no gradient for it
 * and an optimizer keeps no state for it). The output is
 *
 *   base(x) + B(A(dropout(x))) · scaling,   scaling = alpha / r   (alpha / √r with useRslora)
 *
 * with A initialised kaiming-uniform(a = √5) (U(±1/√in), as PEFT) and B zeros, so a new adapter
 * starts as the identity change. Dropout applies to the adapter's input only, in training mode.
 *
 * An adapter file is PEFT's: `adapter_model.safetensors` with keys
 * `base_model.model.<module path>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r] (the
 * adapter name left out), and `adapter_config.json` (peft_type "LORA", r, lora_alpha,
 * target_modules, fan_in_fan_out, ...). Module paths are the model's state-dict paths
 * (PyTorch's snake_case), so adapters of the webtensor/lm models line up with the hub's.
 *
 * @example
 * wt.nn.lora.apply(model, { r: 8, alpha: 16, dropout: 0.05, targetModules: ['c_attn'] });
 * const opt = new wt.optim.AdamW(model.trainableParameters(), { lr: 1e-3 });
 * // ... train ...
 * const files = await wt.nn.lora.save(model, { baseModelNameOrPath: 'gpt2', taskType: 'CAUSAL_LM' });
 * // files['adapter_model.safetensors'], files['adapter_config.json']
 */
import { noGrad } from '../engine.js';
import { ArgumentError, FormatError, ShapeError, fmt } from '../errors.js';
import { load as loadSafetensors, save as saveSafetensors } from '../io/safetensors.js';
import { openSource, writeBytes, type LoadSource } from '../io/source.js';
import { linear } from '../ops/linalg.js';
import { Tensor } from '../tensor.js';
import { checkBoolean, checkFloat, checkNumber, checkNumel, checkOptions, describeValue } from '../validate.js';
import { ModuleDict } from './containers.js';
import * as init from './init.js';
import { Dropout, Linear } from './layers.js';
import { QuantizedLinear } from './quant.js';
import { Module, isParameter } from './module.js';

/** What `apply` takes (PEFT's LoraConfig, camelCase; the JSON file uses PEFT's snake_case). */
export interface LoraConfig {
  /** rank (default 8) */
  r?: number;
  /** lora_alpha (default 8): scaling = alpha / r */
  alpha?: number;
  /** dropout probability on the adapter's input (default 0) */
  dropout?: number;
  /**
   * which layers: a list of names, each matching a module path exactly or as its last
   * components (`'c_attn'` matches `transformer.h.0.attn.c_attn`), or a string, a regular
   * expression the whole module path must match (PEFT's re.fullmatch)
   */
  targetModules: readonly string[] | string;
  /** module paths (list: exact or suffix; string: full regex) left out even if targeted */
  excludeModules?: readonly string[] | string | null;
  /** the base weight is stored [in, out] (GPT-2's Conv1D; set for Conv1D layers automatically) */
  fanInFanOut?: boolean;
  /** scaling = alpha / √r (rank-stabilised LoRA) */
  useRslora?: boolean;
  /** true: A kaiming-uniform, B zeros (PEFT's default); 'gaussian': A normal(0, 1/r), B zeros; false: A and B both a Linear's default init (a nonzero change from the start) */
  initLoraWeights?: boolean | 'gaussian';
  /** per-module rank by name pattern (PEFT's rank_pattern: the pattern must match the end of the path) */
  rankPattern?: Record<string, number>;
  /** per-module alpha by name pattern (alpha_pattern) */
  alphaPattern?: Record<string, number>;
  /** only layers whose index (the first `.<n>.` in the path, or after `layersPattern`) is listed */
  layersToTransform?: readonly number[] | number | null;
  layersPattern?: readonly string[] | string | null;
  /** written to adapter_config.json */
  baseModelNameOrPath?: string | null;
  /** written to adapter_config.json (CAUSAL_LM, SEQ_CLS, ...) */
  taskType?: string | null;
  /** frozen adapter (PEFT's inference_mode): its A and B do not require gradients */
  inferenceMode?: boolean;
  /** only 'none' (adapters without biases) */
  bias?: 'none';
}

const CONFIG_KEYS = ['r', 'alpha', 'dropout', 'targetModules', 'excludeModules', 'fanInFanOut', 'useRslora', 'initLoraWeights', 'rankPattern', 'alphaPattern', 'layersToTransform', 'layersPattern', 'baseModelNameOrPath', 'taskType', 'inferenceMode', 'bias'] as const;

/** A checked config with every field set. */
export interface ResolvedLoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: string[] | string;
  excludeModules: string[] | string | null;
  fanInFanOut: boolean;
  useRslora: boolean;
  initLoraWeights: boolean | 'gaussian';
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  layersToTransform: number[] | number | null;
  layersPattern: string[] | string | null;
  baseModelNameOrPath: string | null;
  taskType: string | null;
  inferenceMode: boolean;
  bias: 'none';
}

const DEFAULT_ADAPTER = 'default';

/** The adapters a model carries: their configs (in order added) and which are active. */
interface ModelAdapters {
  configs: Map<string, ResolvedLoraConfig>;
  active: string[];
}
const ADAPTERS = new WeakMap<Module, ModelAdapters>();

// ---- the layer ------------------------------------------------------------------------------

/** A layer LoRA can wrap: a Linear (weight [out, in]) or a GPT-2 Conv1D (weight [in, out], `nx` in, `nf` out). */
type BaseLayer = Module & { weight: Tensor; bias: Tensor | null };

function isConv1D(m: unknown): m is BaseLayer & { nx: number; nf: number } {
  if (!(m instanceof Module)) return false;
  const c = m as unknown as { weight?: unknown; nx?: unknown; nf?: unknown };
  // nx / nf first: `weight` of an adapter-wrapped quantized layer throws
  return typeof c.nx === 'number' && typeof c.nf === 'number' && isParameter(c.weight) && c.weight.ndim === 2 &&
    c.weight.shape[0] === c.nx && c.weight.shape[1] === c.nf;
}

/** in and out features of a layer LoRA can wrap, or null. */
function baseFeatures(m: unknown): { inF: number; outF: number; conv1d: boolean } | null {
  if (m instanceof Linear || m instanceof QuantizedLinear) return { inF: m.inFeatures, outF: m.outFeatures, conv1d: false };
  if (isConv1D(m)) return { inF: m.nx, outF: m.nf, conv1d: true };
  return null;
}

function adapterName(op: string, name: unknown, arg = 'adapterName'): string {
  if (typeof name !== 'string' || !name || name.includes('.')) throw new ArgumentError(`${op}: ${arg} must be a non-empty string without '.', got ${describeValue(name)}`);
  return name;
}

/**
 * PEFT's `lora.Linear`: a Linear or Conv1D (`base_layer`) plus low-rank adapters by name
 * (`lora_A`, `lora_B`, `lora_dropout`: ModuleDicts keyed by adapter name). Made by `apply`.
 */
export class LoraLinear extends Module {
  readonly baseLayer: BaseLayer;
  readonly loraA: ModuleDict<Linear>;
  readonly loraB: ModuleDict<Linear>;
  readonly loraDropout: ModuleDict<Dropout>;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** the base weight is [in, out] (Conv1D) */
  readonly fanInFanOut: boolean;
  /** rank, alpha and scaling of each adapter */
  readonly r: Record<string, number> = {};
  readonly loraAlpha: Record<string, number> = {};
  readonly scaling: Record<string, number> = {};
  /** adapters added to the output, in order */
  activeAdapters: string[] = [];
  /** adapters whose change is in the base weight now (merge) */
  mergedAdapters: string[] = [];

  constructor(base: Module, adapter: string, config: LoraConfig) {
    super();
    const op = 'LoraLinear';
    const f = baseFeatures(base);
    if (!f) throw new ArgumentError(`${op}: base must be a Linear or a Conv1D layer, got ${base instanceof Module ? base.constructor.name : describeValue(base)}`);
    adapterName(op, adapter);
    const cfg = resolveConfig(op, config);
    checkAdapterSize(op, '', f.inF, f.outF, cfg.r);
    this.baseLayer = base as BaseLayer;
    this.inFeatures = f.inF;
    this.outFeatures = f.outF;
    this.fanInFanOut = f.conv1d;
    this.loraA = new ModuleDict<Linear>();
    this.loraB = new ModuleDict<Linear>();
    this.loraDropout = new ModuleDict<Dropout>();
    this._addAdapter(adapter, cfg.r, cfg.alpha, cfg);
    this.activeAdapters = [adapter];
  }

  /**
   * The base layer's weight (reads of `layer.weight` keep working on a wrapped layer). A quantized
   * base (QuantizedLinear) holds no float weight: reading it throws an ArgumentError that says so;
   * `wt.dequantize(layer.baseLayer.quantized)` gives a float32 copy.
   */
  get weight(): Tensor {
    const base = this.baseLayer;
    if (base instanceof QuantizedLinear) {
      throw new ArgumentError(`LoraLinear.weight: the base layer is quantized (QuantizedLinear [${base.outFeatures}, ${base.inFeatures}], ${base.bits}-bit, groups of ${base.groupSize}) and holds no float weight; wt.dequantize(layer.baseLayer.quantized) gives a float32 copy`);
    }
    return base.weight;
  }
  get bias(): Tensor | null {
    return this.baseLayer.bias;
  }

  /** PEFT's module names: base_layer, lora_dropout, lora_A, lora_B. */
  protected override _namedChildren(): [string, Module][] {
    return [['base_layer', this.baseLayer], ['lora_dropout', this.loraDropout], ['lora_A', this.loraA], ['lora_B', this.loraB]];
  }

  /** Adds (or replaces) adapter `name` with rank r; A and B initialised as the config says. @internal */
  _addAdapter(name: string, r: number, alpha: number, cfg: ResolvedLoraConfig): void {
    if (this.loraA.has(name)) this._removeAdapter(name);
    const A = new Linear(this.inFeatures, r, { bias: false }); // U(±1/√in): kaiming-uniform with a = √5
    const B = new Linear(r, this.outFeatures, { bias: false });
    noGrad(() => {
      if (cfg.initLoraWeights === 'gaussian') init.normal(A.weight, 0, 1 / r);
      if (cfg.initLoraWeights !== false) init.zeros(B.weight);
    });
    A.weight.requiresGrad = B.weight.requiresGrad = !cfg.inferenceMode;
    this.loraA.set(name, A);
    this.loraB.set(name, B);
    this.loraDropout.set(name, new Dropout(cfg.dropout));
    this.r[name] = r;
    this.loraAlpha[name] = alpha;
    this.scaling[name] = cfg.useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  /** Removes adapter `name` and frees its tensors (unmerging it first if merged). @internal */
  _removeAdapter(name: string): void {
    if (this.mergedAdapters.includes(name)) this.unmerge();
    for (const d of [this.loraA, this.loraB]) {
      const m = d.get(name);
      if (m) {
        m.dispose();
        d.delete(name);
      }
    }
    this.loraDropout.delete(name);
    delete this.r[name];
    delete this.loraAlpha[name];
    delete this.scaling[name];
    this.activeAdapters = this.activeAdapters.filter((a) => a !== name);
  }

  forward(x: Tensor): Tensor {
    const op = 'LoraLinear.forward';
    checkFloat(op, 'input', x);
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) throw new ShapeError(`${op}: input must be [..., ${this.inFeatures}] (inFeatures in the last dim), got ${fmt(x.shape)}`);
    let y = this.baseLayer.forward(x) as Tensor;
    if (this.mergedAdapters.length) return y;
    for (const a of this.activeAdapters) {
      const A = this.loraA.get(a), B = this.loraB.get(a);
      if (!A || !B) continue;
      const xd = this.loraDropout.get(a)!.forward(x);
      const h = linear(xd, A.weight);
      const d = linear(h, B.weight);
      const s = d.mul(this.scaling[a]);
      const sum = y.add(s);
      for (const t of [h, d, s, y]) t.dispose();
      if (xd !== x) xd.dispose();
      y = sum;
    }
    return y;
  }

  /** scaling · B A as the base weight is laid out ([out, in], or [in, out] for Conv1D). */
  deltaWeight(adapter: string): Tensor {
    const A = this.loraA.get(adapter), B = this.loraB.get(adapter);
    if (!A || !B) throw new ArgumentError(`LoraLinear.deltaWeight: no adapter ${describeValue(adapter)} (adapters: ${this.loraA.keys().join(', ') || 'none'})`);
    return noGrad(() => {
      const ba = B.weight.matmul(A.weight);
      const t = this.fanInFanOut ? ba.transpose(0, 1) : ba;
      const d = t.mul(this.scaling[adapter]);
      if (t !== ba) t.dispose();
      ba.dispose();
      return d;
    });
  }

  /** Adds the active adapters' changes into the base weight (forward then runs the base layer only). */
  merge(adapters: readonly string[] = this.activeAdapters): void {
    if (!Array.isArray(adapters) || adapters.some((a) => typeof a !== 'string')) throw new ArgumentError(`LoraLinear.merge: adapters must be a list of adapter names, got ${describeValue(adapters)}`);
    if (this.baseLayer instanceof QuantizedLinear && adapters.some((a) => !this.mergedAdapters.includes(a) && this.loraA.has(a))) {
      throw new ArgumentError('LoraLinear.merge: the base layer is quantized (QuantizedLinear): an adapter cannot be merged into packed codes; keep it unmerged, or merge into a float copy of the model');
    }
    for (const a of adapters) {
      if (this.mergedAdapters.includes(a) || !this.loraA.has(a)) continue;
      const d = this.deltaWeight(a);
      noGrad(() => this.baseLayer.weight.add_(d));
      d.dispose();
      this.mergedAdapters.push(a);
    }
  }

  /** Takes the merged changes back out of the base weight. */
  unmerge(): void {
    while (this.mergedAdapters.length) {
      const a = this.mergedAdapters.pop()!;
      if (!this.loraA.has(a)) continue;
      const d = this.deltaWeight(a);
      noGrad(() => this.baseLayer.weight.sub_(d));
      d.dispose();
    }
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, adapters=[${this.loraA.keys().map((a) => `${a}: r=${this.r[a]}`).join(', ')}], active=[${this.activeAdapters.join(', ')}]${this.mergedAdapters.length ? ', merged' : ''}`;
  }
}

/** A and B of rank r for a layer in → out fit in a tensor. */
function checkAdapterSize(op: string, name: string, inF: number, outF: number, r: number): void {
  const at = name ? ` of '${name}'` : '';
  checkNumel(op, `lora_A${at}`, [r, inF]);
  checkNumel(op, `lora_B${at}`, [outF, r]);
}

// ---- config ---------------------------------------------------------------------------------

function stringList(op: string, arg: string, v: unknown, allowString: boolean): string[] | string {
  if (allowString && typeof v === 'string') {
    try {
      new RegExp(v);
    } catch (e) {
      throw new ArgumentError(`${op}: ${arg} is not a valid regular expression: ${(e as Error).message}`);
    }
    return v;
  }
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !s)) {
    throw new ArgumentError(`${op}: ${arg} must be ${allowString ? 'a regular expression string or ' : ''}a list of module names, got ${describeValue(v)}`);
  }
  return [...(v as string[])];
}

function patternMap(op: string, arg: string, v: unknown): Record<string, number> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Tensor) throw new ArgumentError(`${op}: ${arg} must be an object of name patterns to numbers, got ${describeValue(v)}`);
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v)) out[k] = checkNumber(op, `${arg}.${k}`, n, { finite: true, min: 0 });
  return out;
}

function resolveConfig(op: string, c: LoraConfig): ResolvedLoraConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c) || c instanceof Tensor || c instanceof Module) throw new ArgumentError(`${op}: config must be an object ({ r, alpha, dropout, targetModules }), got ${describeValue(c)}`);
  checkOptions(op, c, CONFIG_KEYS, 'config');
  const r = checkNumber(op, 'r', c.r ?? 8, { int: true, min: 1 });
  const alpha = checkNumber(op, 'alpha', c.alpha ?? 8, { finite: true });
  const dropout = checkNumber(op, 'dropout', c.dropout ?? 0, { min: 0, max: 1 });
  if (c.targetModules === undefined) throw new ArgumentError(`${op}: config.targetModules is required (the layers to adapt, e.g. ['q_proj', 'v_proj'] or ['c_attn'])`);
  const targetModules = stringList(op, 'targetModules', c.targetModules, true);
  if (Array.isArray(targetModules) && !targetModules.length) throw new ArgumentError(`${op}: targetModules is empty`);
  const excludeModules = c.excludeModules === undefined || c.excludeModules === null ? null : stringList(op, 'excludeModules', c.excludeModules, true);
  const bool = (k: 'fanInFanOut' | 'useRslora' | 'inferenceMode') => (c[k] === undefined ? false : checkBoolean(op, k, c[k]));
  const initLoraWeights = c.initLoraWeights === undefined ? true : c.initLoraWeights === 'gaussian' ? 'gaussian' : checkBoolean(op, 'initLoraWeights', c.initLoraWeights);
  let layersToTransform: number[] | number | null = null;
  if (c.layersToTransform !== undefined && c.layersToTransform !== null) {
    const l = c.layersToTransform;
    layersToTransform = typeof l === 'number' ? checkNumber(op, 'layersToTransform', l, { int: true, min: 0 })
      : Array.isArray(l) ? l.map((n, i) => checkNumber(op, `layersToTransform[${i}]`, n, { int: true, min: 0 })) : (() => { throw new ArgumentError(`${op}: layersToTransform must be a layer index or a list of them, got ${describeValue(l)}`); })();
  }
  const layersPattern = c.layersPattern === undefined || c.layersPattern === null ? null : stringList(op, 'layersPattern', c.layersPattern, true);
  const optString = (k: 'baseModelNameOrPath' | 'taskType') => {
    const v = c[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw new ArgumentError(`${op}: ${k} must be a string, got ${describeValue(v)}`);
    return v;
  };
  if (c.bias !== undefined && c.bias !== 'none') throw new ArgumentError(`${op}: bias must be 'none' (adapters with biases are not supported), got ${describeValue(c.bias)}`);
  return {
    r, alpha, dropout, targetModules, excludeModules,
    fanInFanOut: bool('fanInFanOut'), useRslora: bool('useRslora'), initLoraWeights,
    rankPattern: patternMap(op, 'rankPattern', c.rankPattern), alphaPattern: patternMap(op, 'alphaPattern', c.alphaPattern),
    layersToTransform, layersPattern,
    baseModelNameOrPath: optString('baseModelNameOrPath'), taskType: optString('taskType'),
    inferenceMode: bool('inferenceMode'), bias: 'none',
  };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** PEFT's check_target_module_exists: whether module path `key` is targeted. */
function targeted(cfg: ResolvedLoraConfig, key: string): boolean {
  const ex = cfg.excludeModules;
  if (ex) {
    if (typeof ex === 'string' ? new RegExp(`^(?:${ex})$`).test(key) : ex.includes(key) || ex.some((e) => key.endsWith(`.${e}`))) return false;
  }
  const t = cfg.targetModules;
  if (typeof t === 'string') return new RegExp(`^(?:${t})$`).test(key);
  if (t.includes(key)) return true;
  if (!t.some((s) => key.endsWith(`.${s}`))) return false;
  const idx = cfg.layersToTransform;
  if (idx === null || (Array.isArray(idx) && !idx.length)) return true;
  let m: RegExpMatchArray | null = null;
  const pats = cfg.layersPattern === null || !cfg.layersPattern.length ? null : typeof cfg.layersPattern === 'string' ? [cfg.layersPattern] : cfg.layersPattern;
  if (!pats) m = key.match(/^.*?\.[^.]*\.(\d+)\./);
  else for (const p of pats) if ((m = key.match(new RegExp(`^.*?\\.${p}\\.(\\d+)\\.`)))) break;
  if (!m) return false;
  const i = Number(m[1]);
  return typeof idx === 'number' ? i === idx : idx.includes(i);
}

/** PEFT's get_pattern_key: the first pattern matching the end of `key`. */
function patternValue(patterns: Record<string, number>, key: string, fallback: number): number {
  for (const [p, v] of Object.entries(patterns)) if (new RegExp(`^(.*\\.)?(${p})$`).test(key)) return v;
  return fallback;
}

// ---- model-level functions ------------------------------------------------------------------

function checkModel(op: string, model: unknown): asserts model is Module {
  if (!(model instanceof Module)) throw new ArgumentError(`${op}: model must be an nn.Module, got ${describeValue(model)}`);
}

/** The LoraLinear layers of a model with their paths. */
function loraLayers(model: Module): [string, LoraLinear][] {
  return model.namedModules().filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
}

function adaptersOf(op: string, model: Module): ModelAdapters {
  const a = ADAPTERS.get(model);
  if (!a || !a.configs.size) throw new ArgumentError(`${op}: the model has no LoRA adapters (call wt.nn.lora.apply(model, config) first)`);
  return a;
}

function knownAdapter(op: string, a: ModelAdapters, name: unknown, arg = 'adapterName'): string {
  adapterName(op, name, arg);
  if (!a.configs.has(name as string)) throw new ArgumentError(`${op}: no adapter ${describeValue(name)} (adapters: ${[...a.configs.keys()].join(', ')})`);
  return name as string;
}

/** Puts `to` wherever `parent` holds `from` (a property, an array element, a ModuleList / ModuleDict entry). */
function replaceChild(parent: Module, from: Module, to: Module): void {
  const rec = parent as unknown as Record<string, unknown>;
  for (const [p, v] of Object.entries(rec)) {
    if (v === from) Object.defineProperty(rec, p, { value: to, enumerable: true, configurable: true, writable: true });
    else if (Array.isArray(v)) v.forEach((m, i) => { if (m === from) v[i] = to; });
  }
}

/** Parents of each module (a module may sit in several places). */
function parentsOf(model: Module): Map<Module, Module[]> {
  const out = new Map<Module, Module[]>();
  for (const [, m] of model.namedModules()) {
    for (const c of m.children()) {
      const l = out.get(c) ?? [];
      if (!l.includes(m)) l.push(m);
      out.set(c, l);
    }
  }
  return out;
}

/**
 * Freezes every parameter but the active, trainable adapters' A and B (PEFT's
 * mark_only_adapters_as_trainable and set_adapter).
 */
function markTrainable(model: Module, a: ModelAdapters): void {
  const adapterParams = new Set<Tensor>();
  for (const [, l] of loraLayers(model)) {
    for (const name of l.loraA.keys()) {
      const on = a.active.includes(name) && !a.configs.get(name)!.inferenceMode;
      for (const m of [l.loraA.get(name)!, l.loraB.get(name)!]) {
        m.weight.requiresGrad = on;
        adapterParams.add(m.weight);
      }
    }
  }
  for (const p of model.parameters()) if (!adapterParams.has(p) && p.requiresGrad && p.isLeaf) p.requiresGrad = false;
}

/**
 * Wraps the layers `config.targetModules` names with a LoRA adapter called `adapterName`
 * (default 'default') and freezes every other parameter of the model. On a model that has
 * adapters already, adds another one (PEFT's add_adapter: inactive until `setAdapter`).
 * Returns the model (changed in place). Targets must be Linear or Conv1D layers.
 *
 * @example wt.nn.lora.apply(model, { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] });
 */
export function apply<M extends Module>(model: M, config: LoraConfig, adapter: string = DEFAULT_ADAPTER): M {
  const op = 'lora.apply';
  checkModel(op, model);
  const cfg = resolveConfig(op, config);
  adapterName(op, adapter);
  const prev = ADAPTERS.get(model);
  if (prev?.configs.has(adapter)) throw new ArgumentError(`${op}: the model already has an adapter named '${adapter}' (deleteAdapter it first, or pick another name)`);
  // modules inside a LoraLinear (its base layer, A and B) are not targets themselves
  const inside = new Set<Module>();
  for (const [, l] of loraLayers(model)) for (const [, m] of l.namedModules()) if (m !== l) inside.add(m);
  const matches: [string, Module][] = [];
  for (const [name, m] of model.namedModules()) {
    if (!name || inside.has(m) || !targeted(cfg, name)) continue;
    if (!(m instanceof LoraLinear) && !baseFeatures(m)) {
      throw new ArgumentError(`${op}: target module '${name}' is a ${m.constructor.name}; LoRA wraps Linear and Conv1D layers (name the layers inside it, e.g. '${name}.<layer>')`);
    }
    matches.push([name, m]);
  }
  if (!matches.length) {
    const linears = model.namedModules().filter(([n, m]) => n && !inside.has(m) && (baseFeatures(m) || m instanceof LoraLinear)).map(([n]) => n);
    const show = linears.slice(0, 8).join(', ') + (linears.length > 8 ? `, ... (${linears.length})` : '');
    throw new ArgumentError(`${op}: targetModules ${JSON.stringify(cfg.targetModules)} matched no layer of the model (its Linear / Conv1D layers: ${show || 'none'})`);
  }
  for (const [name, m] of matches) {
    const f = m instanceof LoraLinear ? { inF: m.inFeatures, outF: m.outFeatures } : baseFeatures(m)!;
    checkAdapterSize(op, name, f.inF, f.outF, patternValue(cfg.rankPattern, name, cfg.r));
  }
  if (matches.some(([, m]) => m instanceof LoraLinear ? m.fanInFanOut : isConv1D(m))) cfg.fanInFanOut = true; // as PEFT, which sets it for Conv1D
  const parents = parentsOf(model);
  const a: ModelAdapters = prev ?? { configs: new Map(), active: [] };
  for (const [name, m] of matches) {
    const r = patternValue(cfg.rankPattern, name, cfg.r), alpha = patternValue(cfg.alphaPattern, name, cfg.alpha);
    if (m instanceof LoraLinear) {
      m._addAdapter(adapter, r, alpha, cfg);
      continue;
    }
    const layer = new LoraLinear(m, adapter, { ...cfg, r, alpha } as LoraConfig);
    layer.activeAdapters = prev ? [...prev.active] : [adapter];
    layer.train(m.training);
    for (const p of parents.get(m) ?? []) replaceChild(p, m, layer);
  }
  a.configs.set(adapter, cfg);
  if (!prev) a.active = [adapter];
  ADAPTERS.set(model, a);
  markTrainable(model, a);
  return model;
}

/**
 * Chooses the adapters added to the output (one name or several, summed; [] for the base
 * model alone). The active ones become trainable (unless loaded for inference), the others frozen.
 */
export function setAdapter(model: Module, adapters: string | readonly string[]): void {
  const op = 'lora.setAdapter';
  checkModel(op, model);
  const a = adaptersOf(op, model);
  const names = typeof adapters === 'string' ? [adapters] : Array.isArray(adapters) ? [...adapters] : null;
  if (!names) throw new ArgumentError(`${op}: adapters must be an adapter name or a list of them, got ${describeValue(adapters)}`);
  names.forEach((n, i) => knownAdapter(op, a, n, typeof adapters === 'string' ? 'adapters' : `adapters[${i}]`));
  for (const [, l] of loraLayers(model)) {
    if (l.mergedAdapters.length) l.unmerge();
    l.activeAdapters = [...names];
  }
  a.active = [...names];
  markTrainable(model, a);
}

/** The model's adapters: names in order added, which are active, and each one's config. */
export function adapters(model: Module): { names: string[]; active: string[]; configs: Record<string, ResolvedLoraConfig> } {
  const op = 'lora.adapters';
  checkModel(op, model);
  const a = ADAPTERS.get(model);
  if (!a) return { names: [], active: [], configs: {} };
  return { names: [...a.configs.keys()], active: [...a.active], configs: Object.fromEntries([...a.configs].map(([k, v]) => [k, { ...v }])) };
}

/** Removes an adapter and frees its tensors; if it was active, the first remaining adapter becomes active. */
export function deleteAdapter(model: Module, adapter: string): void {
  const op = 'lora.deleteAdapter';
  checkModel(op, model);
  const a = adaptersOf(op, model);
  knownAdapter(op, a, adapter);
  for (const [, l] of loraLayers(model)) l._removeAdapter(adapter);
  a.configs.delete(adapter);
  if (a.active.includes(adapter)) {
    a.active = a.active.filter((n) => n !== adapter);
    if (!a.active.length && a.configs.size) a.active = [[...a.configs.keys()][0]];
    for (const [, l] of loraLayers(model)) l.activeAdapters = [...a.active];
  }
  markTrainable(model, a);
}

/**
 * Adds the active adapters' changes (scaling · B A) into the base weights: forward then costs
 * the base model's alone. `unmerge` takes them back out.
 */
export function merge(model: Module, adapterNames?: readonly string[]): void {
  const op = 'lora.merge';
  checkModel(op, model);
  const a = adaptersOf(op, model);
  const names = adapterNames === undefined ? a.active : Array.isArray(adapterNames) ? adapterNames.map((n, i) => knownAdapter(op, a, n, `adapterNames[${i}]`)) : null;
  if (!names) throw new ArgumentError(`${op}: adapterNames must be a list of adapter names, got ${describeValue(adapterNames)}`);
  for (const [, l] of loraLayers(model)) l.merge(names);
}

/** Takes merged adapters back out of the base weights. */
export function unmerge(model: Module): void {
  const op = 'lora.unmerge';
  checkModel(op, model);
  adaptersOf(op, model);
  for (const [, l] of loraLayers(model)) l.unmerge();
}

/**
 * Puts the base layers back in the model's tree and frees every adapter; with `merge` (default
 * false) the active adapters' changes are added into the base weights first (PEFT's
 * merge_and_unload; `unload` without). The base parameters stay frozen: set requiresGrad to train them.
 */
export function unload<M extends Module>(model: M, opts: { merge?: boolean } = {}): M {
  const op = 'lora.unload';
  checkModel(op, model);
  checkOptions(op, opts, ['merge']);
  const doMerge = opts.merge === undefined ? false : checkBoolean(op, 'merge', opts.merge);
  adaptersOf(op, model);
  return unwrap(model, doMerge);
}

/** unload without the checks (also after the last adapter was deleted). */
function unwrap<M extends Module>(model: M, doMerge: boolean): M {
  const parents = parentsOf(model);
  for (const [, l] of loraLayers(model)) {
    if (doMerge) l.merge();
    else l.unmerge();
    l.mergedAdapters = []; // the merged changes stay in the base weights
    for (const p of parents.get(l) ?? []) replaceChild(p, l, l.baseLayer);
    for (const n of l.loraA.keys()) l._removeAdapter(n);
  }
  ADAPTERS.delete(model);
  return model;
}

// ---- PEFT files -----------------------------------------------------------------------------

/** The key prefix of PEFT's adapter files (PeftModel.base_model (LoraModel).model). */
const PEFT_PREFIX = 'base_model.model.';

/**
 * The adapter's tensors under PEFT's keys (`base_model.model.<path>.lora_A.weight`, ...; the
 * adapter's own tensors, not copies), as PEFT's get_peft_model_state_dict.
 */
export function stateDict(model: Module, adapter: string = DEFAULT_ADAPTER): Record<string, Tensor> {
  const op = 'lora.stateDict';
  checkModel(op, model);
  const a = adaptersOf(op, model);
  knownAdapter(op, a, adapter);
  const out: Record<string, Tensor> = {};
  for (const [path, l] of loraLayers(model)) {
    const A = l.loraA.get(adapter), B = l.loraB.get(adapter);
    if (!A || !B) continue;
    out[`${PEFT_PREFIX}${path}.lora_A.weight`] = A.weight;
    out[`${PEFT_PREFIX}${path}.lora_B.weight`] = B.weight;
  }
  return out;
}

/**
 * Copies an adapter's tensors from a PEFT state dict (keys as `stateDict` gives, with or
 * without the `base_model.model.` prefix and with or without the adapter name after
 * `lora_A.`) into adapter `adapterName` of the model. With strict (default), missing or
 * unexpected keys throw; shapes are checked before anything is copied.
 */
export function loadStateDict(model: Module, state: Record<string, Tensor>, opts: { adapterName?: string; strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
  const op = 'lora.loadStateDict';
  checkModel(op, model);
  if (typeof state !== 'object' || state === null || Array.isArray(state) || state instanceof Tensor) throw new ArgumentError(`${op}: state must be an object of named tensors (e.g. await wt.load('adapter_model.safetensors')), got ${describeValue(state)}`);
  checkOptions(op, opts, ['adapterName', 'strict']);
  const a = adaptersOf(op, model);
  const adapter = knownAdapter(op, a, opts.adapterName ?? DEFAULT_ADAPTER);
  const strict = opts.strict === undefined ? true : checkBoolean(op, 'strict', opts.strict);
  const want = new Map<string, Tensor>();
  for (const [k, t] of Object.entries(stateDict(model, adapter))) want.set(k, t);
  const sources: [string, Tensor, Tensor][] = [];
  const unexpected: string[] = [];
  const found = new Set<string>();
  for (const [k0, t] of Object.entries(state)) {
    if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${k0} must be a Tensor, got ${describeValue(t)}`);
    t._check(`${op}: ${k0}`);
    // PEFT's own names: the adapter name after lora_A / lora_B (a model's full state dict)
    let k = k0.replace(new RegExp(`\\.(lora_[AB])\\.${escapeRe(adapter)}\\.weight$`), '.$1.weight');
    if (!k.startsWith(PEFT_PREFIX)) k = PEFT_PREFIX + k;
    const dst = want.get(k);
    if (!dst) { unexpected.push(k0); continue; }
    found.add(k);
    sources.push([k0, dst, t]);
  }
  const missing = [...want.keys()].filter((k) => !found.has(k));
  if (strict && (missing.length || unexpected.length)) {
    const list = (l: string[]) => `[${l.slice(0, 6).join(', ')}${l.length > 6 ? `, ... (${l.length})` : ''}]`;
    throw new ArgumentError(`${op}: missing keys ${list(missing)}, unexpected keys ${list(unexpected)} (adapter '${adapter}'; the file's module paths must be the model's)`);
  }
  for (const [k, dst, src] of sources) {
    if (src.ndim !== dst.ndim || src.shape.some((d, i) => d !== dst.shape[i])) throw new ShapeError(`${op}: ${k} has shape ${fmt(src.shape)} in the state dict but ${fmt(dst.shape)} in the model`);
  }
  noGrad(() => { for (const [, dst, src] of sources) dst.copy_(src); });
  return { missing, unexpected };
}

/**
 * adapter_config.json as PEFT writes it (PEFT's field names, inference_mode true as
 * save_pretrained sets it). Fields newer PEFT versions added (exclude_modules) are written only
 * when set, so that older versions, which refuse unknown fields, read the file too.
 */
function peftConfigJson(cfg: ResolvedLoraConfig): Record<string, unknown> {
  const json: Record<string, unknown> = {
    alpha_pattern: { ...cfg.alphaPattern },
    auto_mapping: null,
    base_model_name_or_path: cfg.baseModelNameOrPath,
    bias: cfg.bias,
    fan_in_fan_out: cfg.fanInFanOut,
    inference_mode: true,
    init_lora_weights: cfg.initLoraWeights,
    layer_replication: null,
    layers_pattern: cfg.layersPattern,
    layers_to_transform: cfg.layersToTransform,
    loftq_config: {},
    lora_alpha: cfg.alpha,
    lora_dropout: cfg.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: { ...cfg.rankPattern },
    revision: null,
    target_modules: cfg.targetModules,
    task_type: cfg.taskType,
    use_dora: false,
    use_rslora: cfg.useRslora,
  };
  if (cfg.excludeModules !== null) json.exclude_modules = cfg.excludeModules;
  return json;
}

const str = (x: unknown) => (typeof x === 'string' ? x : null);

/** A LoraConfig from adapter_config.json (PEFT's fields); refuses what this LoRA does not implement. */
export function configFromPeft(json: unknown): LoraConfig {
  const op = 'lora.configFromPeft';
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ArgumentError(`${op}: expected the parsed adapter_config.json (an object), got ${describeValue(json)}`);
  const j = json as Record<string, unknown>;
  const refuse = (why: string) => { throw new ArgumentError(`${op}: ${why}`); };
  if (j.peft_type !== undefined && j.peft_type !== 'LORA') refuse(`peft_type is ${describeValue(j.peft_type)}; only LORA adapters load`);
  if (j.bias !== undefined && j.bias !== 'none') refuse(`bias ${describeValue(j.bias)} is not supported (only 'none')`);
  if (j.use_dora) refuse('DoRA adapters (use_dora) are not supported');
  if (j.lora_bias) refuse('lora_bias adapters are not supported');
  if (Array.isArray(j.modules_to_save) && j.modules_to_save.length) refuse(`modules_to_save (${j.modules_to_save.join(', ')}) is not supported: the adapter holds whole trained layers besides LoRA`);
  if (Array.isArray(j.layer_replication) && j.layer_replication.length) refuse('layer_replication is not supported');
  if (j.target_modules === undefined || j.target_modules === null) refuse('target_modules is missing');
  const num = (k: string, d: number) => (j[k] === undefined || j[k] === null ? d : (j[k] as number));
  return {
    r: num('r', 8),
    alpha: num('lora_alpha', 8),
    dropout: num('lora_dropout', 0),
    targetModules: j.target_modules as string[] | string,
    excludeModules: (j.exclude_modules ?? null) as string[] | string | null,
    fanInFanOut: j.fan_in_fan_out === undefined ? false : (j.fan_in_fan_out as boolean),
    useRslora: j.use_rslora === undefined ? false : (j.use_rslora as boolean),
    rankPattern: (j.rank_pattern ?? {}) as Record<string, number>,
    alphaPattern: (j.alpha_pattern ?? {}) as Record<string, number>,
    layersToTransform: (j.layers_to_transform ?? null) as number[] | number | null,
    layersPattern: (j.layers_pattern ?? null) as string[] | string | null,
    baseModelNameOrPath: str(j.base_model_name_or_path),
    taskType: str(j.task_type),
  };
}

export interface LoraFiles {
  'adapter_model.safetensors': Uint8Array;
  'adapter_config.json': string;
}

/**
 * PEFT's save_pretrained: the adapter's `adapter_model.safetensors` and `adapter_config.json`.
 * Returns both; with `dir` (Node) also writes them there. `baseModelNameOrPath` and `taskType`
 * override the config's for the file.
 *
 * @example const files = await wt.nn.lora.save(model, { baseModelNameOrPath: 'gpt2', taskType: 'CAUSAL_LM' });
 */
export async function save(model: Module, opts: { adapterName?: string; dir?: string; baseModelNameOrPath?: string; taskType?: string } = {}): Promise<LoraFiles> {
  const op = 'lora.save';
  checkModel(op, model);
  checkOptions(op, opts, ['adapterName', 'dir', 'baseModelNameOrPath', 'taskType']);
  const a = adaptersOf(op, model);
  const adapter = knownAdapter(op, a, opts.adapterName ?? DEFAULT_ADAPTER);
  for (const k of ['dir', 'baseModelNameOrPath', 'taskType'] as const) {
    if (opts[k] !== undefined && (typeof opts[k] !== 'string' || !opts[k])) throw new ArgumentError(`${op}: ${k} must be a non-empty string, got ${describeValue(opts[k])}`);
  }
  const cfg = { ...a.configs.get(adapter)! };
  if (opts.baseModelNameOrPath !== undefined) cfg.baseModelNameOrPath = opts.baseModelNameOrPath;
  if (opts.taskType !== undefined) cfg.taskType = opts.taskType;
  const bytes = await saveSafetensors(stateDict(model, adapter), { metadata: { format: 'pt' } });
  const json = JSON.stringify(peftConfigJson(cfg), null, 2) + '\n';
  if (opts.dir !== undefined) {
    const dir = opts.dir.replace(/\/+$/, '');
    await writeBytes(op, `${dir}/adapter_model.safetensors`, bytes);
    await writeBytes(op, `${dir}/adapter_config.json`, new TextEncoder().encode(json));
  }
  return { 'adapter_model.safetensors': bytes, 'adapter_config.json': json };
}

/** What `load` reads: a folder path (Node) or URL base (browser) holding PEFT's two files, or the two files themselves. */
export type LoraSource = string | { 'adapter_model.safetensors': LoadSource; 'adapter_config.json': string | Record<string, unknown> | Uint8Array | Blob };

async function readText(op: string, src: LoadSource): Promise<string> {
  const s = await openSource(op, src);
  try {
    return new TextDecoder().decode(await s.read(0, s.size));
  } finally {
    await s.close();
  }
}

/**
 * PEFT's PeftModel.from_pretrained / load_adapter: adds adapter `adapterName` (default
 * 'default') from `adapter_config.json` to the model and fills it from
 * `adapter_model.safetensors` (strict: every key must match a layer). Frozen unless
 * `isTrainable`; active when it is the model's first adapter (else call `setAdapter`).
 *
 * @example await wt.nn.lora.load(model, '/path/to/adapter'); // adapter_config.json + adapter_model.safetensors
 */
export async function load<M extends Module>(model: M, source: LoraSource, opts: { adapterName?: string; isTrainable?: boolean } = {}): Promise<M> {
  const op = 'lora.load';
  checkModel(op, model);
  checkOptions(op, opts, ['adapterName', 'isTrainable']);
  const adapter = adapterName(op, opts.adapterName ?? DEFAULT_ADAPTER);
  const trainable = opts.isTrainable === undefined ? false : checkBoolean(op, 'isTrainable', opts.isTrainable);
  let weights: LoadSource, cfgSrc: string | Record<string, unknown> | Uint8Array | Blob, cfgIsText = false;
  if (typeof source === 'string') {
    if (!source) throw new ArgumentError(`${op}: the folder path is empty`);
    const dir = source.replace(/\/+$/, '');
    weights = `${dir}/adapter_model.safetensors`;
    cfgSrc = await readText(op, `${dir}/adapter_config.json`);
    cfgIsText = true;
  } else if (source && typeof source === 'object' && !Array.isArray(source) && 'adapter_model.safetensors' in source && 'adapter_config.json' in source) {
    weights = source['adapter_model.safetensors'];
    cfgSrc = source['adapter_config.json'];
  } else {
    throw new ArgumentError(`${op}: source must be a folder path / URL or { 'adapter_model.safetensors', 'adapter_config.json' }, got ${describeValue(source)}`);
  }
  let json: unknown = cfgSrc;
  if (typeof cfgSrc === 'string' || cfgSrc instanceof Uint8Array || (typeof Blob !== 'undefined' && cfgSrc instanceof Blob)) {
    const text = typeof cfgSrc === 'string' ? cfgSrc : await readText(op, cfgSrc);
    // a string given in the object form is the JSON text (a path would be read as a folder's file)
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new FormatError(`${op}: adapter_config.json is not valid JSON: ${(e as Error).message}${cfgIsText ? '' : ''}`);
    }
  }
  const config = { ...configFromPeft(json), inferenceMode: !trainable };
  const state = await loadSafetensors(weights);
  try {
    const had = ADAPTERS.get(model)?.configs.has(adapter);
    if (had) throw new ArgumentError(`${op}: the model already has an adapter named '${adapter}' (deleteAdapter it first, or pass another adapterName)`);
    apply(model, config, adapter);
    try {
      loadStateDict(model, state, { adapterName: adapter });
    } catch (e) {
      deleteAdapter(model, adapter);
      if (!ADAPTERS.get(model)?.configs.size) unwrap(model, false);
      throw e;
    }
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
  return model;
}
