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
 *
 * The peer (`--peer`, default on): ONNX Runtime (onnxruntime-node, CPU, what transformers.js runs
 * on) with the same weights. bench/lm_onnx.py (Debian's python3-torch) writes each model once
 * into node_modules/.cache/lm-peer/ — hub-layout safetensors, which webtensor then loads with
 * loadCausalLM instead of drawing random weights, and a torch.onnx.export with a KV cache — with
 * PyTorch's logits of a short input: both libraries are checked against them before they are
 * timed, and their greedy tokens compared. Without python3-torch the peer is reported n/a.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { GPT2LMHeadModel, LlamaForCausalLM, loadCausalLM, type CausalLM } from '../src/lm/index.js';
import { adapterLabel, describeAdapter, installNodeWebGPU } from './lib/dawn.js';
import { ORT_VERSION, loadOrt, ortSession } from './lib/ort.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu,webgpu' },
    model: { type: 'string', default: 'gpt2,smollm2' },
    layers: { type: 'string' },
    prompt: { type: 'string', default: '128' },
    new: { type: 'string', default: '32' },
    runs: { type: 'string', default: '3' },
    peer: { type: 'boolean', default: true },
    'no-peer': { type: 'boolean', default: false },
  },
});

const ROOT = process.cwd();
const PEER_DIR = join(ROOT, 'node_modules', '.cache', 'lm-peer');

/** The model's shared checkpoint (safetensors + ONNX + PyTorch logits), written once by bench/lm_onnx.py. */
function peerFiles(name: string, layers: number | undefined): { dir: string } | { why: string } {
  const dir = join(PEER_DIR, layers === undefined ? name : `${name}-L${layers}`);
  if (!existsSync(join(dir, 'model.onnx'))) {
    try {
      execFileSync('/usr/bin/python3', [join(ROOT, 'bench', 'lm_onnx.py'), PEER_DIR, ...(layers === undefined ? [] : ['--layers', String(layers)]), name], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      return { why: `bench/lm_onnx.py failed (needs /usr/bin/python3 with torch): ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').at(-1)}` };
    }
  }
  return { dir };
}

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
  const peer = args.peer && !args['no-peer'];
  const files = new Map<string, { dir: string } | { why: string }>();
  if (peer) for (const name of args.model.split(',')) files.set(name, peerFiles(name, layers));
  /** greedy tokens of each library per model, compared at the end */
  const tokens = new Map<string, Map<string, number[]>>();
  const note = (name: string, lib: string, ids: number[]) => (tokens.get(name) ?? tokens.set(name, new Map()).get(name)!).set(lib, ids);
  if (peer) {
    const threads = availableParallelism();
    console.log(`\nONNX Runtime ${ORT_VERSION} (onnxruntime-node, CPU execution provider, ${threads} threads)`);
    let ort: ReturnType<typeof loadOrt> | null = null;
    try {
      ort = loadOrt(ROOT);
    } catch (e) {
      console.log(`  n/a: onnxruntime-node did not install (${(e as Error).message.split('\n')[0]})`);
    }
    for (const name of args.model.split(',')) {
      const f = files.get(name)!;
      if (!ort || 'why' in f) {
        if ('why' in f) console.log(`  ${name}: n/a — ${f.why}`);
        continue;
      }
      const run = await ortSession(ort, f.dir, threads);
      const exp = JSON.parse(readFileSync(join(f.dir, 'expected.json'), 'utf8')) as { inputs: number[][]; lastLogits: number[] };
      const check = await run(exp.inputs[0], 0);
      const err = Math.max(...exp.lastLogits.map((v, i) => Math.abs(v - check.lastLogits[i])));
      const vocab = (JSON.parse(readFileSync(join(f.dir, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
      const prompt = Array.from({ length: T }, (_, i) => (i * 7919) % vocab);
      await run(prompt, 3);
      const r: { prefill: number; decode: number }[] = [];
      let ids: number[] = [];
      for (let i = 0; i < runs; i++) {
        const x = await run(prompt, N - 1);
        r.push({ prefill: T / (x.prefillMs / 1000), decode: (N - 1) / (x.decodeMs / 1000) });
        ids = x.tokens;
      }
      note(name, 'ONNX Runtime', ids);
      console.log(`  ${name}${layers ? ` (${layers} of its layers)` : ''}: logits vs PyTorch max |diff| ${err.toExponential(1)}; prompt ${T}, ${N} new: ` +
        `prefill ${median(r.map((x) => x.prefill)).toFixed(1)} tokens/s, decode ${median(r.map((x) => x.decode)).toFixed(2)} tokens/s (median of ${runs})`);
    }
  }
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
      const f = files.get(name);
      // the peer's weights when there is a peer (the same model for both), else random ones
      const model = f && 'dir' in f ? await loadCausalLM(f.dir) : MODELS[name](layers);
      const made = (performance.now() - t0) / 1000;
      let check = '';
      if (f && 'dir' in f) {
        const exp = JSON.parse(readFileSync(join(f.dir, 'expected.json'), 'utf8')) as { inputs: number[][]; lastLogits: number[] };
        const logits = wt.noGrad(() => model.forward([exp.inputs[0]]));
        const T0 = exp.inputs[0].length;
        const last = (await logits.data()).slice((T0 - 1) * model.vocabSize, (T0 - 1) * model.vocabSize + 64);
        logits.dispose();
        check = `logits vs PyTorch max |diff| ${Math.max(...exp.lastLogits.map((v, i) => Math.abs(v - last[i]))).toExponential(1)}; `;
      }
      const params = model.numParameters();
      const prompt = Array.from({ length: T }, (_, i) => (i * 7919) % model.vocabSize);
      await timeGeneration(model, prompt.slice(0, Math.min(T, 8)), 3); // warm-up: compile kernels
      await timeGeneration(model, prompt, 3);
      const r: { prefill: number; decode: number }[] = [];
      for (let i = 0; i < runs; i++) r.push(await timeGeneration(model, prompt, N));
      const ids: number[] = [];
      for await (const id of model.generate(prompt, { maxNewTokens: N, temperature: 0, stop: [] })) ids.push(id);
      note(name, `webtensor (${backend})`, ids);
      console.log(`  ${name}${layers ? ` (${layers} of its layers)` : ''}: ${(params / 1e6).toFixed(1)}M params (${(params * 4 / 2 ** 20).toFixed(0)} MiB float32), ${f && 'dir' in f ? 'loaded' : 'made'} in ${made.toFixed(1)} s; ${check}` +
        `prompt ${T}, ${N} new: prefill ${median(r.map((x) => x.prefill)).toFixed(1)} tokens/s, decode ${median(r.map((x) => x.decode)).toFixed(2)} tokens/s (median of ${runs})`);
      model.dispose();
    }
    wt.getBackend().destroy();
  }
  // greedy decoding of one model by every library: the same tokens (random weights can make near-ties, so a late split is possible)
  for (const [name, libs] of tokens) {
    const [[refLib, ref], ...rest] = [...libs];
    for (const [lib, ids] of rest) {
      const same = ids.findIndex((t, i) => t !== ref[i]);
      console.log(`  greedy ${name}: ${lib} ${same < 0 ? `= ${refLib} (all ${ids.length} tokens)` : `differs from ${refLib} at token ${same}`}`);
    }
  }
}

await main();
