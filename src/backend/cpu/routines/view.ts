/** What a CPU routine takes: views with their backing arrays, and its type per routine name. */
import type { View } from '../../backend.js';
import type { StorageArray } from '../../../dtype.js';
import type { RoutineName, Routines } from '../../../kernel/kernel.js';

/** A view with its backing array. */
export interface CpuView extends View {
  readonly data: StorageArray;
}

export type CpuRoutine<K extends RoutineName> = (config: Routines[K], inputs: readonly CpuView[], outputs: readonly CpuView[]) => void;
