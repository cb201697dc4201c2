/**
 * Buffers larger than one storage binding (maxStorageBufferBindingSize): a launch binds the
 * window of the buffer its views reach, offsets shifted (GpuWindow). SwiftShader's limit is
 * 1 GiB, so the backend here is made with a 16 KiB limit (DispatcherOptions.maxBindingBytes)
 * and every result is compared with the CPU backend. About the WebGPU backend only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { CpuBackend } from '../../src/backend/cpu/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { expectClose, rng } from '../helpers.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCausalLM } from '../../src/lm/index.js';
import { vocabBlocks } from '../../src/lm/layers.js';

const TINY_LLAMA = join(__dirname, '..', 'fixtures', 'lm', 'tiny-llama');

const LIMIT = 16 * 1024; // bytes: 4096 floats
let gpu: WebGPUBackend;
const cpu = new CpuBackend();

beforeAll(async () => {
  gpu = await createWebGPUBackend(undefined, { maxBindingBytes: LIMIT });
});
afterAll(() => gpu?.destroy());

/** `f` on both backends with the same inputs: [webgpu result, cpu result]. */
async function both(make: () => wt.Tensor[], f: (...xs: wt.Tensor[]) => wt.Tensor): Promise<[Float32Array | Int32Array, Float32Array | Int32Array]> {
  const out: (Float32Array | Int32Array)[] = [];
  for (const be of [gpu, cpu]) {
    wt.setBackend(be);
    const xs = make();
    const r = f(...xs);
    out.push((await r.data()) as Float32Array);
    wt.dispose([r, ...xs]);
  }
  return [out[0], out[1]];
}

/** A [300, 40] table (48,000 bytes: three bindings' worth), uploaded (a kernel writing all of it could not run). */
const table = (seed: number) => {
  const r = rng(seed);
  return wt.tensor(Float32Array.from({ length: 300 * 40 }, () => r() * 2 - 1), { shape: [300, 40] });
};

describe('webgpu: buffers larger than one binding', () => {
  it('elementwise, matmul, indexSelect and a write read windows of a 47 KiB buffer under a 16 KiB binding limit', async () => {
    expect(gpu.bindingLimit).toBe(LIMIT);
    // rows 200..259 of the table (offset not a multiple of the 64-float alignment)
    let [g, c] = await both(() => [table(1)], (w) => w.narrow(0, 201, 59).mul(2).add(1));
    expectClose(g, c, 1e-6, 1e-6, 'elementwise on a window');
    // a language model's head on a block of vocabulary rows: h @ W[s:s+n]ᵀ
    [g, c] = await both(() => [table(2), wt.randn([3, 40], { seed: 3 })], (w, h) => wt.matmul(h, w.narrow(0, 120, 90).transpose(0, 1)));
    expectClose(g, c, 1e-5, 1e-5, 'matmul against a window');
    // an embedding lookup in a block of rows
    [g, c] = await both(() => [table(4), wt.tensor([0, 5, 89, 7], { dtype: 'int32' })], (w, ids) => wt.F.embedding(ids, w.narrow(0, 210, 90)));
    expectClose(g, c, 0, 0, 'indexSelect in a window');
    // writes into a window of a big buffer: the rest stays as it was
    [g, c] = await both(() => [table(5)], (w) => {
      wt.noGrad(() => w.narrow(0, 150, 20).copy_(wt.ones([20, 40])));
      return w.narrow(0, 140, 40).mul(1);
    });
    expectClose(g, c, 0, 0, 'a write into a window');
  });

  it('a launch whose views span more than a binding is refused with the sizes', async () => {
    wt.setBackend(gpu);
    const w = table(6);
    const r = w.mul(2);
    await expect(r.data()).rejects.toThrow(/^webgpu: .* reaches 48000 bytes of one buffer \(of 48000\), more than one storage binding holds \(16384 bytes, maxStorageBufferBindingSize\); run it on smaller slices of the tensor/);
    wt.dispose([r, w]);
  });

  it("a language model whose vocabulary matrices exceed a binding runs them in row blocks: PyTorch's logits and greedy tokens", async () => {
    // tiny-llama: embed_tokens and lm_head [432, 64] are 108 KiB each; the largest other weight 32 KiB
    const small = await createWebGPUBackend(undefined, { maxBindingBytes: 48 * 1024 });
    try {
      wt.setBackend(small);
      expect(vocabBlocks(432, 64)).toEqual([[0, 191], [191, 191], [382, 50]]);
      const model = await loadCausalLM(TINY_LLAMA);
      const ex = JSON.parse(readFileSync(join(TINY_LLAMA, 'expected.json'), 'utf8')) as { inputs: number[][]; logits: number[]; prompt: number[]; greedy: number[] };
      expectClose(await wt.noGrad(() => model.forward(ex.inputs)).data(), ex.logits, 1e-4, 1e-4, 'logits by row blocks');
      const got: number[] = [];
      for await (const id of model.generate(ex.prompt, { maxNewTokens: ex.greedy.length, temperature: 0 })) got.push(id);
      expect(got).toEqual(ex.greedy.filter((_, i) => i < got.length));
      expect(got.length).toBeGreaterThan(0);
      model.dispose();
    } finally {
      small.destroy();
    }
    // a weight that is not a vocabulary matrix must fit one binding: refused before loading, with the sizes
    const tiny = await createWebGPUBackend(undefined, { maxBindingBytes: 16 * 1024 });
    try {
      wt.setBackend(tiny);
      await expect(loadCausalLM(TINY_LLAMA)).rejects.toThrow(/^loadCausalLM: the weight model\.layers\.0\.mlp\.gate_proj\.weight needs 32\.0 KiB in one binding, and this device allows 16\.0 KiB \(maxBufferSize .*, maxStorageBufferBindingSize 16\.0 KiB\); nothing was loaded/);
    } finally {
      tiny.destroy();
    }
  });
});
