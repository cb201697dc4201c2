/**
 * Kernel requests: what the front end asks a backend to run. Either an expression kernel
 * (elementwise or reduce, described by IR) or a routine (matmul, conv, softmax, ...) named in
 * the typed `Routines` table below, which every backend must implement in full.
 *
 * Shapes, strides and offsets travel with the views at dispatch time, never in the kernel,
 * so one compiled program serves every shape.
 */
import type { DType } from '../dtype.js';
import { exprKey, type Expr } from './ir.js';

/** out[i] = expr(inputs at i), over an `ndim`-dimensional output; inputs may be strided/broadcast. */
export interface ElementwiseKernel {
  readonly kind: 'elementwise';
  readonly expr: Expr;
  readonly ndim: number;
  /**
   * Further outputs of the same shape, written at the same index (outputs[1..]). Every output
   * is computed from the inputs as they were before the kernel: fused optimizer updates write
   * a parameter and its state in one pass this way.
   */
  readonly more?: readonly Expr[];
  /**
   * S > 1: S independent segments in one dispatch (an optimizer step over many parameters).
   * Views come segment-major: inputs.length / S inputs and outputs.length / S outputs per
   * segment, every view 1-D and contiguous, a segment's length its outputs' length, its scalars
   * shared. `ndim` is 1.
   */
  readonly segments?: number;
}

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'argmax' | 'argmin';

/**
 * Reduction over the trailing `nReduce` dims of an `ndim`-dim iteration space: every input view
 * has the full iteration shape (outer dims first, reduced dims last); the output has the outer dims.
 * `expr` is evaluated per element before reducing (so x*x, or a cast, folds into the reduction).
 */
export interface ReduceKernel {
  readonly kind: 'reduce';
  readonly op: ReduceOp;
  readonly expr: Expr;
  readonly ndim: number;
  readonly nReduce: number;
}


/**
 * The batch of a matmul view [R, C], [Z, R, C] or [Zo, Zi, R, C] (as the routine's output has it:
 * `zIn` = Zi, 1 below rank 4): batch z of the routine sits at element
 * floor(z / zIn)·outer + (z mod zIn)·inner. A size-1 batch dim broadcasts (stride 0). Two batch
 * levels let a matmul read a head-split view such as [B, T, H, D] permuted to [B, H, T, D] in place.
 */
export function matmulBatch(shape: readonly number[], strides: readonly number[], zIn: number): { outer: number; inner: number } {
  const nd = shape.length;
  const s = (d: number): number => (shape[d] === 1 ? 0 : strides[d]);
  if (nd === 4) return { outer: s(0), inner: s(1) };
  if (nd === 3) return { outer: s(0) * zIn, inner: s(0) };
  return { outer: 0, inner: 0 };
}
export type Pair = readonly [number, number];

/**
 * An elementwise epilogue of the matmul routine: output k is `exprs[k]` evaluated at each output
 * element, where `load(0)` is the product there (a@b + bias, as float32) and `load(i)`, i ≥ 1,
 * reads epilogue input i (the routine's input 2 + i, or 3 + i with a bias) at the same [z, m, n].
 * Expressions are float32 and have no scalar, index or random leaves (constants only): the GEMM
 * has no uniforms for them. One batch level only (no [Bo,Bi] views).
 * E.g. gelu(x@W + b) and x@W + b together: exprs [gelu(load(0)), load(0)]; a residual
 * r + x@W: [add(load(1), load(0))].
 */
export interface MatmulEpilogue {
  readonly exprs: readonly Expr[];
}

/** Epilogue inputs an epilogue reads (its highest load index). */
export function epilogueInputs(e: MatmulEpilogue): number {
  let n = 0;
  const walk = (x: Expr): void => {
    if (x.op === 'load') n = Math.max(n, x.value!);
    x.args.forEach(walk);
  };
  e.exprs.forEach(walk);
  return n;
}

/** Whether `e` can be part of a matmul epilogue expression: float32 loads and constants as leaves. */
export function epilogueExpr(e: Expr): boolean {
  if (e.op === 'scalar' || e.op === 'index' || e.op === 'rand') return false;
  if (e.op === 'load') return e.dtype === 'float32';
  return e.args.every(epilogueExpr);
}

/**
 * Routines: name → static configuration. Comments give inputs → outputs; every view is
 * contiguous unless noted. Legend: B batch, M/N/K matmul dims, N batch (conv), C channels in,
 * O channels out, H/W spatial, R rows, D row length.
 */
/** Largest query/key and value feature size (head dim) of the `attention` routines. */
export const ATTENTION_MAX_FEATURES = 128;
/** Most queries (L) and keys (S) of the short-sequence `attentionShort` routines. */
export const ATTENTION_SHORT_MAX_ROWS = 256;

/**
 * The gradient parts of attentionShortBackward's output: offsets and strides (b, h, row, feature)
 * of gq, gk, gv in g. Packed: g is [B, L, 3, H, E] (a packed q/k/v projection's gradient, L = S,
 * E = Ev); else gq [B, L, H, E], gk [B, S, H, E], gv [B, S, H, Ev] one after another.
 */
export function attentionShortGradParts(packed: boolean, B: number, H: number, L: number, S: number, E: number, Ev: number): { off: number; strides: number[] }[] {
  if (packed) {
    const st = [L * 3 * H * E, E, 3 * H * E, 1];
    return [0, 1, 2].map((i) => ({ off: i * H * E, strides: st }));
  }
  return [
    { off: 0, strides: [L * H * E, E, H * E, 1] },
    { off: B * L * H * E, strides: [S * H * E, E, H * E, 1] },
    { off: B * (L + S) * H * E, strides: [S * H * Ev, Ev, H * Ev, 1] },
  ];
}


export interface Routines {
  /**
   * a[B,M,K] (any strides), b[B,K,N] (any strides), bias?[N] → out[B,M,N] = a@b + bias; the
   * batch may also come as two dims [Bo,Bi,..] on every view (see {@link matmulBatch}).
   * `epilogue` (see {@link MatmulEpilogue}): further inputs e1..[B,M,N] (any strides, after the
   * bias) and one output per expression, each written where the product is computed.
   * `rowSums`: one more output, last, rowsum[B,M] (or [M]) = Σ_k a[b,m,k]: with a = gᵀ, a linear
   * layer's bias gradient from its weight gradient's GEMM. Both take one batch level only.
   */
  matmul: { bias: boolean; epilogue?: MatmulEpilogue; rowSums?: boolean };
  /** x[N,C,H,W], w[O,C/g,kh,kw], bias?[O] → y[N,O,Ho,Wo] */
  conv2d: { stride: Pair; padding: Pair; dilation: Pair; groups: number; bias: boolean };
  /** gy[N,O,Ho,Wo], w[O,C/g,kh,kw] → gx[N,C,H,W] (H, W from the output view; also convTranspose2d) */
  conv2dBackwardInput: { stride: Pair; padding: Pair; dilation: Pair; groups: number };
  /** x[N,C,H,W], gy[N,O,Ho,Wo] → gw[O,C/g,kh,kw] (kh, kw from the output view) */
  conv2dBackwardWeight: { stride: Pair; padding: Pair; dilation: Pair; groups: number };
  /** x[N,C,H,W] → y[N,C,Ho,Wo], argmax int32[N,C,Ho,Wo] (flat index into H*W) */
  maxPool2d: { kernel: Pair; stride: Pair; padding: Pair; dilation: Pair };
  /** gy[N,C,Ho,Wo], argmax int32[N,C,Ho,Wo] → gx[N,C,H,W] */
  maxPool2dBackward: { kernel: Pair; stride: Pair; padding: Pair; dilation: Pair };
  /** x[N,C,H,W] → y[N,C,Ho,Wo] */
  avgPool2d: { kernel: Pair; stride: Pair; padding: Pair; countIncludePad: boolean };
  /** gy[N,C,Ho,Wo] → gx[N,C,H,W] */
  avgPool2dBackward: { kernel: Pair; stride: Pair; padding: Pair; countIncludePad: boolean };
  /**
   * x[R,D] → y[R,D], softmax or log-softmax of each row. `causal`: x is [.., L, D] and row i of
   * each [L, D] matrix reads only columns j ≤ i, the rest counting as -inf (weight 0; -inf for
   * log): attention's causal mask without a masked copy of the scores
   */
  softmax: { log: boolean; causal?: boolean };
  /** y[R,D] (the forward output), gy[R,D] → gx[R,D] */
  softmaxBackward: { log: boolean };
  /** logits[R,D], target int32[R] → loss[R] = logsumexp(row) - row[target] (0 where target == ignoreIndex) */
  crossEntropy: { ignoreIndex: number };
  /**
   * logits[R,D], target int32[R], gloss[R] → glogits[R,D] = (softmax(row) - onehot) * gloss;
   * gloss may have any stride (0: a mean's one upstream gradient, broadcast without a copy)
   */
  crossEntropyBackward: { ignoreIndex: number };
  /**
   * x[R,D], w?[D], b?[D] → y[R,D], mean[R,2], rstd[R]. Each row's mean is the pair (m0, m1),
   * mean = m0 + m1: x - m0 - m1 keeps the spread exact where |mean| ≫ std (a float32 mean alone
   * is off by half its ulp, 3e-5 for a mean of 1000, which is 6e-4 of a std of 0.05)
   */
  layerNorm: { eps: number; affine: boolean };
  /**
   * x[R,D], gy[R,D], mean[R,2], rstd[R], w?[D], gres?[R,D] → gx[R,D], then gw[D], gb[D] when
   * affine. With `residual`, gres (the gradient x already has from elsewhere: a pre-norm block's
   * skip path) is added to gx in the same pass
   */
  layerNormBackward: { affine: boolean; residual?: boolean };
  /**
   * Batch norm, training statistics. x[N,C,S] (S = H·W·…, 1 for [N,C]), w?[C], b?[C] →
   * y[N,C,S], mean[C,2], invstd[C]: per channel over N and S, biased variance,
   * invstd = 1/sqrt(var + eps); y = (x - mean)·invstd·w + b (w, b given when `affine`); each
   * channel's mean is a pair (m0, m1), mean = m0 + m1, as layerNorm's
   */
  batchNorm: { eps: number; affine: boolean };
  /**
   * x[N,C,S], gy[N,C,S], mean[C,2], invstd[C], w?[C] → gx[N,C,S], gw[C], gb[C] (always all three;
   * gw and gb are the channel sums the input gradient needs anyway, overwritten, not accumulated).
   */
  batchNormBackward: { affine: boolean };
  /**
   * Fused attention (the scores never reach memory): q[B,H,L,E], k[B,H,S,E], v[B,H,S,Ev] (any
   * strides; size-1 dims broadcast) → o[B,H,L,Ev] = softmax(scale·q kᵀ) v, lse[B,H,L] = the
   * logsumexp of each query's scaled scores. `causal`: query i reads keys j ≤ i (top-left aligned).
   * E and Ev at most {@link ATTENTION_MAX_FEATURES}.
   */
  attention: { scale: number; causal: boolean };
  /**
   * q, k, v (as the forward), go[B,H,L,Ev], lse[B,H,L], delta[B,H,L] = rowsum(go·o) →
   * gq[B,H,L,E], gk[B,H,S,E], gv[B,H,S,Ev]
   */
  attentionBackward: { scale: number; causal: boolean };
  /**
   * Short-sequence attention (L, S ≤ {@link ATTENTION_SHORT_MAX_ROWS}), one workgroup per matrix:
   * q[B,H,L,E], k[B,H,S,E], v[B,H,S,Ev] (any strides; size-1 dims broadcast) →
   * o[B,L,H,Ev] (the heads merged, as multi-head attention's output projection reads them),
   * p[B,H,L,S] = softmax(scale·q kᵀ) (kept for the backward, as the composed path's weights;
   * causal: the entries after each query's last key are left unwritten). E and Ev at most
   * {@link ATTENTION_MAX_FEATURES}.
   */
  attentionShort: { scale: number; causal: boolean };
  /**
   * q, k, v (as the forward), o[B,L,H,Ev], go[B,H,L,Ev] (any strides), p[B,H,L,S] → g, one
   * buffer holding gq, gk, gv: `packed` (L = S, E = Ev) as [B,L,3,H,E] (a packed q/k/v
   * projection's gradient); else gq[B,L,H,E], gk[B,S,H,E], gv[B,S,H,Ev] one after another
   * ({@link attentionShortGradParts}); and ds[B,H,L,S], scratch (p·(go·vᵀ - rowsum(go·o)))
   */
  attentionShortBackward: { scale: number; causal: boolean; packed: boolean };
  /** x[...], index int32[...] (same rank) → out[...index shape] gathered along dim */
  gather: { dim: number };
  /** x[..., S, ...], index int32[L] → out[..., L, ...]: rows of x picked along dim (embedding) */
  indexSelect: { dim: number };
  /** index int32[...], src[...] (same shape) → out (read-write, accumulated): out[..index..] += src */
  scatterAdd: { dim: number };
  /** index int32[L], src[..., L, ...] → out[..., S, ...] (read-write, accumulated) along dim */
  indexAdd: { dim: number };
  /**
   * An embedding's gradient: index int32[N], g[N,C] (any strides) → out[V,C] (contiguous), every
   * row written: out[v] = Σ_{i: index[i] = v} g[i], summed in increasing i (0 where no index is v;
   * indices outside [0, V) skipped). Deterministic, and no zero-fill before it
   */
  embeddingBackward: Record<string, never>;
  /**
   * Inclusive scan of each row: x[R,D] → y[R,D] (float32 or int32, y of x's dtype; int32 wraps),
   * y_i = x_0 + … + x_i ('sum') or x_0 · … · x_i ('prod'). 'affine' (float32): a[R,D], b[R,D] →
   * y with y_i = a_i·y_{i-1} + b_i, y_{-1} = 0 (cumprod's gradient). `reverse`: the row is taken
   * from its end (i runs from D-1 down).
   */
  scan: { op: 'sum' | 'prod' | 'affine'; reverse: boolean };
  /**
   * x[R,D] (float32 or int32) → values[R,D] (x's dtype), indices int32[R,D]: each row sorted,
   * stably (equal keys keep their order; -0 equals 0), NaN above every number (first when
   * `descending`).
   */
  sort: { descending: boolean };
  /**
   * cdf[R,D] (each row's inclusive cumulative sum of w), w[R,D], t[R,S] → out int32[R,S]: the
   * first j with cdf[j] > t (binary search), moved on to the next j with w[j] > 0 if w[j] is not
   * (a rounding corner), else back to the last such j: a draw of multinomial with replacement.
   */
  sampleCategorical: Record<string, never>;
  /**
   * Weight-only quantized matmul (see {@link QuantConfig} for the packed layout): x[M,K],
   * q int32[N,Wd], scales[N,Gn], mins?[N,Gn] (all contiguous) → out[M,N] = x @ Wᵀ, the weights
   * dequantized in the K loop (never widened in memory). `transpose`: x is g[M,N] and
   * out[M,K] = g @ W (the input gradient). K is x's (out's) last dim; Wd = ⌈K/G⌉·G·bits/32,
   * Gn = ⌈K/G⌉ (the last group padded with zero codes past K).
   */
  qmatmul: QuantConfig & { transpose: boolean };
  /**
   * Gather-dequantize (a quantized embedding's lookup): ids int32[R], q int32[N,Wd], scales[N,Gn],
   * mins?[N,Gn] (all contiguous) → out[R,K]: row ids[r] of the dequantized [N, K] weight, each
   * value computed as the transposed qmatmul computes it (so equal to `dequantize` then a gather).
   * K is out's last dim; ids out of [0, N) are clamped (the front end checks them).
   */
  qembedding: QuantConfig;
}

/**
 * Group-wise weight-only quantization of a [N, K] weight: each row's K run is cut into groups of
 * `groupSize` (a multiple of 32), each with an f32 scale s (and, `mins`, an f32 minimum m). Codes
 * u are unsigned `bits`-bit integers, packed little-end first 32/bits to an int32 word along K
 * (word j of row n holds k = j·P .. j·P+P-1, P = 32/bits, code i at bits i·bits). The value is
 * s·(u - 2^(bits-1)) (symmetric) or s·u + m (`mins`).
 */
export interface QuantConfig {
  bits: 4 | 8;
  groupSize: number;
  mins: boolean;
}
export type RoutineName = keyof Routines;

export interface RoutineKernel<K extends RoutineName = RoutineName> {
  readonly kind: 'routine';
  readonly name: K;
  readonly config: Routines[K];
}

export type Kernel = ElementwiseKernel | ReduceKernel | RoutineKernel;

/** A stable key for caching compiled kernels. */
export function kernelKey(k: Kernel): string {
  switch (k.kind) {
    case 'elementwise': return `ew${k.ndim}${k.segments ? `x${k.segments}` : ''}|${[k.expr, ...(k.more ?? [])].map(exprKey).join(';')}`;
    case 'reduce': return `red:${k.op}${k.ndim}/${k.nReduce}|${exprKey(k.expr)}`;
    case 'routine': return `${k.name}|${JSON.stringify(k.config, (key, v: unknown) => (key === 'epilogue' ? (v as MatmulEpilogue).exprs.map(exprKey).join(';') : v))}`;
  }
}

/**
 * A short readable name for profiles: a routine's name and the parts of its config that pick
 * a different loop (flags that are on, activations, `log`), an expression kernel's IR ops
 * (`ew mul+add`, a reduction `sum(exp+sub)`).
 */
export function kernelLabel(k: Kernel): string {
  if (k.kind === 'routine') {
    const flags = Object.entries(k.config as unknown as Record<string, unknown>)
      .filter(([, v]) => v === true || (typeof v === 'string' && v !== 'none'))
      .map(([n, v]) => (v === true ? n : String(v)));
    const epi = (k.config as { epilogue?: MatmulEpilogue }).epilogue;
    if (epi) flags.push(`+${opsOf(epi.exprs) || 'copy'}${epi.exprs.length > 1 ? ` x${epi.exprs.length}` : ''}`);
    return [k.name, ...flags].join(' ');
  }
  const body = opsOf([k.expr, ...(k.kind === 'elementwise' ? k.more ?? [] : [])]);
  return k.kind === 'reduce' ? `${k.op}(${body || 'load'})` : `ew ${body || 'copy'}`;
}

/** The first four IR ops of `exprs` (leaves left out), joined by '+', for labels. */
function opsOf(exprs: readonly Expr[]): string {
  const ops: string[] = [];
  const walk = (e: Expr): void => {
    if (e.op !== 'load' && e.op !== 'scalar' && e.op !== 'const' && !ops.includes(e.op)) ops.push(e.op);
    e.args.forEach(walk);
  };
  exprs.forEach(walk);
  return ops.slice(0, 4).join('+') + (ops.length > 4 ? '+…' : '');
}

/** Output dtype of a reduce kernel. */
export function reduceDType(op: ReduceOp, body: DType): DType {
  return op === 'argmax' || op === 'argmin' ? 'int32' : op === 'mean' ? 'float32' : body;
}

/** Most threads the WebGPU embeddingBackward kernel runs (each walks the whole index; rows per thread = V·C / this). */
export const EMBEDDING_BACKWARD_THREADS = 65536;
