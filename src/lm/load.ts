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
import { checkBoolean, checkFunction, checkNumber, checkOptions } from '../validate.js';
import { backendInfo } from '../init.js';
import { checkMemory, estimateMemory, type MemoryEstimate } from './memory.js';
import { bindingLimit } from './layers.js';
import { configFamily, parseConfig, type GPT2Config, type LlamaConfig, type LMConfig } from './config.js';
import type { CausalLM } from './causal-lm.js';
import { modelFiles, type ModelFiles, type ModelSource } from './files.js';
import { ggufConfig, ggufDeviceTensors, ggufTensorKey, isGgufSource, loadGgufModel } from './gguf.js';
import { readGguf } from '../io/gguf.js';
import { openSource } from '../io/source.js';
import { GPT2LMHeadModel } from './gpt2.js';
import { construction } from './layers.js';
import { QUANT_METADATA_KEY } from '../ops/quant.js';
import type { QuantConfig } from '../kernel/kernel.js';
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
  /** the longest sequence (prompt and generated tokens) to plan memory for (default: the config's maximum positions) */
  context?: number;
  /** refuse, before any weight is read, a model whose estimated memory (weights, KV cache at `context`, activations) exceeds this many bytes */
  memoryBudget?: number;
  /** turn gradient checkpointing on (model.gradientCheckpointingEnable()): training recomputes each block's activations in backward */
  gradientCheckpointing?: boolean;
  /**
   * GGUF only: convert every tensor to float32 at load (Q8_0 / Q4_0 / Q4_K / Q6_K dequantized) instead
   * of keeping the quantized Linear matrices packed on the device (default false)
   */
  dequantize?: boolean;
}

/** What `inspectModel` tells of a checkpoint before its weights are read. */
export interface ModelInfo {
  config: LMConfig;
  /** weights the model uses (the checkpoint's buffers, such as GPT-2's attn.bias masks, not counted) */
  parameters: number;
  layers: number;
  width: number;
  /** bytes of the weights as stored (F16/BF16: 2 an element) */
  fileBytes: number;
  /** the storage dtypes present, e.g. ['BF16'] */
  dtypes: string[];
  /** device memory: the weights as loaded (float32, quantized layers packed), KV cache and activations at `context` tokens */
  estimate: MemoryEstimate;
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
export async function readConfig(source: ModelSource | Blob): Promise<LMConfig> {
  const op = 'readConfig';
  if (isGgufSource(source)) return (await inspectGguf(op, source as string | URL | Blob)).config;
  const files = await modelFiles(op, source as ModelSource);
  return parseConfig(op, await readJson(op, files, 'config.json'));
}

/** The model class of a config.json object, made with uninitialised weights (the loader fills them). */
export function emptyModel(op: string, raw: unknown): CausalLM {
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

/** The vocabulary matrices (held in one buffer, run in row blocks where they exceed a binding). */
const VOCAB = /(^|\.)(wte|embed_tokens|lm_head)\.weight$|(^|\.)(wte|embed_tokens|lm_head)\.(qweight|scales|mins)$/;

/**
 * Copies a weight's values into its parameter: at once, or a block of rows at a time where the
 * whole would exceed one storage binding (a vocabulary matrix on a device with small bindings).
 */
export function copyRows(target: Tensor, values: Float32Array | Int32Array, shape: readonly number[]): void {
  const rows = shape[0] ?? 1, row = rows ? values.length / rows : 0;
  const per = values.length * 4 <= bindingLimit() ? rows : Math.max(1, Math.floor((bindingLimit() - 256) / (row * 4)));
  for (let s = 0; s < rows || s === 0; s += per) {
    const n = Math.min(per, rows - s);
    const t = tensor(per === rows ? values : values.subarray(s * row, (s + n) * row), { shape: per === rows ? [...shape] : [n, ...shape.slice(1)] });
    noGrad(() => (per === rows ? target : target.narrow(0, s, n)).copy_(t));
    t.dispose();
    if (per === rows) break;
  }
}

/**
 * The quantized layers a checkpoint's header describes (`__metadata__["webtensor.quantization"]`,
 * written by wt.save for QuantizedLinear layers): module path → bits, groupSize, mins.
 */
function quantizedLayers(op: string, shards: { file: string; metadata: Record<string, string> }[]): Map<string, QuantConfig> {
  const out = new Map<string, QuantConfig>();
  for (const { file, metadata } of shards) {
    const text = metadata[QUANT_METADATA_KEY];
    if (text === undefined) continue;
    let layers: unknown;
    try {
      layers = JSON.parse(text);
    } catch (e) {
      throw new FormatError(`${op}: __metadata__ "${QUANT_METADATA_KEY}" of ${file} is not valid JSON (${(e as Error).message})`);
    }
    if (typeof layers !== 'object' || layers === null || Array.isArray(layers)) throw new FormatError(`${op}: __metadata__ "${QUANT_METADATA_KEY}" of ${file} must be an object of layers`);
    for (const [name, v] of Object.entries(layers as Record<string, { bits?: unknown; groupSize?: unknown; mins?: unknown }>)) {
      const ok = typeof v === 'object' && v !== null && (v.bits === 4 || v.bits === 8) && typeof v.groupSize === 'number' && Number.isInteger(v.groupSize) && v.groupSize > 0 && v.groupSize <= 4096 && (v.groupSize % 32 === 0 || v.groupSize === 16) && typeof v.mins === 'boolean';
      if (!ok) throw new FormatError(`${op}: __metadata__ "${QUANT_METADATA_KEY}" of ${file}: layer "${name}" must be { bits: 8 | 4, groupSize (16 or a multiple of 32), mins }, got ${JSON.stringify(v)}`);
      // GPT-2 checkpoints may name layers without the "transformer." prefix
      out.set(name, { bits: v.bits as 4 | 8, groupSize: v.groupSize as number, mins: v.mins as boolean });
      if (/^h\.\d+\./.test(name)) out.set(`transformer.${name}`, out.get(name)!);
    }
  }
  return out;
}

/** Buffers that checkpoints carry and loaders skip (GPT-2's causal masks, old Llama rotary tables). */
const SKIPPED = /(^|\.)attn\.(bias|masked_bias)$|\.rotary_emb\.inv_freq$/;

/** Every shard's header, with the source it was read from (opened here; the caller closes them). */
async function readShards(op: string, files: ModelFiles, sources: ByteSource[]): Promise<{ file: string; source: ByteSource; entries: HeaderEntry[]; metadata: Record<string, string> }[]> {
  const shards: { file: string; source: ByteSource; entries: HeaderEntry[]; metadata: Record<string, string> }[] = [];
  for (const file of await weightFiles(op, files)) {
    const source = await files.open(file);
    sources.push(source);
    const { entries, metadata } = await readHeader(`${op}: ${file}`, source);
    shards.push({ file, source, entries, metadata });
  }
  return shards;
}

function estimateOf(op: string, raw: unknown, shards: { entries: HeaderEntry[] }[], context: number | undefined): MemoryEstimate {
  const used = shards.flatMap((s) => s.entries).filter((e) => !SKIPPED.test(e.name));
  try {
    return estimateMemory(raw as object, used, context === undefined ? {} : { context });
  } catch (e) {
    if (e instanceof ArgumentError) throw new ArgumentError(e.message.replace(/^estimateMemory/, op));
    throw e;
  }
}

/**
 * What a checkpoint holds and needs, from config.json and the safetensors headers only (a few
 * KB read, no weights): its config, parameter count, stored size and dtypes, and the device
 * memory estimate at `context` tokens — for a page to show before it downloads anything.
 *
 * @example
 * const info = await inspectModel('https://huggingface.co/gpt2/resolve/main/', { context: 1024 });
 * info.parameters; // 124439808
 */
export async function inspectModel(source: ModelSource | Blob, opts: { context?: number } = {}): Promise<ModelInfo> {
  const op = 'inspectModel';
  checkOptions(op, opts, ['context']);
  if (opts.context !== undefined) checkNumber(op, 'context', opts.context, { int: true, min: 1 });
  if (isGgufSource(source)) return inspectGguf(op, source as string | URL | Blob, opts.context);
  const files = await modelFiles(op, source as ModelSource);
  const raw = await readJson(op, files, 'config.json');
  const config = parseConfig(op, raw);
  const sources: ByteSource[] = [];
  try {
    const shards = await readShards(op, files, sources);
    const used = shards.flatMap((s) => s.entries).filter((e) => !SKIPPED.test(e.name));
    return {
      config,
      parameters: used.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0),
      layers: config.model_type === 'gpt2' ? (config as GPT2Config).n_layer : (config as LlamaConfig).num_hidden_layers,
      width: config.model_type === 'gpt2' ? (config as GPT2Config).n_embd : (config as LlamaConfig).hidden_size,
      fileBytes: used.reduce((n, e) => n + e.end - e.begin, 0),
      dtypes: [...new Set(used.map((e) => e.dtype))].sort(),
      estimate: estimateOf(op, raw, shards, opts.context),
    };
  } finally {
    for (const s of sources) await s.close();
  }
}

/** Opens a single GGUF file: a Blob (File), a Node path, or a URL (read by range requests). */
async function openGguf(op: string, src: string | URL | Blob): Promise<{ source: ByteSource; where: string }> {
  if (typeof Blob !== 'undefined' && src instanceof Blob) return { source: await openSource(op, src), where: (src as File).name || '(a Blob)' };
  const s = src instanceof URL ? src.href : (src as string);
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  if (isNode && !/^(https?|blob|data):/i.test(s)) return { source: await openSource(op, s), where: s };
  const cut = s.replace(/[?#].*$/, '').lastIndexOf('/');
  const files = await modelFiles(op, cut >= 0 ? s.slice(0, cut + 1) : './');
  return { source: await files.open(s.slice(cut + 1)), where: s };
}

/** inspectModel of a GGUF file: its header only (dtypes are the GGUF types, e.g. ['F32', 'Q4_K', 'Q6_K']). */
async function inspectGguf(op: string, src: string | URL | Blob, context?: number): Promise<ModelInfo> {
  const { source, where } = await openGguf(op, src);
  try {
    const g = await readGguf(source, `${op}: ${where}`);
    const raw = ggufConfig(op, g);
    const config = parseConfig(op, raw);
    const arch = raw.model_type as string;
    const used = g.tensors.filter((e) => ggufTensorKey(arch, e.name));
    // the device memory as loadCausalLM holds it: quantized Linear matrices packed
    const shapes = ggufDeviceTensors(arch, g);
    let estimate: MemoryEstimate;
    try {
      estimate = estimateMemory(raw, shapes, context === undefined ? {} : { context });
    } catch (e) {
      if (e instanceof ArgumentError) throw new ArgumentError(e.message.replace(/^estimateMemory/, op));
      throw e;
    }
    return {
      config,
      parameters: used.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0),
      layers: config.model_type === 'gpt2' ? (config as GPT2Config).n_layer : (config as LlamaConfig).num_hidden_layers,
      width: config.model_type === 'gpt2' ? (config as GPT2Config).n_embd : (config as LlamaConfig).hidden_size,
      fileBytes: used.reduce((n, e) => n + e.end - e.begin, 0),
      dtypes: [...new Set(used.map((e) => e.type))].sort(),
      estimate,
    };
  } finally {
    await source.close();
  }
}

/**
 * A model from one GGUF file (llama.cpp's format; architectures llama, qwen2, gpt2): Linear
 * matrices stored Q8_0/Q4_0/Q4_K/Q6_K kept quantized (src/lm/gguf.ts), the rest converted to
 * float32 once (F16/BF16 widened, quantized embeddings dequantized); `dequantize`: all float32.
 */
async function loadGguf(op: string, src: string | URL | Blob, opts: LoadOptions): Promise<CausalLM> {
  const { source, where } = await openGguf(op, src);
  try {
    // the same memory check as a safetensors checkpoint's, before anything is allocated
    const beforeModel = (raw: Record<string, unknown>, tensors: { name: string; shape: number[] }[]) => {
      const info = backendInfo();
      const limits = info.name === 'webgpu' ? { maxBufferSize: info.limits.maxBufferSize, maxStorageBufferBindingSize: bindingLimit(), splittable: (n: string) => VOCAB.test(n), tensors } : {};
      let est: MemoryEstimate;
      try {
        est = estimateMemory(raw, tensors, opts.context === undefined ? {} : { context: opts.context });
      } catch (e) {
        if (e instanceof ArgumentError) throw new ArgumentError(e.message.replace(/^estimateMemory/, op));
        throw e;
      }
      checkMemory(op, est, { ...limits, ...(opts.memoryBudget !== undefined ? { budget: opts.memoryBudget } : {}) });
    };
    const { model } = await loadGgufModel(op, source, where, { emptyModel, copyRows, beforeModel, dequantize: !!opts.dequantize, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    if (opts.gradientCheckpointing) model.gradientCheckpointingEnable();
    return model;
  } finally {
    await source.close();
  }
}

/**
 * Loads a pretrained causal language model: GPT-2 (model_type 'gpt2') as GPT2LMHeadModel,
 * Llama-style decoders ('llama', 'qwen2', 'mistral': SmolLM2, TinyLlama, Qwen2.5, ...) as
 * LlamaForCausalLM. `source` is a URL base (e.g. https://huggingface.co/gpt2/resolve/main/,
 * read by range requests), the files themselves (Files from a picker, or Blobs by name), or a
 * directory path in Node. Weights stored F32, F16 or BF16 are held as float32 on the device.
 * A single `.gguf` file (a path or URL ending in .gguf, or a Blob/File) loads through the GGUF
 * reader: its metadata gives the config; Linear matrices stored Q8_0, Q4_0, Q4_K or Q6_K stay
 * quantized on the device (QuantizedLinear, repacked exactly), every other tensor (F32, F16,
 * BF16, quantized embeddings) is converted to float32 once (`dequantize: true`: every tensor).
 * A checkpoint saved from a wt.quantize'd model (its header describing the quantized layers)
 * loads its QuantizedLinear layers directly, without float weights.
 *
 * @example
 * const model = await loadCausalLM('https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/', {
 *   onProgress: ({ loaded, total }) => (bar.value = loaded / total),
 * });
 * for await (const id of model.generate(ids, { maxNewTokens: 40, temperature: 0 })) ...
 */
export async function loadCausalLM(source: ModelSource | Blob, opts: LoadOptions = {}): Promise<CausalLM> {
  const op = 'loadCausalLM';
  checkOptions(op, opts, ['onProgress', 'context', 'memoryBudget', 'gradientCheckpointing', 'dequantize']);
  if (opts.gradientCheckpointing !== undefined) checkBoolean(op, 'gradientCheckpointing', opts.gradientCheckpointing);
  if (opts.dequantize !== undefined) checkBoolean(op, 'dequantize', opts.dequantize);
  if (opts.onProgress !== undefined) checkFunction(op, 'onProgress', opts.onProgress);
  if (opts.context !== undefined) checkNumber(op, 'context', opts.context, { int: true, min: 1 });
  if (opts.memoryBudget !== undefined) checkNumber(op, 'memoryBudget', opts.memoryBudget, { min: 0, finite: true });
  if (isGgufSource(source)) return loadGguf(op, source as string | URL | Blob, opts);
  const files = await modelFiles(op, source as ModelSource);
  const raw = await readJson(op, files, 'config.json');
  parseConfig(op, raw); // config errors before anything is made
  const sources: ByteSource[] = [];
  let model: CausalLM | null = null;
  try {
    const shards = await readShards(op, files, sources);
    const names = shards.map((s) => s.file);
    // what the device allows, before a parameter is allocated or a weight read
    const info = backendInfo();
    const used = shards.flatMap((sh) => sh.entries).filter((e) => !SKIPPED.test(e.name));
    // the vocabulary matrices run in row blocks where they exceed one binding (layers.ts vocabBlocks)
    const limits = info.name === 'webgpu' ? { maxBufferSize: info.limits.maxBufferSize, maxStorageBufferBindingSize: bindingLimit(), splittable: (n: string) => VOCAB.test(n), tensors: used } : {};
    checkMemory(op, estimateOf(op, raw, shards, opts.context), { ...limits, ...(opts.memoryBudget !== undefined ? { budget: opts.memoryBudget } : {}) });
    // layers saved quantized (wt.save of a wt.quantize'd model): made as QuantizedLinear directly
    const quantized = quantizedLayers(op, shards);
    construction.quantized = (name) => quantized.get(name) ?? null;
    try {
      model = emptyModel(op, raw);
    } finally {
      construction.quantized = null;
    }
    const targets = new Map(Object.entries(model.stateDict()));
    const keyOf = (name: string) => (model as GPT2LMHeadModel | LlamaForCausalLM).checkpointKey(name);
    const unnamed = shards.flatMap((sh) => sh.entries).find((e) => /(^|\.)qweight$/.test(e.name) && !quantized.size);
    if (unnamed) throw new FormatError(`${op}: the checkpoint in ${files.where} holds packed quantized weights ("${unnamed.name}") but its header has no __metadata__ "${QUANT_METADATA_KEY}" describing them (bits, groupSize, mins per layer); save it with wt.save(model.stateDict()), which writes it`);
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
        if (target.dtype === 'int32' ? e.dtype !== 'I32' : !FLOAT_DTYPES.includes(e.dtype)) throw new FormatError(`${op}: tensor "${e.name}" in ${file} is ${e.dtype}; ${target.dtype === 'int32' ? 'packed quantized codes must be I32' : 'weights must be F32, F16, BF16 or F64'}`);
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
          copyRows(target, values as Float32Array | Int32Array, e.shape);
          loaded += e.end - e.begin;
          done++;
        }
        opts.onProgress?.({ loaded, total, tensors: done, count, file });
        i = j;
      }
    }
    if (opts.gradientCheckpointing) model.gradientCheckpointingEnable();
    return model;
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    for (const s of sources) await s.close();
  }
}

