/**
 * ModuleList and ModuleDict: modules held in a list or by name, registered as children so that
 * parameters, train/eval, dispose and the state dict see them (keys `name.0.weight`,
 * `name.key.weight`), as torch.nn.ModuleList / ModuleDict. Neither has a forward: the model
 * that holds one calls the modules in it.
 *
 * Each module is an own property of the container (`list[0]`, `dict.conv`), which is how
 * Module finds children; a ModuleDict keeps its insertion order, and refuses a key that names
 * one of its own members (`train`, `forward`, ...) as PyTorch does.
 */
import { ArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';
import { Module } from './module.js';

function checkModule(op: string, what: string, m: unknown): asserts m is Module {
  if (!(m instanceof Module)) throw new ArgumentError(`${op}: ${what} must be a Module, got ${describeValue(m)}`);
}

function noForward(name: string): never {
  throw new ArgumentError(`${name}.forward: a ${name} is a container without a forward; call the modules it holds`);
}

/**
 * A list of modules: index it (`list[i]`, `list.at(-1)`), iterate it, and grow it with append,
 * extend and insert.
 *
 * @example
 * class Net extends wt.nn.Module {
 *   blocks = new wt.nn.ModuleList(Array.from({ length: 3 }, () => new wt.nn.Linear(8, 8)));
 *   forward(x: wt.Tensor) { for (const b of this.blocks) x = b.forward(x).relu(); return x; }
 * }
 * // state dict keys: blocks.0.weight, blocks.0.bias, blocks.1.weight, ...
 */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  readonly [index: number]: M;
  #n = 0;

  constructor(modules: Iterable<M> = []) {
    super();
    this.#addAll('ModuleList', modules);
  }

  /** The number of modules. */
  get length(): number {
    return this.#n;
  }

  /** The module at `index` (negative counts from the end); undefined out of range. */
  at(index: number): M | undefined {
    if (!Number.isInteger(index)) throw new ArgumentError(`ModuleList.at: index must be an integer, got ${describeValue(index)}`);
    const i = index < 0 ? index + this.#n : index;
    return i >= 0 && i < this.#n ? this[i] : undefined;
  }

  /** Replaces the module at `index` (negative counts from the end). */
  set(index: number, module: M): this {
    const i = this.#position('ModuleList.set', index, this.#n - 1);
    checkModule('ModuleList.set', 'module', module);
    this.#put(i, module);
    return this;
  }

  /** Adds a module at the end. */
  append(module: M): this {
    checkModule('ModuleList.append', 'module', module);
    this.#put(this.#n++, module);
    return this;
  }

  /** Adds modules at the end (all checked before any is added). */
  extend(modules: Iterable<M>): this {
    return this.#addAll('ModuleList.extend', modules);
  }

  #addAll(op: string, modules: Iterable<M>): this {
    if (modules === null || typeof modules !== 'object' || typeof (modules as Iterable<M>)[Symbol.iterator] !== 'function' || modules instanceof Module) {
      throw new ArgumentError(`${op}: modules must be an iterable of Modules (an array, a ModuleList), got ${describeValue(modules)}`);
    }
    const list = [...modules];
    list.forEach((m, i) => checkModule(op, `module ${i}`, m));
    for (const m of list) this.#put(this.#n++, m);
    return this;
  }

  /** Inserts a module before `index` (negative counts from the end; the length appends). */
  insert(index: number, module: M): this {
    const i = this.#position('ModuleList.insert', index, this.#n, true);
    checkModule('ModuleList.insert', 'module', module);
    for (let j = this.#n; j > i; j--) this.#put(j, this[j - 1]);
    this.#put(i, module);
    this.#n++;
    return this;
  }

  /** Removes and returns the module at `index` (default the last). */
  pop(index = -1): M {
    const i = this.#position('ModuleList.pop', index, this.#n - 1);
    const m = this[i];
    for (let j = i; j < this.#n - 1; j++) this.#put(j, this[j + 1]);
    delete (this as unknown as Record<number, M>)[--this.#n];
    return m;
  }

  /** A new ModuleList holding modules start..end-1 (the same modules, not copies), as list[a:b]. */
  slice(start?: number, end?: number): ModuleList<M> {
    for (const [n, v] of [['start', start], ['end', end]] as const) {
      if (v !== undefined && !Number.isInteger(v)) throw new ArgumentError(`ModuleList.slice: ${n} must be an integer, got ${describeValue(v)}`);
    }
    return new ModuleList([...this].slice(start, end));
  }

  *[Symbol.iterator](): Iterator<M> {
    for (let i = 0; i < this.#n; i++) yield this[i];
  }

  forward(): never {
    return noForward('ModuleList');
  }

  /** Children named by index (PyTorch's keys `name.0.weight`), in older checkpoints' naming too. */
  protected override _namedChildren(): [string, Module][] {
    return [...this].map((m, i) => [String(i), m]);
  }

  #put(i: number, m: M): void {
    Object.defineProperty(this, i, { value: m, enumerable: true, configurable: true, writable: true });
  }

  /** A checked index in [-max-1, max] (insert: [-length, length]) made non-negative. */
  #position(op: string, index: unknown, max: number, insert = false): number {
    if (typeof index !== 'number' || !Number.isInteger(index)) throw new ArgumentError(`${op}: index must be an integer, got ${describeValue(index)}`);
    const n = this.#n;
    let i = index < 0 ? index + n : index;
    if (insert) i = Math.min(Math.max(i, 0), n); // as Python's list.insert
    if (i < 0 || i > max) throw new ArgumentError(`${op}: index ${index} is out of range for a ModuleList of length ${n}`);
    return i;
  }
}

/**
 * Modules by name, in insertion order: get / set / has / delete, keys / values / entries, and
 * iteration over the keys (as PyTorch's `for k in dict`). A module is also a property
 * (`dict.encoder`).
 *
 * @example
 * const heads = new wt.nn.ModuleDict({ cls: new wt.nn.Linear(64, 10), box: new wt.nn.Linear(64, 4) });
 * heads.get('cls')!.forward(h);
 * // state dict keys: cls.weight, cls.bias, box.weight, box.bias
 */
export class ModuleDict<M extends Module = Module> extends Module implements Iterable<string> {
  #keys: string[] = [];

  constructor(modules: Record<string, M> | Iterable<readonly [string, M]> = {}) {
    super();
    this.#addAll('ModuleDict', modules);
  }

  /** The number of modules. */
  get size(): number {
    return this.#keys.length;
  }

  get length(): number {
    return this.#keys.length;
  }

  get(key: string): M | undefined {
    return this.has(key) ? ((this as unknown as Record<string, M>)[key]) : undefined;
  }

  has(key: string): boolean {
    return this.#keys.includes(key);
  }

  /** Adds or replaces the module under `key`. */
  set(key: string, module: M): this {
    this.#checkKey('ModuleDict.set', key);
    checkModule('ModuleDict.set', `module '${key}'`, module);
    this.#put(key, module);
    return this;
  }

  #put(key: string, module: M): void {
    if (!this.has(key)) this.#keys.push(key);
    Object.defineProperty(this, key, { value: module, enumerable: true, configurable: true, writable: true });
  }

  /** Removes and returns the module under `key`. */
  pop(key: string): M {
    const m = this.get(key);
    if (!m) throw new ArgumentError(`ModuleDict.pop: no module under key ${describeValue(key)} (keys: ${this.#keys.join(', ') || 'none'})`);
    this.delete(key);
    return m;
  }

  /** Removes the module under `key`; whether there was one. */
  delete(key: string): boolean {
    if (!this.has(key)) return false;
    this.#keys = this.#keys.filter((k) => k !== key);
    delete (this as unknown as Record<string, M>)[key];
    return true;
  }

  clear(): void {
    for (const k of [...this.#keys]) this.delete(k);
  }

  /** Adds or replaces modules from an object or from [key, module] pairs (all checked first). */
  update(modules: Record<string, M> | Iterable<readonly [string, M]>): this {
    return this.#addAll('ModuleDict.update', modules);
  }

  #addAll(op: string, modules: Record<string, M> | Iterable<readonly [string, M]>): this {
    if (modules === null || typeof modules !== 'object' || modules instanceof Module && !(modules instanceof ModuleDict)) {
      throw new ArgumentError(`${op}: modules must be an object of Modules, [key, module] pairs or a ModuleDict, got ${describeValue(modules)}`);
    }
    let pairs: (readonly [string, M])[];
    if (modules instanceof ModuleDict) pairs = [...(modules as ModuleDict<M>).entries()];
    else if (typeof (modules as Iterable<unknown>)[Symbol.iterator] === 'function') {
      pairs = [...(modules as Iterable<readonly [string, M]>)];
      pairs.forEach((p, i) => {
        if (!Array.isArray(p) || p.length !== 2) throw new ArgumentError(`${op}: entry ${i} must be a [key, module] pair, got ${describeValue(p)}`);
      });
    } else pairs = Object.entries(modules as Record<string, M>);
    const keys = new Set(this.#keys);
    for (const [k, m] of pairs) {
      // a key named twice in one update: the later module wins, as dict(...) does
      this.#checkKey(op, k, keys);
      checkModule(op, `module '${k}'`, m);
      keys.add(k);
    }
    for (const [k, m] of pairs) this.#put(k, m);
    return this;
  }

  keys(): string[] {
    return [...this.#keys];
  }

  values(): M[] {
    return this.#keys.map((k) => this.get(k)!);
  }

  /** [key, module] pairs (PyTorch's items()). */
  entries(): [string, M][] {
    return this.#keys.map((k) => [k, this.get(k)!]);
  }

  [Symbol.iterator](): Iterator<string> {
    return this.keys()[Symbol.iterator]();
  }

  forward(): never {
    return noForward('ModuleDict');
  }

  /** Children named by their keys as written (not snake_cased), in insertion order. */
  protected override _namedChildren(): [string, Module][] {
    return this.entries();
  }

  #checkKey(op: string, key: unknown, held: ReadonlySet<string> = new Set(this.#keys)): asserts key is string {
    if (typeof key !== 'string' || !key || key.includes('.')) {
      throw new ArgumentError(`${op}: key must be a non-empty string without '.', got ${describeValue(key)}`);
    }
    if (!held.has(key) && key in this) throw new ArgumentError(`${op}: key '${key}' names a member of ModuleDict (attribute '${key}' already exists); choose another`);
  }
}
