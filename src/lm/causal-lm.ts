/**
 * CausalLM: what every language model here shares — token ids in, logits out
 * (`forward(ids, { cache })`), a key/value cache, and `generate`, which streams new token ids
 * one at a time, sampling on the device (argmax, or temperature / top-k / top-p then a
 * multinomial draw), so each step reads back one int32 per sequence, never the vocabulary.
 */
import { engine, noGrad } from '../engine.js';
import { checkpoint } from '../checkpoint.js';
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { tensor } from '../ops/creation.js';
import { multinomial } from '../ops/sample.js';
import { where } from '../ops/functions.js';
import { Module } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import { checkNumber, checkOptionalNumber, checkOptions, describeValue } from '../validate.js';
import type { LMConfig } from './config.js';
import { KVCache } from './layers.js';

/** Token ids: a Tensor (int32 [T] or [B, T]), a list of ids, or a list of lists of equal length. */
export type TokenIds = Tensor | readonly number[] | readonly (readonly number[])[] | Int32Array;

export interface ForwardOptions {
  /** the key/value cache of the positions before `ids` (from `model.newCache()`); extended in place */
  cache?: KVCache | null;
}

export interface GenerateOptions {
  /** tokens to generate at most (default 32); fewer at a stop token or at the model's context length */
  maxNewTokens?: number;
  /** 0: greedy (argmax, the same tokens on every backend); otherwise logits / temperature are sampled (default 1) */
  temperature?: number;
  /** sample among the k most likely tokens only (default: all) */
  topK?: number;
  /** sample among the most likely tokens whose probabilities sum to topP (nucleus sampling; default 1: all) */
  topP?: number;
  /** token ids that end generation (not yielded); default the config's eos_token_id; [] for none */
  stop?: number | readonly number[];
  /** fixes the draws (step i uses seed + i); without it the global generator (wt.manualSeed) advances */
  seed?: number;
}

const GENERATE_KEYS: (keyof GenerateOptions)[] = ['maxNewTokens', 'temperature', 'topK', 'topP', 'stop', 'seed'];

/**
 * Checks token ids and returns their [B, T] and a maker of the int32 [B, T] tensor (a new tensor,
 * or a view of the caller's, `owned` false), made when needed.
 */
export function checkIds(op: string, ids: unknown, vocab: number): { B: number; T: number; make: () => { t: Tensor; owned: boolean } } {
  if (ids instanceof Tensor) {
    ids._check(op);
    if (ids.dtype !== 'int32') throw new ArgumentError(`${op}: ids must be an int32 tensor of token ids, got ${ids.dtype} of shape ${fmt(ids.shape)}`);
    if (ids.ndim !== 1 && ids.ndim !== 2) throw new ShapeError(`${op}: ids must be [T] or [B, T], got ${fmt(ids.shape)}`);
    if (ids.numel() === 0) throw new ShapeError(`${op}: ids ${fmt(ids.shape)} hold no tokens`);
    const [B, T] = ids.ndim === 1 ? [1, ids.shape[0]] : ids.shape;
    return { B, T, make: () => (ids.ndim === 1 ? { t: ids.reshape([1, -1]), owned: true } : { t: ids, owned: false }) };
  }
  let rows: ArrayLike<number>[];
  if (ids instanceof Int32Array || (Array.isArray(ids) && ids.length && ids.every((x) => typeof x === 'number'))) rows = [ids as ArrayLike<number>];
  else if (Array.isArray(ids) && ids.length && ids.every((r) => Array.isArray(r))) rows = ids as number[][];
  else throw new ArgumentError(`${op}: ids must be token ids (a list of integers, a list of equal-length lists, an Int32Array or an int32 Tensor), got ${describeValue(ids)}`);
  const T = rows[0].length;
  if (T === 0) throw new ShapeError(`${op}: ids hold no tokens`);
  const out = new Int32Array(rows.length * T);
  rows.forEach((r, b) => {
    if (r.length !== T) throw new ShapeError(`${op}: ids rows must have equal lengths, got ${T} and ${r.length} (row ${b})`);
    for (let t = 0; t < T; t++) {
      const x = r[t];
      if (!Number.isInteger(x) || x < 0 || x >= vocab) throw new ArgumentError(`${op}: ids[${rows.length > 1 ? `${b}][` : ''}${t}] is ${describeValue(x)}; token ids are integers in [0, ${vocab}) (vocab_size)`);
      out[b * T + t] = x;
    }
  });
  return { B: rows.length, T, make: () => ({ t: tensor(out, { shape: [rows.length, T] }), owned: true }) };
}

/** Runs a decoder block `fn` on x (and its other tensor inputs), checkpointed or not (CausalLM.blockRunner). */
export type BlockRunner = (fn: (x: Tensor, ...extra: Tensor[]) => Tensor, x: Tensor, ...extra: Tensor[]) => Tensor;

/** A causal language model: `forward(ids)` → logits [B, T, vocab]; `generate(ids)` streams tokens. */
export abstract class CausalLM extends Module {
  /** the completed config (config.json's keys) */
  abstract readonly config: LMConfig;
  /** decoder layers (one key/value cache entry each) */
  abstract readonly numLayers: number;
  /** the longest sequence (cached positions plus new ones) the model takes, or null for no bound */
  abstract readonly maxPositions: number | null;
  /** the vocabulary size */
  abstract readonly vocabSize: number;

  /** whether training forward passes recompute each decoder block in backward (gradientCheckpointingEnable) */
  private checkpointBlocks = false;

  /**
   * Gradient checkpointing, as transformers' `model.gradient_checkpointing_enable()`: while the
   * model is in training mode and gradients are recorded, each decoder block's forward runs
   * through `wt.checkpoint`, so its activations are not kept for backward but recomputed there
   * (one more forward pass per step; peak memory holds each block's input instead of all of its
   * activations). Gradients are the same as without it. A forward with a key/value cache, in
   * eval mode or under noGrad runs the blocks as usual.
   *
   * @example
   * const model = await loadCausalLM(dir, { gradientCheckpointing: true }); // or:
   * model.gradientCheckpointingEnable().train();
   */
  gradientCheckpointingEnable(): this {
    this.checkpointBlocks = true;
    return this;
  }

  /** Turns gradient checkpointing off (the default): training keeps every block's activations. */
  gradientCheckpointingDisable(): this {
    this.checkpointBlocks = false;
    return this;
  }

  /** Whether gradient checkpointing is on (gradientCheckpointingEnable). */
  get isGradientCheckpointing(): boolean {
    return this.checkpointBlocks;
  }

  /**
   * How the model's forward runs a decoder block on hidden states x (with the block's other
   * tensor inputs, e.g. rotary tables, in `extra`): through wt.checkpoint when gradient
   * checkpointing is on, the model is training, gradients are recorded and no cache is given
   * (the recomputation would append to it again); otherwise directly.
   */
  protected blockRunner(cache: KVCache | null): BlockRunner {
    if (!this.checkpointBlocks || !this.training || !engine.gradEnabled || cache) return (fn, x, ...extra) => fn(x, ...extra);
    return (fn, x, ...extra) => checkpoint(fn, x, ...extra);
  }

  /** The final hidden states [B, T, E] of ids [B, T], appending to the cache if given. */
  protected abstract hidden(op: string, ids: Tensor, cache: KVCache | null): Tensor;
  /** Logits [..., vocab] of hidden states [..., E]. */
  protected abstract head(h: Tensor): Tensor;

  /**
   * Logits [B, T, vocab] of token ids [B, T] (or [T] → [1, T, vocab]). With a cache, ids are the
   * positions after the cached ones and their keys and values are appended to it.
   *
   * @example
   * const logits = model.forward([[464, 2068, 7586]]); // [1, 3, 50257]
   */
  forward(ids: TokenIds, opts: ForwardOptions = {}): Tensor {
    const op = `${this.constructor.name}.forward`;
    checkOptions(op, opts, ['cache']);
    const cache = this.checkCache(op, opts.cache);
    const checked = checkIds(op, ids, this.vocabSize);
    this.checkLength(op, cache?.length ?? 0, checked.T);
    const { t, owned } = checked.make();
    try {
      return this.head(this.hidden(op, t, cache));
    } finally {
      if (owned) t.dispose();
    }
  }

  /** An empty key/value cache for this model (`forward(ids, { cache })`, generate makes its own). */
  newCache(): KVCache {
    return new KVCache(this.numLayers);
  }

  private checkCache(op: string, cache: unknown): KVCache | null {
    if (cache == null) return null;
    if (!(cache instanceof KVCache) || cache.numLayers !== this.numLayers) {
      throw new ArgumentError(`${op}: cache must be a KVCache of this model (model.newCache(), ${this.numLayers} layers), got ${describeValue(cache)}`);
    }
    return cache;
  }

  /** Checks that `T` new positions after `past` fit the model's context. */
  protected checkLength(op: string, past: number, T: number): void {
    const max = this.maxPositions;
    if (max !== null && past + T > max) {
      throw new ShapeError(`${op}: ${past ? `${past} cached positions plus ` : ''}${T} new ones exceed the model's ${max} positions`);
    }
  }

  /**
   * Generates up to `maxNewTokens` tokens after `ids` (one sequence: [T] or [1, T]), yielding
   * each as soon as it is drawn. The prompt runs once (prefill), then one position per step
   * against the key/value cache. Sampling runs on the device; each step reads back one token id.
   * Leaving the loop early (break) frees everything the generation held.
   *
   * @example
   * for await (const id of model.generate(prompt, { maxNewTokens: 50, temperature: 0.8, topK: 40, seed: 1 })) {
   *   out.textContent += tokenizer.decode([id]);
   * }
   */
  generate(ids: TokenIds, opts: GenerateOptions = {}): AsyncGenerator<number, void, undefined> {
    const op = `${this.constructor.name}.generate`;
    checkOptions(op, opts, GENERATE_KEYS);
    const maxNew = checkNumber(op, 'maxNewTokens', opts.maxNewTokens ?? 32, { int: true, min: 0 });
    const temperature = checkNumber(op, 'temperature', opts.temperature ?? 1, { min: 0, finite: true });
    const topK = checkOptionalNumber(op, 'topK', opts.topK, { int: true, min: 1 });
    const topP = checkNumber(op, 'topP', opts.topP ?? 1, { min: 0, max: 1 });
    if (topP === 0) throw new ArgumentError(`${op}: topP must be in (0, 1], got 0`);
    const seed = checkOptionalNumber(op, 'seed', opts.seed, { int: true, min: 0 });
    const stopRaw = opts.stop ?? this.config.eos_token_id ?? [];
    const stopList = typeof stopRaw === 'number' ? [stopRaw] : stopRaw;
    if (!Array.isArray(stopList) || !stopList.every((s) => Number.isInteger(s))) throw new ArgumentError(`${op}: stop must be a token id or a list of them, got ${describeValue(opts.stop)}`);
    const stop = new Set<number>(stopList);
    const { B, T, make } = checkIds(op, ids, this.vocabSize);
    if (B !== 1) throw new ShapeError(`${op}: generate takes one sequence ([T] or [1, T]), got ids of ${B} rows`);
    this.checkLength(op, 0, T);
    const sample = { temperature, topK: topK !== undefined && topK < this.vocabSize ? topK : undefined, topP, seed };
    return this.stream(op, make, maxNew, stop, sample);
  }

  private async *stream(op: string, makePrompt: () => { t: Tensor; owned: boolean }, maxNew: number, stop: Set<number>, s: SampleSettings): AsyncGenerator<number, void, undefined> {
    if (maxNew === 0) return;
    // made at the first next(), so a generator never iterated holds nothing
    let { t: prompt, owned } = makePrompt();
    const cache = this.newCache();
    // each step feeds the device's token of the step before, and is queued before that token is
    // read, so the device computes step i + 1 while step i's id travels back
    const step = (input: Tensor, i: number): Tensor => noGrad(() => tidy(() => {
      const h = this.hidden(op, input, cache);
      const T = h.shape[1];
      const logits = this.head(h.narrow(1, T - 1, 1)).reshape([1, -1]);
      return sampleNext(logits, s, i).reshape([1, 1]);
    }));
    let cur: Tensor | null = null, next: Tensor | null = null;
    try {
      cur = step(prompt, 0);
      if (owned) prompt.dispose();
      owned = false;
      for (let i = 0; i < maxNew; i++) {
        const read = cur.data();
        const room = this.maxPositions === null || cache.length < this.maxPositions;
        next = i + 1 < maxNew && room ? step(cur, i + 1) : null;
        const id = (await read)[0];
        cur.dispose();
        cur = null;
        if (stop.has(id)) return;
        yield id;
        if (!next) return;
        cur = next;
        next = null;
      }
    } finally {
      if (owned) prompt.dispose();
      cur?.dispose();
      next?.dispose();
      cache.dispose();
    }
  }
}

interface SampleSettings { temperature: number; topK: number | undefined; topP: number; seed: number | undefined }

/** The next token [B] (int32) of logits [B, V]: argmax at temperature 0, else a draw. */
export function sampleNext(logits: Tensor, s: SampleSettings, step: number): Tensor {
  if (s.temperature === 0) return logits.argmax(-1);
  let x = s.temperature === 1 ? logits : logits.div(s.temperature);
  let idx: Tensor | null = null;
  if (s.topK !== undefined) {
    const r = x.topk(s.topK, -1);
    x = r.values;
    idx = r.indices;
  }
  if (s.topP < 1) {
    if (!idx) {
      const r = x.sort(-1, true);
      x = r.values;
      idx = r.indices;
    }
    // as transformers' TopPLogitsWarper: drop a token once the more likely ones before it reach
    // topP (the most likely always stays)
    const p = x.softmax(-1);
    const before = p.cumsum(-1).sub(p);
    x = where(before.ge(s.topP), -Infinity, x);
  }
  const draw = multinomial(x.softmax(-1), 1, true, { seed: s.seed === undefined ? undefined : s.seed + step });
  return (idx ? idx.gather(-1, draw) : draw).reshape([-1]);
}
