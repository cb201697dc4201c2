/**
 * wt.nn.functional (F): layers as functions, plus the losses.
 * @example const y = F.relu(F.linear(x, w, b)); const loss = F.crossEntropy(y, target);
 */
import type { Tensor } from '../tensor.js';
import { tensorArg } from '../validate.js';
export { linear, matmul } from '../ops/linalg.js';
export { conv2d, convTranspose2d, maxPool2d, avgPool2d, adaptiveAvgPool2d } from '../ops/conv.js';
export { softmax, logSoftmax, layerNorm, batchNorm } from '../ops/norm.js';
export { embedding, oneHot } from '../ops/indexing.js';
export { conv1d, groupNorm } from '../ops/conv1d.js';
export { interpolate } from '../ops/resize.js';
import { padWith, type PadMode } from '../ops/indexing.js';

/**
 * Pads (or, with negative amounts, crops) as torch.nn.functional.pad: `pads` = [lastLeft,
 * lastRight, prevLeft, prevRight, ...]; mode 'constant' (with `value`), 'reflect', 'replicate'
 * or 'circular'.
 *
 * @example F.pad(x, [1, 1], 'reflect')
 */
export function pad(x: Tensor, pads: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  return padWith('pad', x, pads, mode, value);
}
export { dropout } from '../ops/elementwise.js';
export * from './losses.js';

const input = (op: string, x: unknown): Tensor => tensorArg(op, 'input', x);

export const relu = (x: Tensor) => input('relu', x).relu();
export const sigmoid = (x: Tensor) => input('sigmoid', x).sigmoid();
export const tanh = (x: Tensor) => input('tanh', x).tanh();
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none') => input('gelu', x).gelu(approximate);
export const silu = (x: Tensor) => input('silu', x).silu();
export const elu = (x: Tensor, alpha = 1) => input('elu', x).elu(alpha);
export const leakyRelu = (x: Tensor, negativeSlope = 0.01) => input('leakyRelu', x).leakyRelu(negativeSlope);
export const softplus = (x: Tensor, beta = 1, threshold = 20) => input('softplus', x).softplus(beta, threshold);
