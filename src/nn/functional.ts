/**
 * wt.nn.functional (F): layers as functions, plus the losses.
 * @example const y = F.relu(F.linear(x, w, b)); const loss = F.crossEntropy(y, target);
 */
import type { Tensor } from '../tensor.js';
export { linear, matmul } from '../ops/linalg.js';
export { conv2d, convTranspose2d, maxPool2d, avgPool2d, adaptiveAvgPool2d } from '../ops/conv.js';
export { softmax, logSoftmax, layerNorm, batchNorm } from '../ops/norm.js';
export { embedding, oneHot, padMode as pad } from '../ops/indexing.js';
export { dropout } from '../ops/elementwise.js';
export * from './losses.js';

export const relu = (x: Tensor) => x.relu();
export const sigmoid = (x: Tensor) => x.sigmoid();
export const tanh = (x: Tensor) => x.tanh();
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none') => x.gelu(approximate);
export const silu = (x: Tensor) => x.silu();
export const elu = (x: Tensor, alpha = 1) => x.elu(alpha);
export const leakyRelu = (x: Tensor, negativeSlope = 0.01) => x.leakyRelu(negativeSlope);
export const softplus = (x: Tensor, beta = 1, threshold = 20) => x.softplus(beta, threshold);
