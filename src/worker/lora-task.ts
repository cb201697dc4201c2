/**
 * The 'lora-finetune' task for `serveTraining`: loads a causal language model and its tokenizer
 * (`open`), fine-tunes a LoRA adapter on a text (`start` with the training config), and answers
 * `call`s for samples, the adapter's files and loading a saved adapter.
 */
import * as wt from '../index.js';
import { ArgumentError, FormatError } from '../errors.js';
import { loadCausalLM } from '../lm/load.js';
import { loadTokenizer } from '../lm/tokenizer.js';
import type { ModelSource } from '../lm/files.js';
import { describeValue } from '../validate.js';
import { LoraFineTune, sampleText, type LoraFineTuneConfig } from './finetune.js';
import type { TaskContext, TaskFactory, TrainingTask } from './host.js';

/** `open`'s config for 'lora-finetune'. */
export interface LoraTaskConfig {
  /** the model's files: a URL base (a hub folder), a Node folder, or Files / Blobs by name */
  model: ModelSource;
  /** positions to plan memory for (loadCausalLM's context; default the model's) */
  context?: number;
}

/** What `open` answers for 'lora-finetune'. */
export interface LoraTaskInfo {
  modelType: string;
  parameters: number;
  layers: number;
  vocabSize: number;
  maxPositions: number | null;
  /** a resumed run: its training text, config and [step, loss] history */
  resumed: { text: string; config: Omit<LoraFineTuneConfig, 'text'>; history: [number, number][] } | null;
}

/**
 * Task factory: `open('lora-finetune', { model })`, then `start({ text, lr, ... })`
 * (LoraFineTuneConfig); calls: `sample(prompt?, maxNewTokens?)`, `adapterFiles()`,
 * `loadAdapter(files)` (PEFT's two files: the model then generates with that adapter, frozen),
 * `reset()` (drops the adapter and the optimizer).
 */
export const loraFineTuneTask: TaskFactory = async (config: unknown, ctx: TaskContext): Promise<TrainingTask> => {
  const op = "TrainingWorker.open('lora-finetune')";
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new ArgumentError(`${op}: config must be { model, context? }, got ${describeValue(config)}`);
  if (ctx === null || typeof ctx !== 'object' || typeof ctx.progress !== 'function' || (ctx.checkpoint !== null && (typeof ctx.checkpoint !== 'object' || Array.isArray(ctx.checkpoint)))) {
    throw new ArgumentError(`${op}: ctx must be the host's task context ({ checkpoint, progress }), got ${describeValue(ctx)}`);
  }
  const { model: source, context, ...rest } = config as LoraTaskConfig;
  if (Object.keys(rest).length) throw new ArgumentError(`${op}: unknown option '${Object.keys(rest)[0]}' (model, context; the training config goes to start)`);
  if (source === undefined || source === null) throw new ArgumentError(`${op}: config.model is missing (a URL base, a folder path or the model's Files)`);
  // the tokenizer first: a model is loaded only when everything else is in order, and freed if resuming fails
  const tokenizer = await loadTokenizer(source as Parameters<typeof loadTokenizer>[0]);
  const model = await loadCausalLM(source, { ...(context === undefined ? {} : { context }), onProgress: (p) => ctx.progress({ ...p }) });
  let job: LoraFineTune | null = null;
  let resumed: LoraTaskInfo['resumed'] = null;
  if (ctx.checkpoint) {
    try {
      const raw = ctx.checkpoint['trainer.json'], textFile = ctx.checkpoint['text.txt'];
      const dec = (b: Uint8Array | string | undefined) => (b === undefined ? '' : typeof b === 'string' ? b : new TextDecoder().decode(b));
      let progress: { config: Omit<LoraFineTuneConfig, 'text'> };
      try {
        progress = JSON.parse(dec(raw));
      } catch (e) {
        throw new FormatError(`${op}: the checkpoint's trainer.json is not JSON (${(e as Error).message})`);
      }
      const text = dec(textFile);
      job = await LoraFineTune.create(model, tokenizer, { ...progress.config, text }, ctx.checkpoint);
      resumed = { text, config: progress.config, history: [...job.history] };
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  const need = (what: string): LoraFineTune => {
    if (!job) throw new ArgumentError(`TrainingWorker.${what}: nothing trains yet; start({ text, ... }) first`);
    return job;
  };
  return {
    get step() {
      return job?.step ?? 0;
    },
    info: (): LoraTaskInfo => ({
      modelType: model.config.model_type,
      parameters: model.numParameters(),
      layers: model.numLayers,
      vocabSize: model.vocabSize,
      maxPositions: model.maxPositions,
      resumed,
    }),
    async configure(c: unknown) {
      if (job) return; // training continues with the config it has
      if (wt.nn.lora.adapters(model).names.length) throw new ArgumentError('TrainingWorker.start: the model carries a loaded adapter; call reset() first');
      job = await LoraFineTune.create(model, tokenizer, c as LoraFineTuneConfig);
    },
    trainStep: () => need('start').trainStep(),
    sample: () => need('sample').sample(),
    checkpoint: () => need('checkpoint').checkpoint(),
    calls: {
      sample: (prompt?: string, maxNewTokens?: number) => {
        if (job) return job.sample(prompt, maxNewTokens);
        if (typeof prompt !== 'string' || !prompt) throw new ArgumentError(`TrainingWorker.call('sample'): before training the prompt must be a non-empty string, got ${describeValue(prompt)}`);
        return sampleText(model, tokenizer, prompt, maxNewTokens ?? 32);
      },
      adapterFiles: () => (job ? job.adapterFiles() : wt.nn.lora.save(model)),
      history: () => job?.history ?? [],
      async loadAdapter(files: wt.nn.lora.LoraFiles) {
        if (job) {
          job.dispose();
          job = null;
        }
        if (wt.nn.lora.adapters(model).names.length) wt.nn.lora.unload(model);
        await wt.nn.lora.load(model, files);
        return wt.nn.lora.adapters(model).configs.default;
      },
      reset() {
        job?.dispose();
        job = null;
        resumed = null;
        if (wt.nn.lora.adapters(model).names.length) wt.nn.lora.unload(model);
        return null;
      },
    },
    dispose() {
      job?.dispose();
      model.dispose();
    },
  };
};
