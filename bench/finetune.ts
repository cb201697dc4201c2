/**
 * Fine-tuning speed and memory (webtensor/lm, issue 24) in Node: tokens/s (batch × sequence per
 * second) of a training step — forward, cross-entropy on next tokens, backward, AdamW — for LoRA
 * (PEFT's default targets: GPT-2's c_attn, Llama's q_proj and v_proj; r 8, alpha 16) and for full
 * fine-tuning, each without and with gradient checkpointing (model.gradientCheckpointingEnable()),
 * on random-weight models of two released shapes: GPT-2 small (124M parameters) and SmolLM2-135M
 * (Llama-style). With each: the step's peak memory (wt.memory().peakBytes after
 * wt.resetPeakMemory(): every live tensor, so weights, gradients and optimizer state included)
 * and the part of it above the step's start (activations and temporaries).
 * Each variant runs `--warmup` untimed steps (kernel compilation, optimizer state), then `--steps`
 * timed ones, each ending with the loss read back; the median is reported.
 *
 * `--flat`: instead, 1,000 LoRA + AdamW steps (`--flat-steps`) of a tiny GPT-2 (the test fixture's
 * shape: 2 layers, n_embd 32, vocab 128; batch 2 × 64), the median step time of the first 100 and
 * the last 100, and live tensors, tensor bytes, device bytes and the JS heap at step 100 and at the end
 * (issue 24: a peer loses ~20% step time per 1,000 steps to garbage collection of tensor wrappers).
 * The heap is measured after a full collection when Node runs with --expose-gc:
 *   node --expose-gc node_modules/.cache/webtensor-bench/finetune.mjs --flat (after one npm run bench:finetune)
 *
 * Run: npm run bench:finetune [-- --backend cpu,webgpu] [--model gpt2,smollm2] [--layers N]
 *      [--batch B] [--seq T] [--mode lora,full] [--checkpointing off,on] [--steps S] [--warmup W]
 *      npm run bench:finetune -- --flat [--backend ...] [--flat-steps N]
 *   --layers N keeps each model's width and vocabulary but only N layers (quick runs).
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
    batch: { type: 'string', default: '1' },
    seq: { type: 'string', default: '128' },
    mode: { type: 'string', default: 'lora,full' },
    checkpointing: { type: 'string', default: 'off,on' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    flat: { type: 'boolean', default: false },
    'flat-steps': { type: 'string', default: '1000' },
  },
});

const MODELS: Record<string, { make: (layers?: number) => CausalLM; lora: string[] }> = {
  // gpt2 (config.json of openai-community/gpt2)
  gpt2: {
    make: (layers) => new GPT2LMHeadModel({ vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: layers ?? 12, n_head: 12 }),
    lora: ['c_attn'],
  },
  // HuggingFaceTB/SmolLM2-135M
  smollm2: {
    make: (layers) => new LlamaForCausalLM({
      vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: layers ?? 30, num_attention_heads: 9,
      num_key_value_heads: 3, max_position_embeddings: 8192, rope_theta: 100000, rms_norm_eps: 1e-5, tie_word_embeddings: true,
    }),
    lora: ['q_proj', 'v_proj'],
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** ids [B, T + 1] (seeded): inputs [B, T] and next-token targets [B·T]. */
function batch(vocab: number, B: number, T: number, seed: number): { x: wt.Tensor; y: wt.Tensor } {
  return wt.tidy(() => {
    const ids = wt.randint(0, vocab, [B, T + 1], { seed, dtype: 'int32' });
    return { x: ids.narrow(1, 0, T).contiguous(), y: ids.narrow(1, 1, T).reshape([-1]) };
  });
}

/** One training step: returns the loss (not yet read). */
function trainStep(model: CausalLM, opt: wt.optim.Optimizer, x: wt.Tensor, y: wt.Tensor): wt.Tensor {
  return wt.tidy(() => {
    opt.zeroGrad();
    const loss = wt.crossEntropy(model.forward(x).reshape([-1, model.vocabSize]), y);
    loss.backward();
    opt.step();
    return loss;
  });
}

async function useBackend(backend: string): Promise<string> {
  if (backend === 'webgpu') {
    const gpu = installNodeWebGPU();
    const a = await describeAdapter(gpu);
    await wt.init({ backend: 'webgpu' });
    return `webgpu: ${a ? adapterLabel(a) : 'no adapter'}`;
  }
  await wt.init({ backend: 'cpu' });
  return 'cpu (WASM SIMD)';
}

async function speed(): Promise<void> {
  const layers = args.layers ? Number(args.layers) : undefined;
  const B = Number(args.batch), T = Number(args.seq), steps = Number(args.steps), warmup = Number(args.warmup);
  console.log(`fine-tuning step: batch ${B} x sequence ${T} (${B * T} tokens), AdamW; ${warmup} warm-up + ${steps} timed steps (median); ${new Date().toISOString().slice(0, 10)}`);
  for (const backend of args.backend.split(',')) {
    console.log(`\n${await useBackend(backend)}`);
    for (const name of args.model.split(',')) {
      const spec = MODELS[name];
      for (const mode of args.mode.split(',')) {
        for (const ck of args.checkpointing.split(',')) {
          const model = spec.make(layers);
          const params = model.numParameters();
          if (mode === 'lora') wt.nn.lora.apply(model, { r: 8, alpha: 16, dropout: 0.05, targetModules: spec.lora });
          if (ck === 'on') model.gradientCheckpointingEnable();
          model.train();
          const trainable = model.numParameters(true);
          const opt = new wt.optim.AdamW(model.trainableParameters(), { lr: 1e-4 });
          const { x, y } = batch(model.vocabSize, B, T, 1);
          const times: number[] = [];
          let peak = 0, above = 0, loss = 0;
          for (let s = 0; s < warmup + steps; s++) {
            const start = wt.memory().bytes;
            wt.resetPeakMemory();
            const t0 = performance.now();
            const l = trainStep(model, opt, x, y);
            loss = await l.item();
            const ms = performance.now() - t0;
            l.dispose();
            if (s >= warmup) times.push(ms);
            // the last step's peak: gradients and optimizer state exist, as in a long run
            peak = wt.memory().peakBytes;
            above = peak - start;
          }
          const ms = median(times);
          console.log(`  ${name}${layers ? ` (${layers} of its layers)` : ''} ${mode === 'lora' ? `LoRA r8 ${spec.lora.join('+')}` : 'full'}, checkpointing ${ck}: ` +
            `${(params / 1e6).toFixed(1)}M params, ${(trainable / 1e6).toFixed(2)}M trainable; ` +
            `step ${(ms / 1000).toFixed(2)} s = ${((B * T) / (ms / 1000)).toFixed(1)} tokens/s; peak ${mib(peak)} (${mib(above)} above the step's start); loss ${loss.toFixed(3)}`);
          opt.dispose();
          wt.dispose([x, y]);
          model.dispose();
        }
      }
    }
    wt.getBackend().destroy();
  }
}

async function flat(): Promise<void> {
  const N = Number(args['flat-steps']), B = 2, T = 64;
  console.log(`${N} LoRA (r 8, c_attn + c_proj, dropout 0.05) + AdamW steps of a GPT-2 with 2 layers, n_embd 32, vocab 128; batch ${B} x ${T}; each step's loss read back; ${new Date().toISOString().slice(0, 10)}`);
  for (const backend of args.backend.split(',')) {
    const label = await useBackend(backend);
    const model = new GPT2LMHeadModel({ vocab_size: 128, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4 }, { seed: 1 });
    wt.nn.lora.apply(model, { r: 8, alpha: 16, dropout: 0.05, targetModules: ['c_attn', 'c_proj'] });
    model.train();
    const opt = new wt.optim.AdamW(model.trainableParameters(), { lr: 2e-3 });
    const data = Array.from({ length: 4 }, (_, i) => batch(128, B, T, 10 + i));
    const gc = (globalThis as { gc?: () => void }).gc;
    const snap = () => {
      gc?.(); // node --expose-gc: the heap after a full collection, else whatever garbage is pending
      const m = wt.memory();
      return `${m.tensors} tensors, ${(m.bytes / 1024).toFixed(0)} KiB in tensors, ${((m.bytesInUse + m.bytesPooled) / 1024).toFixed(0)} KiB on the device, JS heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MiB${gc ? ' (after a full GC)' : ''}`;
    };
    const times: number[] = [];
    let at100 = '';
    const t0 = performance.now();
    for (let s = 0; s < N; s++) {
      const { x, y } = data[s % data.length];
      const t = performance.now();
      const l = trainStep(model, opt, x, y);
      await l.item();
      l.dispose();
      times.push(performance.now() - t);
      if (s === 99) at100 = snap();
      // the trend over long runs: a snapshot every 1,000 steps (the last one is printed below)
      else if ((s + 1) % 1000 === 0 && s + 1 < N) console.log(`  after step ${s + 1}: ${snap()}`);
    }
    const total = (performance.now() - t0) / 1000;
    const a = median(times.slice(0, 100)), b = median(times.slice(-100));
    console.log(`\n${label}\n  ${N} steps in ${total.toFixed(1)} s; median step: first 100 ${a.toFixed(2)} ms, last 100 ${b.toFixed(2)} ms (${b >= a ? '+' : ''}${(100 * (b - a) / a).toFixed(1)}%)` +
      `\n  median step of each 100: ${Array.from({ length: Math.floor(N / 100) }, (_, i) => median(times.slice(100 * i, 100 * (i + 1))).toFixed(1)).join(', ')} ms` +
      `\n  after step 100: ${at100}\n  after step ${N}: ${snap()}`);
    opt.dispose();
    for (const { x, y } of data) wt.dispose([x, y]);
    model.dispose();
    wt.getBackend().destroy();
  }
}

await (args.flat ? flat() : speed());
