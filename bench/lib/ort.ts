/**
 * ONNX Runtime as the language-model peer (what transformers.js runs on): the model that
 * bench/lm_onnx.py exported with a KV cache, run by onnxruntime-node on the CPU.
 *
 * onnxruntime-node is not a devDependency: it is ~300 MB and its install script downloads GPU
 * binaries from outside the npm registry. `loadOrt` installs it on first use into
 * node_modules/.cache/ort with scripts off (the CPU binaries ship in the package) and loads it
 * from there; where that fails the peer is reported as not available, with the reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const ORT_VERSION = '1.31.1';

type OrtTensor = { dims: readonly number[]; data: Float32Array | BigInt64Array };
interface Ort {
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(path: string, opts?: object): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}

/** onnxruntime-node from node_modules/.cache/ort (installed there on first use). */
export function loadOrt(root: string): Ort {
  const dir = join(root, 'node_modules', '.cache', 'ort');
  const pkg = join(dir, 'node_modules', 'onnxruntime-node', 'package.json');
  if (!existsSync(pkg)) {
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `onnxruntime-node@${ORT_VERSION}`], { stdio: 'ignore' });
  }
  return createRequire(pkg)('onnxruntime-node') as Ort;
}

/** A prefill then `decode` single-token steps through the exported model, timed. */
export interface OrtRun {
  prefillMs: number;
  decodeMs: number;
  /** the greedy tokens it produced (first from the prefill) */
  tokens: number[];
  /** logits of the prompt's last position, first 64 (checked against PyTorch's) */
  lastLogits: Float32Array;
}

export async function ortSession(ort: Ort, dir: string, threads: number): Promise<(prompt: number[], decode: number) => Promise<OrtRun>> {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  const layers = cfg.n_layer ?? cfg.num_hidden_layers;
  const kvHeads = cfg.num_key_value_heads ?? cfg.n_head;
  const headDim = cfg.head_dim ?? (cfg.n_embd ?? cfg.hidden_size) / (cfg.n_head ?? cfg.num_attention_heads);
  const V = cfg.vocab_size;
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const argmaxLast = (logits: OrtTensor): number => {
    const d = logits.data as Float32Array, T = logits.dims[1], off = (T - 1) * V;
    let best = 0;
    for (let i = 1; i < V; i++) if (d[off + i] > d[off + best]) best = i;
    return best;
  };
  return async (prompt, decode) => {
    let feeds: Record<string, OrtTensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]) };
    for (let i = 0; i < layers; i++) {
      for (const kv of ['key', 'value']) feeds[`past.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
    }
    const step = async (): Promise<number> => {
      const out = await session.run(feeds);
      const t = argmaxLast(out.logits);
      feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(t)]), [1, 1]) };
      for (let i = 0; i < layers; i++) for (const kv of ['key', 'value']) feeds[`past.${i}.${kv}`] = out[`present.${i}.${kv}`];
      return t;
    };
    let t0 = performance.now();
    const out0 = await session.run(feeds);
    const lastLogits = (out0.logits.data as Float32Array).slice((prompt.length - 1) * V, (prompt.length - 1) * V + 64);
    const first = argmaxLast(out0.logits);
    feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(first)]), [1, 1]) };
    for (let i = 0; i < layers; i++) for (const kv of ['key', 'value']) feeds[`past.${i}.${kv}`] = out0[`present.${i}.${kv}`];
    const prefillMs = performance.now() - t0;
    const tokens = [first];
    t0 = performance.now();
    for (let i = 0; i < decode; i++) tokens.push(await step());
    return { prefillMs, decodeMs: performance.now() - t0, tokens, lastLogits };
  };
}
