/**
 * Every differentiable op, with the metadata its gradient rule needs. `rules.ts` must hold one
 * rule per key here: the compiler refuses a missing one.
 */
import type { Pair } from '../kernel/kernel.js';
import type { ElementwiseName } from '../ops/elementwise.js';
import type { QuantizedWeight } from '../ops/quant.js';

export interface OpMeta {
  /**
   * any expression op of src/ops/elementwise.ts; saved: the tensor inputs whose gradients were
   * wanted (`wanted`, per tensor input) read (`reads`), then the output if used
   */
  elementwise: { def: ElementwiseName; scalars: readonly number[]; wanted: readonly boolean[]; reads: readonly boolean[]; operands: readonly (number | null)[] };
  sum: { axes: number[]; keepdim: boolean };
  mean: { axes: number[]; keepdim: boolean };
  /** max / min / prod over axes; saved: input, output */
  max: { axes: number[]; keepdim: boolean };
  min: { axes: number[]; keepdim: boolean };
  prod: { axes: number[]; keepdim: boolean };
  reshape: null;
  permute: { perm: number[] };
  expand: null;
  /** a strided sub-view (slice/narrow/select/indexing); its gradient pads the gradient back */
  slice: { starts: number[]; steps: number[] };
  cat: { dim: number; sizes: number[] };
  pad: { pads: number[] };
  /** matmul(a, b), or linear(x, w, b?) = x @ wᵀ + b when `linear`; saved: a, b (x, w) */
  matmul: { linear: boolean };
  /** qlinear(x, W, b?) = x @ Wᵀ + b with W quantized (src/ops/quant.ts): inputs x, b; W in meta, no gradient */
  qlinear: { weight: QuantizedWeight };
  conv2d: { stride: Pair; padding: Pair; dilation: Pair; groups: number; bias: boolean };
  convTranspose2d: { stride: Pair; padding: Pair; dilation: Pair; groups: number; bias: boolean };
  maxPool2d: { kernel: Pair; stride: Pair; padding: Pair; dilation: Pair };
  avgPool2d: { kernel: Pair; stride: Pair; padding: Pair; countIncludePad: boolean };
  softmax: { dim: number; log: boolean };
  crossEntropy: { ignoreIndex: number; reduction: 'mean' | 'sum' | 'none' };
  layerNorm: { eps: number; affine: boolean };
  /** batch norm in training mode (the batchNorm routine); saved: x as [N,C,S], mean, invstd, w? */
  batchNorm: { affine: boolean };
  /** fused attention (src/ops/attention.ts); saved: q, k, v, the output and the rows' logsumexp (short: the heads-merged [B,L,H,Ev] output and the weights) */
  attention: { scale: number; causal: boolean; short?: boolean };
  gather: { dim: number };
  indexSelect: { dim: number };
  scatterAdd: { dim: number };
  /** cumsum / cumprod along dim (src/ops/sort.ts); cumprod saves the input and the output */
  cumsum: { dim: number };
  cumprod: { dim: number };
  /** wt.checkpoint: the function run again with gradients in backward (src/checkpoint.ts); saved: the function's tensor arguments */
  checkpoint: { backward: (node: import('./graph.js').Node<'checkpoint'>, g: import('../tensor.js').Tensor) => (import('../tensor.js').Tensor | null)[] };
}
export type OpName = keyof OpMeta;
