/**
 * The benchmark's workloads: what each library computes, on what data, and the float64 reference
 * its first output is checked against. Plain data and functions (no Node or DOM APIs), so the
 * same module runs in Node (Dawn) and in the benchmark page.
 *
 * Kernels (float32; shape legend: M×K · K×N matmul; N batch, C→O channels, H×W, KH×KW kernel for
 * conv; R rows of D for the row-wise ops; B batch, H heads, T tokens, D head size for attention):
 *   matmul        GFLOP/s = 2·M·N·K / t
 *   conv2d        GFLOP/s = 2·N·O·Ho·Wo·C·KH·KW / t
 *   softmax       GB/s = 2·R·D·4 / t                       (read x, write y)
 *   layerNorm     GB/s = (2·R·D + 2·D)·4 / t               (… plus weight and bias)
 *   attention     GFLOP/s = 4·B·H·T²·D / t                 (QKᵀ and PV, causal mask, full count)
 *   elementwise chain  ops/s = ops / t                     (1,000 small eager ops, then one read)
 * Training (steps/s; one step = forward, backward, SGD update and a read of the loss):
 *   mnist-mlp     784-256-128-10 ReLU on a fixed batch of random images
 *   mnist-cnn     the demo's CNN (conv 1→8, pool, conv 8→16, pool, linear 784→10)
 *   char-gpt      the demo's character transformer (pre-norm blocks, GELU, causal attention);
 *                 quick: b4 t32 c32×1 and b4 t64 c64×2 (issue 22's shape); full: b16 t64 c64×2, b4 t256 c64×2
 */
import { attentionFlops, conv2dFlops, convOut, layerNormBytes, matmulFlops, softmaxBytes, type Conv2dShape } from './napkin.js';

export type KernelSpec =
  | { kind: 'matmul'; m: number; n: number; k: number }
  | { kind: 'conv2d'; s: Conv2dShape }
  | { kind: 'softmax'; rows: number; d: number }
  | { kind: 'layerNorm'; rows: number; d: number; eps: number }
  | { kind: 'attention'; b: number; h: number; t: number; d: number }
  | { kind: 'chain'; n: number; ops: number };

export interface GptShape {
  vocab: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
}

export type TrainSpec =
  | { kind: 'mlp'; batch: number }
  | { kind: 'cnn'; batch: number }
  | { kind: 'gpt'; batch: number; gpt: GptShape };

export type Unit = 'GFLOP/s' | 'GB/s' | 'steps/s' | 'ops/s';

export interface Workload {
  name: string;
  group: 'kernel' | 'training';
  spec: KernelSpec | TrainSpec;
  unit: Unit;
  /** FLOPs or bytes of one call (kernels); samples (or tokens) per step (training) */
  work: number;
  /** kernels: inputs, row-major in webtensor's layout (NCHW, OIHW; attention [B,H,T,D]) */
  inputs: Float32Array<ArrayBuffer>[];
  /** training: the fixed batch (images or token ids) and targets */
  x?: Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer>;
  y?: Int32Array<ArrayBuffer>;
  /** kernels: float64 reference of the first row (matmul, softmax, layerNorm, attention) or plane y[0,0] (conv2d) */
  reference?: Float64Array;
}

/** SGD learning rate of every training workload (the same update in every library). */
export const TRAIN_LR = 0.05;

/** Deterministic uniform values in [-scale, scale) (an LCG: the same data for every library). */
export function uniform(len: number, seed: number, scale = 1): Float32Array<ArrayBuffer> {
  let s = seed >>> 0;
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

function integers(len: number, seed: number, max: number): Int32Array<ArrayBuffer> {
  return Int32Array.from(uniform(len, seed), (v) => Math.min(max - 1, Math.floor(((v + 1) / 2) * max)));
}

export function matmulWorkload(n: number): Workload {
  const a = uniform(n * n, 1), b = uniform(n * n, 2);
  const ref = new Float64Array(n);
  for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) ref[j] += a[k] * b[k * n + j];
  return { name: `matmul ${n}³`, group: 'kernel', spec: { kind: 'matmul', m: n, n, k: n }, unit: 'GFLOP/s', work: matmulFlops(n, n, n), inputs: [a, b], reference: ref };
}

export function conv2dWorkload(s: Conv2dShape): Workload {
  const x = uniform(s.N * s.C * s.H * s.W, 3), w = uniform(s.O * s.C * s.KH * s.KW, 4, 0.25);
  const ho = convOut(s.H, s.KH, s.stride, s.pad), wo = convOut(s.W, s.KW, s.stride, s.pad);
  const ref = new Float64Array(ho * wo); // y[0, 0, :, :]
  for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
    let acc = 0;
    for (let c = 0; c < s.C; c++) for (let i = 0; i < s.KH; i++) for (let j = 0; j < s.KW; j++) {
      const h = oh * s.stride + i - s.pad, v = ow * s.stride + j - s.pad;
      if (h >= 0 && h < s.H && v >= 0 && v < s.W) acc += x[(c * s.H + h) * s.W + v] * w[(c * s.KH + i) * s.KW + j];
    }
    ref[oh * wo + ow] = acc;
  }
  return { name: `conv2d ${s.N}×${s.C}→${s.O} ${s.H}×${s.W} k${s.KH}`, group: 'kernel', spec: { kind: 'conv2d', s }, unit: 'GFLOP/s', work: conv2dFlops(s), inputs: [x, w], reference: ref };
}

export function softmaxWorkload(rows: number, d: number): Workload {
  const x = uniform(rows * d, 5, 4);
  return { name: `softmax ${rows}×${d}`, group: 'kernel', spec: { kind: 'softmax', rows, d }, unit: 'GB/s', work: softmaxBytes(rows, d), inputs: [x], reference: softmaxRow(x, 0, d, d) };
}

function softmaxRow(x: ArrayLike<number>, off: number, n: number, len: number, scale = 1): Float64Array {
  const out = new Float64Array(len);
  let mx = -Infinity, sum = 0;
  for (let j = 0; j < n; j++) mx = Math.max(mx, x[off + j] * scale);
  for (let j = 0; j < n; j++) sum += (out[j] = Math.exp(x[off + j] * scale - mx));
  for (let j = 0; j < n; j++) out[j] /= sum;
  return out;
}

export function layerNormWorkload(rows: number, d: number): Workload {
  const eps = 1e-5;
  const x = uniform(rows * d, 6, 2), g = uniform(d, 7), b = uniform(d, 8);
  let mean = 0, v = 0;
  for (let j = 0; j < d; j++) mean += x[j] / d;
  for (let j = 0; j < d; j++) v += (x[j] - mean) ** 2 / d;
  const ref = Float64Array.from({ length: d }, (_, j) => ((x[j] - mean) / Math.sqrt(v + eps)) * g[j] + b[j]);
  return { name: `layerNorm ${rows}×${d}`, group: 'kernel', spec: { kind: 'layerNorm', rows, d, eps }, unit: 'GB/s', work: layerNormBytes(rows, d), inputs: [x, g, b], reference: ref };
}

/** Causal scaled dot-product attention over q, k, v [B, H, T, D]; reference: the last query row of head (0, 0). */
export function attentionWorkload(b: number, h: number, t: number, d: number): Workload {
  const q = uniform(b * h * t * d, 9), k = uniform(b * h * t * d, 10), v = uniform(b * h * t * d, 11);
  // the last row attends to every key, so it checks the whole of head (0, 0)
  const scores = new Float64Array(t);
  const qi = (t - 1) * d;
  for (let s = 0; s < t; s++) for (let e = 0; e < d; e++) scores[s] += q[qi + e] * k[s * d + e];
  const p = softmaxRow(scores, 0, t, t, 1 / Math.sqrt(d));
  const ref = new Float64Array(d);
  for (let s = 0; s < t; s++) for (let e = 0; e < d; e++) ref[e] += p[s] * v[s * d + e];
  return { name: `attention ${b}×${h}×${t}×${d}`, group: 'kernel', spec: { kind: 'attention', b, h, t, d }, unit: 'GFLOP/s', work: attentionFlops(b, h, t, d), inputs: [q, k, v], reference: ref };
}

/**
 * Op `i` of the elementwise chain, the same in every library: y·0.9, y + x, y − 0.1, y·w (x in
 * [-1, 1), w in [0.5, 1)); y starts as x. Values stay bounded (|y| < 12): no overflow, no NaN.
 */
export type ChainOp = 'mulScalar' | 'addX' | 'subScalar' | 'mulW';
export function chainOp(i: number): ChainOp {
  return (['mulScalar', 'addX', 'subScalar', 'mulW'] as const)[i % 4];
}
export const CHAIN_MUL = 0.9, CHAIN_SUB = 0.1;

/**
 * The elementwise chain: `ops` small eager ops on `n` elements, timed end to end with a final
 * read. It measures per-op overhead (dispatch, allocation, bookkeeping), which fusion removes.
 */
export function chainWorkload(n: number, ops: number): Workload {
  const x = uniform(n, 15), w = Float32Array.from(uniform(n, 16), (v) => 0.75 + v / 4);
  const ref = Float64Array.from(x);
  for (let i = 0; i < ops; i++) {
    const op = chainOp(i);
    for (let j = 0; j < n; j++) {
      ref[j] = op === 'mulScalar' ? ref[j] * CHAIN_MUL : op === 'addX' ? ref[j] + x[j] : op === 'subScalar' ? ref[j] - CHAIN_SUB : ref[j] * w[j];
    }
  }
  return { name: `elementwise chain ${ops}×${n}`, group: 'kernel', spec: { kind: 'chain', n, ops }, unit: 'ops/s', work: ops, inputs: [x, w], reference: ref };
}

/** Where attention's reference row sits in the output [B, H, T, D]: the last row of head (0, 0). */
export function attentionRefOffset(spec: Extract<KernelSpec, { kind: 'attention' }>): number {
  return (spec.t - 1) * spec.d;
}

export function trainingWorkload(kind: 'mlp' | 'cnn', batch: number): Workload {
  const x = uniform(batch * 784, 12), y = integers(batch, 13, 10);
  const name = kind === 'mlp' ? `train mnist-mlp b${batch}` : `train mnist-cnn b${batch}`;
  return { name, group: 'training', spec: { kind, batch }, unit: 'steps/s', work: batch, inputs: [], x, y };
}

export function gptWorkload(batch: number, gpt: GptShape): Workload {
  const n = batch * gpt.blockSize;
  const tokens = integers(n + 1, 14, gpt.vocab);
  return {
    name: `train char-gpt b${batch} t${gpt.blockSize} c${gpt.nEmbd}×${gpt.nLayer}`, group: 'training', spec: { kind: 'gpt', batch, gpt }, unit: 'steps/s', work: n, inputs: [],
    x: tokens.slice(0, n), y: tokens.slice(1, n + 1),
  };
}

/** The suite: `quick` sizes finish on SwiftShader within the --quick budget; full sizes suit a real GPU. */
export function workloads(quick: boolean): Workload[] {
  if (quick) {
    return [
      matmulWorkload(128), matmulWorkload(256),
      conv2dWorkload({ N: 4, C: 8, O: 16, H: 16, W: 16, KH: 3, KW: 3, stride: 1, pad: 1 }),
      softmaxWorkload(256, 512), layerNormWorkload(256, 512), attentionWorkload(1, 2, 64, 32),
      chainWorkload(1024, 1000), trainingWorkload('mlp', 32), trainingWorkload('cnn', 8),
      gptWorkload(4, { vocab: 65, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 }),
      // issue 22's shape (two pre-norm blocks, 4 heads, width 64, 64 tokens) at a small batch
      gptWorkload(4, { vocab: 65, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64 }),
    ];
  }
  return [
    matmulWorkload(256), matmulWorkload(512), matmulWorkload(1024),
    conv2dWorkload({ N: 8, C: 16, O: 32, H: 32, W: 32, KH: 3, KW: 3, stride: 1, pad: 1 }),
    softmaxWorkload(1024, 1024), layerNormWorkload(1024, 1024), attentionWorkload(2, 4, 256, 64),
    chainWorkload(1024, 1000), trainingWorkload('mlp', 128), trainingWorkload('cnn', 32),
      gptWorkload(16, { vocab: 65, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64 }),
    // a long sequence: attention's T² share is 4x that of t64
    gptWorkload(4, { vocab: 65, blockSize: 256, nLayer: 2, nHead: 4, nEmbd: 64 }),
  ];
}
