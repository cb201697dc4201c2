/**
 * The CPU routines, one per entry of `Routines` (src/kernel/kernel.ts); the mapped type makes
 * the compiler refuse a missing one.
 */
import type { View } from '../../backend.js';
import type { StorageArray } from '../../../dtype.js';
import type { RoutineName, Routines } from '../../../kernel/kernel.js';
import { matmul } from './matmul.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from './conv.js';
import { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './pool.js';
import { softmax, softmaxBackward, crossEntropy, crossEntropyBackward, layerNorm, layerNormBackward } from './norm.js';
import { gather, indexSelect, scatterAdd, indexAdd } from './indexing.js';
import { batchNorm, batchNormBackward } from './batchnorm.js';
import { attention, attentionBackward } from './attention.js';

/** A view with its backing array. */
export interface CpuView extends View {
  readonly data: StorageArray;
}

export type CpuRoutine<K extends RoutineName> = (config: Routines[K], inputs: readonly CpuView[], outputs: readonly CpuView[]) => void;

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
  gather,
  indexSelect,
  scatterAdd,
  indexAdd,
};
