/**
 * WebAssembly SIMD row kernels for the float32 CPU backend's layerNorm and its backward
 * (driven by ../routines/norm.ts, one row at a time, rows of a multiple of 4 floats).
 *
 * They compute what the JavaScript loops compute, in float64 lanes (f64x2: each f32x4 load is
 * promoted as two halves): the row sums (mean, squared deviations, and the backward's Σĝ and
 * Σĝ·x̂) in two pairs of float64 accumulators — so in a different order from the JavaScript's
 * sequential sum, which may move the mean or rstd by an ulp of float64 — and every per-element
 * result by the same float64 operations in the same order as the JavaScript, rounded to float32
 * once at the store. The weight and bias gradients add one row at a time into float64 columns,
 * in row order as the JavaScript does.
 *
 * Addresses are bytes into the module's memory; n4 ≥ 1 is the row length / 4.
 */
import { addConst, countDown, emitModule, F64, highToLow, I32, localGet, localSet, localTee, Op, shuffle, simd, Simd, sumLanes, V128, v128Load, v128Store, type WasmFunction } from './emit.js';

const promoteLow = simd(Simd.f64x2PromoteLowF32x4);
const demote = simd(Simd.f32x4DemoteF64x2Zero);
const f64x2Splat = simd(Simd.f64x2Splat);
const add = simd(Simd.f64x2Add), sub = simd(Simd.f64x2Sub), mul = simd(Simd.f64x2Mul);
/** [a0, a1, _, _] and [b0, b1, _, _] → [a0, a1, b0, b1] */
const joinLow = shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);

/** The low (h = 0) or high (h = 1) two lanes of f32x4 local v as f64x2. */
const half = (v: number, h: number): number[] => (h === 0 ? [...localGet(v), ...promoteLow] : [...localGet(v), ...localGet(v), ...highToLow, ...promoteLow]);

/** `loop { body; advance pointers; n -= 1 } while n`. */
function loop(n: number, advance: [number, number][], body: number[]): number[] {
  return [Op.loop, Op.void, ...body, ...advance.flatMap(([l, by]) => addConst(l, by)), ...countDown(n), Op.end];
}

/**
 * `lnSum(x, n4) -> f64`: Σx; `lnSqDev(x, n4, mu) -> f64`: Σ(x - mu)² (dev); both in float64.
 */
function sumFunction(dev: boolean): WasmFunction {
  const X = 0, N = 1, MU = 2, nParams = dev ? 3 : 2;
  // the locals after the params: mu splatted (dev), the loaded floats, two accumulators, a temporary
  const MV = nParams, V = MV + 1, A0 = V + 1, A1 = V + 2, T = V + 3;
  const term = (h: number) => (dev ? [...half(V, h), ...localGet(MV), ...sub, ...localTee(T), ...localGet(T), ...mul] : half(V, h));
  const body = [
    ...(dev ? [...localGet(MU), ...f64x2Splat, ...localSet(MV)] : []),
    ...loop(N, [[X, 16]], [
      ...localGet(X), ...v128Load(0), ...localSet(V),
      ...localGet(A0), ...term(0), ...add, ...localSet(A0),
      ...localGet(A1), ...term(1), ...add, ...localSet(A1),
    ]),
    ...sumLanes(A0, A1),
  ];
  return { name: dev ? 'lnSqDev' : 'lnSum', params: dev ? [I32, I32, F64] : [I32, I32], results: [F64], locals: new Array<number>(T + 1 - nParams).fill(V128), body };
}

/**
 * `lnNorm(x, y, w, b, n4, mu, rs)` (affine) / `lnNormPlain(x, y, n4, mu, rs)`:
 * y = (x - mu)·rs·w + b, or (x - mu)·rs, in float64, stored as float32.
 */
function normFunction(affine: boolean): WasmFunction {
  const [X, Y, W, B] = [0, 1, 2, 3];
  const N = affine ? 4 : 2, MU = N + 1, RS = N + 2;
  const MV = RS + 1, RV = MV + 1, V = RV + 1, WV = V + 1, BV = V + 2;
  const lane = (h: number) => [
    ...half(V, h), ...localGet(MV), ...sub, ...localGet(RV), ...mul,
    ...(affine ? [...half(WV, h), ...mul, ...half(BV, h), ...add] : []),
    ...demote,
  ];
  const body = [
    ...localGet(MU), ...f64x2Splat, ...localSet(MV), ...localGet(RS), ...f64x2Splat, ...localSet(RV),
    ...loop(N, affine ? [[X, 16], [Y, 16], [W, 16], [B, 16]] : [[X, 16], [Y, 16]], [
      ...localGet(X), ...v128Load(0), ...localSet(V),
      ...(affine ? [...localGet(W), ...v128Load(0), ...localSet(WV), ...localGet(B), ...v128Load(0), ...localSet(BV)] : []),
      ...localGet(Y), ...lane(0), ...lane(1), ...joinLow, ...v128Store(0),
    ]),
  ];
  const params = affine ? [I32, I32, I32, I32, I32, F64, F64] : [I32, I32, I32, F64, F64];
  return { name: affine ? 'lnNorm' : 'lnNormPlain', params, results: [], locals: new Array<number>(5).fill(V128), body };
}

/**
 * `lnBackSums(x, g, w, n4, mu, rs) -> (Σĝ, Σĝ·x̂)` with x̂ = (x - mu)·rs and ĝ = g·w (affine) or g
 * (`lnBackSumsPlain(x, g, n4, mu, rs)`).
 */
function backSumsFunction(affine: boolean): WasmFunction {
  const [X, G, W] = [0, 1, 2];
  const N = affine ? 3 : 2, MU = N + 1, RS = N + 2;
  const MV = RS + 1, RV = MV + 1, XV = RV + 1, GV = XV + 1, WV = XV + 2, GH = XV + 3, S1A = XV + 4, S1B = XV + 5, S2A = XV + 6, S2B = XV + 7;
  const lane = (h: number, s1: number, s2: number) => [
    ...half(GV, h), ...(affine ? [...half(WV, h), ...mul] : []), ...localSet(GH),
    ...localGet(s1), ...localGet(GH), ...add, ...localSet(s1),
    ...localGet(s2), ...localGet(GH), ...half(XV, h), ...localGet(MV), ...sub, ...localGet(RV), ...mul, ...mul, ...add, ...localSet(s2),
  ];
  const body = [
    ...localGet(MU), ...f64x2Splat, ...localSet(MV), ...localGet(RS), ...f64x2Splat, ...localSet(RV),
    ...loop(N, affine ? [[X, 16], [G, 16], [W, 16]] : [[X, 16], [G, 16]], [
      ...localGet(X), ...v128Load(0), ...localSet(XV),
      ...localGet(G), ...v128Load(0), ...localSet(GV),
      ...(affine ? [...localGet(W), ...v128Load(0), ...localSet(WV)] : []),
      ...lane(0, S1A, S2A), ...lane(1, S1B, S2B),
    ]),
    ...sumLanes(S1A, S1B), ...sumLanes(S2A, S2B),
  ];
  const params = affine ? [I32, I32, I32, I32, F64, F64] : [I32, I32, I32, F64, F64];
  return { name: affine ? 'lnBackSums' : 'lnBackSumsPlain', params, results: [F64, F64], locals: new Array<number>(10).fill(V128), body };
}

/**
 * `lnBackOut(x, g, w, gx, sw, sb, n4, mu, rs, m1, m2)` (affine) / `lnBackOutPlain(x, g, gx, n4,
 * mu, rs, m1, m2)`: gx = rs·(ĝ - m1 - x̂·m2) stored as float32; affine also adds g·x̂ into the
 * float64 columns at sw and g into those at sb.
 */
function backOutFunction(affine: boolean): WasmFunction {
  const [X, G] = [0, 1];
  const W = 2, GX = affine ? 3 : 2, SW = 4, SB = 5;
  const N = affine ? 6 : 3, MU = N + 1, RS = N + 2, M1 = N + 3, M2 = N + 4;
  const MV = M2 + 1, RV = MV + 1, M1V = MV + 2, M2V = MV + 3, XV = MV + 4, GV = MV + 5, WV = MV + 6, XH = MV + 7, GL = MV + 8;
  const lane = (h: number) => [
    // x̂ and g (as float64) of this half
    ...half(XV, h), ...localGet(MV), ...sub, ...localGet(RV), ...mul, ...localSet(XH),
    ...half(GV, h), ...localSet(GL),
    ...(affine ? [
      ...localGet(SW), ...localGet(SW), ...v128Load(16 * h), ...localGet(GL), ...localGet(XH), ...mul, ...add, ...v128Store(16 * h),
      ...localGet(SB), ...localGet(SB), ...v128Load(16 * h), ...localGet(GL), ...add, ...v128Store(16 * h),
    ] : []),
    // rs·(ĝ - m1 - x̂·m2)
    ...localGet(RV), ...localGet(GL), ...(affine ? [...half(WV, h), ...mul] : []), ...localGet(M1V), ...sub, ...localGet(XH), ...localGet(M2V), ...mul, ...sub, ...mul,
    ...demote,
  ];
  const body = [
    ...localGet(MU), ...f64x2Splat, ...localSet(MV), ...localGet(RS), ...f64x2Splat, ...localSet(RV),
    ...localGet(M1), ...f64x2Splat, ...localSet(M1V), ...localGet(M2), ...f64x2Splat, ...localSet(M2V),
    ...loop(N, affine ? [[X, 16], [G, 16], [W, 16], [GX, 16], [SW, 32], [SB, 32]] : [[X, 16], [G, 16], [GX, 16]], [
      ...localGet(X), ...v128Load(0), ...localSet(XV),
      ...localGet(G), ...v128Load(0), ...localSet(GV),
      ...(affine ? [...localGet(W), ...v128Load(0), ...localSet(WV)] : []),
      ...localGet(GX), ...lane(0), ...lane(1), ...joinLow, ...v128Store(0),
    ]),
  ];
  const params = affine ? [I32, I32, I32, I32, I32, I32, I32, F64, F64, F64, F64] : [I32, I32, I32, I32, F64, F64, F64, F64];
  return { name: affine ? 'lnBackOut' : 'lnBackOutPlain', params, results: [], locals: new Array<number>(9).fill(V128), body };
}

/** The instantiated kernels, over a memory laid out for rows of up to `maxRow` floats. */
export interface WasmLayerNorm {
  readonly maxRow: number;
  /** byte addresses of the regions: x, g (backward) and out rows, w and b (float32), sw and sb (float64) */
  readonly at: { x: number; g: number; out: number; w: number; b: number; sw: number; sb: number };
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly lnSum: (x: number, n4: number) => number;
  readonly lnSqDev: (x: number, n4: number, mu: number) => number;
  readonly lnNorm: (x: number, y: number, w: number, b: number, n4: number, mu: number, rs: number) => void;
  readonly lnNormPlain: (x: number, y: number, n4: number, mu: number, rs: number) => void;
  readonly lnBackSums: (x: number, g: number, w: number, n4: number, mu: number, rs: number) => [number, number];
  readonly lnBackSumsPlain: (x: number, g: number, n4: number, mu: number, rs: number) => [number, number];
  readonly lnBackOut: (x: number, g: number, w: number, gx: number, sw: number, sb: number, n4: number, mu: number, rs: number, m1: number, m2: number) => void;
  readonly lnBackOutPlain: (x: number, g: number, gx: number, n4: number, mu: number, rs: number, m1: number, m2: number) => void;
}

export function layerNormModuleBytes(pages = 1): Uint8Array<ArrayBuffer> {
  return emitModule([false, true].flatMap((f) => [sumFunction(f), normFunction(f), backSumsFunction(f), backOutFunction(f)]), pages);
}

/** Compiles and instantiates the kernels; throws where WebAssembly SIMD (or multi-value) is missing. */
export function instantiateLayerNorm(maxRow: number): WasmLayerNorm {
  const f = maxRow * 4, d = maxRow * 8;
  const at = { x: 0, g: f, out: 2 * f, w: 3 * f, b: 4 * f, sw: 5 * f, sb: 5 * f + d };
  const pages = Math.ceil((5 * f + 2 * d) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(layerNormModuleBytes(pages)), { env: { memory } }).exports as unknown as Omit<WasmLayerNorm, 'maxRow' | 'at' | 'f32' | 'f64'>;
  return { ...ex, maxRow, at, f32: new Float32Array(memory.buffer), f64: new Float64Array(memory.buffer) };
}
