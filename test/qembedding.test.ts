/**
 * Quantized embeddings (issue 25 follow-up): wt.qembedding (gather-dequantize) against
 * wt.dequantize then wt.embedding (exact) and the float64 host reference; nn.QuantizedEmbedding;
 * wt.quantize(model, { embeddings: true }) on a tied Llama-style fixture (one quantized matrix for
 * the lookup and the head; greedy tokens of its dequantized twin; less memory) and on GPT-2;
 * quantized safetensors round trip through loadCausalLM.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { dequantizeArrays, quantizeArrays } from '../src/ops/quant.js';
import { loadCausalLM, type CausalLM } from '../src/lm/index.js';
import { LlamaForCausalLM } from '../src/lm/llama.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { createWebGPUBackend } from '../src/backend/webgpu/index.js';
import { BACKENDS, forEachBackend } from './backends.js';
import { randomValues } from './helpers.js';

type Case = { bits: 4 | 8; groupSize: number; mins: boolean };
const CASES: Case[] = [
  { bits: 8, groupSize: 32, mins: false },
  { bits: 8, groupSize: 64, mins: true },
  { bits: 4, groupSize: 32, mins: true },
  { bits: 4, groupSize: 64, mins: false },
  // groups of 16 (GGUF Q6_K's repack; not offered by wt.quantizeData): from the host arrays
  { bits: 8, groupSize: 16, mins: false },
  { bits: 4, groupSize: 16, mins: true },
];

const FIXTURES = new URL('./fixtures/lm/', import.meta.url).pathname;

function quantizedOf(w: ArrayLike<number>, N: number, K: number, c: Case): { qw: wt.QuantizedWeight; ref: Float64Array } {
  const a = quantizeArrays(w, N, K, c);
  const qw: wt.QuantizedWeight = {
    q: wt.tensor(a.q, { shape: [N, a.words], dtype: 'int32' }),
    scales: wt.tensor(a.scales, { shape: [N, a.groups] }),
    mins: a.mins ? wt.tensor(a.mins, { shape: [N, a.groups] }) : null,
    bits: c.bits, groupSize: c.groupSize, shape: [N, K],
  };
  return { qw, ref: dequantizeArrays(a, N, K, c) };
}

const partsOf = (qw: wt.QuantizedWeight): wt.Tensor[] => [qw.q, qw.scales, ...(qw.mins ? [qw.mins] : [])];

/** Copies `model` with every Linear weight and every Embedding weight replaced by its dequantized values. */
async function dequantizedTwin(model: CausalLM, opts: Case): Promise<CausalLM> {
  for (const [, l] of model.namedModules()) {
    if (!(l instanceof wt.nn.Linear) && !(l instanceof wt.nn.Embedding)) continue;
    const qw = await wt.quantizeWeight(l.weight, opts);
    const d = wt.dequantize(qw);
    wt.noGrad(() => l.weight.copy_(d));
    wt.dispose([d, ...partsOf(qw)]);
  }
  return model;
}

async function greedy(m: CausalLM, prompt: number[]): Promise<number[]> {
  const out: number[] = [];
  for await (const t of m.generate(prompt, { maxNewTokens: 10, temperature: 0 })) out.push(t);
  return out;
}

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = 0, r = 0;
  for (let i = 0; i < want.length; i++) {
    m = Math.max(m, Math.abs(got[i] - want[i]));
    r = Math.max(r, Math.abs(want[i]));
  }
  return m / r;
}

forEachBackend((kind) => {
  describe('qembedding vs dequantize then embedding', () => {
    for (const c of CASES) {
      it(`${c.bits}-bit group ${c.groupSize}${c.mins ? ' mins' : ''}: odd sizes, repeated and edge ids, exact`, async () => {
        for (const [N, K] of [[37, 3 * c.groupSize + 7], [5, c.groupSize - 3], [130, 2 * c.groupSize + 1]] as const) {
          const { qw, ref } = quantizedOf(randomValues(N * K, N + K), N, K, c);
          const idv = [0, N - 1, 3 % N, 3 % N, N >> 1, 1];
          const ids = wt.tensor(new Int32Array(idv), { shape: [2, 3] });
          const got = wt.qembedding(ids, qw);
          expect(got.shape).toEqual([2, 3, K]);
          expect(got.requiresGrad).toBe(false);
          const d = wt.dequantize(qw);
          const want = wt.embedding(ids, d);
          const [g, w] = await Promise.all([got.data(), want.data()]);
          expect(Array.from(g)).toEqual(Array.from(w));
          // and the host's float64 reference, rounded once to float32 (a few ulps on the GPU)
          const host = Float32Array.from(idv.flatMap((n) => Array.from(ref.subarray(n * K, n * K + K))));
          if (kind === 'cpu') expect(Array.from(g)).toEqual(Array.from(host));
          else expect(maxRel(g, host)).toBeLessThan(1e-6);
          wt.dispose([got, d, want, ids, ...partsOf(qw)]);
        }
      });
    }

    it('ids of any shape (a scalar, empty) and a non-contiguous view', async () => {
      const c: Case = { bits: 4, groupSize: 32, mins: false };
      const N = 9, K = 40;
      const { qw } = quantizedOf(randomValues(N * K, 2), N, K, c);
      const d = wt.dequantize(qw);
      const scalar = wt.tensor(new Int32Array([7]), { shape: [] });
      expect(Array.from(await wt.qembedding(scalar, qw).data())).toEqual(Array.from(await wt.embedding(scalar, d).data()));
      expect(wt.qembedding(wt.zeros([0, 2], { dtype: 'int32' }), qw).shape).toEqual([0, 2, K]);
      const t = wt.tensor(new Int32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] }).T;
      expect(Array.from(await wt.qembedding(t, qw).data())).toEqual(Array.from(await wt.embedding(t.contiguous(), d).data()));
      wt.dispose([d, scalar, t, ...partsOf(qw)]);
    });

    it('typed errors: ids out of range, float ids, a bad weight', async () => {
      const qw = wt.quantizeData(new Float32Array(4 * 32).fill(0.5), [4, 32], { bits: 8, groupSize: 32 });
      // (without synchronous reads, WebGPU checks the ids on the device and reports on the read)
      await expect(async () => wt.qembedding(wt.tensor(new Int32Array([0, 4])), qw).data()).rejects.toThrow(wt.ArgumentError);
      await expect(async () => wt.qembedding(wt.tensor(new Int32Array([0, 4])), qw).data()).rejects.toThrow(/qembedding: ids \[2\] holds .*out of range \[0, 4\)/);
      await expect(async () => wt.qembedding(wt.tensor(new Int32Array([-1])), qw).data()).rejects.toThrow(/qembedding: ids/);
      expect(() => wt.qembedding(wt.tensor([0, 1]), qw)).toThrow(wt.DTypeError);
      expect(() => wt.qembedding(wt.tensor(new Int32Array([0])), { ...qw, q: wt.zeros([4, 9], { dtype: 'int32' }) })).toThrow(/qembedding: weight.q must be int32 \[4, 8\]/);
      const e = new wt.nn.QuantizedEmbedding(qw);
      expect(() => e.forward(wt.tensor([0, 1]))).toThrow(/QuantizedEmbedding.forward: indices must be an int32 Tensor/);
      await expect(async () => e.forward(wt.tensor(new Int32Array([5]))).data()).rejects.toThrow(wt.ArgumentError);
    });
  });

  describe('nn.QuantizedEmbedding and wt.quantize({ embeddings: true })', () => {
    it('an Embedding replaced in place: buffers, no parameters, same values as the dequantized weight', async () => {
      const m = new wt.nn.Sequential(new wt.nn.Embedding(50, 72), new wt.nn.Linear(72, 5));
      const keep = new wt.nn.Sequential(new wt.nn.Embedding(50, 72), new wt.nn.Linear(72, 5));
      keep.loadStateDict(m.stateDict());
      await wt.quantize(keep, { bits: 4, groupSize: 32 });
      expect(keep.namedModules().map(([, l]) => l.constructor.name)).toEqual(['Sequential', 'Embedding', 'QuantizedLinear']);
      const w = await (m.namedModules()[1][1] as wt.nn.Embedding).weight.data();
      await wt.quantize(m, { bits: 4, groupSize: 32, mins: true, embeddings: true });
      const e = m.namedModules()[1][1] as wt.nn.QuantizedEmbedding;
      expect(e).toBeInstanceOf(wt.nn.QuantizedEmbedding);
      expect([e.numEmbeddings, e.embeddingDim, e.bits, e.groupSize]).toEqual([50, 72, 4, 32]);
      expect(m.parameters().length).toBe(1); // the Linear's bias
      expect(Object.keys(m.stateDict())).toEqual(expect.arrayContaining(['0.qweight', '0.scales', '0.mins']));
      const ids = wt.tensor(new Int32Array([3, 49, 0, 3]), { shape: [2, 2] });
      const d = wt.dequantize(e.quantized);
      const [got, want] = await Promise.all([e.forward(ids).data(), wt.embedding(ids, d).data()]);
      expect(Array.from(got)).toEqual(Array.from(want));
      // within half a step (its group's scale) of the float weight
      const [dv, sv] = await Promise.all([d.data(), e.scales.data()]);
      let worst = 0;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(dv[i] - w[i]) / sv[Math.floor(i / 72) * 3 + Math.floor((i % 72) / 32)]);
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-5);
      wt.dispose([ids, d]);
      m.dispose();
      keep.dispose();
    });

    for (const c of [{ bits: 4, groupSize: 32, mins: true }, { bits: 8, groupSize: 32, mins: false }] as Case[]) {
      it(`tied tiny-qwen2 (${c.bits}-bit${c.mins ? ', mins' : ''}): one quantized matrix for lookup and head; greedy tokens of the dequantized twin; less memory`, async () => {
        const prompt = [140, 17, 42, 99, 7];
        const ids = [[140, 5, 33, 99, 7, 120, 3, 11]];
        const twin = await dequantizedTwin(await loadCausalLM(`${FIXTURES}tiny-qwen2`), c);
        const ty = await wt.noGrad(() => twin.forward(ids)).data();
        const tt = await greedy(twin, prompt);
        twin.dispose();

        const base = wt.memory().bytes;
        const plain = await wt.quantize(await loadCausalLM(`${FIXTURES}tiny-qwen2`), c);
        const plainBytes = wt.memory().bytes - base;
        plain.dispose();
        const base2 = wt.memory().bytes;
        const m = await wt.quantize(await loadCausalLM(`${FIXTURES}tiny-qwen2`), { ...c, embeddings: true });
        const qBytes = wt.memory().bytes - base2;
        expect(qBytes).toBeLessThan(plainBytes);
        const embs = m.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedEmbedding).map(([n]) => n);
        expect(embs).toEqual(['model.embed_tokens']);
        expect(m.namedModules().some(([, l]) => l instanceof wt.nn.Embedding)).toBe(false);
        expect(Object.keys(m.stateDict()).some((k) => k.startsWith('lm_head'))).toBe(false);
        const y = await wt.noGrad(() => m.forward(ids)).data();
        expect(maxRel(y, ty)).toBeLessThan(1e-5);
        expect(await greedy(m, prompt)).toEqual(tt);

        // wt.save → loadCausalLM: the embedding comes back a QuantizedEmbedding, logits exact
        const dir = mkdtempSync(join(tmpdir(), 'wt-qemb-'));
        writeFileSync(join(dir, 'config.json'), readFileSync(join(FIXTURES, 'tiny-qwen2', 'config.json')));
        writeFileSync(join(dir, 'model.safetensors'), await wt.save(m.stateDict()));
        const meta = JSON.parse((await wt.loadMetadata(join(dir, 'model.safetensors')))['webtensor.quantization']);
        expect(meta['model.embed_tokens']).toEqual({ bits: c.bits, groupSize: c.groupSize, mins: c.mins, shape: [144, 48] });
        const b = await loadCausalLM(dir);
        expect(b.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedEmbedding).map(([n]) => n)).toEqual(['model.embed_tokens']);
        const yb = await wt.noGrad(() => b.forward(ids)).data();
        expect(Array.from(yb)).toEqual(Array.from(y));
        b.dispose();
        m.dispose();
        console.log(`qembedding tiny-qwen2 ${c.bits}-bit on ${kind}: held ${plainBytes} bytes quantized without embeddings, ${qBytes} with`);
      });
    }

    it('tiny-gpt2 (wte and wpe quantized, the head tied to wte): logits of the dequantized twin', async () => {
      const c: Case = { bits: 8, groupSize: 32, mins: false };
      const ids = [[1, 5, 9, 3, 7]];
      const twin = await dequantizedTwin(await loadCausalLM(`${FIXTURES}tiny-gpt2`), c);
      // (its Conv1D weights stay float in the twin: quantize only the embeddings in the model too)
      const ty = await wt.noGrad(() => twin.forward(ids)).data();
      const tt = await greedy(twin, [1, 5, 9]);
      twin.dispose();
      const m = await wt.quantize(await loadCausalLM(`${FIXTURES}tiny-gpt2`), { ...c, embeddings: true, exclude: [/\.(attn|mlp)\./] });
      expect(m.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedEmbedding).map(([n]) => n)).toEqual(['transformer.wte', 'transformer.wpe']);
      const y = await wt.noGrad(() => m.forward(ids)).data();
      expect(maxRel(y, ty)).toBeLessThan(1e-5);
      // cached decode steps look positions up past 0
      expect(await greedy(m, [1, 5, 9])).toEqual(tt);
      m.dispose();
    });
  });
});

if (BACKENDS.includes('webgpu')) describe('webgpu: a quantized embedding larger than one binding', () => {
  it('looks up and projects in row blocks of its codes: the CPU\'s logits and greedy tokens under a 4 KiB binding limit', async () => {
    // tiny-qwen2 4-bit g32: the embedding's codes are [144, 8] int32 (4.5 KiB); every other weight fits 4 KiB
    const cpu = new CpuBackend();
    wt.setBackend(cpu);
    const a = await wt.quantize(await loadCausalLM(`${FIXTURES}tiny-qwen2`), { bits: 4, groupSize: 32, embeddings: true });
    const dir = mkdtempSync(join(tmpdir(), 'wt-qemb-'));
    writeFileSync(join(dir, 'config.json'), readFileSync(join(FIXTURES, 'tiny-qwen2', 'config.json')));
    writeFileSync(join(dir, 'model.safetensors'), await wt.save(a.stateDict()));
    const ids = [[140, 5, 143, 0]];
    const want = await wt.noGrad(() => a.forward(ids)).data();
    const wantTokens = await greedy(a, [140, 17, 42, 99, 7]);
    a.dispose();
    const gpu = await createWebGPUBackend(undefined, { maxBindingBytes: 4 * 1024 });
    try {
      wt.setBackend(gpu);
      const b = await loadCausalLM(dir);
      const emb = (b as LlamaForCausalLM).model.embedTokens as unknown as wt.nn.QuantizedEmbedding;
      expect(emb).toBeInstanceOf(wt.nn.QuantizedEmbedding);
      expect(emb.qweight.shape[0] * emb.qweight.shape[1] * 4).toBeGreaterThan(gpu.bindingLimit);
      const got = await wt.noGrad(() => b.forward(ids)).data();
      expect(maxRel(got, want)).toBeLessThan(1e-5);
      expect(await greedy(b, [140, 17, 42, 99, 7])).toEqual(wantTokens);
      // ids past the vocabulary are still refused
      await expect(async () => wt.noGrad(() => b.forward([[3, 144]])).data()).rejects.toThrow(/144/);
      b.dispose();
    } finally {
      gpu.destroy();
    }
  });
});
