/** wt.nn: modules, layers, initialisers and the functional API. */
export { Module, parameter, isParameter } from './module.js';
export * from './layers.js';
export * from './loss-modules.js';
export * as init from './init.js';
export * as functional from './functional.js';
export * from './attention.js';
export * from './recurrent.js';
export * from './more-layers.js';
export * from './containers.js';
export * from './decoder.js';
export { summary, type SummaryRow } from './summary.js';
export * as lora from './lora.js';
export { QuantizedEmbedding, QuantizedLinear, type QuantizeModelOptions } from './quant.js';
