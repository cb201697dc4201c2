/**
 * The CPU routines, one per entry of `Routines` (src/kernel/kernel.ts); the mapped type makes
 * the compiler refuse a missing one.
 */
import type { RoutineName } from '../../../kernel/kernel.js';
import type { CpuRoutine } from './view.js';
import { matmul } from './matmul.js';
import { qembedding, qmatmul } from './qmatmul.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from './conv.js';
import { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './pool.js';
import { softmax, softmaxBackward, crossEntropy, crossEntropyBackward, layerNorm, layerNormBackward } from './norm.js';
import { gather, indexSelect, scatterAdd, indexAdd, embeddingBackward } from './indexing.js';
import { batchNorm, batchNormBackward } from './batchnorm.js';
import { attention, attentionBackward, attentionShort, attentionShortBackward } from './attention.js';
import { scan, sort, sampleCategorical } from './sort.js';

export type { CpuRoutine, CpuView } from './view.js';

export const cpuRoutines: { [K in RoutineName]: CpuRoutine<K> } = {
  matmul,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  softmax,
  softmaxBackward,
  crossEntropy,
  crossEntropyBackward,
  layerNorm,
  layerNormBackward,
  batchNorm,
  batchNormBackward,
  attention,
  attentionBackward,
  attentionShort,
  attentionShortBackward,
  gather,
  indexSelect,
  scatterAdd,
  indexAdd,
  embeddingBackward,
  scan,
  sort,
  sampleCategorical,
  qmatmul,
  qembedding,
};
