/**
 * The WebGPU routines, by name (see src/kernel/kernel.ts `Routines` and ../launch.ts). The mapped
 * type makes the compiler refuse a missing routine, as the CPU's table does.
 *
 * One file per family: matmul.ts (tiled GEMM core shared with conv.ts), conv.ts, pool.ts,
 * norm.ts (softmax, cross-entropy, layer norm), batchnorm.ts, indexing.ts, attention.ts (fused
 * attention); their WGSL lives in shaders/ and is specialised through template.ts.
 */
import type { RoutineName } from '../../../kernel/kernel.js';
import type { GpuRoutine } from '../launch.js';
import { matmul } from './matmul.js';
import { qembedding, qmatmul } from './qmatmul.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from './conv.js';
import { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './pool.js';
import { softmax, softmaxBackward, crossEntropy, crossEntropyBackward, layerNorm, layerNormBackward } from './norm.js';
import { gather, indexSelect, scatterAdd, indexAdd, embeddingBackward } from './indexing.js';
import { batchNorm, batchNormBackward } from './batchnorm.js';
import { attention, attentionBackward, attentionShort, attentionShortBackward } from './attention.js';
import { scan, sort, sampleCategorical } from './sort.js';

export const gpuRoutines: { [K in RoutineName]: GpuRoutine<K> } = {
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
