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
import { GPT2LMHeadModel, KVCache, LlamaForCausalLM, loadCausalLM, readConfig, type CausalLM, type LoadProgress } from '../src/lm/index.js';
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
});
