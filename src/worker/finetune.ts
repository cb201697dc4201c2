/**
 * LoRA fine-tuning of a causal language model on a text: the training loop that
 * `serveTraining`'s 'lora-finetune' task runs in a Worker, usable directly too (Node, a page).
 *
 * The text is tokenized once; each step trains on `batchSize` windows of `blockSize + 1` tokens
 * at seeded random offsets (next-token cross-entropy), AdamW on the adapter's parameters
 * (`model.trainableParameters()`), gradients clipped at `clipNorm`. A checkpoint is the adapter
 * in PEFT's files, the optimizer state (safetensors), the text and `trainer.json` (step, the
 * data generator's state, the loss history), so training resumes where it stopped.
 */
import * as wt from '../index.js';
import { ArgumentError, FormatError } from '../errors.js';
import type { CausalLM } from '../lm/causal-lm.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import { checkNumber, checkOptions, describeValue } from '../validate.js';

/** What a LoRA fine-tune takes. */
export interface LoraFineTuneConfig {
  /** the training text */
  text: string;
  /** rank (default 8) */
  r?: number;
  /** lora_alpha (default 2 r) */
  alpha?: number;
  /** dropout on the adapter's input (default 0) */
  dropout?: number;
  /** which layers get adapters (default PEFT's: q_proj and v_proj for Llama, c_attn for GPT-2) */
  targetModules?: string[] | string;
  /** AdamW's learning rate (default 1e-3) */
  lr?: number;
  /** AdamW's weight decay (default 0) */
  weightDecay?: number;
  /** windows per step (default 4) */
  batchSize?: number;
  /** tokens per window (default 64, at most the model's context and the text's length - 1) */
  blockSize?: number;
  /** gradient norm clipping (default 1; 0: none) */
  clipNorm?: number;
  /** seed of the window offsets (default 0) */
  seed?: number;
  /** the prompt of `sample()` (default: the text's first 8 tokens) */
  samplePrompt?: string;
  /** tokens `sample()` generates (default 32) */
  sampleTokens?: number;
  /** written to adapter_config.json as base_model_name_or_path */
  baseModelNameOrPath?: string;
}

const CONFIG_KEYS: (keyof LoraFineTuneConfig)[] = ['text', 'r', 'alpha', 'dropout', 'targetModules', 'lr', 'weightDecay', 'batchSize', 'blockSize', 'clipNorm', 'seed', 'samplePrompt', 'sampleTokens', 'baseModelNameOrPath'];

/** One step's numbers. */
export interface StepMetrics {
  step: number;
  loss: number;
  /** tokens trained on in the step */
  tokens: number;
  /** the step's wall time */
  ms: number;
  tokensPerSecond: number;
}

/** A sample: greedy continuation of the prompt. */
export interface Sample {
  step: number;
  prompt: string;
  /** the continuation (without the prompt) */
  text: string;
  ids: number[];
}

/** The files of a checkpoint, by name. */
export type CheckpointFiles = Record<string, Uint8Array | string>;

/** trainer.json: where training stands. */
interface Progress {
  format: 'webtensor-lora-finetune';
  version: 1;
  step: number;
  /** the window generator's state */
  rng: number;
  history: [number, number][];
  config: Omit<LoraFineTuneConfig, 'text'>;
}

/** mulberry32: one uint32 of state, saved in checkpoints. */
function nextUniform(s: { a: number }): number {
  s.a = (s.a + 0x6d2b79f5) >>> 0;
  let t = Math.imul(s.a ^ (s.a >>> 15), 1 | s.a);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const text = (b: Uint8Array | string | undefined): string | undefined => (b === undefined ? undefined : typeof b === 'string' ? b : new TextDecoder().decode(b));

function positiveInt(op: string, name: string, v: unknown, d: number): number {
  if (v === undefined) return d;
  return checkNumber(op, name, v, { int: true, min: 1 });
}

function checkConfig(op: string, c: unknown): LoraFineTuneConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new ArgumentError(`${op}: config must be an object ({ text, r, lr, batchSize, ... }), got ${describeValue(c)}`);
  checkOptions(op, c as Record<string, unknown>, CONFIG_KEYS);
  const cfg = c as LoraFineTuneConfig;
  if (typeof cfg.text !== 'string' || !cfg.text) throw new ArgumentError(`${op}: config.text must be a non-empty string (the training text), got ${describeValue(cfg.text)}`);
  for (const k of ['samplePrompt', 'baseModelNameOrPath'] as const) {
    if (cfg[k] !== undefined && typeof cfg[k] !== 'string') throw new ArgumentError(`${op}: config.${k} must be a string, got ${describeValue(cfg[k])}`);
  }
  return cfg;
}

/**
 * A LoRA fine-tune in progress: `step()` trains one batch, `sample()` writes a greedy
 * continuation, `checkpoint()` gives the files to resume from, `adapterFiles()` PEFT's two files.
 *
 * @example
 * const job = await LoraFineTune.create(model, tokenizer, { text, lr: 1e-3 });
 * for (let i = 0; i < 100; i++) console.log((await job.step()).loss);
 * const files = await job.adapterFiles(); // adapter_model.safetensors, adapter_config.json
 */
export class LoraFineTune {
  readonly model: CausalLM;
  readonly tokenizer: Tokenizer;
  readonly config: Readonly<LoraFineTuneConfig>;
  /** the text's token ids */
  readonly ids: Int32Array;
  readonly batchSize: number;
  readonly blockSize: number;
  /** steps trained so far (resumed ones included) */
  step = 0;
  /** [step, loss] of every step */
  readonly history: [number, number][] = [];
  private readonly opt: wt.optim.AdamW;
  private readonly rng: { a: number };
  private readonly clipNorm: number;
  private readonly samplePrompt: string;
  private readonly sampleTokens: number;
  private disposed = false;

  private constructor(model: CausalLM, tokenizer: Tokenizer, config: LoraFineTuneConfig, ids: Int32Array, batchSize: number, blockSize: number) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.config = config;
    this.ids = ids;
    this.batchSize = batchSize;
    this.blockSize = blockSize;
    this.opt = new wt.optim.AdamW(model.trainableParameters(), { lr: config.lr ?? 1e-3, weightDecay: config.weightDecay ?? 0 });
    this.rng = { a: (config.seed ?? 0) >>> 0 };
    this.clipNorm = config.clipNorm ?? 1;
    this.samplePrompt = config.samplePrompt ?? tokenizer.decode(Array.from(ids.subarray(0, Math.min(8, ids.length))), { skipSpecialTokens: true });
    this.sampleTokens = config.sampleTokens ?? 32;
  }

  /**
   * Adds a LoRA adapter to `model` (or, from a checkpoint's files, the saved adapter, optimizer
   * state and progress) and makes the fine-tune. The model keeps the adapter after `dispose`.
   */
  static async create(model: CausalLM, tokenizer: Tokenizer, config: LoraFineTuneConfig, checkpoint?: CheckpointFiles | null): Promise<LoraFineTune> {
    const op = 'LoraFineTune.create';
    if (!(model instanceof wt.nn.Module) || typeof (model as { generate?: unknown }).generate !== 'function') throw new ArgumentError(`${op}: model must be a causal language model (loadCausalLM), got ${describeValue(model)}`);
    if (!tokenizer || typeof (tokenizer as { encode?: unknown }).encode !== 'function') throw new ArgumentError(`${op}: tokenizer must be a Tokenizer (loadTokenizer), got ${describeValue(tokenizer)}`);
    const cfg = checkConfig(op, config);
    if (checkpoint !== undefined && checkpoint !== null && (typeof checkpoint !== 'object' || Array.isArray(checkpoint))) throw new ArgumentError(`${op}: checkpoint must be the files of a checkpoint (by name), got ${describeValue(checkpoint)}`);
    const r = positiveInt(op, 'r', cfg.r, 8);
    const alpha = cfg.alpha === undefined ? 2 * r : checkNumber(op, 'alpha', cfg.alpha, { finite: true, min: 0 });
    const dropout = cfg.dropout === undefined ? 0 : checkNumber(op, 'dropout', cfg.dropout, { min: 0, max: 1 });
    if (cfg.lr !== undefined) checkNumber(op, 'lr', cfg.lr, { finite: true, min: 0 });
    if (cfg.weightDecay !== undefined) checkNumber(op, 'weightDecay', cfg.weightDecay, { finite: true, min: 0 });
    if (cfg.clipNorm !== undefined) checkNumber(op, 'clipNorm', cfg.clipNorm, { finite: true, min: 0 });
    if (cfg.seed !== undefined) checkNumber(op, 'seed', cfg.seed, { int: true, min: 0 });
    const sampleTokens = positiveInt(op, 'sampleTokens', cfg.sampleTokens, 32);
    const batchSize = positiveInt(op, 'batchSize', cfg.batchSize, 4);
    let blockSize = positiveInt(op, 'blockSize', cfg.blockSize, 64);
    const ids = Int32Array.from(tokenizer.encode(cfg.text));
    if (ids.length < 3) throw new ArgumentError(`${op}: config.text is ${ids.length} tokens; it needs at least 3 to train on`);
    blockSize = Math.min(blockSize, ids.length - 1, model.maxPositions ?? Infinity);
    if (sampleTokens + 1 > (model.maxPositions ?? Infinity)) throw new ArgumentError(`${op}: sampleTokens ${sampleTokens} does not fit the model's ${model.maxPositions} positions`);
    const type = model.config.model_type;
    const targetModules = cfg.targetModules ?? (type === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj']);
    let progress: Progress | null = null;
    if (checkpoint) {
      const raw = text(checkpoint['trainer.json']);
      if (raw === undefined || checkpoint['adapter_model.safetensors'] === undefined || checkpoint['adapter_config.json'] === undefined || checkpoint['optimizer.safetensors'] === undefined) {
        throw new FormatError(`${op}: a checkpoint needs trainer.json, adapter_model.safetensors, adapter_config.json and optimizer.safetensors; it has ${Object.keys(checkpoint).join(', ') || 'no files'}`);
      }
      try {
        progress = JSON.parse(raw) as Progress;
      } catch (e) {
        throw new FormatError(`${op}: trainer.json is not JSON (${(e as Error).message})`);
      }
      if (progress?.format !== 'webtensor-lora-finetune' || !Number.isInteger(progress.step) || !Array.isArray(progress.history)) throw new FormatError(`${op}: trainer.json is not a webtensor LoRA fine-tune's progress`);
      await wt.nn.lora.load(model, { 'adapter_model.safetensors': bytes(checkpoint['adapter_model.safetensors']), 'adapter_config.json': text(checkpoint['adapter_config.json'])! }, { isTrainable: true });
    } else {
      wt.nn.lora.apply(model, { r, alpha, dropout, targetModules, taskType: 'CAUSAL_LM', baseModelNameOrPath: cfg.baseModelNameOrPath ?? null });
    }
    const job = new LoraFineTune(model, tokenizer, { ...cfg, r, alpha, dropout, targetModules, batchSize, blockSize, sampleTokens }, ids, batchSize, blockSize);
    if (progress) {
      const state = await wt.loadOptimizerState(bytes(checkpoint!['optimizer.safetensors']));
      try {
        job.opt.loadStateDict(state);
      } finally {
        for (const s of Object.values(state.state)) s.tensors.forEach((t) => t.dispose());
      }
      job.step = progress.step;
      job.rng.a = progress.rng >>> 0;
      job.history.push(...progress.history);
    }
    return job;
  }

  /** One training step on a batch of windows; reads the loss back. */
  async trainStep(): Promise<StepMetrics> {
    this.check('LoraFineTune.trainStep');
    const t0 = performance.now();
    const B = this.batchSize, T = this.blockSize, n = this.ids.length;
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const o = Math.floor(nextUniform(this.rng) * (n - T));
      x.set(this.ids.subarray(o, o + T), b * T);
      y.set(this.ids.subarray(o + 1, o + T + 1), b * T);
    }
    this.model.train();
    const loss = wt.tidy(() => {
      const logits = this.model.forward(wt.tensor(x, { shape: [B, T] }));
      const l = wt.crossEntropy(logits.reshape([B * T, -1]), wt.tensor(y));
      l.backward();
      if (this.clipNorm > 0) wt.optim.clipGradNorm(this.opt.paramGroups.flatMap((g) => g.params), this.clipNorm);
      this.opt.step();
      this.opt.zeroGrad();
      return l.detach();
    });
    const v = await loss.item();
    loss.dispose();
    this.step++;
    this.history.push([this.step, v]);
    const ms = performance.now() - t0;
    return { step: this.step, loss: v, tokens: B * T, ms, tokensPerSecond: (B * T * 1000) / ms };
  }

  /** A greedy continuation of `prompt` (default the config's samplePrompt) from the current weights. */
  async sample(prompt?: string, maxNewTokens?: number): Promise<Sample> {
    const op = 'LoraFineTune.sample';
    this.check(op);
    if (prompt !== undefined && (typeof prompt !== 'string' || !prompt)) throw new ArgumentError(`${op}: prompt must be a non-empty string, got ${describeValue(prompt)}`);
    const max = positiveInt(op, 'maxNewTokens', maxNewTokens, this.sampleTokens);
    return sampleText(this.model, this.tokenizer, prompt ?? this.samplePrompt, max, this.step);
  }

  /** PEFT's adapter files (adapter_model.safetensors, adapter_config.json). */
  adapterFiles(): Promise<wt.nn.lora.LoraFiles> {
    this.check('LoraFineTune.adapterFiles');
    return wt.nn.lora.save(this.model, this.config.baseModelNameOrPath ? { baseModelNameOrPath: this.config.baseModelNameOrPath } : {});
  }

  /** The files to resume from: the adapter, optimizer.safetensors, text.txt and trainer.json. */
  async checkpoint(): Promise<CheckpointFiles> {
    this.check('LoraFineTune.checkpoint');
    const adapter = await this.adapterFiles();
    const { text: _t, ...config } = this.config;
    const progress: Progress = { format: 'webtensor-lora-finetune', version: 1, step: this.step, rng: this.rng.a, history: this.history, config };
    return {
      ...adapter,
      'optimizer.safetensors': await wt.save(this.opt.stateDict()),
      'text.txt': this.config.text,
      'trainer.json': JSON.stringify(progress),
    };
  }

  /** Frees the optimizer's state (the model and its adapter stay). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.opt.dispose();
  }

  private check(op: string): void {
    if (this.disposed) throw new ArgumentError(`${op}: the fine-tune was disposed`);
  }
}

function bytes(b: Uint8Array | string): Uint8Array {
  return typeof b === 'string' ? new TextEncoder().encode(b) : b;
}

/** A greedy continuation of `prompt`: the model in eval mode, then back in the mode it was in. */
export async function sampleText(model: CausalLM, tokenizer: Tokenizer, prompt: string, maxNewTokens: number, step = 0): Promise<Sample> {
  const wasTraining = model.training;
  model.eval();
  const ids: number[] = [];
  try {
    for await (const id of model.generate(tokenizer.encode(prompt), { maxNewTokens, temperature: 0 })) ids.push(id);
  } finally {
    if (wasTraining) model.train();
  }
  return { step, prompt, text: tokenizer.decode(ids, { skipSpecialTokens: true }), ids };
}
