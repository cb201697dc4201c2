/**
 * webtensor/lm: GPT-2 and Llama-style models against PyTorch reference implementations of the
 * hub's code, on tiny random-weight checkpoints in the hub's layout (test/fixtures/hf_lm.py
 * writes them: tiny-gpt2 F32, tiny-llama BF16 with GQA, untied head and llama3 rope scaling,
 * tiny-qwen2 F16 with q/k/v biases, tied embeddings, two shards). Loading from a directory,
 * Blobs and a URL (a local HTTP server with range requests), forward logits, the key/value
 * cache, streaming greedy and seeded sampling, and the loader's errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { GPT2LMHeadModel, KVCache, LlamaForCausalLM, inspectModel, loadCausalLM, readConfig, type CausalLM, type LoadProgress } from '../src/lm/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';

const FIXTURES = join(__dirname, 'fixtures', 'lm');
const CASES = ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2'] as const;
interface Expected { inputs: number[][]; logits: number[]; logitsShape: number[]; prompt: number[]; greedy: number[] }
const expected = (c: string): Expected => JSON.parse(readFileSync(join(FIXTURES, c, 'expected.json'), 'utf8'));
const ATOL = 1e-4, RTOL = 1e-4;

/** The files of a fixture as Blobs by name (what a file picker gives). */
function blobs(c: string): Record<string, Blob> {
  const out: Record<string, Blob> = {};
  for (const f of readdirSync(join(FIXTURES, c))) if (f !== 'expected.json') out[f] = new Blob([readFileSync(join(FIXTURES, c, f))]);
  return out;
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of it) out.push(t);
  return out;
}

/** A static file server with Range support, as the hub's resolve URLs; counts requests. */
let server: Server;
let base = '';
const requests: { method: string; path: string; range: string | undefined }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    requests.push({ method: req.method!, path, range: req.headers.range });
    let body: Buffer;
    try {
      body = readFileSync(join(FIXTURES, path));
    } catch {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (m) {
      const b = Number(m[1]), e = Math.min(Number(m[2]), body.length - 1);
      res.writeHead(206, { 'content-range': `bytes ${b}-${e}/${body.length}`, 'content-length': e - b + 1 });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(b, e + 1));
    } else {
      res.writeHead(200, { 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

forEachBackend((kind) => {
  const models = new Map<string, CausalLM>();
  beforeAll(async () => {
    for (const c of CASES) models.set(c, await loadCausalLM(join(FIXTURES, c)));
  });
  afterAll(() => {
    for (const m of models.values()) m.dispose();
    models.clear();
  });

  for (const c of CASES) {
    describe(c, () => {
      it('forward gives the reference logits', async () => {
        const ex = expected(c);
        const m = models.get(c)!;
        const logits = m.forward(ex.inputs);
        expect(logits.shape).toEqual(ex.logitsShape);
        expectClose(await logits.data(), ex.logits, ATOL, RTOL, `${c} logits on ${kind}`);
        logits.dispose();
      });

      it('greedy generation gives the reference tokens, streamed one at a time', async () => {
        const ex = expected(c);
        const m = models.get(c)!;
        const before = wt.memory().tensors;
        const gen = m.generate(ex.prompt, { maxNewTokens: ex.greedy.length, temperature: 0 });
        const got: number[] = [];
        for (;;) {
          const r = await gen.next();
          if (r.done) break;
          expect(typeof r.value).toBe('number');
          got.push(r.value);
        }
        expect(got).toEqual(ex.greedy);
        expect(wt.memory().tensors).toBe(before);
      });

      it('the key/value cache gives the logits of a full recompute', async () => {
        const ex = expected(c);
        const m = models.get(c)!;
        const ids = ex.inputs; // [2, 7]
        const full = m.forward(ids);
        const cache = m.newCache();
        // a prompt of 3, one position, a chunk of 2 after cached ones (bottom-right causal mask), one more
        const parts = [[0, 3], [3, 4], [4, 6], [6, 7]].map(([a, b]) => m.forward(ids.map((r) => r.slice(a, b)), { cache }));
        expect(cache.length).toBe(7);
        const stepped = wt.cat(parts, 1);
        expectClose(await stepped.data(), await full.data(), ATOL, RTOL, `${c} cached vs full on ${kind}`);
        wt.dispose([full, stepped, ...parts]);
        cache.dispose();
      });
    });
  }

  it('sampling with a seed is reproducible; topK 1 and a tiny topP are greedy', async () => {
    const ex = expected('tiny-llama');
    const m = models.get('tiny-llama')!;
    const opts = { maxNewTokens: 12, temperature: 1.5, seed: 7, stop: [] };
    const a = await collect(m.generate(ex.prompt, opts));
    const b = await collect(m.generate(ex.prompt, opts));
    expect(a).toHaveLength(12);
    expect(b).toEqual(a);
    const c = await collect(m.generate(ex.prompt, { ...opts, seed: 8 }));
    expect(c).not.toEqual(a);
    const nucleus = await collect(m.generate(ex.prompt, { ...opts, topK: 20, topP: 0.9 }));
    expect(nucleus).toEqual(await collect(m.generate(ex.prompt, { ...opts, topK: 20, topP: 0.9 })));
    const greedy = ex.greedy.slice(0, 10);
    expect(await collect(m.generate(ex.prompt, { maxNewTokens: 10, topK: 1, seed: 1 }))).toEqual(greedy);
    expect(await collect(m.generate(ex.prompt, { maxNewTokens: 10, topP: 1e-6, seed: 1 }))).toEqual(greedy);
  });

  it('stops at a stop token (not yielded) and frees everything when the loop is left early', async () => {
    const ex = expected('tiny-gpt2');
    const m = models.get('tiny-gpt2')!;
    const before = wt.memory().tensors;
    const stopAt = ex.greedy.indexOf(25);
    expect(await collect(m.generate(ex.prompt, { maxNewTokens: 10, temperature: 0, stop: 25 }))).toEqual(ex.greedy.slice(0, stopAt));
    let n = 0;
    for await (const _ of m.generate(ex.prompt, { maxNewTokens: 10, temperature: 0 })) if (++n === 2) break;
    expect(n).toBe(2);
    expect(wt.memory().tensors).toBe(before);
    // generation ends at the context length (64 positions)
    expect(await collect(m.generate(Array.from({ length: 60 }, (_, i) => i), { maxNewTokens: 10, temperature: 0, stop: [] }))).toHaveLength(5);
  });

  it('reads GPT-2 checkpoints with the transformer. prefix and an lm_head tensor (as distilgpt2)', async () => {
    const sd = await wt.load(join(FIXTURES, 'tiny-gpt2', 'model.safetensors'));
    const renamed: Record<string, wt.Tensor> = {};
    for (const [k, v] of Object.entries(sd)) renamed[`transformer.${k}`] = v;
    renamed['lm_head.weight'] = sd['wte.weight'];
    const files = { ...blobs('tiny-gpt2'), 'model.safetensors': new Blob([await wt.save(renamed, { float16: true })]) };
    wt.dispose(sd);
    const m = await loadCausalLM(files);
    const ex = expected('tiny-gpt2');
    // stored F16 here: close to the F32 reference, not equal
    expectClose(await m.forward(ex.inputs).data(), ex.logits, 2e-2, 2e-2, 'f16 gpt2');
    m.dispose();
  });

  it('refuses a checkpoint that lacks a tensor or holds one of the wrong shape, and an unknown model_type, naming them', async () => {
    const sd = await wt.load(join(FIXTURES, 'tiny-gpt2', 'model.safetensors'));
    const partial = { ...sd };
    delete partial['h.1.ln_2.weight'];
    const missing = { ...blobs('tiny-gpt2'), 'model.safetensors': new Blob([await wt.save(partial)]) };
    wt.dispose(sd);
    const before = wt.memory().tensors;
    await expect(loadCausalLM(missing)).rejects.toThrow(wt.FormatError);
    await expect(loadCausalLM(missing)).rejects.toThrow(/^loadCausalLM: .*lacks 1 tensor that GPT2LMHeadModel needs: transformer\.h\.1\.ln_2\.weight \[32\]/);
    const cfg = JSON.parse(readFileSync(join(FIXTURES, 'tiny-gpt2', 'config.json'), 'utf8'));
    const narrow = { ...blobs('tiny-gpt2'), 'config.json': new Blob([JSON.stringify({ ...cfg, n_inner: 64 })]) };
    await expect(loadCausalLM(narrow)).rejects.toThrow(wt.ShapeError);
    await expect(loadCausalLM(narrow)).rejects.toThrow('loadCausalLM: tensor "h.0.mlp.c_fc.weight" in model.safetensors has shape [32,128] but GPT2LMHeadModel with this config.json needs [32,64] for transformer.h.0.mlp.c_fc.weight');
    const bert = { ...blobs('tiny-gpt2'), 'config.json': new Blob([JSON.stringify({ ...cfg, model_type: 'bert', architectures: ['BertModel'] })]) };
    await expect(loadCausalLM(bert)).rejects.toThrow(wt.ArgumentError);
    await expect(loadCausalLM(bert)).rejects.toThrow(/^loadCausalLM: unsupported model_type "bert"/);
    await expect(readConfig(bert)).rejects.toThrow(/^readConfig: unsupported model_type "bert"/);
    await expect(loadCausalLM(join(FIXTURES, 'nowhere'))).rejects.toThrow(/^loadCausalLM: cannot open .*nowhere/);
    const noWeights = { 'config.json': blobs('tiny-gpt2')['config.json'] };
    await expect(loadCausalLM(noWeights)).rejects.toThrow(/^loadCausalLM: found neither model\.safetensors nor model\.safetensors\.index\.json in the files given/);
    expect(wt.memory().tensors).toBe(before); // a refused load frees what it made
  });

  it('models from a config have random weights, hub state-dict keys, and check their inputs', async () => {
    const g = new GPT2LMHeadModel({ vocab_size: 50, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2 }, { seed: 3 });
    expect(Object.keys(g.stateDict())).toEqual([
      'transformer.wte.weight', 'transformer.wpe.weight',
      'transformer.h.0.ln_1.weight', 'transformer.h.0.ln_1.bias', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.0.attn.c_attn.bias',
      'transformer.h.0.attn.c_proj.weight', 'transformer.h.0.attn.c_proj.bias', 'transformer.h.0.ln_2.weight', 'transformer.h.0.ln_2.bias',
      'transformer.h.0.mlp.c_fc.weight', 'transformer.h.0.mlp.c_fc.bias', 'transformer.h.0.mlp.c_proj.weight', 'transformer.h.0.mlp.c_proj.bias',
      'transformer.ln_f.weight', 'transformer.ln_f.bias',
    ]);
    expect(g.stateDict()['transformer.h.0.attn.c_attn.weight'].shape).toEqual([16, 48]);
    const y = g.forward([1, 2, 3]);
    expect(y.shape).toEqual([1, 3, 50]);
    expect((await y.data()).every(Number.isFinite)).toBe(true);
    y.dispose();
    // trainable: the loss's gradient reaches every parameter (the tied head through wte)
    wt.tidy(() => wt.crossEntropy(g.forward([[1, 2, 3, 4]]).reshape([4, 50]), wt.tensor(new Int32Array([2, 3, 4, 5]))).backward());
    for (const [k, p] of g.namedParameters()) expect(p.grad, k).toBeTruthy();
    g.zeroGrad();
    expect(() => g.forward([1, 50])).toThrow(/^GPT2LMHeadModel\.forward: ids\[1\] is 50; token ids are integers in \[0, 50\)/);
    expect(() => g.forward(Array.from({ length: 17 }, () => 1))).toThrow(wt.ShapeError);
    expect(() => g.forward([1], { cache: new KVCache(3) })).toThrow(/^GPT2LMHeadModel\.forward: cache must be a KVCache of this model/);
    expect(() => g.generate([[1], [2]])).toThrow(/^GPT2LMHeadModel\.generate: generate takes one sequence/);
    expect(() => g.generate([1], { topP: 2 })).toThrow(/^GPT2LMHeadModel\.generate: topP/);
    g.dispose();
    const l = new LlamaForCausalLM({ vocab_size: 40, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true });
    const keys = Object.keys(l.stateDict());
    expect(keys).toContain('model.layers.0.self_attn.k_proj.weight');
    expect(l.stateDict()['model.layers.0.self_attn.k_proj.weight'].shape).toEqual([8, 16]);
    expect(keys).toContain('model.layers.0.post_attention_layernorm.weight');
    expect(keys).not.toContain('lm_head.weight');
    expect(l.forward([[1, 2], [3, 4]]).shape).toEqual([2, 2, 40]);
    l.dispose();
    expect(() => new LlamaForCausalLM({ vocab_size: 10, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 3 })).toThrow(/^LlamaForCausalLM: config\.num_attention_heads 4 must be divisible by config\.num_key_value_heads 3/);
    expect(() => new GPT2LMHeadModel({ model_type: 'llama' } as never)).toThrow(/^GPT2LMHeadModel: expected a GPT-2 config/);
    expect(() => new GPT2LMHeadModel({ vocab_size: 10, n_positions: 8, n_layer: 1, n_head: 2 })).toThrow(/^GPT2LMHeadModel: config\.n_embd must be an integer >= 1, got undefined/);
  });

  it('loads the same weights from Blobs (a file picker) and from a URL base by range requests', async () => {
    const ex = expected('tiny-qwen2');
    const want = await models.get('tiny-qwen2')!.forward(ex.inputs).data();
    const fromBlobs = await loadCausalLM(blobs('tiny-qwen2'));
    expectClose(await fromBlobs.forward(ex.inputs).data(), want, 0, 0, 'blobs');
    fromBlobs.dispose();
    requests.length = 0;
    const progress: LoadProgress[] = [];
    const fromUrl = await loadCausalLM(`${base}tiny-llama`, { onProgress: (p) => progress.push({ ...p }) });
    const exL = expected('tiny-llama');
    expectClose(await fromUrl.forward(exL.inputs).data(), await models.get('tiny-llama')!.forward(exL.inputs).data(), 0, 0, 'url');
    fromUrl.dispose();
    // the weights came by range requests, never as the whole file
    const weightReads = requests.filter((r) => r.method === 'GET' && r.path.endsWith('model.safetensors'));
    expect(weightReads.length).toBeGreaterThan(1);
    expect(weightReads.every((r) => r.range)).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    const last = progress[progress.length - 1];
    expect(last.loaded).toBe(last.total);
    expect(last.tensors).toBe(last.count);
  });

  it('inspectModel sizes a checkpoint from its headers; a load over the memory budget is refused with the numbers before anything is made', async () => {
    const info = await inspectModel(blobs('tiny-gpt2'), { context: 64 });
    // 128×32 + 64×32 embeddings, 2 layers of 12,704, ln_f 64; the attn.bias masks are buffers, not weights
    expect(info.parameters).toBe(128 * 32 + 64 * 32 + 2 * 12_704 + 64);
    expect(info).toMatchObject({ layers: 2, width: 32, dtypes: ['F32'], fileBytes: info.parameters * 4 });
    expect(info.config.model_type).toBe('gpt2');
    expect(info.estimate.weightBytes).toBe(info.parameters * 4);
    expect(info.estimate.kvCacheBytes).toBe(2 * 2 * 4 * 8 * 64 * 4);
    const llama = await inspectModel(`${base}tiny-llama`);
    expect(llama.dtypes).toEqual(['BF16']);
    expect(llama.fileBytes * 2).toBe(llama.estimate.weightBytes); // stored 2 bytes, held 4
    expect(llama.estimate.context).toBe(128); // max_position_embeddings
    await expect(inspectModel(blobs('tiny-gpt2'), { context: 0 })).rejects.toThrow(/^inspectModel: context must be a positive integer/);
    const before = wt.memory().tensors;
    await expect(loadCausalLM(blobs('tiny-gpt2'), { memoryBudget: 100_000 })).rejects.toThrow(wt.OutOfMemoryError);
    await expect(loadCausalLM(blobs('tiny-gpt2'), { memoryBudget: 100_000, context: 16 })).rejects.toThrow('loadCausalLM: the model needs about 207.5 KiB (weights 123.5 KiB, KV cache 8.0 KiB for 1×16 tokens, activations 76.0 KiB), more than the budget of 97.7 KiB; nothing was loaded (a shorter context shrinks the KV cache and activations)');
    expect(wt.memory().tensors).toBe(before);
    const m = await loadCausalLM(blobs('tiny-gpt2'), { memoryBudget: info.estimate.totalBytes, context: 64 });
    expect(m.vocabSize).toBe(128);
    m.dispose();
  });
});
