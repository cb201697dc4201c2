/**
 * loadCausalLM: a pretrained model from the hub's files (config.json and model.safetensors, or a
 * sharded checkpoint with model.safetensors.index.json). Every header is read and checked against
 * the model first (missing tensors, shapes, dtypes), before any weight is read; then the weights
 * stream to the device a range of the file at a time (F32, F16, BF16 widened to float32), each
 * copied into its parameter and freed, so the model is never held twice.
 */
import { noGrad } from '../engine.js';
import { ArgumentError, FormatError, ShapeError, fmt } from '../errors.js';
import { decode, readHeader, type HeaderEntry } from '../io/safetensors.js';
import type { ByteSource } from '../io/source.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { checkFunction, checkOptions } from '../validate.js';
import { configFamily, parseConfig, type LMConfig } from './config.js';
import type { CausalLM } from './causal-lm.js';
import { modelFiles, type ModelFiles, type ModelSource } from './files.js';
import { GPT2LMHeadModel } from './gpt2.js';
import { construction } from './layers.js';
import { LlamaForCausalLM } from './llama.js';

export interface LoadProgress {
  /** weight bytes read so far (of the checkpoint's files, as stored) */
  loaded: number;
  /** weight bytes to read */
  total: number;
  /** tensors copied to the device so far, of `count` */
  tensors: number;
  count: number;
  /** the file being read */
  file: string;
}

export interface LoadOptions {
  /** called after each range of tensors reaches the device */
  onProgress?: (p: LoadProgress) => void;
}

/** Largest range read at once (several small tensors share a read; a larger tensor is read alone). */
const CHUNK_BYTES = 16 << 20;
const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'];

async function readJson(op: string, files: ModelFiles, name: string): Promise<unknown> {
  const text = await files.text(name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${op}: ${name} in ${files.where} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The config of the model at `source` (config.json, with the defaults of its family filled in).
 *
 * @example
 * const cfg = await readConfig('https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/');
 * cfg.model_type; // 'llama'
 */
export async function readConfig(source: ModelSource): Promise<LMConfig> {
  const op = 'readConfig';
  const files = await modelFiles(op, source);
  return parseConfig(op, await readJson(op, files, 'config.json'));
}

/** The model class of a config.json object, made with uninitialised weights (the loader fills them). */
function emptyModel(op: string, raw: unknown): CausalLM {
  const family = configFamily(op, raw);
  construction.empty = true;
  try {
    return family === 'gpt2' ? new GPT2LMHeadModel(raw as object) : new LlamaForCausalLM(raw as object);
  } finally {
    construction.empty = false;
  }
}

/** The checkpoint's files: model.safetensors, or the shards named by model.safetensors.index.json. */
async function weightFiles(op: string, files: ModelFiles): Promise<string[]> {
  if (await files.has('model.safetensors')) return ['model.safetensors'];
  if (await files.has('model.safetensors.index.json')) {
    const index = await readJson(op, files, 'model.safetensors.index.json') as { weight_map?: unknown };
    const map = index?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new FormatError(`${op}: model.safetensors.index.json in ${files.where} has no weight_map object`);
    const names = [...new Set(Object.values(map as Record<string, unknown>))];
    if (!names.length || !names.every((n) => typeof n === 'string' && /^[^/\\]+\.safetensors$/.test(n))) {
      throw new FormatError(`${op}: model.safetensors.index.json in ${files.where} names unexpected files ${JSON.stringify(names.slice(0, 4))}`);
    }
    return names as string[];
  }
  throw new ArgumentError(`${op}: found neither model.safetensors nor model.safetensors.index.json in ${files.where} (only safetensors checkpoints load; convert pytorch_model.bin first)`);
}

/**
 * Loads a pretrained causal language model: GPT-2 (model_type 'gpt2') as GPT2LMHeadModel,
 * Llama-style decoders ('llama', 'qwen2', 'mistral': SmolLM2, TinyLlama, Qwen2.5, ...) as
 * LlamaForCausalLM. `source` is a URL base (e.g. https://huggingface.co/gpt2/resolve/main/,
 * read by range requests), the files themselves (Files from a picker, or Blobs by name), or a
 * directory path in Node. Weights stored F32, F16 or BF16 are held as float32 on the device.
 *
 * @example
 * const model = await loadCausalLM('https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/', {
 *   onProgress: ({ loaded, total }) => (bar.value = loaded / total),
 * });
 * for await (const id of model.generate(ids, { maxNewTokens: 40, temperature: 0 })) ...
 */
export async function loadCausalLM(source: ModelSource, opts: LoadOptions = {}): Promise<CausalLM> {
  const op = 'loadCausalLM';
  checkOptions(op, opts, ['onProgress']);
  if (opts.onProgress !== undefined) checkFunction(op, 'onProgress', opts.onProgress);
  const files = await modelFiles(op, source);
  const raw = await readJson(op, files, 'config.json');
  parseConfig(op, raw); // config errors before anything is made
  const names = await weightFiles(op, files);
  const sources: ByteSource[] = [];
  let model: CausalLM | null = null;
  try {
    const shards: { file: string; source: ByteSource; entries: HeaderEntry[] }[] = [];
    for (const file of names) {
      const source = await files.open(file);
      sources.push(source);
      shards.push({ file, source, entries: (await readHeader(`${op}: ${file}`, source)).entries });
    }
    model = emptyModel(op, raw);
    const targets = new Map(Object.entries(model.stateDict()));
    const keyOf = (name: string) => (model as GPT2LMHeadModel | LlamaForCausalLM).checkpointKey(name);
    const plan: { file: string; source: ByteSource; items: { e: HeaderEntry; target: Tensor }[] }[] = [];
    const found = new Map<string, string>();
    const unexpected: string[] = [];
    for (const { file, source, entries } of shards) {
      const items: { e: HeaderEntry; target: Tensor }[] = [];
      for (const e of entries) {
        const key = keyOf(e.name);
        if (key === null) continue;
        const target = key === undefined ? undefined : targets.get(key);
        if (key === undefined || !target) {
          unexpected.push(e.name);
          continue;
        }
        if (found.has(key)) throw new FormatError(`${op}: tensor ${key} appears twice (as "${found.get(key)}" and "${e.name}" in ${file})`);
        found.set(key, e.name);
        if (!FLOAT_DTYPES.includes(e.dtype)) throw new FormatError(`${op}: tensor "${e.name}" in ${file} is ${e.dtype}; weights must be F32, F16, BF16 or F64`);
        if (e.shape.length !== target.ndim || e.shape.some((d, i) => d !== target.shape[i])) {
          throw new ShapeError(`${op}: tensor "${e.name}" in ${file} has shape ${fmt(e.shape)} but ${model.constructor.name} with this config.json needs ${fmt(target.shape)} for ${key}`);
        }
        items.push({ e, target });
      }
      items.sort((a, b) => a.e.begin - b.e.begin);
      plan.push({ file, source, items });
    }
    const missing = [...targets.keys()].filter((k) => !found.has(k));
    if (missing.length) {
      const shown = missing.slice(0, 6).map((k) => `${k} ${fmt(targets.get(k)!.shape)}`).join(', ');
      throw new FormatError(`${op}: the checkpoint in ${files.where} (${names.join(', ')}) lacks ${missing.length} tensor${missing.length > 1 ? 's' : ''} that ${model.constructor.name} needs: ${shown}${missing.length > 6 ? ', ...' : ''}${unexpected.length ? `; it has tensors this model does not use: ${unexpected.slice(0, 4).join(', ')}${unexpected.length > 4 ? ', ...' : ''}` : ''}`);
    }
    const count = plan.reduce((n, p) => n + p.items.length, 0);
    const total = plan.reduce((n, p) => n + p.items.reduce((m, { e }) => m + e.end - e.begin, 0), 0);
    let loaded = 0, done = 0;
    for (const { file, source, items } of plan) {
      for (let i = 0; i < items.length;) {
        // a run of tensors adjacent in the file, up to CHUNK_BYTES (or one larger tensor)
        let j = i + 1;
        while (j < items.length && items[j].e.end - items[i].e.begin <= CHUNK_BYTES && items[j].e.begin === items[j - 1].e.end) j++;
        const begin = items[i].e.begin;
        const bytes = await source.read(begin, items[j - 1].e.end);
        for (const { e, target } of items.slice(i, j)) {
          const values = decode(`${op}: ${file}`, e, bytes.subarray(e.begin - begin, e.end - begin));
          const t = tensor(values as Float32Array, { shape: e.shape });
          noGrad(() => target.copy_(t));
          t.dispose();
          loaded += e.end - e.begin;
          done++;
        }
        opts.onProgress?.({ loaded, total, tensors: done, count, file });
        i = j;
      }
    }
    return model;
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    for (const s of sources) await s.close();
  }
}

