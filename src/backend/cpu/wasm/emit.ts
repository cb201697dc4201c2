/**
 * A tiny WebAssembly binary emitter: just enough of the format (LEB128 numbers, the type /
 * import / function / export / code sections, and the handful of core and SIMD opcodes the
 * GEMM kernel uses) to build a module in memory at run time, so the library ships no binary
 * blob and needs no build step. See the WebAssembly core spec, "Binary format", and the SIMD
 * proposal's opcode table (all SIMD ops are the 0xFD prefix followed by a LEB128 opcode).
 *
 * Code is written as flat arrays of bytes: `Op.*` and the helper functions return byte arrays
 * that a function body concatenates, e.g. `[...localGet(0), ...i32Const(4), Op.i32Add]`.
 */

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Unsigned LEB128 (sizes, indices, memarg fields). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    // done when the rest is all sign bits and the sign bit of this byte agrees
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A string as a length-prefixed UTF-8 name. */
function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** A vector: element count, then the elements' bytes. */
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** A section: id, byte size, contents. */
function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Core opcodes (one byte each). */
export const Op = {
  block: 0x02,
  loop: 0x03,
  /** if: its block type follows (`Op.if, Op.void`), then the body, then `Op.end` */
  if: 0x04,
  /** br_if: its immediate (the label depth) follows, e.g. `Op.brIf, 0` loops back to the innermost loop */
  brIf: 0x0d,
  end: 0x0b,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i32And: 0x71,
  i32ShrU: 0x76,
  f32Max: 0x97,
  f64Add: 0xa0,
  /** the empty block type (a block or loop that leaves nothing on the stack) */
  void: 0x40,
} as const;

export const localGet = (i: number): number[] => [0x20, ...uleb(i)];
export const localSet = (i: number): number[] => [0x21, ...uleb(i)];
export const localTee = (i: number): number[] => [0x22, ...uleb(i)];
export const i32Const = (n: number): number[] => [0x41, ...sleb(n)];
/** local l += n (i32). */
export const addConst = (l: number, n: number): number[] => [...localGet(l), ...i32Const(n), Op.i32Add, ...localSet(l)];
/** The end of a counted loop: local l -= 1, and back to the innermost loop while it is not 0. */
export const countDown = (l: number): number[] => [...localGet(l), ...i32Const(1), Op.i32Sub, ...localTee(l), Op.brIf, 0];

/** A memory immediate: log2 of the alignment hint, then the constant byte offset. */
const memarg = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];
/** A SIMD instruction: the 0xFD prefix, then its opcode as LEB128 (a code from `Simd`). */
export const simd = (op: number): number[] => [0xfd, ...uleb(op)];

/** The SIMD opcodes in use (the SIMD proposal's opcode table); emit them with `simd(Simd.x)`. */
export const Simd = {
  i32x4Splat: 0x11, f32x4Splat: 0x13, f64x2Splat: 0x14,
  f32x4ExtractLane: 0x1f, f64x2ExtractLane: 0x21,
  f32x4Eq: 0x41, f32x4Ne: 0x42, f32x4Lt: 0x43, f32x4Gt: 0x44, f32x4Le: 0x45, f32x4Ge: 0x46,
  f64x2Eq: 0x47, f64x2Lt: 0x49, f64x2Gt: 0x4a, f64x2Ge: 0x4c,
  v128Not: 0x4d, v128And: 0x4e, v128AndNot: 0x4f, v128Or: 0x50, v128Bitselect: 0x52,
  f32x4DemoteF64x2Zero: 0x5e, f64x2PromoteLowF32x4: 0x5f,
  f32x4Ceil: 0x67, f32x4Floor: 0x68, f32x4Trunc: 0x69, f32x4Nearest: 0x6a, f64x2Trunc: 0x7a,
  i32x4Shl: 0xab, i32x4Add: 0xae,
  i64x2ExtendLowI32x4S: 0xc7, i64x2Shl: 0xcb, i64x2Add: 0xce,
  f32x4Abs: 0xe0, f32x4Neg: 0xe1, f32x4Sqrt: 0xe3, f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6,
  f32x4Div: 0xe7, f32x4Max: 0xe9, f32x4Pmin: 0xea, f32x4Pmax: 0xeb,
  f64x2Abs: 0xec, f64x2Add: 0xf0, f64x2Sub: 0xf1, f64x2Mul: 0xf2, f64x2Div: 0xf3, f64x2Min: 0xf4, f64x2Max: 0xf5,
  i32x4TruncSatF32x4S: 0xf8, i32x4TruncSatF64x2SZero: 0xfc,
  /** relaxed SIMD: a·b + c, fused or not as the engine chooses */
  f32x4RelaxedMadd: 0x105,
} as const;

/** f64x2.extract_lane l. */
export const f64x2ExtractLane = (l: number): number[] => [...simd(Simd.f64x2ExtractLane), l];
/** The sum of the four float64 lanes of f64x2 locals a and b, as a0 + a1 + b0 + b1 (an f64 on the stack). */
export const sumLanes = (a: number, b: number): number[] => [
  ...localGet(a), ...f64x2ExtractLane(0), ...localGet(a), ...f64x2ExtractLane(1), Op.f64Add,
  ...localGet(b), ...f64x2ExtractLane(0), Op.f64Add, ...localGet(b), ...f64x2ExtractLane(1), Op.f64Add,
];

/** i8x16.shuffle: 16 lane indices into the 32 bytes of its two operands. */
export const shuffle = (lanes: readonly number[]): number[] => [...simd(0x0d), ...lanes];
/** i8x16.shuffle of one vector with itself moving lanes 2, 3 (bytes 8..15) to lanes 0, 1. */
export const highToLow = shuffle([8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]);
/** v128.const of 16 raw bytes. */
export const v128Const = (bytes: ArrayLike<number>): number[] => [...simd(0x0c), ...Array.from(bytes)];
/** v128.const with the same f32 in all four lanes, or the same f64 in both. */
export const f32x4Const = (v: number): number[] => v128Const(new Uint8Array(new Float32Array([v, v, v, v]).buffer));
export const f64x2Const = (v: number): number[] => v128Const(new Uint8Array(new Float64Array([v, v]).buffer));

/** v128.load: 16 bytes at (address on the stack) + offset. */
export const v128Load = (offset: number): number[] => [...simd(0x00), ...memarg(4, offset)];
/** v128.load32_splat: one f32 at (address) + offset, copied into all four lanes. */
export const v128Load32Splat = (offset: number): number[] => [...simd(0x09), ...memarg(2, offset)];
/** v128.store: [address, value] on the stack. */
export const v128Store = (offset: number): number[] => [...simd(0x0b), ...memarg(4, offset)];
/** v128.const of all-zero bits (+0 in every f32 lane). */
export const v128Zero = (): number[] => v128Const(new Array<number>(16).fill(0));
export const f32x4Add = (): number[] => simd(Simd.f32x4Add);
export const f32x4Mul = (): number[] => simd(Simd.f32x4Mul);

/** One function of a module: its signature, extra locals (type per local) and body code. */
export interface WasmFunction {
  name: string;
  params: number[];
  results: number[];
  locals: number[];
  body: number[];
}

/** Run-length groups of local types, as the code section wants them. */
function localGroups(types: number[]): number[][] {
  const groups: number[][] = [];
  for (let i = 0; i < types.length;) {
    let n = 1;
    while (i + n < types.length && types[i + n] === types[i]) n++;
    groups.push([...uleb(n), types[i]]);
    i += n;
  }
  return groups;
}

/**
 * A module that imports one memory as `env.memory` (at least `minPages` 64 KiB pages) and
 * exports `fns` by name; each function gets its own type entry.
 */
export function emitModule(fns: WasmFunction[], minPages: number): Uint8Array<ArrayBuffer> {
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const memImport = [...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)];
  const funcs = fns.map((_, i) => uleb(i));
  const exports = fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  const codes = fns.map((f) => {
    const body = [...vec(localGroups(f.locals)), ...f.body, Op.end];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec(types)),
    ...section(2, vec([memImport])),
    ...section(3, vec(funcs)),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ]);
}
