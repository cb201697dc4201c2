/**
 * The float32 CPU backend's elementwise expressions compiled to WebAssembly SIMD: a flattened IR
 * program (../expr.ts) becomes one wasm function that computes every instruction for four
 * elements at a time. V8 runs a JavaScript loop over a Float32Array at 3–4 ns per element here
 * even for a negation (each value widened to a double and rounded back, every access bounds-
 * checked) and GELU's erf at ~20; f32x4 lanes do the same work for a fraction of that, which is
 * what jax-js's wasm backend gets from its own generated kernels.
 *
 * Bit-identical to the JavaScript kernels (jit.ts) and the interpreter, like them: float32 add,
 * sub, mul, div and sqrt are correctly rounded in both; comparisons, selects, floor / ceil /
 * nearest, abs and neg are exact; exp and erf are evaluated in f64x2 lanes by the same steps in
 * the same order as the float64 functions the JavaScript kernels call (Math.exp as V8 computes
 * it, fdlibm's algorithm, which Firefox shares; erf from src/kernel/math.ts), then rounded to
 * float32 as Math.fround does. The tests check every op on special values against the
 * interpreter, and exp and erf on millions of float32 inputs.
 *
 * Supported: float32 loads, constants and scalars; add sub mul div max min, the comparisons,
 * and / or / not on their results, where, casts between float32 and bool; neg abs sqrt recip
 * floor ceil trunc round sign exp erf isnan isinf. A program with anything else (int32 values, index,
 * rand, log, tanh, …), the float64 storage mode, or nothing to compute (a copy) returns null
 * and runs as JavaScript.
 *
 * Memory (one for every kernel, which run one at a time): scalars from byte 0, then one slot of
 * `block` floats per input and per result. A block's inputs are copied in (dense ones with one
 * typed-array copy, strided ones gathered by their offsets), the function runs over ⌈n/4⌉ lane
 * groups, and the results are copied out.
 */
import type { BlockFn, Program } from '../program.js';
import { ERF_CUT, ERF_P, ERF_Q } from '../../../kernel/math.js';
import { wasmSimdSupported } from './gemm.js';
import { countDown, addConst, I32, Op, Simd, V128, emitModule, f32x4Const, f64x2Const, i32Const, highToLow, localGet, localSet, shuffle, simd, v128Const, v128Load, v128Load32Splat, v128Store, type WasmFunction } from './emit.js';

const SCALAR_BYTES = 4096;
const PAGES = 16;

/** Which kind of value an instruction leaves: float32 lanes, or an all-ones / all-zeros mask. */
type Kind = 'f' | 'm';

class Unsupported extends Error {}

/** Bits of a double from its high and low 32-bit words. */
function fromWords(hi: number, lo: number): number {
  const v = new DataView(new ArrayBuffer(8));
  v.setUint32(0, hi);
  v.setUint32(4, lo);
  return v.getFloat64(0);
}

// fdlibm's exp: ln2 split so that k·LN2_HI is exact, the remez coefficients of R(r²), and the
// |x| threshold (0.5·ln2 by the high word) below which k = 0
const LN2_HI = fromWords(0x3fe62e42, 0xfee00000), LN2_LO = fromWords(0x3dea39ef, 0x35793c76);
const INV_LN2 = fromWords(0x3ff71547, 0x652b82fe);
const EXP_P = [fromWords(0x3fc55555, 0x5555553e), fromWords(0xbf66c16c, 0x16bebd93), fromWords(0x3f11566a, 0xaf25de2c), fromWords(0xbebbbd41, 0xc5d26bf1), fromWords(0x3e663769, 0x72bea4d0)];
const K0_BELOW = fromWords(0x3fd62e43, 0);
const TINY = fromWords(0x3e300000, 0); // 2^-28: exp(x) = 1 + x below
// float32 inputs: below -110 exp rounds to float32 0, above 89 to +Infinity, so clamping there
// changes nothing after the rounding and keeps 2^k a normal double
const EXP_LOW = -110, EXP_HIGH = 89;

/** Emits one program as the body of `run(n4)`. */
class Emitter {
  readonly locals: number[] = [];
  readonly pre: number[] = [];
  readonly body: number[] = [];
  private consts = new Map<string, number>();
  private kinds: Kind[] = [];
  private vals: number[] = [];
  /** byte offset of each used input's slot, by input index */
  readonly inSlot = new Map<number, number>();
  readonly scalars = new Set<number>();
  static readonly P = 1; // local: byte offset of the current lane group
  static readonly END = 2;

  constructor(private prog: Program, private block: number) {
    this.locals.push(I32, I32); // p, end (param 0 is n4)
  }

  local(): number {
    this.locals.push(V128);
    return this.locals.length; // params come first: local index = 1 + position
  }

  private constLocal(key: string, code: number[]): number {
    let l = this.consts.get(key);
    if (l === undefined) {
      l = this.local();
      this.pre.push(...code, ...localSet(l));
      this.consts.set(key, l);
    }
    return l;
  }

  f32(v: number): number[] {
    return localGet(this.constLocal(`f${Object.is(v, -0) ? '-0' : v}`, f32x4Const(v)));
  }

  f64(v: number): number[] {
    return localGet(this.constLocal(`d${v}`, f64x2Const(v)));
  }

  private bits(words: number[]): number[] {
    return localGet(this.constLocal(`i${words.join(',')}`, v128Const(new Uint8Array(new Int32Array(words).buffer))));
  }

  slotOffset(k: number): number {
    return SCALAR_BYTES + k * this.block * 4;
  }

  /** Emits the whole program; throws Unsupported. */
  build(): { nSlots: number } {
    const { instrs, results } = this.prog;
    for (const i of this.prog.loads) this.inSlot.set(i, this.slotOffset(this.inSlot.size));
    instrs.forEach((ins, k) => {
      const [code, kind] = this.instr(ins);
      const l = this.local();
      this.body.push(...code, ...localSet(l));
      this.vals.push(l);
      this.kinds.push(kind);
    });
    results.forEach((r, k) => {
      if (instrs[r].dtype !== 'float32' || this.kinds[r] !== 'f') throw new Unsupported();
      this.body.push(...localGet(Emitter.P), ...localGet(this.vals[r]), ...v128Store(this.slotOffset(this.inSlot.size + k)));
    });
    return { nSlots: this.inSlot.size + results.length };
  }

  private get(k: number): number[] {
    return localGet(this.vals[k]);
  }

  /** Float lanes from any value (a mask becomes 1 / 0). */
  private asFloat(k: number): number[] {
    return this.kinds[k] === 'f' ? this.get(k) : [...this.get(k), ...this.f32(1), ...simd(Simd.v128And)];
  }

  /** A mask from any value: JavaScript truthiness (not 0, not NaN) for floats. */
  private asMask(k: number): number[] {
    if (this.kinds[k] === 'm') return this.get(k);
    return [...this.get(k), ...this.f32(0), ...simd(Simd.f32x4Ne), ...this.get(k), ...this.get(k), ...simd(Simd.f32x4Eq), ...simd(Simd.v128And)];
  }

  private instr(ins: Program['instrs'][number]): [number[], Kind] {
    const a = ins.args;
    const isF = (i: number) => this.prog.instrs[a[i]].dtype === 'float32';
    const isB = (i: number) => this.prog.instrs[a[i]].dtype === 'bool';
    const f = (code: number[]): [number[], Kind] => [code, 'f'];
    const mask = (code: number[]): [number[], Kind] => (ins.dtype === 'bool' ? [code, 'm'] : ins.dtype === 'float32' ? [[...code, ...this.f32(1), ...simd(Simd.v128And)], 'f'] : unsupported());
    const unsupported = (): never => {
      throw new Unsupported();
    };
    switch (ins.op) {
      case 'load':
        if (ins.dtype !== 'float32') unsupported();
        return f([...localGet(Emitter.P), ...v128Load(this.inSlot.get(ins.value)!)]);
      case 'const':
        if (ins.dtype === 'float32') return f(this.f32(Math.fround(ins.value)));
        if (ins.dtype === 'bool') return [this.bits(new Array(4).fill(ins.value ? -1 : 0)), 'm'];
        return unsupported();
      case 'scalar':
        if (ins.dtype !== 'float32' || ins.value >= SCALAR_BYTES / 4) unsupported();
        this.scalars.add(ins.value);
        return f(localGet(this.constLocal(`s${ins.value}`, [...i32Const(ins.value * 4), ...v128Load32Splat(0)])));
      case 'cast':
        if (ins.dtype === 'float32' && (isF(0) || isB(0))) return f(this.asFloat(a[0]));
        if (ins.dtype === 'bool' && (isF(0) || isB(0))) return [this.kinds[a[0]] === 'm' ? this.get(a[0]) : [...this.get(a[0]), ...this.f32(0), ...simd(Simd.f32x4Ne)], 'm'];
        return unsupported();
      case 'where': {
        if (!(isF(0) || isB(0)) || this.kinds[a[1]] !== this.kinds[a[2]] || ins.dtype !== this.prog.instrs[a[1]].dtype) unsupported();
        return [[...this.get(a[1]), ...this.get(a[2]), ...this.asMask(a[0]), ...simd(Simd.v128Bitselect)], this.kinds[a[1]]];
      }
      case 'and': case 'or':
        if (!isB(0) || !isB(1) || ins.dtype !== 'bool') unsupported();
        return [[...this.get(a[0]), ...this.get(a[1]), ...simd(ins.op === 'and' ? Simd.v128And : Simd.v128Or)], 'm'];
      case 'not':
        if (!isB(0) || ins.dtype !== 'bool') unsupported();
        return [[...this.get(a[0]), ...simd(Simd.v128Not)], 'm'];
      default:
        break;
    }
    if (ins.argDType !== 'float32' || !a.every((_, i) => isF(i))) unsupported();
    const x = this.get(a[0]), y = a.length > 1 ? this.get(a[1]) : [];
    const op2 = (o: number) => [...x, ...y, ...simd(o)];
    const isNan = (v: number[]) => [...v, ...v, ...simd(Simd.f32x4Ne)];
    switch (ins.op) {
      case 'add': return f(op2(Simd.f32x4Add));
      case 'sub': return f(op2(Simd.f32x4Sub));
      case 'mul': return f(op2(Simd.f32x4Mul));
      case 'div': return f(op2(Simd.f32x4Div));
      // JavaScript's a > b ? a : b (a < b ? a : b) is pmax(b, a) (pmin(b, a)); NaN if either is
      case 'max': case 'min':
        return f([...this.f32(NaN), ...y, ...x, ...simd(ins.op === 'max' ? Simd.f32x4Pmax : Simd.f32x4Pmin), ...isNan(x), ...isNan(y), ...simd(Simd.v128Or), ...simd(Simd.v128Bitselect)]);
      case 'lt': return mask(op2(Simd.f32x4Lt));
      case 'le': return mask(op2(Simd.f32x4Le));
      case 'gt': return mask(op2(Simd.f32x4Gt));
      case 'ge': return mask(op2(Simd.f32x4Ge));
      case 'eq': return mask(op2(Simd.f32x4Eq));
      case 'ne': return mask(op2(Simd.f32x4Ne));
      case 'neg': return f([...x, ...simd(Simd.f32x4Neg)]);
      case 'abs': return f([...x, ...simd(Simd.f32x4Abs)]);
      case 'sqrt': return f([...x, ...simd(Simd.f32x4Sqrt)]);
      case 'recip': return f([...this.f32(1), ...x, ...simd(Simd.f32x4Div)]);
      case 'floor': return f([...x, ...simd(Simd.f32x4Floor)]);
      case 'ceil': return f([...x, ...simd(Simd.f32x4Ceil)]);
      case 'trunc': return f([...x, ...simd(Simd.f32x4Trunc)]);
      // round half to even, as the CPU's round (and WGSL's) does
      case 'round': return f([...x, ...simd(Simd.f32x4Nearest)]);
      case 'sign': {
        // 0 for zeros and NaN, as torch
        const cmp = (c: number, o: number) => [...x, ...this.f32(c), ...simd(o)];
        const neg = [...this.f32(-1), ...this.f32(0), ...cmp(0, Simd.f32x4Lt), ...simd(Simd.v128Bitselect)];
        return f([...this.f32(1), ...neg, ...cmp(0, Simd.f32x4Gt), ...simd(Simd.v128Bitselect)]);
      }
      case 'isnan': return mask(isNan(x));
      case 'isinf': return mask([...x, ...simd(Simd.f32x4Abs), ...this.f32(Infinity), ...simd(Simd.f32x4Eq)]);
      case 'exp': return f(this.viaF64(a[0], (v) => this.exp(v)));
      case 'erf': return f(this.viaF64(a[0], (v) => this.erf(v)));
      default: return unsupported();
    }
  }

  /** A float64 function of each lane: the two halves promoted, computed, rounded back, rejoined. */
  private viaF64(k: number, fn: (v: number) => number[]): number[] {
    const lo = this.local(), hi = this.local();
    const x = this.get(k);
    return [
      ...x, ...simd(Simd.f64x2PromoteLowF32x4), ...localSet(lo),
      ...x, ...x, ...highToLow, ...simd(Simd.f64x2PromoteLowF32x4), ...localSet(hi),
      ...fn(lo), ...simd(Simd.f32x4DemoteF64x2Zero),
      ...fn(hi), ...simd(Simd.f32x4DemoteF64x2Zero),
      ...shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]),
    ];
  }

  /** c[0] + s·(c[1] + s·(… + s·c[n])) in f64x2, innermost first (the order of the JavaScript). */
  private horner(c: readonly number[], s: number[]): number[] {
    const code = this.f64(c[c.length - 1]);
    for (let i = c.length - 2; i >= 0; i--) code.push(...s, ...simd(Simd.f64x2Mul), ...this.f64(c[i]), ...simd(Simd.f64x2Add));
    return code;
  }

  /** erf of local `v` (f64x2), as src/kernel/math.ts computes it. */
  private erf(v: number): number[] {
    const s = this.local();
    const x = localGet(v);
    const sign = [...this.f64(1), ...this.f64(-1), ...x, ...this.f64(0), ...simd(Simd.f64x2Gt), ...simd(Simd.v128Bitselect)];
    return [
      ...x, ...x, ...simd(Simd.f64x2Mul), ...localSet(s),
      ...sign,
      ...x, ...this.horner(ERF_P, localGet(s)), ...simd(Simd.f64x2Mul), ...this.horner(ERF_Q, localGet(s)), ...simd(Simd.f64x2Div),
      ...x, ...simd(Simd.f64x2Abs), ...this.f64(ERF_CUT), ...simd(Simd.f64x2Ge), ...simd(Simd.v128Bitselect),
    ];
  }

  /**
   * exp of local `v` (f64x2) by fdlibm's steps, V8's Math.exp: k = trunc(x/ln2 ± 1/2) (0 for
   * |x| below ~ln2/2), r = (x − k·ln2_hi) − k·ln2_lo, e^r from the rational form with R(r²), times
   * 2^k; 1 + x for |x| < 2^-28, and e itself for x = 1 (V8's special case).
   */
  private exp(v: number): number[] {
    const [X, AX, T, HI, LO, R, TT, C] = Array.from({ length: 8 }, () => this.local());
    const g = localGet;
    const mul = simd(Simd.f64x2Mul), add = simd(Simd.f64x2Add), sub = simd(Simd.f64x2Sub), sel = simd(Simd.v128Bitselect);
    const y = [
      // t = |x| < K0_BELOW ? 0 : trunc(x·(1/ln2) + (x < 0 ? -0.5 : 0.5))
      ...g(X), ...this.f64(INV_LN2), ...mul, ...this.f64(-0.5), ...this.f64(0.5), ...g(X), ...this.f64(0), ...simd(Simd.f64x2Lt), ...sel, ...add,
      ...simd(Simd.f64x2Trunc), ...g(AX), ...this.f64(K0_BELOW), ...simd(Simd.f64x2Lt), ...simd(Simd.v128AndNot), ...localSet(T),
      ...g(X), ...g(T), ...this.f64(LN2_HI), ...mul, ...sub, ...localSet(HI),
      ...g(T), ...this.f64(LN2_LO), ...mul, ...localSet(LO),
      ...g(HI), ...g(LO), ...sub, ...localSet(R),
      ...g(R), ...g(R), ...mul, ...localSet(TT),
      // c = r − t²·(P1 + t²·(P2 + …))
      ...g(R), ...g(TT), ...this.horner(EXP_P, g(TT)), ...mul, ...sub, ...localSet(C),
      // y = 1 − ((lo − r·c/(2 − c)) − hi), times 2^k built in the exponent bits
      ...this.f64(1), ...g(LO), ...g(R), ...g(C), ...mul, ...this.f64(2), ...g(C), ...sub, ...simd(Simd.f64x2Div), ...sub, ...g(HI), ...sub, ...sub,
      ...g(T), ...simd(Simd.i32x4TruncSatF64x2SZero), ...simd(Simd.i64x2ExtendLowI32x4S), ...this.bits([1023, 0, 1023, 0]), ...simd(Simd.i64x2Add),
      ...i32Const(52), ...simd(Simd.i64x2Shl), ...mul,
    ];
    return [
      ...g(v), ...this.f64(EXP_LOW), ...simd(Simd.f64x2Max), ...this.f64(EXP_HIGH), ...simd(Simd.f64x2Min), ...localSet(X),
      ...g(X), ...simd(Simd.f64x2Abs), ...localSet(AX),
      // x = 1 ? e : |x| < 2^-28 ? 1 + x : y
      ...this.f64(Math.E),
      ...this.f64(1), ...g(X), ...add, ...y, ...g(AX), ...this.f64(TINY), ...simd(Simd.f64x2Lt), ...sel,
      ...g(X), ...this.f64(1), ...simd(Simd.f64x2Eq), ...sel,
    ];
  }
}

/** A compiled program: `run(n4)` computes 4·n4 elements from the input slots into the result slots. */
interface Kernel {
  run: (n4: number) => void;
  /** [input index, float offset of its slot] for each load */
  ins: [number, number][];
  /** float offset of each result's slot */
  outs: number[];
  scalars: number[];
}

let enabled = true;
/** set when WebAssembly SIMD is missing or refused a module: everything stays JavaScript */
let unavailable = false;
let memory: WebAssembly.Memory | null = null;
let heap = new Float32Array(0);
const kernels = new WeakMap<Program, Kernel | null>();

/** Tests: false runs every float32 expression as generated JavaScript. */
export function setWasmExpr(on: boolean): void {
  enabled = on;
}

/** One function in its own module over the shared memory (made on first use); its export. */
function instantiate(fn: WasmFunction): unknown {
  memory ??= new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
  heap = new Float32Array(memory.buffer);
  return new WebAssembly.Instance(new WebAssembly.Module(emitModule([fn], PAGES)), { env: { memory } }).exports[fn.name];
}

const computes = (op: string) => op !== 'load' && op !== 'const' && op !== 'scalar' && op !== 'cast';

function compileKernel(prog: Program, block: number): Kernel | null {
  const e = new Emitter(prog, block);
  let nSlots: number;
  try {
    nSlots = e.build().nSlots;
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
  if (SCALAR_BYTES + nSlots * block * 4 > PAGES * 65536) return null;
  const P = Emitter.P, END = Emitter.END;
  const body = [
    ...e.pre,
    ...localGet(0), ...i32Const(16), Op.i32Mul, ...localSet(END),
    Op.loop, Op.void,
    ...e.body,
    ...addConst(P, 16),
    ...localGet(P), ...localGet(END), Op.i32LtU, Op.brIf, 0,
    Op.end,
  ];
  const run = instantiate({ name: 'run', params: [I32], results: [], locals: e.locals, body }) as Kernel['run'];
  return {
    run,
    ins: [...e.inSlot].map(([i, bytes]) => [i, bytes / 4]),
    outs: prog.results.map((_, k) => e.slotOffset(e.inSlot.size + k) / 4),
    scalars: [...e.scalars],
  };
}

function kernelFor(prog: Program, block: number): Kernel | null {
  let k = kernels.get(prog);
  if (k === undefined) {
    try {
      k = compileKernel(prog, block);
    } catch {
      // no WebAssembly, no SIMD, or a page that forbids compiling it: JavaScript from now on;
      // otherwise just this program (a module the engine refused) stays JavaScript
      if (!wasmSimdSupported()) unavailable = true;
      k = null;
    }
    kernels.set(prog, k);
  }
  return k;
}

/**
 * A block function (jit.ts's BlockFn: same arguments, same results) running `prog` in
 * WebAssembly, for float32 storage and blocks of at most `block` elements; null where it does not
 * apply (see the file comment). `dense[i]`: input i is read contiguously from base[i] + start.
 */
export function wasmBlockFunction(prog: Program, dense: readonly boolean[], block: number): BlockFn | null {
  if (!enabled || unavailable || !prog.instrs.some((i) => computes(i.op))) return null;
  const k = kernelFor(prog, block);
  if (!k) return null;
  const { run, ins, outs, scalars } = k;
  return (D, B, O, S, start, n, R, RB) => {
    const h = heap;
    for (const s of scalars) h[s] = S[s];
    for (const [i, at] of ins) {
      const d = D[i] as Float32Array;
      if (dense[i]) {
        const b = B[i] + start;
        h.set(d.subarray(b, b + n), at);
      } else {
        const o = O[i];
        for (let j = 0; j < n; j++) h[at + j] = d[o[j]];
      }
    }
    run((n + 3) >> 2);
    for (let r = 0; r < outs.length; r++) {
      const src = h.subarray(outs[r], outs[r] + n);
      if (RB) R[r].set(src, RB[r] + start);
      else R[r].set(src);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Column sums: a bias gradient sums a row-major [R, O] over its rows. Each output adds its terms
// in row order in float64, as the JavaScript loop in ../expr.ts does (same bits); here two
// outputs per f64x2 add.

const ACC_BYTES = 128 * 1024;
type ColSum = (acc: number, x: number, rows: number, cols: number) => void;
let colsum: ColSum | null | undefined;

/** `colsum(acc, x, rows, O)`: acc[o] += x[r·O + o] (float64 acc at byte acc, float32 x) row by row. */
function colsumBody(): number[] {
  const [ACC, X, ROWS, O, A, Q, PX] = [0, 1, 2, 3, 4, 5, 6];
  const f64Load = [0x2b, 3, 0], f32Load = [0x2a, 2, 0], f64Store = [0x39, 3, 0], f64PromoteF32 = 0xbb, { f64Add } = Op;
  const v128Load64Splat = [...simd(0x0a), 3, 0];
  return [
    Op.loop, Op.void,
    ...localGet(ACC), ...localSet(A), ...localGet(X), ...localSet(PX),
    ...localGet(O), ...i32Const(1), Op.i32ShrU, ...localSet(Q),
    Op.block, Op.void, // skip the pairs when O = 1
    ...localGet(Q), Op.i32Eqz, Op.brIf, 0,
    Op.loop, Op.void,
    ...localGet(A), ...localGet(A), ...v128Load(0), ...localGet(PX), ...v128Load64Splat, ...simd(Simd.f64x2PromoteLowF32x4), ...simd(Simd.f64x2Add), ...v128Store(0),
    ...addConst(A, 16), ...addConst(PX, 8),
    ...countDown(Q),
    Op.end,
    Op.end,
    // an odd O: the last column
    ...localGet(O), ...i32Const(1), Op.i32And, Op.if, Op.void,
    ...localGet(A), ...localGet(A), ...f64Load, ...localGet(PX), ...f32Load, f64PromoteF32, f64Add, ...f64Store,
    Op.end,
    ...localGet(X), ...localGet(O), ...i32Const(4), Op.i32Mul, Op.i32Add, ...localSet(X),
    ...countDown(ROWS),
    Op.end,
  ];
}

/**
 * acc[o] += data[offset + r·O + o] for r < R, o < O, in WebAssembly; false (nothing done) where
 * it does not apply (disabled, unavailable, O too wide for its accumulator region).
 */
export function wasmColumnSum(data: Float32Array, offset: number, R: number, O: number, acc: Float64Array): boolean {
  if (!enabled || unavailable || O * 8 > ACC_BYTES || R < 1 || O < 1) return false;
  if (colsum === undefined) {
    try {
      colsum = instantiate({ name: 'colsum', params: [I32, I32, I32, I32], results: [], locals: [I32, I32, I32], body: colsumBody() }) as ColSum;
    } catch {
      colsum = null;
    }
  }
  if (!colsum) return false;
  const h = heap, f64 = new Float64Array(h.buffer, 0, O);
  f64.set(acc);
  const rowsPer = Math.floor((PAGES * 65536 - ACC_BYTES) / (O * 4));
  for (let r = 0; r < R; r += rowsPer) {
    const n = Math.min(rowsPer, R - r);
    h.set(data.subarray(offset + r * O, offset + (r + n) * O), ACC_BYTES / 4);
    colsum(0, ACC_BYTES, n, O);
  }
  acc.set(f64);
  return true;
}
