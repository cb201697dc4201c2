/**
 * `webtensor/worker`: training off the main thread. The page holds a `TrainingWorker`; the
 * Worker (its own bundle entry) calls `serveTraining({ name: factory })` and owns the backend —
 * the WebGPU device lives there — the model and the loop. Built in: the 'lora-finetune' task
 * (`loraFineTuneTask`: LoRA on a causal language model from webtensor/lm), whose core
 * `LoraFineTune` also runs without a worker. Checkpoints go to the origin-private file system
 * (OPFS) in a browser and to a folder in Node, and a reloaded page resumes from them.
 *
 * @example
 * // worker.ts
 * import { serveTraining, loraFineTuneTask } from 'webtensor/worker';
 * serveTraining({ 'lora-finetune': loraFineTuneTask });
 *
 * // page.ts
 * import { TrainingWorker } from 'webtensor/worker';
 * const tw = new TrainingWorker(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
 * await tw.init();
 * await tw.open('lora-finetune', { model: 'https://huggingface.co/gpt2/resolve/main/' }, { checkpoint: 'run-1', resume: true });
 * tw.on('metrics', ({ step, loss, tokensPerSecond }) => console.log(step, loss, tokensPerSecond));
 * await tw.start({ text: 'To be, or not to be…', lr: 1e-3 }, { sampleEvery: 25, checkpointEvery: 100 });
 */
export { TrainingWorker, type WorkerBackend, type OpenResult } from './client.js';
export { serveTraining, type TaskFactory, type TaskContext, type TrainingTask, type TaskFiles } from './host.js';
export { LoraFineTune, type LoraFineTuneConfig, type StepMetrics, type Sample, type CheckpointFiles } from './finetune.js';
export { loraFineTuneTask, type LoraTaskConfig, type LoraTaskInfo } from './lora-task.js';
export { openCheckpointStore, type CheckpointStore } from './store.js';
export type { Endpoint, LoopOptions, Metrics, CheckpointManifest, TrainingEvents, TrainingEventType, TrainingEvent } from './protocol.js';
