/**
 * Group-wise weight-only quantization (issue 25): 8-bit and 4-bit codes with an f32 scale (and
 * optionally an f32 minimum) per group of `groupSize` along K, and the quantized matmul
 * x @ Wᵀ on the `qmatmul` routine (src/kernel/kernel.ts `QuantConfig` gives the packed layout),
 * which dequantizes inside its K loop: the weight is never widened in memory.
 *
 * Quantizing (on the host, float64 arithmetic, the scale rounded to f32 before the codes are
 * chosen so that dequantization reproduces the rounding the codes were picked against):
 * - symmetric: s = max|w| / (2^(bits-1) - 1), code u = clamp(round(w/s), -2^(bits-1), 2^(bits-1)-1) + 2^(bits-1),
 *   value s·(u - 2^(bits-1)): |w - value| ≤ s/2;
 * - with mins: m = min(w), s = (max(w) - m) / (2^bits - 1), u = clamp(round((w - m)/s), 0, 2^bits-1),
 *   value s·u + m: |w - value| ≤ s/2 (plus m's f32 rounding).
 * K need not be a multiple of the group size or of the pack width: the last group is padded
 * with the zero code (the kernels never let a padding code reach a result).
 *
 * Autograd: the gradient flows to x through the transposed routine (g @ W, dequantized in its
 * loop too); the quantized weight is not a graph input, so it gets no gradient and no optimizer
 * state.
 */
import { record } from '../autograd/graph.js';
import type { Node } from '../autograd/graph.js';
import type { GradTable } from '../autograd/rules.js';
import { noGrad } from '../engine.js';
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import type { QuantConfig } from '../kernel/kernel.js';
import { tidy } from '../memory.js';
import { numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { checkFloat, checkOneOf, checkOptions, describeValue } from '../validate.js';
import { checkSameBackend, empty, runRoutine } from './run.js';
import { tensor, eye } from './creation.js';
import { checkIndexRange } from './indexing.js';

/** How to quantize: `bits` 8 or 4, `groupSize` (a multiple of 32, default 64), `mins` (asymmetric, default false). */
export interface QuantizeOptions {
  bits?: 8 | 4;
  groupSize?: number;
  mins?: boolean;
}

/**
 * A quantized [N, K] weight: `q` int32 [N, ⌈K/G⌉·G·bits/32] (packed codes), `scales` float32
 * [N, ⌈K/G⌉], `mins` float32 [N, ⌈K/G⌉] or null (symmetric). Layout: src/kernel/kernel.ts `QuantConfig`.
 */
export interface QuantizedWeight {
  readonly q: Tensor;
  readonly scales: Tensor;
  readonly mins: Tensor | null;
  readonly bits: 4 | 8;
  readonly groupSize: number;
  /** [N, K]: the float weight's shape (out features, in features) */
  readonly shape: readonly [number, number];
}

/**
 * The layout of packed code tensors (a QuantizedLinear's `qweight`), so that `wt.save` can
 * describe every quantized layer in the safetensors header (`__metadata__["webtensor.quantization"]`)
 * and loaders can make the layers without float weights. @internal
 */
export const packedLayouts = new WeakMap<Tensor, { bits: 4 | 8; groupSize: number; mins: boolean; shape: readonly [number, number] }>();

/** The safetensors `__metadata__` key holding a JSON object { <layer path>: { bits, groupSize, mins, shape: [out, in] } }. */
export const QUANT_METADATA_KEY = 'webtensor.quantization';

/** The checked options with their defaults. */
export function quantOptions(op: string, opts: QuantizeOptions | undefined): QuantConfig {
  checkOptions(op, opts, ['bits', 'groupSize', 'mins']);
  const bits = opts?.bits ?? 8;
  if (bits !== 8 && bits !== 4) throw new ArgumentError(`${op}: bits must be 8 or 4, got ${describeValue(bits)}`);
  const groupSize = opts?.groupSize ?? 64;
  if (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || groupSize < 32 || groupSize % 32 !== 0 || groupSize > 4096) {
    throw new ArgumentError(`${op}: groupSize must be a multiple of 32 in [32, 4096], got ${describeValue(groupSize)}`);
  }
  const mins = opts?.mins ?? false;
  if (typeof mins !== 'boolean') throw new ArgumentError(`${op}: mins must be a boolean, got ${describeValue(mins)}`);
  return { bits, groupSize, mins };
}

/** Host-side packed arrays of a quantized [N, K] weight (the layout of {@link QuantizedWeight}). */
export interface QuantizedArrays {
  q: Int32Array;
  scales: Float32Array;
  mins: Float32Array | null;
  words: number;
  groups: number;
}

/** Quantizes a row-major [N, K] float array on the host (see the file comment for the rules). */
export function quantizeArrays(w: ArrayLike<number>, N: number, K: number, cfg: QuantConfig): QuantizedArrays {
  const { bits, groupSize: G, mins } = cfg;
  const P = 32 / bits, Gn = Math.ceil(K / G), Wd = (Gn * G) / P;
  const zero = 1 << (bits - 1), top = (1 << bits) - 1;
  const q = new Int32Array(N * Wd), sc = new Float32Array(N * Gn), mn = mins ? new Float32Array(N * Gn) : null;
  const codes = new Uint8Array(G);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < Gn; g++) {
      const k0 = g * G, kn = Math.min(G, K - k0), row = n * K + k0;
      codes.fill(mins ? 0 : zero);
      if (mins) {
        let lo = Infinity, hi = -Infinity;
        for (let k = 0; k < kn; k++) { const v = w[row + k]; if (v < lo) lo = v; if (v > hi) hi = v; }
        const m = Math.fround(lo), s = Math.fround((hi - m) / top);
        sc[n * Gn + g] = s;
        mn![n * Gn + g] = m;
        if (s > 0) for (let k = 0; k < kn; k++) codes[k] = Math.min(top, Math.max(0, Math.round((w[row + k] - m) / s)));
      } else {
        let amax = 0;
        for (let k = 0; k < kn; k++) amax = Math.max(amax, Math.abs(w[row + k]));
        const s = Math.fround(amax / (zero - 1));
        sc[n * Gn + g] = s;
        if (s > 0) for (let k = 0; k < kn; k++) codes[k] = Math.min(zero - 1, Math.max(-zero, Math.round(w[row + k] / s))) + zero;
      }
      for (let k = 0; k < G; k++) {
        const kk = k0 + k, at = n * Wd + ((kk / P) | 0);
        q[at] = (q[at] | (codes[k] << ((kk % P) * bits))) | 0;
      }
    }
  }
  return { q, scales: sc, mins: mn, words: Wd, groups: Gn };
}

/**
 * The float values a quantized weight stands for, row-major [N, K], in float64 (the scalar
 * reference the kernels are tested against).
 */
export function dequantizeArrays(a: QuantizedArrays, N: number, K: number, cfg: QuantConfig): Float64Array {
  const { bits, groupSize: G } = cfg;
  const P = 32 / bits, mask = (1 << bits) - 1, zero = 1 << (bits - 1);
  const out = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const g = (k / G) | 0, s = a.scales[n * a.groups + g];
      const u = (a.q[n * a.words + ((k / P) | 0)] >>> ((k % P) * bits)) & mask;
      out[n * K + k] = a.mins ? s * u + a.mins[n * a.groups + g] : s * (u - zero);
    }
  }
  return out;
}

/**
 * Quantizes host data of a [N, K] weight (out features, in features) into tensors on the current
 * backend. Synchronous; {@link quantizeWeight} does the same for a tensor.
 *
 * @example
 * const qw = wt.quantizeData(new Float32Array(4 * 64), [4, 64], { bits: 4, groupSize: 32 });
 */
export function quantizeData(data: ArrayLike<number>, shape: readonly [number, number], opts?: QuantizeOptions): QuantizedWeight {
  const op = 'quantizeData';
  const cfg = quantOptions(op, opts);
  if (!data || typeof data !== 'object' || typeof (data as ArrayLike<number>).length !== 'number' || data instanceof Tensor) throw new ArgumentError(`${op}: data must be an array of numbers (row-major [N, K]), got ${describeValue(data)}`);
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) throw new ShapeError(`${op}: shape must be [N, K] of positive integers, got ${describeValue(shape)}`);
  const [N, K] = shape;
  if (data.length !== N * K) throw new ShapeError(`${op}: data has ${data.length} values, shape ${fmt(shape)} needs ${N * K}`);
  const a = quantizeArrays(data, N, K, cfg);
  return {
    q: tensor(a.q, { shape: [N, a.words], dtype: 'int32' }),
    scales: tensor(a.scales, { shape: [N, a.groups] }),
    mins: a.mins ? tensor(a.mins, { shape: [N, a.groups] }) : null,
    bits: cfg.bits, groupSize: cfg.groupSize, shape: [N, K],
  };
}

/**
 * Quantizes a float32 [N, K] weight (a Linear's [out, in]) group-wise along K; reads it back to
 * the host, so it is async.
 *
 * @example
 * const qw = await wt.quantizeWeight(wt.randn([8, 64]), { bits: 8, groupSize: 32 });
 */
export async function quantizeWeight(w: Tensor, opts?: QuantizeOptions): Promise<QuantizedWeight> {
  const op = 'quantizeWeight';
  checkFloat(op, 'weight', w);
  quantOptions(op, opts);
  if (w.ndim !== 2 || numel(w.shape) === 0) throw new ShapeError(`${op}: weight must be a non-empty 2-D [out, in] tensor, got ${fmt(w.shape)}`);
  const c = w.contiguous();
  const data = await c.data();
  if (c !== w) c.dispose();
  return quantizeData(data as Float32Array, [w.shape[0], w.shape[1]], opts);
}

/** Checks a QuantizedWeight argument. @internal */
export function checkQuantized(op: string, arg: string, qw: unknown): QuantizedWeight {
  const v = qw as QuantizedWeight;
  if (!v || typeof v !== 'object' || !(v.q instanceof Tensor) || !(v.scales instanceof Tensor) || !Array.isArray(v.shape)) {
    throw new ArgumentError(`${op}: ${arg} must be a quantized weight (from wt.quantizeWeight), got ${describeValue(qw)}`);
  }
  checkOneOf(op, `${arg}.bits`, String(v.bits), ['4', '8']);
  // a multiple of 32 (quantOptions), or groups of 16: GGUF Q6_K's sub-blocks, repacked at load
  // (8-bit); the kernels take 16 at either width
  const G = v.groupSize;
  if (!Number.isInteger(G) || G <= 0 || G > 4096 || (G % 32 !== 0 && G !== 16)) {
    throw new ArgumentError(`${op}: ${arg}.groupSize must be 16 or a multiple of 32 in [32, 4096], got ${describeValue(G)} with ${v.bits} bits`);
  }
  const [N, K] = v.shape;
  const Gn = Math.ceil(K / v.groupSize), Wd = (Gn * v.groupSize * v.bits) / 32;
  if (v.q.dtype !== 'int32' || v.q.ndim !== 2 || v.q.shape[0] !== N || v.q.shape[1] !== Wd) throw new ShapeError(`${op}: ${arg}.q must be int32 [${N}, ${Wd}] for a ${v.bits}-bit [${N}, ${K}] weight in groups of ${v.groupSize}, got ${v.q.dtype} ${fmt(v.q.shape)}`);
  for (const [name, t] of [['scales', v.scales], ['mins', v.mins]] as const) {
    if (t && (t.dtype !== 'float32' || t.ndim !== 2 || t.shape[0] !== N || t.shape[1] !== Gn)) throw new ShapeError(`${op}: ${arg}.${name} must be float32 [${N}, ${Gn}], got ${t.dtype} ${fmt(t.shape)}`);
  }
  return v;
}

const cfgOf = (qw: QuantizedWeight, transpose: boolean) => ({ bits: qw.bits, groupSize: qw.groupSize, mins: qw.mins !== null, transpose });
const parts = (qw: QuantizedWeight): Tensor[] => (qw.mins ? [qw.q, qw.scales, qw.mins] : [qw.q, qw.scales]);

/**
 * y = x @ Wᵀ + bias with W quantized (F.linear on a quantized weight): x[..., K] → y[..., N].
 * Differentiable in x and bias; the weight gets no gradient.
 *
 * @example
 * const y = wt.qlinear(wt.randn([3, 64]), await wt.quantizeWeight(wt.randn([8, 64]))); // [3, 8]
 */
export function qlinear(x: Tensor, weight: QuantizedWeight, bias?: Tensor | null): Tensor {
  const op = 'qlinear';
  checkFloat(op, 'input', x);
  const qw = checkQuantized(op, 'weight', weight);
  if (bias != null) checkFloat(op, 'bias', bias);
  checkSameBackend(op, [x, ...parts(qw), ...(bias ? [bias] : [])]);
  const [N, K] = qw.shape;
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== K) throw new ShapeError(`${op}: input features differ: x is ${fmt(x.shape)}, the weight is ${fmt(qw.shape)} (${x.shape[x.ndim - 1] ?? "none"} != ${K})`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== N)) throw new ShapeError(`${op}: bias must have shape [${N}] for a [${N}, ${K}] weight, got ${fmt(bias.shape)}`);
  const lead = x.shape.slice(0, -1), R = numel(lead);
  const y = tidy(() => noGrad(() => {
    if (R === 0) return empty([...lead, N], 'float32', x.backend, op);
    const x2 = x.contiguous().reshape([R, K]);
    const [out] = runRoutine('qmatmul', cfgOf(qw, false), [x2, ...parts(qw)], [{ shape: [R, N], dtype: 'float32' }]);
    const yb = bias ? out.add(bias) : out;
    return yb.reshape([...lead, N]);
  }));
  return record('qlinear', bias ? [x, bias] : [x], y, [], { weight: qw });
}

/**
 * The float32 [N, K] weight a quantized weight stands for (the transposed routine on an
 * identity: exact, each value one product by 1).
 *
 * @example const w = wt.dequantize(await wt.quantizeWeight(wt.randn([4, 32]), { bits: 4, groupSize: 32 }));
 */
export function dequantize(weight: QuantizedWeight): Tensor {
  const qw = checkQuantized('dequantize', 'weight', weight);
  const [N, K] = qw.shape;
  return tidy(() => noGrad(() => {
    const I = eye(N);
    return runRoutine('qmatmul', cfgOf(qw, true), [I, ...parts(qw)], [{ shape: [N, K], dtype: 'float32' }])[0];
  }));
}

/**
 * Quantized embedding lookup: rows of the [N, K] quantized weight picked by int32 `ids` of any
 * shape and dequantized → float32 [...ids.shape, K] (equal to `dequantize(weight)` then
 * `embedding`, without widening the weight). Ids out of [0, N) are an ArgumentError, as
 * `embedding`'s. No gradient (the codes are not trainable).
 *
 * @example
 * const e = wt.qembedding(wt.tensor([[1, 2]], { dtype: 'int32' }), await wt.quantizeWeight(wt.randn([10, 64]))); // [1, 2, 64]
 */
export function qembedding(ids: Tensor, weight: QuantizedWeight): Tensor {
  const op = 'qembedding';
  if (!(ids instanceof Tensor)) throw new ArgumentError(`${op}: ids must be an int32 Tensor, got ${describeValue(ids)}`);
  if (ids.dtype !== 'int32') throw new DTypeError(`${op}: ids must be int32, got ${ids.dtype} of shape ${fmt(ids.shape)}`);
  const qw = checkQuantized(op, 'weight', weight);
  checkSameBackend(op, [ids, ...parts(qw)]);
  const [N, K] = qw.shape;
  checkIndexRange(op, 'ids', ids, N, `a quantized weight ${fmt(qw.shape)}`);
  const R = ids.numel();
  return tidy(() => noGrad(() => {
    if (R === 0) return empty([...ids.shape, K], 'float32', ids.backend, op);
    const flat = ids.contiguous().reshape([R]);
    const [out] = runRoutine('qembedding', { bits: qw.bits, groupSize: qw.groupSize, mins: qw.mins !== null }, [flat, ...parts(qw)], [{ shape: [R, K], dtype: 'float32' }]);
    return out.reshape([...ids.shape, K]);
  }));
}

function qlinearGrad(n: Node<'qlinear'>, g: Tensor): (Tensor | null)[] {
  const qw = n.meta.weight;
  const [N, K] = qw.shape;
  const want = n.inputs.map((t) => t.requiresGrad);
  const gx = want[0] ? tidy(() => {
    const lead = g.shape.slice(0, -1), R = numel(lead);
    if (R === 0) return empty([...lead, K], 'float32', g.backend, 'qlinear');
    const g2 = g.contiguous().reshape([R, N]);
    return runRoutine('qmatmul', cfgOf(qw, true), [g2, ...parts(qw)], [{ shape: [R, K], dtype: 'float32' }])[0].reshape([...lead, K]);
  }) : null;
  // the bias gradient is g summed over the leading dims, which the engine does (as linear's)
  return n.inputs.length > 1 ? [gx, want[1] ? g : null] : [gx];
}

export const quantGrads: GradTable<'qlinear'> = {
  qlinear: qlinearGrad,
};

