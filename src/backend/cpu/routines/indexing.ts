// PLACEHOLDER: being implemented
import type { CpuRoutine } from './index.js';
export const gather: CpuRoutine<'gather'> = () => { throw new Error('gather: not implemented yet'); };
export const indexSelect: CpuRoutine<'indexSelect'> = () => { throw new Error('indexSelect: not implemented yet'); };
export const scatterAdd: CpuRoutine<'scatterAdd'> = () => { throw new Error('scatterAdd: not implemented yet'); };
export const indexAdd: CpuRoutine<'indexAdd'> = () => { throw new Error('indexAdd: not implemented yet'); };
