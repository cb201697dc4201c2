/** wt.optim: optimizers, learning-rate schedulers and gradient clipping. */
export { Optimizer, type ParamGroup } from './optimizer.js';
export { SGD, Adam, AdamW, RMSprop, Adagrad, type SGDOptions, type AdamOptions, type RMSpropOptions, type AdagradOptions } from './optimizers.js';
export * as lr from './lr.js';
export { clipGradNorm, clipGradValue } from './clip.js';
