// PLACEHOLDER: being implemented
import type { CpuRoutine } from './index.js';
export const matmul: CpuRoutine<'matmul'> = () => { throw new Error('matmul: not implemented yet'); };
