// PLACEHOLDER: being implemented
import type { CpuRoutine } from './index.js';
export const maxPool2d: CpuRoutine<'maxPool2d'> = () => { throw new Error('maxPool2d: not implemented yet'); };
export const maxPool2dBackward: CpuRoutine<'maxPool2dBackward'> = () => { throw new Error('maxPool2dBackward: not implemented yet'); };
export const avgPool2d: CpuRoutine<'avgPool2d'> = () => { throw new Error('avgPool2d: not implemented yet'); };
export const avgPool2dBackward: CpuRoutine<'avgPool2dBackward'> = () => { throw new Error('avgPool2dBackward: not implemented yet'); };
