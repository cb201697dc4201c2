/**
 * The CPU evaluator of the kernel IR. An expression is flattened once (common subexpressions
 * shared) and then evaluated a block of elements at a time: for float32 storage by a generated
 * WebAssembly SIMD function where the program's ops allow (wasm/expr.ts), else by a generated
 * JavaScript function that runs every instruction per element in one loop (jit.ts), or, where
 * generated code is not allowed, by this interpreter, each instruction a tight loop over the
 * block, so the per-element cost is a few array reads rather than a tree walk. All three give
 * bit-identical results. Plain copies skip the evaluator (strided.ts copyToDense).
 */
import type { DType, StorageArray } from '../../dtype.js';
import { BINARY, UNARY, type BinaryOp, type Op, type UnaryOp } from '../../kernel/ir.js';
import type { ReduceOp } from '../../kernel/kernel.js';
import { philox, wordToUniform } from '../../kernel/philox.js';
import { blockFunction, jitDisabled } from './jit.js';
import type { BlockFn, Program } from './program.js';
import { wasmBlockFunction, wasmColumnSum } from './wasm/expr.js';
import { copyToDense, fillOffsets, isDense } from './strided.js';
import { sameLayout } from '../../shape.js';

export const BLOCK = 2048;

export interface InputView {
  data: StorageArray;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

const words = new Uint32Array(4);

/**
 * Block-sized scratch arrays shared by every evaluation: kernels run one at a time and
 * synchronously, so the registers of one are free again when the next starts. Allocating them
 * per dispatch cost more than the arithmetic of a small kernel (and fed the garbage collector).
 */
const f64Scratch: Float64Array[] = [];
const i32Scratch: Int32Array[] = [];
/** output offsets of a strided output, per block */
const storeOffs = new Int32Array(BLOCK);
function scratch<T>(pool: T[], k: number, make: () => T): T {
  while (pool.length <= k) pool.push(make());
  return pool[k];
}

/**
 * Evaluates the program for the row-major positions start..start+n of the iteration space
 * `shape`; returns the register holding the result (valid for [0, n)).
 */
export class Evaluator {
  /** the interpreter's registers (one per instruction), or just the results' with a block function */
  private regs: Float64Array[];
  private offs: Int32Array[];
  private dense: boolean[];
  private block: BlockFn | null;
  private data: StorageArray[];
  private base: number[];
  private res: Float64Array[];
  /** dense outputs the block function writes itself (null: results go to `res`) */
  private direct: { data: StorageArray[]; base: number[] } | null = null;
  /**
   * `outs`: the outputs of an elementwise kernel, written directly by the generated function when
   * every one is dense and no input reads an output's buffer other than at that output's own
   * view (an in-place update reads each element before writing it; a shifted overlap must see
   * the old values, which the block-at-a-time results give).
   */
  constructor(private prog: Program, private inputs: readonly InputView[], private scalars: readonly number[], private f64 = false, outs?: readonly InputView[]) {
    const f64Block = () => new Float64Array(BLOCK), i32Block = () => new Int32Array(BLOCK);
    this.dense = inputs.map((v) => isDense(v.shape, v.strides));
    this.offs = inputs.map((_, i) => scratch(i32Scratch, i, i32Block));
    const direct = outs !== undefined && writableDirectly(inputs, outs);
    this.block = (f64 || jitDisabled() ? null : wasmBlockFunction(prog, this.dense, BLOCK)) ?? blockFunction(prog, this.dense, f64, direct);
    if (direct && this.block) this.direct = { data: outs.map((o) => o.data), base: outs.map((o) => o.offset) };
    this.regs = this.block ? [] : prog.instrs.map((_, k) => scratch(f64Scratch, k, f64Block));
    this.res = this.block ? prog.results.map((_, k) => scratch(f64Scratch, k, f64Block)) : prog.results.map((r) => this.regs[r]);
    this.data = inputs.map((v) => v.data);
    this.base = inputs.map((v) => v.offset);
  }

  /** Evaluates every instruction; results are in `result(k)`. */
  run(start: number, n: number): Float64Array {
    const { instrs } = this.prog;
    for (const i of this.prog.loads) {
      const v = this.inputs[i];
      if (!this.dense[i]) fillOffsets(v.shape, v.strides, v.offset, start, n, this.offs[i]);
    }
    if (this.block) {
      if (this.direct) this.block(this.data, this.base, this.offs, this.scalars, start, n, this.direct.data, this.direct.base);
      else this.block(this.data, this.base, this.offs, this.scalars, start, n, this.res);
      return this.res[0];
    }
    for (let k = 0; k < instrs.length; k++) {
      const ins = instrs[k];
      const r = this.regs[k];
      const a = this.regs[ins.args[0]], b = this.regs[ins.args[1]], c = this.regs[ins.args[2]];
      switch (ins.op) {
        case 'load': {
          const v = this.inputs[ins.value];
          const d = v.data;
          if (this.dense[ins.value]) {
            const base = v.offset + start;
            for (let j = 0; j < n; j++) r[j] = d[base + j];
          } else {
            const o = this.offs[ins.value];
            for (let j = 0; j < n; j++) r[j] = d[o[j]];
          }
          break;
        }
        case 'scalar': {
          const s = this.scalars[ins.value];
          r.fill(ins.dtype === 'float32' ? (this.f64 ? s : Math.fround(s)) : ins.dtype === 'bool' ? (s ? 1 : 0) : s | 0, 0, n);
          break;
        }
        case 'const':
          r.fill(ins.dtype === 'float32' && !this.f64 ? Math.fround(ins.value) : ins.value, 0, n);
          break;
        case 'index':
          for (let j = 0; j < n; j++) r[j] = start + j;
          break;
        case 'rand': {
          const k0 = this.scalars[ins.value] >>> 0, k1 = this.scalars[ins.value + 1] >>> 0, st = this.scalars[ins.value + 2] >>> 0;
          for (let j = 0; j < n; j++) {
            philox((start + j) >>> 0, st, 0, 0, k0, k1, words);
            r[j] = wordToUniform(words[ins.lane]);
          }
          break;
        }
        case 'cast':
          castInto(r, a, n, ins.dtype, this.f64);
          break;
        case 'where':
          for (let j = 0; j < n; j++) r[j] = a[j] ? b[j] : c[j];
          break;
        default: {
          const f32 = ins.dtype === 'float32' && !this.f64;
          // the hottest float ops get their own loops: a call through the op table per element
          // is megamorphic and several times slower
          if (ins.argDType === 'float32' && fastFloat(ins.op, r, a, b, n, f32)) break;
          if (ins.args.length === 1) {
            const f = UNARY[ins.op as UnaryOp].cpu;
            for (let j = 0; j < n; j++) r[j] = f(a[j]);
          } else {
            const def = BINARY[ins.op as BinaryOp];
            const f = ins.argDType !== 'float32' && def.int ? def.int : def.cpu;
            for (let j = 0; j < n; j++) r[j] = f(a[j], b[j]);
          }
          // float32 results are rounded per op, as the GPU computes them
          if (f32) for (let j = 0; j < n; j++) r[j] = Math.fround(r[j]);
        }
      }
    }
    return this.res[0];
  }

  result(k: number): Float64Array {
    return this.res[k];
  }

  /** Whether run() has written the outputs itself. */
  get wroteOutputs(): boolean {
    return this.direct !== null;
  }
}

/** Dense outputs on distinct arrays, each read by inputs only at its own view (see Evaluator). */
function writableDirectly(inputs: readonly InputView[], outs: readonly InputView[]): boolean {
  if (!outs.every((o) => isDense(o.shape, o.strides))) return false;
  if (new Set(outs.map((o) => o.data)).size !== outs.length) return false;
  return inputs.every((v) => outs.every((o) => v.data !== o.data || sameLayout(v, o)));
}

const fr = Math.fround;

/** Inlined loops for common float ops (results rounded to float32 when `f32`); false if not one. */
function fastFloat(op: Op, r: Float64Array, a: Float64Array, b: Float64Array, n: number, f32: boolean): boolean {
  switch (op) {
    case 'add': if (f32) for (let j = 0; j < n; j++) r[j] = fr(a[j] + b[j]); else for (let j = 0; j < n; j++) r[j] = a[j] + b[j]; return true;
    case 'sub': if (f32) for (let j = 0; j < n; j++) r[j] = fr(a[j] - b[j]); else for (let j = 0; j < n; j++) r[j] = a[j] - b[j]; return true;
    case 'mul': if (f32) for (let j = 0; j < n; j++) r[j] = fr(a[j] * b[j]); else for (let j = 0; j < n; j++) r[j] = a[j] * b[j]; return true;
    case 'div': if (f32) for (let j = 0; j < n; j++) r[j] = fr(a[j] / b[j]); else for (let j = 0; j < n; j++) r[j] = a[j] / b[j]; return true;
    case 'neg': for (let j = 0; j < n; j++) r[j] = -a[j]; return true;
    case 'sqrt': if (f32) for (let j = 0; j < n; j++) r[j] = fr(Math.sqrt(a[j])); else for (let j = 0; j < n; j++) r[j] = Math.sqrt(a[j]); return true;
    case 'exp': if (f32) for (let j = 0; j < n; j++) r[j] = fr(Math.exp(a[j])); else for (let j = 0; j < n; j++) r[j] = Math.exp(a[j]); return true;
    case 'lt': for (let j = 0; j < n; j++) r[j] = a[j] < b[j] ? 1 : 0; return true;
    case 'gt': for (let j = 0; j < n; j++) r[j] = a[j] > b[j] ? 1 : 0; return true;
    case 'le': for (let j = 0; j < n; j++) r[j] = a[j] <= b[j] ? 1 : 0; return true;
    case 'ge': for (let j = 0; j < n; j++) r[j] = a[j] >= b[j] ? 1 : 0; return true;
    case 'eq': for (let j = 0; j < n; j++) r[j] = a[j] === b[j] ? 1 : 0; return true;
    default: return false;
  }
}

function castInto(r: Float64Array, a: Float64Array, n: number, to: DType, f64: boolean): void {
  if (to === 'bool') for (let j = 0; j < n; j++) r[j] = a[j] !== 0 ? 1 : 0;
  else if (to === 'int32') for (let j = 0; j < n; j++) r[j] = Number.isFinite(a[j]) ? Math.trunc(a[j]) | 0 : 0;
  else if (f64) r.set(a.subarray(0, n));
  else for (let j = 0; j < n; j++) r[j] = Math.fround(a[j]);
}

/** Writes vals[0..n) to the positions start..start+n of an output view. */
export function store(out: InputView, start: number, n: number, vals: Float64Array, dense: boolean, offs: Int32Array): void {
  const d = out.data;
  if (dense) {
    const base = out.offset + start;
    for (let j = 0; j < n; j++) d[base + j] = vals[j];
  } else {
    fillOffsets(out.shape, out.strides, out.offset, start, n, offs);
    for (let j = 0; j < n; j++) d[offs[j]] = vals[j];
  }
}

/** Runs an elementwise kernel with one output per program result. */
export function runElementwise(prog: Program, inputs: readonly InputView[], outs: readonly InputView[], scalars: readonly number[], f64 = false): void {
  const total = outs[0].shape.reduce((a, b) => a * b, 1);
  if (isCopy(prog, inputs, outs)) {
    const v = inputs[prog.instrs[0].value];
    return copyToDense(v.data, v.shape, v.strides, v.offset, outs[0].data, outs[0].offset);
  }
  const ev = new Evaluator(prog, inputs, scalars, f64, outs);
  const dense = outs.map((o) => isDense(o.shape, o.strides));
  const offs = storeOffs;
  for (let s = 0; s < total; s += BLOCK) {
    const n = Math.min(BLOCK, total - s);
    ev.run(s, n);
    if (!ev.wroteOutputs) outs.forEach((o, k) => store(o, s, n, ev.result(k), dense[k], offs));
  }
}

/** A plain copy of one input into a dense output of the same storage type, in other memory. */
function isCopy(prog: Program, inputs: readonly InputView[], outs: readonly InputView[]): boolean {
  if (prog.instrs.length !== 1 || prog.instrs[0].op !== 'load' || outs.length !== 1) return false;
  const v = inputs[prog.instrs[0].value], o = outs[0];
  return v.data.constructor === o.data.constructor && v.data.buffer !== o.data.buffer && isDense(o.shape, o.strides) && v.shape.length === o.shape.length && v.shape.every((s, i) => s === o.shape[i]);
}

/** Runs a reduce kernel: inputs span [outer..., reduced...]; out spans [outer...]. */
export function runReduce(prog: Program, op: ReduceOp, nReduce: number, inputs: readonly InputView[], fullShape: readonly number[], out: InputView, scalars: readonly number[], f64 = false): void {
  const nd = fullShape.length;
  const R = fullShape.slice(nd - nReduce).reduce((a, b) => a * b, 1);
  const O = fullShape.slice(0, nd - nReduce).reduce((a, b) => a * b, 1);
  const isArg = op === 'argmax' || op === 'argmin';
  const init = op === 'sum' || op === 'mean' ? 0 : op === 'prod' ? 1 : op === 'max' || op === 'argmax' ? -Infinity : Infinity;
  const acc = new Float64Array(O).fill(init);
  const arg = new Float64Array(isArg ? O : 0);
  const total = O * R;
  if (!(op === 'sum' || op === 'mean') || !sumInMemoryOrder(prog, inputs, fullShape, nReduce, O, acc, scalars, f64)) {
    reduceInto(prog, op, inputs, R, total, acc, arg, scalars, f64);
  }
  if (op === 'mean') for (let i = 0; i < O; i++) acc[i] /= R;
  const res = isArg ? arg : acc;
  const dense = isDense(out.shape, out.strides);
  const offs = storeOffs;
  for (let s = 0; s < O; s += BLOCK) {
    const n = Math.min(BLOCK, O - s);
    store(out, s, n, res.subarray(s, s + n), dense, offs);
  }
}

/**
 * Sums over the reduced dims in memory order when that is where the inputs are dense: a column
 * sum of a row-major [R, O] (a bias gradient) reads row after row instead of down each column.
 * Each output still adds its terms in the same order, so the result is bit-identical; false
 * (nothing done) when it does not apply (the program reads its index, or an input is not dense
 * reduced-dims-first).
 */
function sumInMemoryOrder(prog: Program, inputs: readonly InputView[], fullShape: readonly number[], nReduce: number, O: number, acc: Float64Array, scalars: readonly number[], f64: boolean): boolean {
  const nk = fullShape.length - nReduce;
  if (O <= 1 || nk === 0 || inputs.length === 0 || prog.instrs.some((i) => i.op === 'index' || i.op === 'rand')) return false;
  const swap = <T>(a: readonly T[]): T[] => [...a.slice(nk), ...a.slice(0, nk)];
  const shape = swap(fullShape);
  const views = inputs.map((v) => ({ ...v, shape, strides: swap(v.strides) }));
  if (!views.every((v) => isDense(v.shape, v.strides)) || inputs.every((v) => isDense(v.shape, v.strides))) return false;
  const total = shape.reduce((a, b) => a * b, 1);
  // a plain float32 sum: WebAssembly
  const only = prog.instrs.length === 1 && prog.instrs[0].op === 'load' ? views[prog.instrs[0].value] : null;
  if (!f64 && only && only.data instanceof Float32Array && wasmColumnSum(only.data, only.offset, total / O, O, acc)) return true;
  const ev = new Evaluator(prog, views, scalars, f64);
  for (let s = 0; s < total; s += BLOCK) {
    const n = Math.min(BLOCK, total - s);
    const v = ev.run(s, n);
    let o = s % O;
    for (let j = 0; j < n; j++) {
      acc[o] += v[j];
      if (++o === O) o = 0;
    }
  }
  return true;
}

/** The general reduction: the iteration space in row-major order, outputs one after another. */
function reduceInto(prog: Program, op: ReduceOp, inputs: readonly InputView[], R: number, total: number, acc: Float64Array, arg: Float64Array, scalars: readonly number[], f64: boolean): void {
  const ev = new Evaluator(prog, inputs, scalars, f64);
  for (let s = 0; s < total; s += BLOCK) {
    const n = Math.min(BLOCK, total - s);
    const v = ev.run(s, n);
    let o = Math.floor(s / R), r = s - o * R;
    for (let j = 0; j < n; j++) {
      const x = v[j];
      const cur = acc[o];
      switch (op) {
        case 'sum': case 'mean': acc[o] = cur + x; break;
        case 'prod': acc[o] = cur * x; break;
        // NaN wins, as in PyTorch
        case 'max': if (x > cur || x !== x) { if (cur === cur) acc[o] = x; } break;
        case 'min': if (x < cur || x !== x) { if (cur === cur) acc[o] = x; } break;
        case 'argmax': if ((x > cur || (x !== x)) && cur === cur) { acc[o] = x; arg[o] = r; } else if (r === 0) arg[o] = 0; break;
        case 'argmin': if ((x < cur || (x !== x)) && cur === cur) { acc[o] = x; arg[o] = r; } else if (r === 0) arg[o] = 0; break;
      }
      if (++r === R) { r = 0; o++; }
    }
  }
}
