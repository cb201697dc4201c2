/**
 * The Tensor: a strided view onto reference-counted device storage, plus autograd state.
 * Methods delegate to the op functions in src/ops/ (each op is defined there once).
 */
import type { Backend, View } from './backend/backend.js';
import { toDataArray, type DataArray, type DType, type StorageArray } from './dtype.js';
import { DISPOSE, engine, noGrad } from './engine.js';
import type { Storage } from './storage.js';
import { readBuffer, readBufferSync } from './record.js';
import { ArgumentError, BackendError, DisposedError, DTypeError, ShapeError } from './errors.js';
import { isContiguous, normAxis, numel } from './shape.js';
import { checkBoolean, checkNumber, checkOneOf, checkOperand, checkOptions, checkTensor, describeValue } from './validate.js';
import type { Node } from './autograd/graph.js';
import { INSPECT, formatTensor } from './format.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as mv from './ops/movement.js';
import { backward } from './autograd/backward.js';
import * as nrm from './ops/norm.js';
import * as idx from './ops/indexing.js';
import * as la from './ops/linalg.js';
import * as ct from './ops/contract.js';
import * as fn from './ops/functions.js';
import * as srt from './ops/sort.js';
import * as smp from './ops/sample.js';
import { exportGPUBuffer, type GPUBufferInfo } from './interop.js';
import { unwatch, watch } from './debug.js';
import { failure, hasDeferred, judged, runDeferred } from './deferred.js';

type Operand = Tensor | number;
export type NestedArray = number | boolean | NestedArray[];

let nextId = 0;

export class Tensor {
  readonly id = nextId++;
  /** autograd node that produced this tensor (null for leaves and constants) */
  gradFn: Node | null = null;
  private _grad: Tensor | null = null;
  /** @internal The tensor whose `.grad` this is, while that tensor owns it (see dispose). */
  _gradOf: Tensor | null = null;
  private _requiresGrad = false;
  private _disposed = false;

  private constructor(
    private readonly _storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
    readonly dtype: DType,
    private readonly _tracked: boolean,
  ) {}

  /** @internal Wraps storage (taking over one reference) as a new tensor in the current scope. */
  static _make(storage: Storage, shape: readonly number[], strides: readonly number[], offset: number, dtype: DType): Tensor {
    const t = new Tensor(storage, [...shape], [...strides], offset, dtype, true);
    engine.liveTensors++;
    engine.track(t);
    if (engine.debug) watch(t, `tensor #${t.id} of shape [${shape.join(',')}]`);
    return t;
  }

  /** @internal A new view sharing this tensor's storage. */
  _viewAs(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    this._check('view');
    return Tensor._make(this._storage.retain(), shape, strides, offset, this.dtype);
  }

  /** @internal A private handle on the same storage, outside scopes (autograd's saved tensors). */
  _alias(): Tensor {
    this._check('save');
    const t = new Tensor(this._storage.retain(), this.shape, this.strides, this.offset, this.dtype, false);
    t._requiresGrad = this._requiresGrad;
    return t;
  }

  /** @internal */
  _setGradFn(node: Node): void {
    this.gradFn = node;
    this._requiresGrad = true;
  }

  /** @internal Throws a DisposedError naming the op if this tensor was disposed. */
  _check(op: string): void {
    if (this._disposed) throw new DisposedError(`${op}: tensor #${this.id} of shape [${this.shape.join(',')}] was disposed`);
  }

  /** @internal The backend view of this tensor. */
  _view(): View {
    return { buf: this._storage.buf, dtype: this.dtype, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** @internal The storage (pending while an elementwise result is not computed yet; src/fusion.ts). */
  get _store(): Storage {
    return this._storage;
  }

  get backend(): Backend {
    return this._storage.backend;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  numel(): number {
    return numel(this.shape);
  }
  /** The shape, or one dim of it (negative counts from the end). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    if (dim === undefined) return [...this.shape];
    return this.shape[normAxis('size', dim, this.ndim)];
  }
  dim(): number {
    return this.ndim;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /**
   * The gradient accumulated by `backward()` (null before). It may be assigned, as in PyTorch,
   * with a float32 tensor of this tensor's shape on its backend (anything else is refused here,
   * not by the optimizer step that would read it).
   */
  get grad(): Tensor | null {
    return this._grad;
  }
  set grad(g: Tensor | null) {
    if (g !== null && g !== undefined) {
      checkTensor('grad', 'the assigned gradient', g);
      if (g.dtype !== 'float32') throw new DTypeError(`grad: the assigned gradient must be float32, got ${g.dtype} (tensor of shape [${this.shape.join(',')}])`);
      if (g.shape.length !== this.shape.length || g.shape.some((d, i) => d !== this.shape[i])) {
        throw new ShapeError(`grad: the assigned gradient has shape [${g.shape.join(',')}] but the tensor has [${this.shape.join(',')}]`);
      }
      if (g.backend !== this.backend) throw new BackendError(`grad: the assigned gradient lives on another backend (${g.backend.name}) than the tensor (${this.backend.name})`);
      g._gradOf = this;
    }
    this._grad = g ?? null;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    checkBoolean('requiresGrad', 'value', v);
    if (v && this.dtype !== 'float32') throw new DTypeError(`requiresGrad: only float32 tensors can require gradients, got ${this.dtype}`);
    if (!v && this.gradFn) throw new DTypeError('requiresGrad: cannot turn off gradients of a non-leaf tensor; use detach()');
    this._requiresGrad = v;
  }
  /** Sets requiresGrad in place and returns this (PyTorch's requires_grad_). */
  requiresGrad_(v = true): this {
    this._check('requiresGrad_');
    checkBoolean('requiresGrad_', 'requiresGrad', v);
    this.requiresGrad = v;
    return this;
  }
  /** True for tensors not produced by a recorded op. */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Frees this tensor's handle; the storage goes when no view or autograd node needs it. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    if (this._tracked) {
      engine.liveTensors--;
      engine.untrack(this);
      unwatch(this);
    }
    this.gradFn?.release();
    this.gradFn = null;
    // the gradient goes with its tensor (a loop that replaces its weights must not leak one per
    // step), unless the caller took it: returned it from a tidy or kept it (memory.ts)
    if (this._grad?._gradOf === this) this._grad.dispose();
    this._grad = null;
    this._storage.release();
  }

  /** dispose(), for `using t = ...` (freed at the end of the block). */
  [DISPOSE](): void {
    this.dispose();
  }

  // ---- reading ------------------------------------------------------------------------------

  /** @internal The raw storage values in row-major order (float64 on the float64 CPU backend). */
  async _read(op = 'data'): Promise<StorageArray> {
    this._check(op);
    const known = failure(this._storage);
    if (known) throw known;
    // checks queued by earlier ops on the GPU (index ranges, debug mode) are judged with this
    // read, in one round trip; one that the values depend on failed: its error, not the values
    const checks = hasDeferred(this.backend) ? runDeferred(this.backend) : null;
    let c: Tensor;
    try {
      c = this.isContiguous() ? this : mv.contiguous(this);
    } catch (e) {
      checks?.catch(() => {}); // the first error is the one to report
      throw e;
    }
    const values = readBuffer(this.backend, c._storage.buf, this.dtype, c.offset, this.numel());
    try {
      if (!checks) {
        const v = await values;
        await judged(this._storage);
        const bad = failure(this._storage);
        if (bad) throw bad;
        return v;
      }
      const [ck, v] = await Promise.allSettled([checks, values]);
      if (ck.status === 'rejected') throw ck.reason;
      await judged(this._storage);
      const bad = failure(this._storage);
      if (bad) throw bad;
      if (v.status === 'rejected') throw v.reason;
      return v.value;
    } finally {
      if (c !== this) c.dispose();
    }
  }

  /** The values as a flat typed array (Float32Array, Int32Array, or Uint8Array for bool). */
  async data(): Promise<DataArray> {
    return toDataArray(await this._read(), this.dtype);
  }

  /** The values as nested arrays (numbers; booleans for bool tensors). */
  async array(): Promise<NestedArray> {
    const d = await this._read('array');
    const conv = this.dtype === 'bool' ? (x: number) => x !== 0 : this.dtype === 'float32' ? (x: number) => Math.fround(x) : (x: number) => x;
    let i = 0;
    const build = (dim: number): NestedArray => {
      if (dim === this.ndim) return conv(d[i++]);
      return Array.from({ length: this.shape[dim] }, () => build(dim + 1));
    };
    return build(0);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    this._check('item');
    if (this.numel() !== 1) throw new DTypeError(`item: only one-element tensors can be converted to a number, got shape [${this.shape.join(',')}]`);
    const d = await this._read('item');
    return this.dtype === 'float32' ? Math.fround(d[0]) : d[0];
  }

  /** PyTorch-style text of the values, e.g. `tensor([[1., 2.], [3., 4.]])`. */
  async format(): Promise<string> {
    return formatTensor(await this._read('format'), this.shape, this.dtype, this.requiresGrad);
  }

  /**
   * The GPUBuffer holding this tensor's values (WebGPU; contiguous tensors), for host code that
   * binds it directly. Submits webtensor's queued work first; valid until the tensor is disposed.
   *
   * @example const { buffer, byteOffset, byteLength } = img.gpuBuffer();
   */
  gpuBuffer(): GPUBufferInfo {
    return exportGPUBuffer(this);
  }

  /** PyTorch-style text; the values are shown when the backend can read synchronously (CPU). */
  toString(): string {
    if (this._disposed) return `tensor(<disposed>, shape=[${this.shape.join(',')}])`;
    if (this.backend.readSync) {
      const c = this.isContiguous() ? this : noGrad(() => mv.contiguous(this));
      const vals = readBufferSync(this.backend, c._storage.buf, this.dtype, c.offset, this.numel())!;
      if (c !== this) c.dispose();
      return formatTensor(vals, this.shape, this.dtype, this.requiresGrad);
    }
    return `tensor(shape=[${this.shape.join(',')}], dtype=${this.dtype}, backend=${this.backend.name})`;
  }

  /**
   * What Node's `console.log(t)` and `util.inspect` show: PyTorch's repr, values included
   * (summarised with `...` past 1000 elements), where the backend reads synchronously (CPU). A
   * WebGPU tensor's values need an asynchronous read, so it shows its shape, dtype and device,
   * and how to see the values.
   */
  [INSPECT](): string {
    if (this._disposed || this.backend.readSync) return this.toString();
    const extras = [`shape=[${this.shape.join(', ')}]`, `dtype=${this.dtype}`, `device=${this.backend.name}`];
    if (this.requiresGrad) extras.push('requiresGrad=true');
    return `Tensor(${extras.join(', ')}) <values on the GPU: console.log(await t.format()) prints them>`;
  }

  // ---- autograd -------------------------------------------------------------------------------

  /** Backpropagates from this tensor; `gradient` is required for non-scalars. */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    checkOptions('backward', opts, ['retainGraph']);
    backward(this, gradient, opts.retainGraph === undefined ? false : checkBoolean('backward', 'retainGraph', opts.retainGraph));
  }
  /** A tensor sharing storage with this one but cut from the graph. */
  detach(): Tensor {
    this._check('detach');
    return this._viewAs(this.shape, this.strides, this.offset);
  }
  /** Clears `.grad`. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  // ---- elementwise ----------------------------------------------------------------------------

  add(o: Operand, alpha?: number): Tensor { return alpha === undefined || alpha === 1 ? ew.elementwise('add', [this, o]) : withScaled('add', this, o, alpha); }
  sub(o: Operand, alpha?: number): Tensor { return alpha === undefined || alpha === 1 ? ew.elementwise('sub', [this, o]) : withScaled('sub', this, o, alpha); }
  mul(o: Operand): Tensor { return ew.elementwise('mul', [this, o]); }
  div(o: Operand): Tensor { return ew.elementwise('div', [this, o]); }
  pow(o: Operand): Tensor { return ew.elementwise('pow', [this, o]); }
  maximum(o: Operand): Tensor { return ew.elementwise('maximum', [this, o]); }
  minimum(o: Operand): Tensor { return ew.elementwise('minimum', [this, o]); }
  remainder(o: Operand): Tensor { return ew.elementwise('remainder', [this, o]); }
  floorDivide(o: Operand): Tensor { return ew.elementwise('floorDivide', [this, o]); }
  eq(o: Operand): Tensor { return ew.elementwise('eq', [this, o]); }
  ne(o: Operand): Tensor { return ew.elementwise('ne', [this, o]); }
  lt(o: Operand): Tensor { return ew.elementwise('lt', [this, o]); }
  le(o: Operand): Tensor { return ew.elementwise('le', [this, o]); }
  gt(o: Operand): Tensor { return ew.elementwise('gt', [this, o]); }
  ge(o: Operand): Tensor { return ew.elementwise('ge', [this, o]); }
  logicalAnd(o: Operand): Tensor { return ew.elementwise('logicalAnd', [this, o]); }
  logicalOr(o: Operand): Tensor { return ew.elementwise('logicalOr', [this, o]); }
  logicalNot(): Tensor { return ew.elementwise('logicalNot', [this]); }
  /** Upper triangle of the last two dims (col − row ≥ diagonal), zeros elsewhere (wt.triu). */
  triu(diagonal = 0): Tensor { return fn.triu(this, diagonal); }
  /** Lower triangle of the last two dims (col − row ≤ diagonal), zeros elsewhere (wt.tril). */
  tril(diagonal = 0): Tensor { return fn.tril(this, diagonal); }
  isNan(): Tensor { return ew.elementwise('isNan', [this]); }
  /** true where the element is +inf or -inf (bool) */
  isInf(): Tensor { return ew.elementwise('isInf', [this]); }
  /** true where the element is neither infinite nor NaN (bool) */
  isFinite(): Tensor { return ew.elementwise('isFinite', [this]); }
  neg(): Tensor { return ew.elementwise('neg', [this]); }
  abs(): Tensor { return ew.elementwise('abs', [this]); }
  exp(): Tensor { return ew.elementwise('exp', [this]); }
  log(): Tensor { return ew.elementwise('log', [this]); }
  sqrt(): Tensor { return ew.elementwise('sqrt', [this]); }
  rsqrt(): Tensor { return ew.elementwise('rsqrt', [this]); }
  sin(): Tensor { return ew.elementwise('sin', [this]); }
  cos(): Tensor { return ew.elementwise('cos', [this]); }
  tanh(): Tensor { return ew.elementwise('tanh', [this]); }
  sigmoid(): Tensor { return ew.elementwise('sigmoid', [this]); }
  relu(): Tensor { return ew.elementwise('relu', [this]); }
  leakyRelu(negativeSlope = 0.01): Tensor { return ew.elementwise('leakyRelu', [this], [checkNumber('leakyRelu', 'negativeSlope', negativeSlope)]); }
  elu(alpha = 1): Tensor { return ew.elementwise('elu', [this], [checkNumber('elu', 'alpha', alpha)]); }
  /** GELU; `approximate: 'tanh'` for the tanh form. */
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return ew.elementwise(checkOneOf('gelu', 'approximate', approximate, ['none', 'tanh']) === 'tanh' ? 'geluTanh' : 'gelu', [this]); }
  silu(): Tensor { return ew.elementwise('silu', [this]); }
  softplus(beta = 1, threshold = 20): Tensor { return ew.elementwise('softplus', [this], [checkNumber('softplus', 'beta', beta), checkNumber('softplus', 'threshold', threshold)]); }
  sign(): Tensor { return ew.elementwise('sign', [this]); }
  floor(): Tensor { return ew.elementwise('floor', [this]); }
  ceil(): Tensor { return ew.elementwise('ceil', [this]); }
  round(): Tensor { return ew.elementwise('round', [this]); }
  /** Clamps into [min, max] (either may be absent; integer bounds keep an int32 tensor int32). */
  clamp(min?: number | null, max?: number | null): Tensor { return ew.clamp(this, min, max); }
  square(): Tensor { return ew.elementwise('square', [this]); }
  reciprocal(): Tensor { return ew.elementwise('reciprocal', [this]); }
  log1p(): Tensor { return ew.elementwise('log1p', [this]); }
  expm1(): Tensor { return ew.elementwise('expm1', [this]); }
  erf(): Tensor { return ew.elementwise('erf', [this]); }
  tan(): Tensor { return ew.elementwise('tan', [this]); }
  asin(): Tensor { return ew.elementwise('asin', [this]); }
  acos(): Tensor { return ew.elementwise('acos', [this]); }
  atan(): Tensor { return ew.elementwise('atan', [this]); }
  /** The angle of the point (other, this) in (-pi, pi], as torch.atan2(self, other). */
  atan2(other: Operand): Tensor { return ew.elementwise('atan2', [this, other]); }
  sinh(): Tensor { return ew.elementwise('sinh', [this]); }
  cosh(): Tensor { return ew.elementwise('cosh', [this]); }
  asinh(): Tensor { return ew.elementwise('asinh', [this]); }
  acosh(): Tensor { return ew.elementwise('acosh', [this]); }
  atanh(): Tensor { return ew.elementwise('atanh', [this]); }
  log2(): Tensor { return ew.elementwise('log2', [this]); }
  log10(): Tensor { return ew.elementwise('log10', [this]); }
  /** Rounds toward zero (int32 stays as is). */
  trunc(): Tensor { return ew.elementwise('trunc', [this]); }
  /** C's fmod (torch.fmod): the result has the sign of this tensor, the dividend; int32 stays int32. */
  fmod(other: Operand): Tensor { return ew.elementwise('fmod', [this, other]); }
  /** Cast to a dtype. */
  to(dtype: DType): Tensor { return ew.toType(this, dtype); }
  float(): Tensor { return ew.toType(this, 'float32', 'float'); }
  int(): Tensor { return ew.toType(this, 'int32', 'int'); }
  bool(): Tensor { return ew.toType(this, 'bool', 'bool'); }

  // ---- reductions -----------------------------------------------------------------------------

  sum(dim?: number | number[], keepdim = false): Tensor { return red.sum(this, dim, keepdim); }
  mean(dim?: number | number[], keepdim = false): Tensor { return red.mean(this, dim, keepdim); }
  /**
   * As torch.max: along one `dim`, the maximum and its position, `{ values, indices }` (also
   * `[values, indices]`); over all dims (or a list of dims) the values alone, as `amax`.
   */
  max(dim?: undefined, keepdim?: boolean): Tensor;
  max(dim: number, keepdim?: boolean): srt.ValuesIndices;
  max(dim: number[], keepdim?: boolean): Tensor;
  max(dim?: number | number[], keepdim = false): Tensor | srt.ValuesIndices { return typeof dim === 'number' ? srt.max(this, dim, keepdim) : red.amax(this, dim, keepdim, 'max'); }
  /** As torch.min: along one `dim`, `{ values, indices }`; otherwise the values alone, as `amin`. */
  min(dim?: undefined, keepdim?: boolean): Tensor;
  min(dim: number, keepdim?: boolean): srt.ValuesIndices;
  min(dim: number[], keepdim?: boolean): Tensor;
  min(dim?: number | number[], keepdim = false): Tensor | srt.ValuesIndices { return typeof dim === 'number' ? srt.min(this, dim, keepdim) : red.amin(this, dim, keepdim, 'min'); }
  /** The maximum over `dim` (one, a list, or all), values only (torch.amax). */
  amax(dim?: number | number[], keepdim = false): Tensor { return red.amax(this, dim, keepdim); }
  /** The minimum over `dim` (one, a list, or all), values only (torch.amin). */
  amin(dim?: number | number[], keepdim = false): Tensor { return red.amin(this, dim, keepdim); }
  prod(dim?: number | number[], keepdim = false): Tensor { return red.prod(this, dim, keepdim); }
  /** Variance; `correction` 1 (default) is the unbiased estimator, as PyTorch. */
  var(dim?: number | number[], keepdim = false, correction = 1): Tensor { return red.variance(this, dim, keepdim, correction); }
  std(dim?: number | number[], keepdim = false, correction = 1): Tensor { return red.std(this, dim, keepdim, correction); }
  argmax(dim?: number, keepdim = false): Tensor { return red.argmax(this, dim, keepdim); }
  argmin(dim?: number, keepdim = false): Tensor { return red.argmin(this, dim, keepdim); }
  logsumexp(dim?: number | number[], keepdim = false): Tensor { return red.logsumexp(this, dim, keepdim); }
  all(dim?: number | number[], keepdim = false): Tensor { return red.all(this, dim, keepdim); }
  any(dim?: number | number[], keepdim = false): Tensor { return red.any(this, dim, keepdim); }

  // ---- scans, sorting, sampling (src/ops/sort.ts, src/ops/sample.ts) --------------------------

  /** Cumulative sum along `dim` (int32 and bool give int32). */
  cumsum(dim: number): Tensor { return srt.cumsum(this, dim); }
  /** Cumulative product along `dim` (int32 and bool give int32). */
  cumprod(dim: number): Tensor { return srt.cumprod(this, dim); }
  /** Stable sort along `dim`: `{ values, indices }` (also `[values, indices]`); NaN sorts largest. */
  sort(dim = -1, descending = false): srt.ValuesIndices { return srt.sort(this, dim, descending); }
  /** The int32 positions that sort this along `dim` (stable). */
  argsort(dim = -1, descending = false): Tensor { return srt.argsort(this, dim, descending); }
  /** The k largest (or smallest) entries along `dim`: `{ values, indices }`, sorted. */
  topk(k: number, dim = -1, largest = true, sorted = true): srt.ValuesIndices { return srt.topk(this, k, dim, largest, sorted); }
  /** int32 draws of category indices from the rows of this (non-negative weights). See wt.multinomial. */
  multinomial(numSamples: number, replacement = false, opts: smp.MultinomialOptions = {}): Tensor { return smp.multinomial(this, numSamples, replacement, opts); }

  // ---- movement -------------------------------------------------------------------------------

  reshape(...shape: number[] | [number[]]): Tensor { return mv.reshape(this, flatArgs(shape)); }
  view(...shape: number[] | [number[]]): Tensor { return mv.view(this, flatArgs(shape)); }
  transpose(dim0 = -2, dim1 = -1): Tensor { return mv.transpose(this, dim0, dim1); }
  /** Transpose of a 2-D tensor (reverses dims for other ranks). */
  get T(): Tensor { return mv.permute(this, this.shape.map((_, i) => this.ndim - 1 - i)); }
  permute(...dims: number[] | [number[]]): Tensor { return mv.permute(this, flatArgs(dims)); }
  expand(...shape: number[] | [number[]]): Tensor { return mv.expand(this, flatArgs(shape)); }
  expandAs(other: Tensor): Tensor { checkTensor('expandAs', 'other', other); return mv.expand(this, [...other.shape], 'expandAs'); }
  squeeze(dim?: number | number[]): Tensor { return mv.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return mv.unsqueeze(this, dim); }
  flatten(startDim = 0, endDim = -1): Tensor { return mv.flatten(this, startDim, endDim); }
  /** Elements start..end (exclusive) with `step` along dim, as a view (Python's t[:, start:end:step]). */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor { return mv.slice(this, dim, start ?? undefined, end ?? undefined, step); }
  narrow(dim: number, start: number, length: number): Tensor { return mv.narrow(this, dim, start, length); }
  /** Picks index `i` along dim, removing it (t[i] for dim 0). */
  select(dim: number, index: number): Tensor { return mv.select(this, dim, index); }
  contiguous(): Tensor { return mv.contiguous(this); }
  /** A contiguous copy, recorded by autograd. */
  clone(): Tensor { return mv.clone(this); }
  split(sizeOrSections: number | number[], dim = 0): Tensor[] { return mv.split(this, sizeOrSections, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return mv.chunk(this, chunks, dim); }
  /** Constant padding; `pads` pairs from the last dim backwards, as torch.nn.functional.pad. */
  pad(pads: number[], value = 0): Tensor { return mv.pad(this, pads, value); }
  flip(dims: number | number[]): Tensor { return mv.flip(this, dims); }
  /** Tiles this tensor, as torch.Tensor.repeat: repeat(2, 3) or repeat([2, 3]); more counts than dims add leading dims. */
  repeat(...sizes: number[] | [number[]]): Tensor { return mv.repeat(this, flatArgs(sizes)); }
  /** Rotates along dims (torch.roll); without dims, the flattened tensor is rolled. */
  roll(shifts: number | number[], dims?: number | number[] | null): Tensor { return mv.roll(this, shifts, dims); }

  // ---- normalisation and indexing ------------------------------------------------------------

  softmax(dim = -1): Tensor { return nrm.softmax(this, dim); }
  logSoftmax(dim = -1): Tensor { return nrm.logSoftmax(this, dim); }
  /** Values along dim picked by a same-rank int32 index (torch.gather). */
  gather(dim: number, index: Tensor): Tensor { return idx.gather(this, dim, index); }
  /** Slices along dim picked by a 1-D int32 index (torch.index_select). */
  indexSelect(dim: number, index: Tensor): Tensor { return idx.indexSelect(this, dim, index); }
  /** `value` where the bool mask (broadcast to this shape) is true (torch.masked_fill). */
  maskedFill(mask: Tensor, value: number | boolean | Tensor): Tensor { return idx.maskedFill(this, mask, value); }
  /** Out-of-place torch.scatter: src values (or a number) written at index along dim. */
  scatter(dim: number, index: Tensor, src: Tensor | number | boolean): Tensor { return idx.scatter(this, dim, index, src); }
  /** Out-of-place torch.scatter_add. */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return idx.scatterAdd(this, dim, index, src); }

  // ---- linalg ---------------------------------------------------------------------------------

  /** Matrix product with PyTorch's rules (batched, broadcasting, 1-D operands promoted). */
  matmul(other: Tensor): Tensor { return la.matmul(this, other); }
  /** Matrix product of two 2-D tensors. */
  mm(other: Tensor): Tensor { return la.mm(this, other); }
  /** Batched matrix product of 3-D tensors (torch.bmm). */
  bmm(other: Tensor): Tensor { return ct.bmm(this, other); }

  // ---- in place (not recorded by autograd) ----------------------------------------------------

  /** Copies src (broadcast) into this tensor in place. */
  copy_(src: Tensor | number): this { mv.assign(this, src, 'copy_'); return this; }
  zero_(): this { mv.assign(this, 0, 'zero_'); return this; }
  fill_(v: number | boolean): this {
    if (typeof v !== 'number' && typeof v !== 'boolean') throw new ArgumentError(`fill_: value must be a number or a boolean, got ${describeValue(v)}`);
    mv.assign(this, Number(v), 'fill_');
    return this;
  }
  add_(o: Operand, alpha = 1): this { mv.inplace(this, 'add', o, alpha); return this; }
  sub_(o: Operand, alpha = 1): this { mv.inplace(this, 'sub', o, alpha); return this; }
  mul_(o: Operand): this { mv.inplace(this, 'mul', o, 1); return this; }
  div_(o: Operand): this { mv.inplace(this, 'div', o, 1); return this; }
}

/** x op (alpha * o) for add/sub with alpha; the scaled temporary is freed (autograd keeps what it needs). */
function withScaled(op: 'add' | 'sub', x: Tensor, o: Operand, alpha: number): Tensor {
  checkNumber(op, 'alpha', alpha);
  checkOperand(op, 1, o);
  x._check(op);
  if (o instanceof Tensor) o._check(op);
  if (typeof o !== 'object') return ew.elementwise(op, [x, Number(o) * alpha]);
  const s = ew.elementwise('mul', [o, alpha]);
  try {
    return ew.elementwise(op, [x, s]);
  } finally {
    s.dispose();
  }
}

function flatArgs(a: number[] | [number[]]): number[] {
  return Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]);
}
