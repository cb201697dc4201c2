/**
 * wt.train: the Keras-like loop (fit / evaluate / predict, also as Module methods after an
 * optional `model.compile`), metrics, callbacks and the progress logger.
 *
 * @example
 * const h = await wt.train.fit(model, [x, y], { loss: 'crossEntropy', metrics: ['accuracy'], epochs: 3,
 *   callbacks: [new wt.train.EarlyStopping({ patience: 1 })], validationSplit: 0.1 });
 */
export { fitModel as fit, evaluateModel as evaluate, predictModel as predict, compileModel as compile, History, type FitData, type FitOptions, type CompileConfig, type EvaluateOptions, type PredictOptions, type TrainEvent, type OptimizerName } from './fit.js';
export { Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint, LambdaCallback, type CallbackLike, type Logs, type TrainContext, type Mode } from './callbacks.js';
export { accuracy, resolveLoss, resolveMetrics, type LossFn, type LossName, type LossSpec, type MetricFn, type MetricSpec } from './metrics.js';
export { ProgressLogger } from './progress.js';
