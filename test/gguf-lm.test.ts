/**
 * loadCausalLM on GGUF files: the tiny fixtures' safetensors weights written by the committed
 * GGUF writer (test/fixtures/gguf_writer.ts) as llama.cpp's converter lays them out (llama.cpp
 * names, q/k rows permuted for arch llama, GPT-2's Conv1D matrices transposed, llama3 rope
 * scaling as a rope_freqs tensor, metadata keys of llama.cpp), loaded, and compared with the
 * safetensors model: F32 to 1e-5, and Q8_0 / Q4_K / Q6_K within a stated error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { inspectModel, loadCausalLM, loadGgufTokenizer, loadTokenizer, readConfig, type CausalLM } from '../src/lm/index.js';
import { LlamaForCausalLM } from '../src/lm/llama.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';
import { writeGguf, type QType, type MetaValue, T } from './fixtures/gguf_writer.js';
import { stateToGguf, toGguf } from './fixtures/gguf_models.js';

const FIXTURES = join(__dirname, 'fixtures', 'lm');
type Cfg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CASES = ['tiny-llama', 'tiny-gpt2', 'tiny-qwen2'] as const;
const IDS = [[1, 5, 9, 17, 3, 22, 40, 7], [2, 11, 13, 19, 23, 29, 31, 37]];

forEachBackend((kind) => {
  const ref = new Map<string, CausalLM>();
  beforeAll(async () => {
    for (const c of CASES) ref.set(c, await loadCausalLM(join(FIXTURES, c)));
  });
  afterAll(() => {
    for (const m of ref.values()) m.dispose();
  });
  for (const c of CASES) {
    describe(`GGUF ${c}`, () => {
      it('F32: the logits of the safetensors model (1e-5)', async () => {
        const bytes = await toGguf(c, 'F32');
        const m = await loadCausalLM(new Blob([bytes]));
        expect(m.constructor).toBe(ref.get(c)!.constructor);
        const want = await ref.get(c)!.forward(IDS).data(), got = await m.forward(IDS).data();
        expectClose(got, want, 1e-5, 1e-5, `${c} F32 GGUF on ${kind}`);
        m.dispose();
      });
      // the fixtures' rows (32..128 wide) are not multiples of the K-quants' 256: Q4_K and Q6_K are checked block by block in gguf.test.ts
      for (const type of ['F16', 'Q8_0', 'Q4_0'] as QType[]) {
        it(`${type}: logits near the safetensors model`, async () => {
          const m = await loadCausalLM(new Blob([await toGguf(c, type)]));
          const want = await ref.get(c)!.forward(IDS).data(), got = await m.forward(IDS).data();
          let num = 0, den = 0, maxAbs = 0;
          for (let i = 0; i < want.length; i++) (num += (got[i] - want[i]) ** 2), (den += want[i] ** 2), (maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i])));
          const rel = Math.sqrt(num / den);
          console.log(`gguf ${c} ${type} on ${kind}: relative RMS logit error ${rel.toExponential(2)}, max abs ${maxAbs.toExponential(2)}`);
          expect(rel).toBeLessThan({ F16: 2e-3, Q8_0: 0.1, Q4_0: 0.7 }[type as 'F16']);
          m.dispose();
        });
      }
    });
  }
});

forEachBackend((kind) => {
  it('Q4_K and Q6_K end to end: a random 256-wide Llama (4 heads of 64, 2 kv heads)', async () => {
    const cfg: Cfg = { model_type: 'llama', vocab_size: 96, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, initializer_range: 0.05 };
    const ref = new LlamaForCausalLM(cfg, { seed: 3 });
    const want = await ref.forward(IDS).data();
    for (const type of ['F32', 'Q6_K', 'Q4_K'] as QType[]) {
      const m = await loadCausalLM(new Blob([await stateToGguf('random-llama', cfg, ref.stateDict() as Record<string, wt.Tensor>, type)]));
      const got = await m.forward(IDS).data();
      let num = 0, den = 0;
      for (let i = 0; i < want.length; i++) (num += (got[i] - want[i]) ** 2), (den += want[i] ** 2);
      const rel = Math.sqrt(num / den);
      console.log(`gguf random-llama ${type} on ${kind}: relative RMS logit error ${rel.toExponential(2)}`);
      if (type === 'F32') expectClose(got, want, 1e-5, 1e-5, `F32 on ${kind}`);
      else expect(rel, type).toBeLessThan({ Q6_K: 0.1, Q4_K: 0.4 }[type as 'Q6_K']);
      m.dispose();
    }
    ref.dispose();
  });
});

describe('GGUF sources', () => {
  it('a .gguf path (Node) and a .gguf URL (range requests) load the same model as a Blob', async () => {
    const bytes = await toGguf('tiny-gpt2', 'Q8_0');
    const dir = mkdtempSync(join(tmpdir(), 'wt-gguf-'));
    writeFileSync(join(dir, 'tiny.gguf'), bytes);
    const ranges: string[] = [];
    const server = createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!req.url?.endsWith('/tiny.gguf')) return void res.writeHead(404).end();
      if (!m) return void res.writeHead(200, { 'content-length': bytes.length }).end(req.method === 'HEAD' ? undefined : Buffer.from(bytes));
      ranges.push(req.headers.range!);
      const b = Number(m[1]), e = Math.min(Number(m[2]), bytes.length - 1);
      res.writeHead(206, { 'content-range': `bytes ${b}-${e}/${bytes.length}`, 'content-length': e - b + 1 }).end(Buffer.from(bytes.subarray(b, e + 1)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/tiny.gguf`;
      const models = [await loadCausalLM(new Blob([bytes])), await loadCausalLM(join(dir, 'tiny.gguf')), await loadCausalLM(new URL(url))];
      expect(ranges.length).toBeGreaterThan(1);
      const [a, b, c] = await Promise.all(models.map((m) => m.forward(IDS).data()));
      expectClose(b, a, 0, 0, 'path');
      expectClose(c, a, 0, 0, 'url');
      for (const m of models) m.dispose();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('GGUF inspectModel and readConfig', () => {
  it('read the header only: config, parameters, stored types and bytes', async () => {
    const bytes = await toGguf('tiny-llama', 'Q8_0');
    const want = await inspectModel(join(FIXTURES, 'tiny-llama'));
    const info = await inspectModel(new Blob([bytes]), { context: 64 });
    expect(info.parameters).toBe(want.parameters);
    expect([info.layers, info.width]).toEqual([want.layers, want.width]);
    expect(info.dtypes).toEqual(['F32', 'Q8_0']);
    expect(info.fileBytes).toBeLessThan(want.parameters * 2);
    const cfg = await readConfig(new Blob([bytes]));
    const ref = await readConfig(join(FIXTURES, 'tiny-llama'));
    for (const k of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings', 'rope_theta', 'tie_word_embeddings', 'bos_token_id', 'eos_token_id'] as const) {
      expect((cfg as unknown as Cfg)[k], k).toEqual((ref as unknown as Cfg)[k]);
    }
    expect(Math.fround((cfg as unknown as Cfg).rms_norm_eps)).toBe(Math.fround((ref as unknown as Cfg).rms_norm_eps));
  });
});

describe('GGUF loading errors', () => {
  it('a tensor of a type not decoded is refused before anything is loaded, naming it', async () => {
    const bytes = writeGguf({ metadata: { 'general.architecture': 'gpt2', 'gpt2.context_length': 8, 'gpt2.embedding_length': 32, 'gpt2.block_count': 1, 'gpt2.attention.head_count': 2 },
      tensors: [{ name: 'token_embd.weight', shape: [4, 32], type: 'F32', typeId: 13, data: new Float32Array(128), raw: new Uint8Array(4 * 176 / 8) }] });
    await expect(loadCausalLM(new Blob([bytes]))).rejects.toThrow(/loadCausalLM: GGUF tensor "token_embd.weight" in \(a Blob\) has type Q5_K \(ggml type id 13\), which is not supported/);
  });
  it('onProgress reports the bytes and tensors as they load', async () => {
    const bytes = await toGguf('tiny-gpt2', 'Q8_0');
    const seen: { loaded: number; total: number; tensors: number; count: number }[] = [];
    const m = await loadCausalLM(new Blob([bytes]), { onProgress: (p) => seen.push({ ...p }) });
    const last = seen[seen.length - 1];
    expect(last.loaded).toBe(last.total);
    expect(last.tensors).toBe(last.count);
    // one GGUF tensor per weight: a quantized layer's codes, scales (and mins) come from one
    expect(last.count).toBe(Object.keys(m.stateDict()).filter((k) => !/\.(scales|mins)$/.test(k)).length);
    m.dispose();
  });
  it('memoryBudget is checked before the model is made', async () => {
    const bytes = await toGguf('tiny-llama', 'Q8_0');
    await expect(loadCausalLM(new Blob([bytes]), { memoryBudget: 1000 })).rejects.toThrow(/loadCausalLM: the model needs about .* more than the budget of/);
  });
  it('an unsupported architecture and a missing tensor are FormatErrors', async () => {
    const bad = writeGguf({ metadata: { 'general.architecture': 'mamba' }, tensors: [{ name: 'token_embd.weight', shape: [4, 8], type: 'F32', data: new Float32Array(32) }] });
    await expect(loadCausalLM(new Blob([bad]))).rejects.toThrow(/loadCausalLM: GGUF architecture "mamba" is not supported/);
    const bytes = await toGguf('tiny-gpt2', 'F32');
    // drop one tensor by renaming it to something the model does not use
    const s = Buffer.from(bytes).indexOf('output_norm.bias');
    bytes.set(new TextEncoder().encode('output_norm.xxxx'), s);
    await expect(loadCausalLM(new Blob([bytes]))).rejects.toThrow(/lacks 1 tensor that GPT2LMHeadModel needs: transformer\.ln_f\.bias; it has tensors this model does not use: output_norm\.xxxx/);
  });
});

/** A fixture's tokenizer.json / tokenizer_config.json as llama.cpp's converter stores them in GGUF metadata. */
function tokenizerMetadata(fixture: string, model: 'llama' | 'gpt2', variant: 'merges' | 'scores'): Record<string, MetaValue> {
  const tj: Cfg = JSON.parse(readFileSync(join(FIXTURES, fixture, 'tokenizer.json'), 'utf8'));
  const tc: Cfg = JSON.parse(readFileSync(join(FIXTURES, fixture, 'tokenizer_config.json'), 'utf8'));
  const byId: string[] = [];
  for (const [t, id] of Object.entries(tj.model.vocab as Record<string, number>)) byId[id] = t;
  const special = new Set<number>();
  for (const a of tj.added_tokens) (byId[a.id] = a.content), a.special && special.add(a.id);
  const types = byId.map((t, id) => (special.has(id) ? 3 : model === 'llama' && /^<0x[0-9A-F]{2}>$/.test(t) ? 6 : 1));
  const content = (v: unknown) => (typeof v === 'string' ? v : (v as { content?: string } | null)?.content);
  const idOf = (v: unknown) => byId.indexOf(content(v)!);
  const merges = (tj.model.merges as (string | string[])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const meta: Record<string, MetaValue> = {
    'tokenizer.ggml.model': model, 'tokenizer.ggml.tokens': byId, 'tokenizer.ggml.token_type': { type: T.arr, itemType: T.i32, value: types },
    'tokenizer.ggml.bos_token_id': idOf(tc.bos_token), 'tokenizer.ggml.eos_token_id': idOf(tc.eos_token),
    'tokenizer.ggml.add_bos_token': tc.add_bos_token ?? false, 'tokenizer.ggml.add_eos_token': tc.add_eos_token ?? false,
  };
  if (tc.unk_token) meta['tokenizer.ggml.unknown_token_id'] = idOf(tc.unk_token);
  if (tc.pad_token) meta['tokenizer.ggml.padding_token_id'] = idOf(tc.pad_token);
  if (typeof tc.chat_template === 'string') meta['tokenizer.chat_template'] = tc.chat_template;
  if (model === 'gpt2') meta['tokenizer.ggml.pre'] = 'smollm';
  if (variant === 'merges') meta['tokenizer.ggml.merges'] = merges;
  else {
    // SentencePiece-style scores: a merge's result scores by its rank, everything else far below
    const rank = new Map(merges.map((m, r) => [m.replace(' ', ''), r]));
    meta['tokenizer.ggml.scores'] = { type: T.arr, itemType: T.f32, value: byId.map((t) => -(rank.get(t) ?? 1e6)) };
  }
  return meta;
}

describe('GGUF tokenizer from metadata', () => {
  const TEXTS = ['The quick brown fox jumps over the lazy dog.', "Hello world! It's 2024, how are you today?", '  spaced   out\nnew line\tand tab', 'ünïcödé and 日本語 and emoji 🙂', ''];
  const cases: [string, 'llama' | 'gpt2', 'merges' | 'scores'][] = [['tiny-llama', 'llama', 'merges'], ['tiny-llama', 'llama', 'scores'], ['tiny-chatml', 'gpt2', 'merges']];
  for (const [fixture, model, variant] of cases) {
    it(`${fixture} (tokenizer.ggml.model ${model}, ${variant}) encodes and decodes as its tokenizer.json`, async () => {
      const want = await loadTokenizer(join(FIXTURES, fixture));
      const bytes = writeGguf({ metadata: { 'general.architecture': 'llama', ...tokenizerMetadata(fixture, model, variant) }, tensors: [] });
      const got = await loadGgufTokenizer(new Blob([bytes]));
      expect(got.vocabSize).toBe(want.vocabSize);
      expect([got.bosTokenId, got.eosTokenId]).toEqual([want.bosTokenId, want.eosTokenId]);
      expect([...got.specialTokenIds].sort()).toEqual([...want.specialTokenIds].sort());
      for (const t of TEXTS) {
        const ids = want.encode(t);
        expect(got.encode(t), JSON.stringify(t)).toEqual(ids);
        expect(got.decode(ids)).toBe(want.decode(ids));
        expect(got.decode(ids, { skipSpecialTokens: true })).toBe(want.decode(ids, { skipSpecialTokens: true }));
      }
      const chat = [{ role: 'user', content: 'Hi there!' }, { role: 'assistant', content: 'Hello.' }];
      if (want.chatTemplate) expect(got.applyChatTemplate(chat)).toBe(want.applyChatTemplate(chat));
    });
  }
  it('an unknown tokenizer model or pre-tokenizer is a FormatError naming it', async () => {
    const meta = tokenizerMetadata('tiny-chatml', 'gpt2', 'merges');
    await expect(loadGgufTokenizer(writeGguf({ metadata: { ...meta, 'tokenizer.ggml.model': 'bert' }, tensors: [] }))).rejects.toThrow(/loadGgufTokenizer: GGUF tokenizer.ggml.model is "bert"; supported/);
    await expect(loadGgufTokenizer(writeGguf({ metadata: { ...meta, 'tokenizer.ggml.pre': 'deepseek-coder' }, tensors: [] }))).rejects.toThrow(/tokenizer.ggml.pre "deepseek-coder" is not supported/);
  });
});
