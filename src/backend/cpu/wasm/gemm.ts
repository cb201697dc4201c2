/**
 * The WebAssembly SIMD macro-kernel of the float32 CPU GEMM (driven by ../routines/matmul.ts).
 *
 * JS packs A and B into float32 panels in this module's memory, as it does for the JS kernel
 * (A in MR-tall strips, k-major inside a strip; B a row-major kc×nc panel, `ldb` bytes per
 * row); one call of the exported `gemm` then multiplies every A strip of a block by every
 * NR-wide column strip of a chunk of the B panel and writes the product into a C scratch block
 * (row-major, `ldc` bytes per row), which JS copies into the real output with the epilogue.
 * The module is generated here by ./emit.ts — no binary blob, no build step — and, like its
 * compile, only on first use.
 *
 * The micro-kernel keeps an MR×NR tile of C in MR·NR/4 f32x4 registers for the whole depth
 * loop: per k it loads NR/4 vectors of B, and for each of the MR rows splats one A value
 * (v128.load32_splat) and does NR/4 f32x4.mul + f32x4.add. No relaxed-SIMD FMA: Node 20's V8
 * does not enable it. x86-64 has 16 xmm registers, so MR·NR/4 accumulators + NR/4 B vectors +
 * one splat must stay ≤ 16 (4×8: 11; 6×8: 15).
 */
import { countDown, addConst, I32, V128, Op, Simd, emitModule, f32x4Add, f32x4Mul, i32Const, localGet, localSet, simd, v128Load, v128Load32Splat, v128Store, v128Zero, type WasmFunction } from './emit.js';

/**
 * The micro-tile of a generated kernel: MR rows of A by NR columns of B (NR a multiple of 4).
 * The depth loop is not unrolled: in V8 (Node 20) unrolling it by 2 or 4 measured slower.
 */
export interface KernelShape {
  MR: number;
  NR: number;
  /** multiply-adds as f32x4.relaxed_madd (relaxed SIMD; fused where the CPU has FMA) */
  fma?: boolean;
}

// parameter and local indices of `gemm`
const A = 0, B = 1, C = 2, KC = 3, MSTRIPS = 4, NSTRIPS = 5, LDB = 6, LDC = 7;
const JS = 8, IS = 9, PA = 10, PB = 11, K = 12, CI = 13, CJ = 14, IA = 15, ROW = 16, ASTRIDE = 17;
const N_PARAMS = 8, N_I32_LOCALS = 10;
const AV = 18; // the splat A value; then NR/4 B vectors, then the MR·NR/4 accumulators

/**
 * The `gemm(a, b, c, kc, mStrips, nStrips, ldb, ldc)` function: for each of nStrips column
 * strips of B (NR floats wide, kc rows of ldb bytes from byte address b) and each of mStrips A
 * strips (kc×MR floats from a), the MR×NR tile A·B is stored at c + (i·MR)·ldc + j·NR·4. kc ≥ 1.
 */
export function gemmFunction({ MR, NR, fma }: KernelShape): WasmFunction {
  const NV = NR / 4; // B vectors per depth step
  const bv = (c: number) => AV + 1 + c;
  const acc = (r: number, c: number) => AV + 1 + NV + r * NV + c;
  const nAcc = MR * NV;

  /** One depth step from pa/pb (without advancing them). */
  const step = (): number[] => {
    const code: number[] = [];
    for (let c = 0; c < NV; c++) code.push(...localGet(PB), ...v128Load(16 * c), ...localSet(bv(c)));
    for (let r = 0; r < MR; r++) {
      code.push(...localGet(PA), ...v128Load32Splat(4 * r), ...localSet(AV));
      for (let c = 0; c < NV; c++) {
        if (fma) code.push(...localGet(AV), ...localGet(bv(c)), ...localGet(acc(r, c)), ...simd(Simd.f32x4RelaxedMadd), ...localSet(acc(r, c)));
        else code.push(...localGet(acc(r, c)), ...localGet(AV), ...localGet(bv(c)), ...f32x4Mul(), ...f32x4Add(), ...localSet(acc(r, c)));
      }
    }
    return code;
  };

  /** local l += constant n; local l += local m (i32) */
  const addLocal = (l: number, m: number) => [...localGet(l), ...localGet(m), Op.i32Add, ...localSet(l)];

  /** The depth loop: kc steps (k counts down; kc ≥ 1). */
  const depthLoop: number[] = [
    Op.loop, Op.void,
    ...step(),
    ...addConst(PA, MR * 4), ...addLocal(PB, LDB),
    ...countDown(K),
    Op.end,
  ];

  const zeroAcc: number[] = [];
  for (let r = 0; r < MR; r++) for (let c = 0; c < NV; c++) zeroAcc.push(...v128Zero(), ...localSet(acc(r, c)));

  const storeTile: number[] = [...localGet(CI), ...localSet(ROW)];
  for (let r = 0; r < MR; r++) {
    for (let c = 0; c < NV; c++) storeTile.push(...localGet(ROW), ...localGet(acc(r, c)), ...v128Store(16 * c));
    if (r < MR - 1) storeTile.push(...addLocal(ROW, LDC));
  }

  const body = [
    ...localGet(KC), ...i32Const(MR * 4), Op.i32Mul, ...localSet(ASTRIDE),
    ...localGet(C), ...localSet(CJ),
    ...localGet(NSTRIPS), ...localSet(JS),
    Op.loop, Op.void, // over B strips
    ...localGet(A), ...localSet(IA),
    ...localGet(CJ), ...localSet(CI),
    ...localGet(MSTRIPS), ...localSet(IS),
    Op.loop, Op.void, // over A strips
    ...zeroAcc,
    ...localGet(IA), ...localSet(PA),
    ...localGet(B), ...localSet(PB),
    ...localGet(KC), ...localSet(K),
    ...depthLoop,
    ...storeTile,
    ...addLocal(IA, ASTRIDE),
    ...localGet(CI), ...localGet(LDC), ...i32Const(MR), Op.i32Mul, Op.i32Add, ...localSet(CI),
    ...countDown(IS),
    Op.end,
    ...addConst(B, NR * 4),
    ...addConst(CJ, NR * 4),
    ...countDown(JS),
    Op.end,
  ];
  return {
    name: 'gemm',
    params: new Array<number>(N_PARAMS).fill(I32),
    results: [],
    locals: [...new Array<number>(N_I32_LOCALS).fill(I32), ...new Array<number>(1 + NV + nAcc).fill(V128)],
    body,
  };
}

/** The epilogues a C block can get in wasm: the bias per column or per row. */
export const EPILOGUES = ['cols', 'rows'] as const;
export type EpilogueName = (typeof EPILOGUES)[number];

/**
 * `name(c, ldc, rows, n4, bias)`: adds a bias to `rows` rows of 4·n4 floats (row stride ldc
 * bytes, from byte c) in place: bias[j] to column j (cols) or bias[i] to row i (rows). rows,
 * n4 ≥ 1. One float32 add, so the same bits as the JavaScript store of a single K block.
 */
export function epilogueFunction(name: EpilogueName): WasmFunction {
  const perRow = name === 'rows';
  const [C0, LDC0, ROWS, N4, BIAS, P, Q, BP, BV] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const body = [
    Op.loop, Op.void,
    ...(perRow ? [...localGet(BIAS), ...v128Load32Splat(0), ...localSet(BV), ...addConst(BIAS, 4)] : [...localGet(BIAS), ...localSet(BP)]),
    ...localGet(C0), ...localSet(P), ...localGet(N4), ...localSet(Q),
    Op.loop, Op.void,
    ...localGet(P), ...localGet(P), ...v128Load(0), ...(perRow ? localGet(BV) : [...localGet(BP), ...v128Load(0)]), ...f32x4Add(),
    ...v128Store(0),
    ...addConst(P, 16), ...(perRow ? [] : addConst(BP, 16)),
    ...countDown(Q),
    Op.end,
    ...localGet(C0), ...localGet(LDC0), Op.i32Add, ...localSet(C0),
    ...countDown(ROWS),
    Op.end,
  ];
  return { name, params: [I32, I32, I32, I32, I32], results: [], locals: [I32, I32, I32, V128], body };
}

/** The module's bytes for a kernel shape, importing a memory of at least `pages` pages. */
export function gemmModuleBytes(shape: KernelShape, pages = 1): Uint8Array<ArrayBuffer> {
  return emitModule([gemmFunction(shape), ...EPILOGUES.map(epilogueFunction)], pages);
}

/** An exported epilogue: byte address c, ldc in bytes, rows, 4-float groups per row, bias address. */
export type EpilogueFn = (c: number, ldc: number, rows: number, n4: number, bias: number) => void;

/** The exported macro-kernel: byte addresses a, b, c; ldb and ldc in bytes. */
export type GemmFn = (a: number, b: number, c: number, kc: number, mStrips: number, nStrips: number, ldb: number, ldc: number) => void;

/**
 * An instantiated kernel with its memory: `f32` views the whole memory; `a`, `b`, `c` are the
 * byte offsets of the A block, B panel and C scratch regions.
 */
export interface WasmGemm {
  readonly shape: KernelShape;
  readonly run: GemmFn;
  readonly f32: Float32Array;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  /** byte offset of the bias region the epilogues read */
  readonly bias: number;
  readonly epilogue: Readonly<Record<EpilogueName, EpilogueFn>>;
}

/**
 * Compiles and instantiates a kernel with room for an A block of aFloats, a B panel of bFloats
 * and a C scratch of cFloats. The sizes are bounded by the block sizes, so the memory is sized
 * once here and never grows: the Float32Array view over it can never be detached by a grow.
 * Synchronous compile: the module is well under the 4 KB that Chrome allows on its main thread.
 * Throws if WebAssembly (with SIMD) is missing or refuses the module.
 */
export function instantiateGemm(shape: KernelShape, aFloats: number, bFloats: number, cFloats: number, biasFloats = 0): WasmGemm {
  const bytes = (n: number) => Math.ceil((n * 4) / 64) * 64; // regions start on cache lines
  const a = 0, b = a + bytes(aFloats), c = b + bytes(bFloats), bias = c + bytes(cFloats), end = bias + bytes(biasFloats + 4);
  const pages = Math.ceil(end / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const module = new WebAssembly.Module(gemmModuleBytes(shape, pages));
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const ex = instance.exports;
  const epilogue = Object.fromEntries(EPILOGUES.map((n) => [n, ex[n] as EpilogueFn])) as Record<EpilogueName, EpilogueFn>;
  return { shape, run: ex.gemm as GemmFn, f32: new Float32Array(memory.buffer), a, b, c, bias, epilogue };
}

/**
 * Whether this engine also has relaxed SIMD's f32x4.relaxed_madd (validates a small kernel module
 * using it): Chrome 114+, Node 22+; Node 20 only with --experimental-wasm-relaxed-simd.
 */
export function relaxedSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(gemmModuleBytes({ MR: 1, NR: 4, fma: true }));
  } catch {
    return false;
  }
}

/** Whether this engine has WebAssembly with 128-bit SIMD (validates a small kernel module). */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(gemmModuleBytes({ MR: 1, NR: 4 }));
  } catch {
    return false;
  }
}
