/**
 * The demo's training worker (its own bundle entry, demo/dist/train-worker.js, started by the
 * pages as a module Worker): webtensor's backend, the models and the training loops live here.
 * Tasks: 'lora-finetune' (the fine-tuning page), 'mnist-page' (the MNIST page's training,
 * evaluation and drawn-digit classification), 'char-page' (the char page's training, sampling
 * and validation), 'char' (the char page's bare step, timed against the main thread by
 * demo/src/worker-speed.ts), 'examples' (the examples page: one of demo/src/examples-list.ts's
 * examples, run as the command line runs it).
 */
import { loraFineTuneTask, serveTraining } from '../../src/worker/index.js';
import { charPageTask, charTask } from './char-task.js';
import { mnistPageTask } from './mnist-task.js';
import { playgroundTask } from './playground-task.js';
import { examplesTask } from './examples-task.js';

serveTraining({ 'lora-finetune': loraFineTuneTask, char: charTask, 'char-page': charPageTask, 'mnist-page': mnistPageTask, playground: playgroundTask, examples: examplesTask });
