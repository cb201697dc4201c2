/**
 * WebAssembly SIMD row kernels for the float32 CPU backend's softmax and cross-entropy:
 * `exp(p, n4, m)` replaces the 4·n4 floats at byte address p by exp(x - m), four lanes at a time,
 * and returns their sum (in float64); `max` and `scale` are the other two passes of a softmax row. Math.exp costs
 * 12–20 ns per element in V8 on this project's 2-core VM and was all of softmax's time; this runs
 * several times faster (bench/RESULTS.md).
 *
 * exp(d) = 2^k · e^r with k = nearest(d · log2 e), r = d - k·ln2 (Cody–Waite: ln2 in a 9-bit head
 * and a tail, so k·head is exact), e^r ≈ 1 + r + r²·P(r) with P of degree 5 on |r| ≤ ln2/2, fitted
 * for webtensor (relative error 5e-10 in float64, 1.2e-7 evaluated in float32), and 2^k built in
 * the exponent bits. d below -87.3 (where e^d is under float32's smallest normal) gives exactly 0,
 * so a -Infinity (a masked score) weighs 0. The caller handles rows whose max is not finite.
 */
import { countDown, addConst, F32, F64, I32, Op, Simd, V128, emitModule, f32x4Add, f32x4Mul, i32Const, localGet, localSet, localTee, highToLow, simd, sumLanes, v128Load, v128Store, type WasmFunction } from './emit.js';

const f32Const = (v: number): number[] => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)];
const f32x4Splat = simd(Simd.f32x4Splat);
const f32x4Sub = simd(Simd.f32x4Sub);
const f32x4Max = simd(Simd.f32x4Max);
const f32x4Ge = simd(Simd.f32x4Ge);
const f32x4Nearest = simd(Simd.f32x4Nearest);
const v128And = simd(Simd.v128And);
const i32x4TruncSatF32x4S = simd(Simd.i32x4TruncSatF32x4S);
const i32x4Add = simd(Simd.i32x4Add);
const i32x4Shl = simd(Simd.i32x4Shl);
const i32x4Splat = simd(Simd.i32x4Splat);
const f32x4ExtractLane = (l: number): number[] => [...simd(Simd.f32x4ExtractLane), l];
const f64x2PromoteLow = simd(Simd.f64x2PromoteLowF32x4);
const f64x2Add = simd(Simd.f64x2Add);
const { f32Max } = Op;

/** e^r ≈ 1 + r + r²·(C[0] + C[1] r + … + C[5] r⁵) on |r| ≤ ln2/2 */
const C = [0.5, 0.1666666716337204, 0.04166649654507637, 0.008333303034305573, 0.0013930562417954206, 0.00019895890727639198];
const LOW = -87.3;
const LN2_HI = 0.693359375, LN2_LO = -2.12194440e-4;

// params and locals of `exp`
const P = 0, N = 1, M = 2;
const MV = 3, LOWV = 4, L2E = 5, HI = 6, LO = 7, D = 8, KEEP = 9, KF = 10, R = 11, ACC = 12;
const CV = 13; // C[0..5] splatted: locals 13..18
const SUM_LO = 19, SUM_HI = 20, E = 21;

/** `loop { body; p += 16; n -= 1 } while n` over params p = 0, n = 1 (n ≥ 1). */
const vectorLoop = (body: number[]): number[] => [
  Op.loop, Op.void,
  ...body,
  ...addConst(0, 16),
  ...countDown(1),
  Op.end,
];

/** `max(p, n4) -> f32`: the largest of 4·n4 floats (NaN if any is NaN; n4 ≥ 1). */
export function maxFunction(): WasmFunction {
  const ACCV = 2;
  const body = [
    ...localGet(0), ...v128Load(0), ...localSet(ACCV),
    ...vectorLoop([...localGet(0), ...v128Load(0), ...localGet(ACCV), ...f32x4Max, ...localSet(ACCV)]),
    ...localGet(ACCV), ...f32x4ExtractLane(0), ...localGet(ACCV), ...f32x4ExtractLane(1), f32Max,
    ...localGet(ACCV), ...f32x4ExtractLane(2), f32Max, ...localGet(ACCV), ...f32x4ExtractLane(3), f32Max,
  ];
  return { name: 'max', params: [I32, I32], results: [F32], locals: [V128], body };
}

/** `scale(p, n4, s)`: multiplies 4·n4 floats by s in place (n4 ≥ 1). */
export function scaleFunction(): WasmFunction {
  const SV = 3;
  const body = [
    ...localGet(2), ...f32x4Splat, ...localSet(SV),
    ...vectorLoop([...localGet(0), ...localGet(0), ...v128Load(0), ...localGet(SV), ...f32x4Mul(), ...v128Store(0)]),
  ];
  return { name: 'scale', params: [I32, I32, F32], results: [], locals: [V128], body };
}

/** The `exp(p, n4, m) -> f64` function: exp(x - m) in place, and their sum in float64 (n4 ≥ 1). */
export function expFunction(): WasmFunction {
  const splat = (v: number, l: number) => [...f32Const(v), ...f32x4Splat, ...localSet(l)];
  const mul = (a: number[], b: number[]) => [...a, ...b, ...f32x4Mul()];
  const get = localGet;
  const horner: number[] = [...get(CV + 5), ...localSet(ACC)];
  for (let i = 4; i >= 0; i--) horner.push(...get(CV + i), ...mul(get(R), get(ACC)), ...f32x4Add(), ...localSet(ACC));
  const body = [
    ...get(M), ...f32x4Splat, ...localSet(MV),
    ...splat(LOW, LOWV), ...splat(Math.LOG2E, L2E), ...splat(LN2_HI, HI), ...splat(LN2_LO, LO),
    ...C.flatMap((c, i) => splat(c, CV + i)),
    Op.loop, Op.void,
    // d = x - m; keep = d >= LOW; d = max(d, LOW)
    ...get(P), ...v128Load(0), ...get(MV), ...f32x4Sub, ...localTee(D),
    ...get(LOWV), ...f32x4Ge, ...localSet(KEEP),
    ...get(D), ...get(LOWV), ...f32x4Max, ...localSet(D),
    // k = nearest(d log2 e); r = d - k hi - k lo
    ...mul(get(D), get(L2E)), ...f32x4Nearest, ...localSet(KF),
    ...get(D), ...mul(get(KF), get(HI)), ...f32x4Sub, ...mul(get(KF), get(LO)), ...f32x4Sub, ...localSet(R),
    ...horner,
    // e = (1 + r + r² acc) · 2^k, zero where d < LOW; stored at p and summed in float64 pairs
    ...mul(get(R), get(R)), ...get(ACC), ...f32x4Mul(), ...get(R), ...f32x4Add(), ...f32Const(1), ...f32x4Splat, ...f32x4Add(),
    ...get(KF), ...i32x4TruncSatF32x4S, ...i32Const(127), ...i32x4Splat, ...i32x4Add, ...i32Const(23), ...i32x4Shl,
    ...f32x4Mul(),
    ...get(KEEP), ...v128And, ...localSet(E),
    ...get(P), ...get(E), ...v128Store(0),
    ...get(SUM_LO), ...get(E), ...f64x2PromoteLow, ...f64x2Add, ...localSet(SUM_LO),
    ...get(SUM_HI), ...get(E), ...get(E), ...highToLow, ...f64x2PromoteLow, ...f64x2Add, ...localSet(SUM_HI),
    ...addConst(P, 16),
    ...countDown(N),
    Op.end,
    ...sumLanes(SUM_LO, SUM_HI),
  ];
  return { name: 'exp', params: [I32, I32, F32], results: [F64], locals: new Array<number>(E + 1 - 3).fill(V128), body };
}

/** The instantiated row kernels over their own memory of `floats` float32s (from byte 0). */
export interface WasmExp {
  /** exp(x - m) of 4·n4 floats at byte p, in place; returns their sum */
  readonly exp: (p: number, n4: number, m: number) => number;
  /** the largest of 4·n4 floats at byte p (NaN if any is) */
  readonly max: (p: number, n4: number) => number;
  /** 4·n4 floats at byte p times s, in place */
  readonly scale: (p: number, n4: number, s: number) => void;
  readonly f32: Float32Array;
}

/** Compiles and instantiates the kernel; throws if WebAssembly SIMD is missing or refuses it. */
export function instantiateExp(floats: number): WasmExp {
  const pages = Math.ceil((floats * 4) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const module = new WebAssembly.Module(emitModule([expFunction(), maxFunction(), scaleFunction()], pages));
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  return { exp: ex.exp as WasmExp['exp'], max: ex.max as WasmExp['max'], scale: ex.scale as WasmExp['scale'], f32: new Float32Array(memory.buffer) };
}
