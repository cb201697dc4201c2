/**
 * The WebGPU routines, by name (see src/kernel/kernel.ts `Routines` and ../launch.ts).
 * Partial while routines land: the backend throws a BackendError naming a missing one. Once
 * every routine exists, drop `Partial` so the compiler refuses a missing entry (as the CPU's
 * table does).
 */
import type { RoutineName } from '../../../kernel/kernel.js';
import type { GpuRoutine } from '../launch.js';
import { matmul } from './matmul.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from './conv.js';

export const gpuRoutines: Partial<{ [K in RoutineName]: GpuRoutine<K> }> = {
  matmul,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
};
