/**
 * Quantized weights (issue 25): speed and memory.
 *
 * (a) matmul: `qlinear` with 8-bit and 4-bit weights (group 32, symmetric) against the float32
 *     `linear`, at prefill (M = 128) and decode (M = 1) shapes of a SmolLM2-135M MLP: a pair
 *     [M, 576] · [1536, 576]ᵀ then [M, 1536] · [576, 1536]ᵀ, chained `reps` times (each pair
 *     consumes the last, so a lazy backend cannot skip any) and the last read back; median of runs.
 * (b) model: a SmolLM2-135M-shaped Llama (hidden 576, 30 layers, 9 heads / 3 kv heads,
 *     intermediate 1536, vocabulary 49152, tied embeddings; random weights) at f32, int8 and
 *     4-bit (wt.quantize: every Linear of the layers; the output projection is tied to the
 *     embedding table, which stays float32 — `+head` variants add a quantized copy of it as the
 *     head, untied; `+emb` variants quantize the embedding table itself, `embeddings: true`, and
 *     the tied head projects with it — one quantized matrix for both): resident bytes (wt.memory().bytes once the model is
 *     built), the peak during generation, and decode tokens/s (generate() at temperature 0, the
 *     tokens after the first over their time; median of runs). f16: webtensor has no float16
 *     dtype — F16 checkpoints are widened to float32 at load — so an f16 model is the f32 row.
 *
 * Run: npm run bench:quant [-- --backend cpu,webgpu] [--layers N] [--part matmul,model] [--new N] [--runs R]
 *   --layers N keeps the width and vocabulary but only N layers (SwiftShader is slow). On a
 *   machine without a GPU driver WebGPU runs on SwiftShader: its figures are CPU emulation, only
 *   the ratios mean something.
 */
import { parseArgs } from 'node:util';
import * as wt from '../src/index.js';
import { LlamaForCausalLM } from '../src/lm/index.js';
import { adapterLabel, describeAdapter, installNodeWebGPU } from './lib/dawn.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu,webgpu' },
    part: { type: 'string', default: 'matmul,model' },
    layers: { type: 'string' },
    prompt: { type: 'string', default: '16' },
    new: { type: 'string', default: '16' },
    runs: { type: 'string', default: '3' },
    variants: { type: 'string', default: 'f32,int8,4bit-g32,4bit-g64,int8+head,4bit-g32+head,int8+emb,4bit-g32+emb' },
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MiB = (b: number) => (b / 2 ** 20).toFixed(1);

/**
 * Median ms per MLP pair over `runs` runs of `reps` chained pairs x ← down(up(x)) (each product
 * consumes the last, so a lazy backend computes them all), the last read back.
 */
async function timeChain(pair: (x: wt.Tensor) => wt.Tensor, x0: wt.Tensor, reps: number, runs: number): Promise<number> {
  const one = async () => {
    const t0 = performance.now();
    let x = x0;
    for (let i = 0; i < reps; i++) {
      const y = pair(x);
      if (x !== x0) x.dispose();
      x = y;
    }
    await x.data();
    x.dispose();
    return (performance.now() - t0) / reps;
  };
  await one(); // warm-up: kernels compiled, pools filled
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) ts.push(await one());
  return median(ts);
}

async function matmulPart(label: string): Promise<void> {
  console.log(`\n(a) matmul, ${label}: ms per MLP pair [M, 576]·[1536, 576]ᵀ then [M, 1536]·[576, 1536]ᵀ (median), ÷ f32 in brackets`);
  console.log('| M | f32 linear | 8-bit g32 | 4-bit g32 |');
  console.log('|---|---:|---:|---:|');
  const H = 576, I = 1536;
  const up = wt.randn([I, H], { seed: 1 }).mul(1 / Math.sqrt(H)), down = wt.randn([H, I], { seed: 3 }).mul(1 / Math.sqrt(I));
  const q = await Promise.all([8, 4].map(async (bits) => [await wt.quantizeWeight(up, { bits: bits as 8 | 4, groupSize: 32 }), await wt.quantizeWeight(down, { bits: bits as 8 | 4, groupSize: 32 })]));
  for (const M of [128, 1]) {
    const x = wt.randn([M, H], { seed: 2 });
    const reps = M === 1 ? 20 : 4, runs = 5;
    const f = await timeChain((v) => wt.tidy(() => wt.linear(wt.linear(v, up), down)), x, reps, runs);
    const t: number[] = [];
    for (const [qu, qd] of q) t.push(await timeChain((v) => wt.tidy(() => wt.qlinear(wt.qlinear(v, qu), qd)), x, reps, runs));
    console.log(`| ${M} (${M === 1 ? 'decode' : 'prefill'}) | ${f.toFixed(3)} | ${t[0].toFixed(3)} (${(t[0] / f).toFixed(2)}x) | ${t[1].toFixed(3)} (${(t[1] / f).toFixed(2)}x) |`);
    x.dispose();
  }
  wt.dispose([up, down, ...q.flat().flatMap((w) => [w.q, w.scales])]);
}

const VARIANTS: Record<string, wt.QuantizeModelOptions | null> = {
  f32: null,
  int8: { bits: 8, groupSize: 32 },
  '4bit-g32': { bits: 4, groupSize: 32 },
  '4bit-g64': { bits: 4, groupSize: 64 },
  'int8+head': { bits: 8, groupSize: 32 },
  '4bit-g32+head': { bits: 4, groupSize: 32 },
  'int8+emb': { bits: 8, groupSize: 32, embeddings: true },
  '4bit-g32+emb': { bits: 4, groupSize: 32, embeddings: true },
};

async function modelPart(label: string, layers: number): Promise<void> {
  const T = Number(args.prompt), n = Number(args.new), runs = Number(args.runs);
  console.log(`\n(b) SmolLM2-135M shape${layers === 30 ? '' : `, ${layers} of its 30 layers`}, ${label}: prompt ${T}, ${n} new tokens, decode median of ${runs}`);
  console.log('| weights | resident MiB | peak MiB (generate) | decode tokens/s | ÷ f32 |');
  console.log('|---|---:|---:|---:|---:|');
  let base = 0;
  for (const name of args.variants.split(',')) {
    const opts = VARIANTS[name];
    const before = wt.memory().bytes;
    const model = new LlamaForCausalLM({
      vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: layers, num_attention_heads: 9,
      num_key_value_heads: 3, max_position_embeddings: 8192, rope_theta: 100000, rms_norm_eps: 1e-5, tie_word_embeddings: true,
    });
    if (opts) await wt.quantize(model, opts);
    // +head: the tied output projection untied into a quantized copy of the embedding (the table
    // itself stays float32 for the gather); without it the head is a float32 [49152, 576] product
    if (opts && name.endsWith('+head')) model.lmHead = new wt.nn.QuantizedLinear(await wt.quantizeWeight(model.model.embedTokens.weight, { bits: opts.bits, groupSize: opts.groupSize })) as unknown as typeof model.lmHead;
    const resident = wt.memory().bytes - before;
    const prompt = Array.from({ length: T }, (_, i) => (i * 7919) % 49152);
    const gen = async (k: number) => {
      let first = 0, last = 0, count = 0;
      for await (const _ of model.generate(prompt, { maxNewTokens: k, temperature: 0, stop: [] })) {
        const now = performance.now();
        if (count++ === 0) first = now;
        last = now;
      }
      return (count - 1) / ((last - first) / 1000);
    };
    await gen(3); // warm-up
    wt.resetPeakMemory();
    const r: number[] = [];
    for (let i = 0; i < runs; i++) r.push(await gen(n));
    const peak = wt.memory().peakBytes - before;
    const tps = median(r);
    if (name === 'f32') base = tps;
    console.log(`| ${name}${opts ? ` (${opts.bits}-bit, group ${opts.groupSize})` : ''} | ${MiB(resident)} | ${MiB(peak)} | ${tps.toFixed(2)} | ${base ? (tps / base).toFixed(2) : '—'} |`);
    model.dispose();
  }
}

async function main(): Promise<void> {
  const layers = args.layers ? Number(args.layers) : 30;
  for (const backend of args.backend.split(',')) {
    let label = 'cpu (WASM SIMD, 1 thread)';
    if (backend === 'webgpu') {
      const gpu = installNodeWebGPU();
      const a = await describeAdapter(gpu);
      label = `webgpu: ${a ? adapterLabel(a) : 'no adapter'}`;
      await wt.init({ backend: 'webgpu' });
    } else await wt.init({ backend: 'cpu' });
    if (args.part.includes('matmul')) await matmulPart(label);
    if (args.part.includes('model')) await modelPart(label, layers);
    wt.getBackend().destroy();
  }
}

await main();
