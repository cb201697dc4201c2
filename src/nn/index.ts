/** wt.nn: modules, layers, initialisers and the functional API. */
export { Module, parameter, isParameter } from './module.js';
export * from './layers.js';
export * as init from './init.js';
export * as functional from './functional.js';
