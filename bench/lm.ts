/**
 * Language-model inference speed (webtensor/lm) in Node: prefill tokens/s (the prompt through
 * the model once, filling the key/value cache) and decode tokens/s (one token per step against
 * the cache, sampled on the device and read back), for random-weight models of two released
 * shapes: GPT-2 small (124M parameters) and SmolLM2-135M (Llama-style: GQA, SwiGLU, tied
 * embeddings). Runs generate() with temperature 0 and no stop token: prefill = prompt length /
 * time to the first token, decode = the following tokens / the time between the first token and
 * the last. One warm-up generation first (kernel compilation), then `--runs` timed ones; the
 * median is reported.
 *
 * Run: npm run bench:lm [-- --backend cpu,webgpu] [--model gpt2,smollm2] [--layers N] [--prompt T] [--new N] [--runs R]
 *   --layers N keeps each model's width and vocabulary but only N layers (quick runs: the
 *   per-layer cost is the same, the head and embedding are full size).
 * On a machine without a GPU driver WebGPU runs on SwiftShader (set VK_ICD_FILENAMES); its
 * figures measure CPU emulation, not a GPU.
 */
import { parseArgs } from 'node:util';
import * as wt from '../src/index.js';
import { GPT2LMHeadModel, LlamaForCausalLM, type CausalLM } from '../src/lm/index.js';
import { adapterLabel, describeAdapter, installNodeWebGPU } from './lib/dawn.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu,webgpu' },
    model: { type: 'string', default: 'gpt2,smollm2' },
    layers: { type: 'string' },
    prompt: { type: 'string', default: '128' },
    new: { type: 'string', default: '32' },
    runs: { type: 'string', default: '3' },
  },
});

const MODELS: Record<string, (layers?: number) => CausalLM> = {
  // gpt2 (config.json of openai-community/gpt2)
  gpt2: (layers) => new GPT2LMHeadModel({ vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: layers ?? 12, n_head: 12 }),
  // HuggingFaceTB/SmolLM2-135M
  smollm2: (layers) => new LlamaForCausalLM({
    vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: layers ?? 30, num_attention_heads: 9,
    num_key_value_heads: 3, max_position_embeddings: 8192, rope_theta: 100000, rms_norm_eps: 1e-5, tie_word_embeddings: true,
  }),
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeGeneration(model: CausalLM, prompt: number[], n: number): Promise<{ prefill: number; decode: number }> {
  const t0 = performance.now();
  let first = 0, last = 0, count = 0;
  for await (const _ of model.generate(prompt, { maxNewTokens: n, temperature: 0, stop: [] })) {
    const now = performance.now();
    if (count++ === 0) first = now;
    last = now;
  }
  return { prefill: prompt.length / ((first - t0) / 1000), decode: (count - 1) / ((last - first) / 1000) };
}

async function main(): Promise<void> {
  const layers = args.layers ? Number(args.layers) : undefined;
  const T = Number(args.prompt), N = Number(args.new), runs = Number(args.runs);
  for (const backend of args.backend.split(',')) {
    let label = 'cpu (WASM SIMD)';
    if (backend === 'webgpu') {
      const gpu = installNodeWebGPU();
      const a = await describeAdapter(gpu);
      label = `webgpu: ${a ? adapterLabel(a) : 'no adapter'}`;
      await wt.init({ backend: 'webgpu' });
    } else await wt.init({ backend: 'cpu' });
    console.log(`\n${label}`);
    for (const name of args.model.split(',')) {
      const t0 = performance.now();
      const model = MODELS[name](layers);
      const made = (performance.now() - t0) / 1000;
      const params = model.numParameters();
      const prompt = Array.from({ length: T }, (_, i) => (i * 7919) % model.vocabSize);
      await timeGeneration(model, prompt.slice(0, Math.min(T, 8)), 3); // warm-up: compile kernels
      await timeGeneration(model, prompt, 3);
      const r: { prefill: number; decode: number }[] = [];
      for (let i = 0; i < runs; i++) r.push(await timeGeneration(model, prompt, N));
      console.log(`  ${name}${layers ? ` (${layers} of its layers)` : ''}: ${(params / 1e6).toFixed(1)}M params (${(params * 4 / 2 ** 20).toFixed(0)} MiB float32), made in ${made.toFixed(1)} s; ` +
        `prompt ${T}, ${N} new: prefill ${median(r.map((x) => x.prefill)).toFixed(1)} tokens/s, decode ${median(r.map((x) => x.decode)).toFixed(2)} tokens/s (median of ${runs})`);
      model.dispose();
    }
    wt.getBackend().destroy();
  }
}

await main();
