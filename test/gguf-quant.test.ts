/**
 * Quantized weights kept quantized at load (issue 25): GGUF Q8_0 / Q4_0 / Q4_K / Q6_K matrices
 * repacked exactly into the quantized matmul's layout (Q6_K as 8-bit groups of 16, checked on
 * the kernels here), a mixed-type GGUF model loaded quantized against its dequantized twin
 * (same greedy tokens, logits within float32 summation error, less memory), a wt.quantize'd
 * model saved as safetensors and loaded back without float weights, LoraLinear.weight on a
 * quantized base, GGUF metadata of a 150k-token vocabulary, and a quantized lm_head larger than
 * one binding (WebGPU only, named so).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGPUBackend } from '../src/backend/webgpu/index.js';
import { GGUF_REPACK, decodeGgufTensor, readGguf, repackGgufTensor } from '../src/io/gguf.js';
import type { ByteSource } from '../src/io/source.js';
import { dequantizeArrays } from '../src/ops/quant.js';
import { inspectModel, loadCausalLM, type CausalLM } from '../src/lm/index.js';
import { LlamaForCausalLM } from '../src/lm/llama.js';
import { forEachBackend } from './backends.js';
import { expectClose, rng } from './helpers.js';
import { T, writeGguf, type QType } from './fixtures/gguf_writer.js';
import { FIXTURES, stateToGguf } from './fixtures/gguf_models.js';

type Cfg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const mem = (b: Uint8Array, reads?: number[]): ByteSource => ({ size: b.length, read: async (s, e) => (reads?.push(e - s), b.subarray(s, e)), close: async () => {} });
const QTYPES = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const;

/** A GGUF file holding one [N, K] matrix of `type`, and its entry and data bytes. */
async function oneTensor(type: QType, N: number, K: number, seed: number) {
  const r = rng(seed);
  // rows of different magnitudes and signs (a K-quant's sub-block scales and mins all differ)
  const data = Float32Array.from({ length: N * K }, (_, i) => (r() * 2 - 0.7) * (1 + ((i / K) | 0)) * (1 + 3 * Math.sin(i / 7) ** 2));
  const file = writeGguf({ metadata: { 'general.architecture': 'llama' }, tensors: [{ name: 'w', shape: [N, K], type, data }] });
  const g = await readGguf(mem(file));
  const e = g.tensors[0];
  return { e, bytes: file.subarray(e.begin, e.end) };
}

describe('GGUF repack into the quantized matmul layout', () => {
  for (const type of QTYPES) {
    it(`${type} → ${GGUF_REPACK[type].bits}-bit groups of ${GGUF_REPACK[type].groupSize}${GGUF_REPACK[type].mins ? ' with mins' : ''}: every value the dequantizer gives, exactly`, async () => {
      const N = 5, K = 512;
      const { e, bytes } = await oneTensor(type, N, K, 7);
      const want = decodeGgufTensor(e, bytes);
      const r = repackGgufTensor(e, bytes);
      expect([r.words, r.groups]).toEqual([(K * r.bits) / 32, K / r.groupSize]);
      const got = dequantizeArrays(r, N, K, { bits: r.bits, groupSize: r.groupSize, mins: r.mins !== null });
      let diff = 0;
      for (let i = 0; i < want.length; i++) if (Math.fround(got[i]) !== want[i]) diff++;
      expect(diff).toBe(0);
    });
  }
  it('a type that does not repack is a FormatError naming it', async () => {
    const { e, bytes } = await oneTensor('F16', 2, 32, 1);
    expect(() => repackGgufTensor(e, bytes)).toThrow(/repackGgufTensor: tensor "w" is F16; only Q8_0, Q4_0, Q4_K, Q6_K repack/);
  });
});

forEachBackend(() => {
  describe('qmatmul with groups of 16 (Q6_K\'s layout; not open to wt.quantize)', () => {
    // the kernels against a float64 reference with groups of 16 (8-bit with and without mins,
    // 4-bit with mins, Q6_K's odd sizes among them): test/quant.test.ts KERNEL_CASES
    it('other group sizes that are not multiples of 32 are refused (typed error)', () => {
      const q = wt.zeros([2, 4], { dtype: 'int32' }), s = wt.zeros([2, 2]);
      expect(() => wt.qlinear(wt.zeros([1, 48]), { q, scales: s, mins: null, bits: 4, groupSize: 24, shape: [2, 48] })).toThrow(/qlinear: weight.groupSize must be 16 or a multiple of 32 in \[32, 4096\], got 24 with 4 bits/);
      expect(() => wt.quantizeData(new Float32Array(64), [2, 32], { bits: 8, groupSize: 16 })).toThrow(/quantizeData: groupSize must be a multiple of 32/);
      wt.dispose([q, s]);
    });
  });
});

// ---- a quantized GGUF model against its dequantized twin ------------------------------------

const IDS = [[1, 5, 9, 17, 3, 22, 40, 7], [2, 11, 13, 19, 23, 29, 31, 37]];
const PROMPT = [3, 14, 15, 9, 26];

/** A random 256-wide Llama (K-quants need rows of 256) written with a different type per matrix (as a Q4_K_M file mixes them). */
async function mixedLlama(): Promise<Uint8Array<ArrayBuffer>> {
  const cfg: Cfg = { model_type: 'llama', vocab_size: 96, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, initializer_range: 0.05 };
  const ref = new LlamaForCausalLM(cfg, { seed: 5 });
  const types: [RegExp, QType][] = [[/attn_q\./, 'Q4_K'], [/attn_k\./, 'Q6_K'], [/attn_v\./, 'Q8_0'], [/attn_output\./, 'Q4_0'], [/blk\.0\.ffn_gate/, 'Q4_K'],
    [/blk\.1\.ffn_gate/, 'Q8_0'], [/ffn_up/, 'Q6_K'], [/blk\.0\.ffn_down/, 'Q4_0'], [/blk\.1\.ffn_down/, 'Q6_K'], [/^output\./, 'Q6_K'], [/token_embd/, 'Q4_K']];
  const bytes = await stateToGguf('mixed-llama', cfg, ref.stateDict() as Record<string, wt.Tensor>, (name) => types.find(([re]) => re.test(name))?.[1] ?? 'F32');
  ref.dispose();
  return bytes;
}

/** tiny-gpt2 (Conv1D matrices, a tied head) with Q8_0 and Q4_0 matrices and a Q8_0 embedding. */
async function mixedGpt2(): Promise<Uint8Array<ArrayBuffer>> {
  const cfg: Cfg = JSON.parse(readFileSync(join(FIXTURES, 'tiny-gpt2', 'config.json'), 'utf8'));
  const state = await wt.load(join(FIXTURES, 'tiny-gpt2', 'model.safetensors'));
  const bytes = await stateToGguf('tiny-gpt2', cfg, state, (name) => (/attn_qkv|ffn_up|token_embd/.test(name) ? 'Q8_0' : 'Q4_0'));
  wt.dispose(state);
  return bytes;
}

async function greedy(m: CausalLM): Promise<number[]> {
  const out: number[] = [];
  for await (const id of m.generate(PROMPT, { maxNewTokens: 12, temperature: 0 })) out.push(id);
  return out;
}

/** A model loaded with the device bytes it added. */
async function measured(load: () => Promise<CausalLM>): Promise<[CausalLM, number]> {
  const before = wt.memory().bytes;
  const m = await load();
  return [m, wt.memory().bytes - before];
}

const quantizedLayers = (m: CausalLM) => m.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedLinear) as [string, wt.nn.QuantizedLinear][];

forEachBackend((kind) => {
  describe('a quantized GGUF model against its dequantized twin', () => {
    const cases: [string, () => Promise<Uint8Array<ArrayBuffer>>, number, Record<string, string>][] = [
      ['mixed Llama (Q8_0, Q4_0, Q4_K, Q6_K)', mixedLlama, 15, { 'model.layers.0.self_attn.q_proj': '4/32/mins', 'model.layers.0.self_attn.k_proj': '8/16', 'model.layers.0.self_attn.v_proj': '8/32', 'model.layers.0.self_attn.o_proj': '4/32', lm_head: '8/16' }],
      ['tiny GPT-2 (Q8_0, Q4_0; Conv1D, tied head)', mixedGpt2, 8, { 'transformer.h.0.attn.c_attn': '8/32', 'transformer.h.0.attn.c_proj': '4/32', 'transformer.h.1.mlp.c_proj': '4/32' }],
    ];
    for (const [name, make, layers, formats] of cases) {
      it(`${name}: the same greedy tokens, logits within float32 summation error, less device memory`, async () => {
        const bytes = await make();
        const [q, qBytes] = await measured(() => loadCausalLM(new Blob([bytes])));
        const [f, fBytes] = await measured(() => loadCausalLM(new Blob([bytes]), { dequantize: true }));
        // the Linear matrices are QuantizedLinear layers in their GGUF formats; the quantized
        // token_embd a QuantizedEmbedding (GPT-2's F32 position table stays a float Embedding)
        const ql = quantizedLayers(q);
        expect(ql.length).toBe(layers);
        expect(quantizedLayers(f).length).toBe(0);
        const fmt = Object.fromEntries(ql.map(([n, l]) => [n, `${l.bits}/${l.groupSize}${l.mins ? '/mins' : ''}`]));
        for (const [n, want] of Object.entries(formats)) expect(fmt[n], n).toBe(want);
        const gpt2 = (q as unknown as { config: Cfg }).config.model_type === 'gpt2';
        const qe = q.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedEmbedding) as [string, wt.nn.QuantizedEmbedding][];
        expect(qe.map(([n, l]) => `${n} ${l.bits}/${l.groupSize}${l.mins ? '/mins' : ''}`)).toEqual([gpt2 ? 'transformer.wte 8/32' : 'model.embed_tokens 4/32/mins']);
        expect(q.namedModules().filter(([, l]) => l instanceof wt.nn.Embedding).map(([n]) => n)).toEqual(gpt2 ? ['transformer.wpe'] : []);
        expect(f.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedEmbedding).length).toBe(0);
        // the packed layers hold the very values the twin holds: only the summation order differs
        const [lq, lf] = await Promise.all([wt.noGrad(() => q.forward(IDS)).data(), wt.noGrad(() => f.forward(IDS)).data()]);
        let maxAbs = 0, maxLogit = 0, sum = 0;
        for (let i = 0; i < lf.length; i++) (maxAbs = Math.max(maxAbs, Math.abs(lq[i] - lf[i]))), (maxLogit = Math.max(maxLogit, Math.abs(lf[i]))), (sum += Math.abs(lq[i] - lf[i]));
        console.log(`gguf-quant ${name} on ${kind}: device bytes f32 ${fBytes}, quantized ${qBytes} (${(qBytes / fBytes).toFixed(3)}); logits max |Δ| ${maxAbs.toExponential(2)}, mean ${(sum / lf.length).toExponential(2)}, max |logit| ${maxLogit.toFixed(2)}`);
        expect(maxAbs).toBeLessThan(2e-5 * Math.max(1, maxLogit));
        expect(await greedy(q)).toEqual(await greedy(f));
        expect(qBytes).toBeLessThan(fBytes);
        // inspectModel's estimate counts the weights as they load: packed where they stay quantized
        const held = (m: wt.nn.Module) => Object.values(m.stateDict()).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1) * 4, 0);
        expect((await inspectModel(new Blob([bytes]))).estimate.weightBytes).toBe(qBytes);
        // what the device holds is the state dict: a tied head (GPT-2) projects with the embedding's own codes
        expect(held(q)).toBe(qBytes);
        // saved as safetensors (with its config), it loads back packed as it was (Q6_K's groups of 16 and Q4_K's mins included)
        const dir = mkdtempSync(join(tmpdir(), 'wt-q25-gguf-'));
        const config = (q as unknown as { config: Cfg }).config;
        writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
        writeFileSync(join(dir, 'model.safetensors'), await wt.save(q.stateDict()));
        const r = await loadCausalLM(dir);
        expect(Object.fromEntries(quantizedLayers(r).map(([n, l]) => [n, `${l.bits}/${l.groupSize}${l.mins ? '/mins' : ''}`]))).toEqual(fmt);
        expect(r.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedEmbedding).map(([n]) => n)).toEqual(qe.map(([n]) => n));
        const lr = await wt.noGrad(() => r.forward(IDS)).data();
        expectClose(lr, lq, 0, 0, `${name}: GGUF → safetensors → loadCausalLM`);
        r.dispose();
        // QLoRA on the loaded model: adapters train, the packed base gets no gradient
        wt.nn.lora.apply(q, { r: 4, alpha: 8, targetModules: gpt2 ? ['c_attn', 'c_fc'] : ['q_proj', 'v_proj', 'down_proj'] });
        q.train();
        const trainable = q.parameters().filter((p) => p.requiresGrad);
        expect(trainable.length).toBe(2 * (gpt2 ? 4 : 6));
        const opt = new wt.optim.AdamW(trainable, { lr: 1e-2 });
        const ids = wt.tensor(Int32Array.from(IDS.flat()), { shape: [2, 8] });
        const losses: number[] = [];
        const steps = gpt2 ? 6 : 3; // (the 256-wide Llama is slow on the software adapter)
        for (let s = 0; s < steps; s++) {
          const loss = wt.tidy(() => {
            opt.zeroGrad();
            const logits = q.forward(ids.narrow(1, 0, 7));
            const l = wt.F.crossEntropy(logits.reshape([14, -1]), ids.narrow(1, 1, 7).reshape([14]));
            l.backward();
            opt.step();
            return l;
          });
          losses.push((await loss.data())[0]);
          loss.dispose();
        }
        expect(losses[steps - 1]).toBeLessThan(losses[0]);
        for (const [, l] of quantizedLayers(q)) expect([l.qweight.grad, l.scales.grad]).toEqual([null, null]);
        opt.dispose?.();
        ids.dispose();
        q.dispose();
        f.dispose();
      });
    }
  });
});

// ---- a wt.quantize'd model saved and loaded back without float weights -----------------------

/** The model's files in a fresh folder: its config.json and `state` as model.safetensors. */
async function saveDir(fixture: string, state: Record<string, wt.Tensor>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'wt-q25-'));
  writeFileSync(join(dir, 'config.json'), readFileSync(join(FIXTURES, fixture, 'config.json')));
  writeFileSync(join(dir, 'model.safetensors'), await wt.save(state));
  return dir;
}

forEachBackend((kind) => {
  describe('a quantized model through safetensors', () => {
    const cases: [string, wt.QuantizeModelOptions][] = [['tiny-llama', { bits: 4, groupSize: 32, mins: true }], ['tiny-gpt2', { bits: 8, groupSize: 32 }]];
    for (const [fixture, opts] of cases) {
      it(`${fixture} (${opts.bits}-bit, group ${opts.groupSize}${opts.mins ? ', mins' : ''}): the header describes each layer; loadCausalLM makes QuantizedLinear layers directly; logits exact`, async () => {
        const [float, floatBytes] = await measured(() => loadCausalLM(join(FIXTURES, fixture)));
        float.dispose();
        const a = await wt.quantize(await loadCausalLM(join(FIXTURES, fixture)), opts);
        const dir = await saveDir(fixture, a.stateDict());
        const meta = JSON.parse((await wt.loadMetadata(join(dir, 'model.safetensors')))['webtensor.quantization']) as Record<string, { bits: number; groupSize: number; mins: boolean; shape: number[] }>;
        const want = quantizedLayers(a);
        expect(Object.keys(meta).sort()).toEqual(want.map(([n]) => n).sort());
        for (const [n, l] of want) expect(meta[n]).toEqual({ bits: l.bits, groupSize: l.groupSize, mins: l.mins !== null, shape: [l.outFeatures, l.inFeatures] });
        // no float weight of a quantized layer is ever allocated: the peak stays under the float model's size
        const base = wt.memory().bytes;
        wt.resetPeakMemory();
        const b = await loadCausalLM(dir);
        const peak = wt.memory().peakBytes - base, held = wt.memory().bytes - base;
        console.log(`quantized safetensors ${fixture} on ${kind}: float model ${floatBytes} bytes; quantized load peak ${peak}, held ${held}`);
        expect(peak).toBeLessThan(floatBytes);
        expect(quantizedLayers(b).map(([n, l]) => [n, l.bits, l.groupSize, l.mins !== null])).toEqual(want.map(([n, l]) => [n, l.bits, l.groupSize, l.mins !== null]));
        const [ya, yb] = await Promise.all([wt.noGrad(() => a.forward(IDS)).data(), wt.noGrad(() => b.forward(IDS)).data()]);
        expectClose(yb, ya, 0, 0, `${fixture} round trip on ${kind}`);
        a.dispose();
        b.dispose();
      });
    }
    it('packed codes without the header\'s description are a FormatError saying how to save', async () => {
      const a = await wt.quantize(await loadCausalLM(join(FIXTURES, 'tiny-llama')), { bits: 8, groupSize: 32 });
      // copies of the codes are plain int32 tensors: wt.save does not describe them
      const sd = Object.fromEntries(Object.entries(a.stateDict()).map(([k, t]) => [k, k.endsWith('.qweight') ? t.clone() : t]));
      const dir = await saveDir('tiny-llama', sd);
      await expect(loadCausalLM(dir)).rejects.toThrow(/loadCausalLM: the checkpoint in .* holds packed quantized weights \(".*\.qweight"\) but its header has no __metadata__ "webtensor.quantization"/);
      wt.dispose(Object.entries(sd).filter(([k]) => k.endsWith('.qweight')).map(([, t]) => t));
      a.dispose();
    });
  });

  describe('LoraLinear on a quantized base', () => {
    it('weight throws a typed error naming the quantization and wt.dequantize; the dequantized copy is the float weight', async () => {
      const model = new wt.nn.Sequential(new wt.nn.Linear(64, 8), new wt.nn.ReLU(), new wt.nn.Linear(8, 4));
      const child = (n: string) => new Map(model.namedModules()).get(n)!;
      const w0 = await (child('0') as wt.nn.Linear).weight.data();
      await wt.quantize(model, { bits: 8, groupSize: 32, exclude: ['2'] });
      wt.nn.lora.apply(model, { r: 2, alpha: 4, targetModules: ['0', '2'] });
      const [lq, lf] = [child('0') as wt.nn.lora.LoraLinear, child('2') as wt.nn.lora.LoraLinear];
      expect([lq, lf].every((l) => l instanceof wt.nn.lora.LoraLinear)).toBe(true);
      expect(() => lq.weight).toThrow(wt.ArgumentError);
      expect(() => lq.weight).toThrow(/LoraLinear.weight: the base layer is quantized \(QuantizedLinear \[8, 64\], 8-bit, groups of 32\) and holds no float weight; wt.dequantize\(layer.baseLayer.quantized\) gives a float32 copy/);
      const dw = wt.dequantize((lq.baseLayer as unknown as wt.nn.QuantizedLinear).quantized);
      expect(dw.shape).toEqual([8, 64]);
      // 8-bit symmetric: within half a step (max|row group| / 127 / 2) of the float weight
      const got = await dw.data();
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - w0[i])).toBeLessThanOrEqual(2 / 127 / 2 + 1e-6);
      dw.dispose();
      // a float base: the base's own weight
      expect(lf.weight).toBe((lf.baseLayer as wt.nn.Linear).weight);
      // the model still runs, and a language model's adapter-wrapped quantized head too
      expect((model.forward(wt.randn([2, 64], { seed: 1 })) as wt.Tensor).shape).toEqual([2, 4]);
      const lm = await wt.quantize(await loadCausalLM(join(FIXTURES, 'tiny-llama')), { bits: 4, groupSize: 32 });
      wt.nn.lora.apply(lm, { r: 2, alpha: 4, targetModules: ['q_proj', 'lm_head'] });
      expect(wt.noGrad(() => lm.forward(IDS)).shape).toEqual([2, 8, 432]);
      lm.dispose();
    });
  });
});

describe('GGUF metadata of a 150k-token vocabulary', () => {
  it('parses from a few large reads (tokens, scores and types of 150,000 entries)', async () => {
    const n = 150_000;
    const tokens = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? `▁wörd${i}` : `t${i.toString(36)}`));
    const scores = Array.from({ length: n }, (_, i) => -i / 8);
    const types = Array.from({ length: n }, (_, i) => (i < 3 ? 3 : 1));
    const file = writeGguf({ metadata: { 'general.architecture': 'llama', 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.scores': { type: T.arr, itemType: T.f32, value: scores }, 'tokenizer.ggml.token_type': { type: T.arr, itemType: T.i32, value: types },
      'tokenizer.ggml.bos_token_id': 1 }, tensors: [{ name: 'token_embd.weight', shape: [4, 32], type: 'F32', data: new Float32Array(128) }] });
    const reads: number[] = [];
    const g = await readGguf(mem(file, reads));
    const got = g.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(got.length).toBe(n);
    expect(got).toEqual(tokens);
    expect(g.metadata.get('tokenizer.ggml.scores')).toEqual(scores);
    expect(g.metadata.get('tokenizer.ggml.token_type')).toEqual(types);
    expect(g.metadata.get('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(g.metadataTypes.get('tokenizer.ggml.scores')).toEqual({ type: T.arr, itemType: T.f32 });
    expect(g.tensors.map((t) => t.name)).toEqual(['token_embd.weight']);
    // the header (a few MB) is read in doubling chunks, not a read per value
    expect(reads.length).toBeLessThan(16);
    expect(reads.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(file.length);
  });
});

describe('webgpu: a quantized lm_head larger than one binding', () => {
  it('runs in row blocks of its codes: the CPU\'s logits and greedy tokens under a 16 KiB binding limit', async () => {
    // tiny-llama 8-bit: lm_head's codes are [432, 16] int32 (27 KiB); every other weight fits 16 KiB
    const cpu = new CpuBackend();
    wt.setBackend(cpu);
    const a = await wt.quantize(await loadCausalLM(join(FIXTURES, 'tiny-llama')), { bits: 8, groupSize: 32 });
    const dir = await saveDir('tiny-llama', a.stateDict());
    // (one short row: the logits themselves fit a binding)
    const ids = [[1, 5, 9, 17]];
    const want = await wt.noGrad(() => a.forward(ids)).data();
    const wantTokens = await greedy(a);
    a.dispose();
    const gpu = await createWebGPUBackend(undefined, { maxBindingBytes: 16 * 1024 });
    try {
      wt.setBackend(gpu);
      const b = await loadCausalLM(dir);
      const head = (b as LlamaForCausalLM).lmHead as unknown as wt.nn.QuantizedLinear;
      expect(head).toBeInstanceOf(wt.nn.QuantizedLinear);
      expect(head.qweight.shape[0] * head.qweight.shape[1] * 4).toBeGreaterThan(gpu.bindingLimit);
      expectClose(await wt.noGrad(() => b.forward(ids)).data(), want, 1e-4, 1e-4, 'logits by quantized row blocks');
      expect(await greedy(b)).toEqual(wantTokens);
      b.dispose();
    } finally {
      gpu.destroy();
    }
  });
});
