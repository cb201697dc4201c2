/**
 * Napkin math: the work one call of a kernel does, to turn a time into GFLOP/s or GB/s (the
 * llm.c habit). Counts are the algorithm's minimum, not what a particular kernel executes:
 * a multiply-add is 2 FLOPs; bytes are each input read once and each output written once.
 */

const F32 = 4;

/** C[M,N] = A[M,K] · B[K,N]: one multiply-add per (m, n, k). */
export function matmulFlops(m: number, n: number, k: number): number {
  return 2 * m * n * k;
}

export interface Conv2dShape {
  /** N = batch, C = input channels, O = output channels, H×W input, KH×KW kernel */
  N: number; C: number; O: number; H: number; W: number; KH: number; KW: number;
  stride: number; pad: number;
}

/** Output size of one spatial dim: floor((in + 2·pad - k) / stride) + 1. */
export function convOut(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

/** y[N,O,Ho,Wo]: one multiply-add per output element per (c, kh, kw) (padding taps counted). */
export function conv2dFlops(s: Conv2dShape): number {
  const ho = convOut(s.H, s.KH, s.stride, s.pad), wo = convOut(s.W, s.KW, s.stride, s.pad);
  return 2 * s.N * s.O * ho * wo * s.C * s.KH * s.KW;
}

/** Softmax over R rows of D: read x, write y, float32 (memory-bound: 2·R·D·4 bytes). */
export function softmaxBytes(rows: number, d: number): number {
  return 2 * rows * d * F32;
}

/** LayerNorm over R rows of D with weight and bias of D: read x, write y, read weight and bias. */
export function layerNormBytes(rows: number, d: number): number {
  return (2 * rows * d + 2 * d) * F32;
}

/** GFLOP/s from a FLOP count and milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}

/** GB/s (10⁹ bytes) from a byte count and milliseconds. */
export function gbps(bytes: number, ms: number): number {
  return bytes / (ms * 1e6);
}

/** Attention over [B, H, T, D]: QKᵀ and PV are each 2·T²·D per head (the causal half counted too). */
export function attentionFlops(b: number, h: number, t: number, d: number): number {
  return 4 * b * h * t * t * d;
}
