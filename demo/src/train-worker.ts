/**
 * The demo's training worker (its own bundle entry, demo/dist/train-worker.js, started by the
 * pages as a module Worker): webtensor's backend, the models and the training loops live here.
 * Tasks: 'lora-finetune' (the fine-tuning page), 'char' (the char page's step, timed against the
 * main thread by demo/src/worker-speed.ts).
 */
import { loraFineTuneTask, serveTraining } from '../../src/worker/index.js';
import { charTask } from './char-task.js';

serveTraining({ 'lora-finetune': loraFineTuneTask, char: charTask });
