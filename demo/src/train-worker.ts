/**
 * The demo's training worker (its own bundle entry, demo/dist/train-worker.js, started by the
 * pages as a module Worker): webtensor's backend, the models and the training loops live here.
 * Tasks: 'lora-finetune' (the fine-tuning page).
 */
import { loraFineTuneTask, serveTraining } from '../../src/worker/index.js';

serveTraining({ 'lora-finetune': loraFineTuneTask });
