/**
 * The memory estimate of a language model (src/lm/memory.ts) is arithmetic on config.json and
 * the safetensors header: it touches no backend, so it runs once (not per backend).
 */
import { describe, expect, it } from 'vitest';
import { checkMemory, estimateMemory, type TensorShape } from '../src/lm/memory.js';
import { ArgumentError, OutOfMemoryError } from '../src/errors.js';

/** GPT-2 small's tensors as the hub's model.safetensors names them. */
function gpt2Small(): TensorShape[] {
  const C = 768, out: TensorShape[] = [{ name: 'wte.weight', shape: [50257, C] }, { name: 'wpe.weight', shape: [1024, C] }];
  for (let i = 0; i < 12; i++) {
    const h = `h.${i}.`;
    out.push(
      { name: `${h}ln_1.weight`, shape: [C] }, { name: `${h}ln_1.bias`, shape: [C] },
      { name: `${h}attn.c_attn.weight`, shape: [C, 3 * C] }, { name: `${h}attn.c_attn.bias`, shape: [3 * C] },
      { name: `${h}attn.c_proj.weight`, shape: [C, C] }, { name: `${h}attn.c_proj.bias`, shape: [C] },
      { name: `${h}ln_2.weight`, shape: [C] }, { name: `${h}ln_2.bias`, shape: [C] },
      { name: `${h}mlp.c_fc.weight`, shape: [C, 4 * C] }, { name: `${h}mlp.c_fc.bias`, shape: [4 * C] },
      { name: `${h}mlp.c_proj.weight`, shape: [4 * C, C] }, { name: `${h}mlp.c_proj.bias`, shape: [C] },
    );
  }
  out.push({ name: 'ln_f.weight', shape: [C] }, { name: 'ln_f.bias', shape: [C] });
  return out;
}
const GPT2 = { vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, n_inner: null };

describe('language-model memory estimate', () => {
  it('counts GPT-2 small: 124,439,808 weights, its KV cache and the largest tensor', () => {
    const e = estimateMemory(GPT2, gpt2Small(), { context: 1024 });
    expect(e.weightBytes).toBe(124_439_808 * 4);
    expect(e.largest).toEqual({ name: 'wte.weight', bytes: 50257 * 768 * 4 });
    expect(e.kvCacheBytes).toBe(2 * 12 * 12 * 64 * 1024 * 4);
    expect(e.totalBytes).toBe(e.weightBytes + e.kvCacheBytes + e.activationBytes);
    // a shorter context shrinks the cache in proportion
    expect(estimateMemory(GPT2, gpt2Small(), { context: 256 }).kvCacheBytes).toBe(e.kvCacheBytes / 4);
  });

  it('sizes a grouped-query Llama cache by its key/value heads', () => {
    const smol = { vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192 };
    const e = estimateMemory(smol, [{ name: 'model.embed_tokens.weight', shape: [49152, 576] }], { context: 2048, batch: 2 });
    expect(e.kvCacheBytes).toBe(2 * 30 * 2 * 3 * 64 * 2048 * 4);
    expect(e.context).toBe(2048);
    expect(estimateMemory(smol, []).context).toBe(8192);
  });

  it('refuses a weight above one binding, and a total above the budget, with the numbers', () => {
    const e = estimateMemory(GPT2, gpt2Small(), { context: 1024 });
    // WebGPU's default 128 MiB binding: GPT-2's embedding (147.2 MiB) does not fit
    expect(() => checkMemory('loadCausalLM', e, { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 }))
      .toThrow(new OutOfMemoryError('loadCausalLM: the weight wte.weight needs 147.2 MiB in one buffer, and this device allows 128.0 MiB (maxBufferSize 256.0 MiB, maxStorageBufferBindingSize 128.0 MiB); nothing was loaded'));
    expect(() => checkMemory('loadCausalLM', e, { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 })).not.toThrow();
    expect(() => checkMemory('loadCausalLM', e, { budget: 2 ** 29 })).toThrow(/needs about 887\.0 MiB \(weights 474\.7 MiB, KV cache 72\.0 MiB for 1×1024 tokens.*more than the budget of 512\.0 MiB/);
  });

  it('names a config that cannot be sized', () => {
    expect(() => estimateMemory({ vocab_size: 10 }, [])).toThrow(new ArgumentError('estimateMemory: config.json has none of hidden_size, n_embd: cannot size the model'));
    expect(() => estimateMemory({ ...GPT2, n_layer: -1 }, [])).toThrow(ArgumentError);
    expect(() => estimateMemory(GPT2, [], { context: 0 })).toThrow(/estimateMemory: context/);
  });
});
