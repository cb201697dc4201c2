/**
 * webtensor: tensors on WebGPU with a PyTorch-like API.
 *
 * @example
 * import * as wt from 'webtensor';
 * await wt.init();
 * const x = wt.randn([4, 3], { requiresGrad: true });
 * x.square().sum().backward();
 */
export { Tensor, type NestedArray } from './tensor.js';
export type { DType, DataArray } from './dtype.js';
export * from './errors.js';
export { init, setBackend, getBackend, setFloat32MatmulPrecision, getFloat32MatmulPrecision, type InitOptions } from './init.js';
export { tidy, keep, dispose, memory, resetPeakMemory, type MemoryInfo } from './memory.js';
export { checkpoint } from './checkpoint.js';
export { noGrad, manualSeed } from './engine.js';
export { gradcheck, GradcheckError, type GradcheckOptions } from './autograd/gradcheck.js';
export { CpuBackend } from './backend/cpu/index.js';
export type { Backend, BackendBuffer, View, Executable, BackendMemory, KernelStats, MatmulPrecision } from './backend/backend.js';
export {
  tensor, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, eye,
  rand, randn, randint, normal, uniform, type CreateOptions, type RandomOptions,
} from './ops/creation.js';
export { cat, stack, split, chunk, pad, flip, repeat, roll } from './ops/movement.js';
export * from './ops/functions.js';
export { softmax, logSoftmax, crossEntropy, layerNorm, batchNorm, type CrossEntropyOptions, type BatchNormOptions } from './ops/norm.js';
export { fusedAttention, setFusedAttention, FUSED_ATTENTION_MAX_FEATURES, FUSED_ATTENTION_AUTO_SCORES, FUSED_ATTENTION_AUTO_SHORT, type FusedAttentionOptions } from './ops/attention.js';
export { gather, indexSelect, embedding, scatterAdd, scatter, maskedFill, oneHot, padMode, type PadMode } from './ops/indexing.js';
export { cumsum, cumprod, sort, argsort, topk, max, min, amaxOf as amax, aminOf as amin, type ValuesIndices } from './ops/sort.js';
export { multinomial, type MultinomialOptions } from './ops/sample.js';
export * as optim from './optim/index.js';
export * as amp from './amp.js';
export { matmul, mm, linear } from './ops/linalg.js';
export { qlinear, qembedding, quantizeWeight, quantizeData, dequantize, type QuantizedWeight, type QuantizeOptions } from './ops/quant.js';
export { quantize, type QuantizeModelOptions } from './nn/quant.js';
export { bmm, einsum } from './ops/contract.js';
export { conv2d, convTranspose2d, maxPool2d, avgPool2d, adaptiveAvgPool2d, type IntPair, type Conv2dOptions, type ConvTranspose2dOptions, type MaxPool2dOptions, type AvgPool2dOptions } from './ops/conv.js';
export { conv1d, groupNorm, type Conv1dOptions } from './ops/conv1d.js';
export { interpolate, type InterpolateOptions, type InterpolateMode } from './ops/resize.js';
export { backendInfo, emptyCache, type BackendInfo } from './init.js';
export { save, load, loadMetadata, loadOptimizerState, type SaveOptions, type OptimizerStateDict } from './io/safetensors.js';
export type { LoadSource } from './io/source.js';
export { fromGPUBuffer, flush, type GPUBufferInfo } from './interop.js';
export { setDebug, isDebug } from './debug.js';
export { setFusion, isFusion } from './fusion.js';
export * as nn from './nn/index.js';
export * as F from './nn/functional.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
export * as callbacks from './train/callbacks.js';
export { profile, kernelStats, type ProfileReport, type KernelTime } from './profile.js';
export { compile, type Compiled, type CompileOptions, type CompileStats } from './compile.js';
