// PLACEHOLDER: being implemented
import type { CpuRoutine } from './index.js';
export const conv2d: CpuRoutine<'conv2d'> = () => { throw new Error('conv2d: not implemented yet'); };
export const conv2dBackwardInput: CpuRoutine<'conv2dBackwardInput'> = () => { throw new Error('conv2dBackwardInput: not implemented yet'); };
export const conv2dBackwardWeight: CpuRoutine<'conv2dBackwardWeight'> = () => { throw new Error('conv2dBackwardWeight: not implemented yet'); };
