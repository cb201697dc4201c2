// PLACEHOLDER: being implemented
import type { CpuRoutine } from './index.js';
export const softmax: CpuRoutine<'softmax'> = () => { throw new Error('softmax: not implemented yet'); };
export const softmaxBackward: CpuRoutine<'softmaxBackward'> = () => { throw new Error('softmaxBackward: not implemented yet'); };
export const crossEntropy: CpuRoutine<'crossEntropy'> = () => { throw new Error('crossEntropy: not implemented yet'); };
export const crossEntropyBackward: CpuRoutine<'crossEntropyBackward'> = () => { throw new Error('crossEntropyBackward: not implemented yet'); };
export const layerNorm: CpuRoutine<'layerNorm'> = () => { throw new Error('layerNorm: not implemented yet'); };
export const layerNormBackward: CpuRoutine<'layerNormBackward'> = () => { throw new Error('layerNormBackward: not implemented yet'); };
