/** wt.optim: optimizers, learning-rate schedulers and gradient clipping. */
export { Optimizer, type ParamGroup } from './optimizer.js';
export { SGD, Adam, AdamW, RMSprop, Adagrad, type SGDOptions, type AdamOptions, type RMSpropOptions, type AdagradOptions } from './optimizers.js';
