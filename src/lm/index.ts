/**
 * `webtensor/lm`: pretrained causal language models from the Hugging Face hub's files —
 * GPT-2 (gpt2, distilgpt2, gpt2-medium) and Llama-style decoders (SmolLM2, TinyLlama, Qwen2.5) —
 * with loading from a URL, a file picker or a Node directory, and streaming generation with a
 * key/value cache and sampling on the device.
 *
 * @example
 * import * as wt from 'webtensor';
 * import { loadCausalLM } from 'webtensor/lm';
 * await wt.init();
 * const model = await loadCausalLM('https://huggingface.co/gpt2/resolve/main/');
 * for await (const id of model.generate([464, 2068, 7586], { maxNewTokens: 20, temperature: 0 })) console.log(id);
 */
export { loadCausalLM, inspectModel, readConfig, type LoadOptions, type LoadProgress, type ModelInfo } from './load.js';
export { loadGgufTokenizer } from './gguf-tokenizer.js';
export { estimateMemory, type MemoryEstimate } from './memory.js';
export { Tokenizer, DecodeStream, loadTokenizer } from './tokenizer.js';
export type { ChatMessage, EncodeOptions, DecodeOptions, ChatTemplateOptions, TokenizerFiles, TokenizerSource } from './tokenizer.js';
export { CausalLM, type TokenIds, type ForwardOptions, type GenerateOptions } from './causal-lm.js';
export { GPT2LMHeadModel, type ModelInitOptions } from './gpt2.js';
export { LlamaForCausalLM } from './llama.js';
export { KVCache, RMSNorm, Conv1D } from './layers.js';
export type { GPT2Config, LlamaConfig, LMConfig, RopeScaling } from './config.js';
export type { ModelSource } from './files.js';
