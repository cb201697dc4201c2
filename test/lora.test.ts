/**
 * LoRA (src/nn/lora.ts) against PEFT's layout and PyTorch's numbers: test/fixtures/lora_peft.py
 * rebuilds PEFT's LoRA wrapper in PyTorch 1.13 (the module tree that fixes the file format) and
 * writes two base models (TinyLM with Linear layers; TinyGPT with GPT-2 Conv1D layers, weight
 * [in, out]), an adapter for each in PEFT's files (adapter_model.safetensors +
 * adapter_config.json, B nonzero), the adapted model's logits, the merged weights, and a
 * fine-tuning run (AdamW on the adapters) from the adapter's A and B: the loss at each step.
 *
 * `WT_LORA_OUT=<folder>` also writes webtensor's adapters there, for
 * `/usr/bin/python3 test/fixtures/lora_peft.py --check <folder>` (PyTorch loads them).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';
import { loadCausalLM } from '../src/lm/index.js';

const { nn, lora } = { nn: wt.nn, lora: wt.nn.lora };
const HERE = fileURLToPath(new URL('./fixtures/lora/', import.meta.url));
const V = 11, D = 8;

interface TJ { shape: number[]; data: number[] }
interface Case { ids: TJ; logits: TJ; merged: Record<string, TJ>; losses: number[]; finalLoss: number; grads0: Record<string, TJ>; trained: Record<string, TJ>; trainable: number }
const ref = JSON.parse(readFileSync(join(HERE, 'reference.json'), 'utf8')) as {
  steps: number; lr: number; weightDecay: number; cases: Record<'lm' | 'gpt', Case>;
  hub_gpt2: { ids: number[][]; logits: TJ; keys: string[] };
};
const LM_FIXTURES = fileURLToPath(new URL('./fixtures/lm/', import.meta.url));

/** transformers' Conv1D as the webtensor/lm one: y = x W + b, W [nx, nf]. */
class Conv1D extends nn.Module {
  weight: wt.Tensor;
  bias: wt.Tensor;
  constructor(readonly nf: number, readonly nx: number) {
    super();
    this.weight = nn.parameter(wt.randn([nx, nf]).mul(0.02));
    this.bias = nn.parameter(wt.zeros([nf]));
  }
  forward(x: wt.Tensor): wt.Tensor {
    return x.matmul(this.weight).add(this.bias);
  }
}

class MLP extends nn.Module {
  fc1 = new nn.Linear(D, 2 * D);
  fc2 = new nn.Linear(2 * D, D);
  forward(x: wt.Tensor): wt.Tensor {
    return this.fc2.forward(this.fc1.forward(x).gelu());
  }
}

class Block extends nn.Module {
  ln = new nn.LayerNorm(D);
  qProj = new nn.Linear(D, D);
  vProj = new nn.Linear(D, D);
  oProj = new nn.Linear(D, D, { bias: false });
  mlp = new MLP();
  forward(x: wt.Tensor): wt.Tensor {
    const h = this.ln.forward(x);
    const a = x.add(this.oProj.forward(this.qProj.forward(h).tanh().mul(this.vProj.forward(h))));
    return a.add(this.mlp.forward(a));
  }
}

class TinyLM extends nn.Module {
  embed = new nn.Embedding(V, D);
  layers = [new Block(), new Block()];
  norm = new nn.LayerNorm(D);
  lmHead = new nn.Linear(D, V, { bias: false });
  forward(ids: wt.Tensor): wt.Tensor {
    let x = this.embed.forward(ids);
    for (const b of this.layers) x = b.forward(x);
    return this.lmHead.forward(this.norm.forward(x));
  }
}

class GPTBlock extends nn.Module {
  cAttn = new Conv1D(3 * D, D);
  cProj = new Conv1D(D, D);
  forward(x: wt.Tensor): wt.Tensor {
    const [q, k, v] = this.cAttn.forward(x).split(D, -1);
    return x.add(this.cProj.forward(q.tanh().mul(k).add(v)));
  }
}

class TinyGPT extends nn.Module {
  wte = new nn.Embedding(V, D);
  h = new nn.ModuleList([new GPTBlock(), new GPTBlock()]);
  lmHead = new nn.Linear(D, V, { bias: false });
  forward(ids: wt.Tensor): wt.Tensor {
    let x = this.wte.forward(ids);
    for (const b of this.h) x = (b as GPTBlock).forward(x);
    return this.lmHead.forward(x);
  }
}

const MAKE = { lm: () => new TinyLM(), gpt: () => new TinyGPT() };

/** The fixture's base model with its PyTorch weights. */
async function baseModel(kind: 'lm' | 'gpt'): Promise<TinyLM | TinyGPT> {
  const m = MAKE[kind]();
  const sd = await wt.load(join(HERE, `${kind}_base.safetensors`));
  m.loadStateDict(sd);
  wt.dispose(sd);
  return m;
}

/** The ids of a case: inputs (all but the last token) and next-token targets. */
function tokens(c: Case): { x: wt.Tensor; y: wt.Tensor } {
  const [B, T1] = c.ids.shape;
  const ids = c.ids.data;
  const xs: number[] = [], ys: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T1 - 1; t++) { xs.push(ids[b * T1 + t]); ys.push(ids[b * T1 + t + 1]); }
  return { x: wt.tensor(new Int32Array(xs), { shape: [B, T1 - 1] }), y: wt.tensor(new Int32Array(ys)) };
}

function lossOf(model: nn.Module, x: wt.Tensor, y: wt.Tensor): wt.Tensor {
  return wt.tidy(() => wt.crossEntropy((model.forward(x) as wt.Tensor).reshape([-1, V]), y));
}

const outDir = typeof process !== 'undefined' ? process.env.WT_LORA_OUT : undefined;
const written: Record<string, unknown> = {};

forEachBackend((kind) => {
  describe('apply', () => {
    it('wraps the targeted layers in PEFT\'s module tree and freezes the rest', async () => {
      const model = lora.apply(new TinyLM(), { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'fc1'] });
      const keys = Object.keys(model.stateDict());
      expect(keys).toContain('layers.0.q_proj.base_layer.weight');
      expect(keys).toContain('layers.0.q_proj.base_layer.bias');
      expect(keys).toContain('layers.0.q_proj.lora_A.default.weight');
      expect(keys).toContain('layers.1.mlp.fc1.lora_B.default.weight');
      expect(keys).toContain('layers.0.o_proj.weight'); // not targeted: as it was
      expect(keys.filter((k) => k.includes('lora_')).length).toBe(12);
      const l = model.layers[0].qProj as unknown as wt.nn.lora.LoraLinear;
      expect(l).toBeInstanceOf(lora.LoraLinear);
      expect(l.loraA.get('default')!.weight.shape).toEqual([4, D]);
      expect(l.loraB.get('default')!.weight.shape).toEqual([D, 4]);
      expect(l.scaling.default).toBe(2);
      expect(l.weight).toBe(l.baseLayer.weight);
      // trainable: the adapters only (PyTorch's count for the same config)
      expect(model.numParameters(true)).toBe(ref.cases.lm.trainable);
      expect(model.trainableParameters().length).toBe(12);
      for (const [k, p] of model.namedParameters()) expect(p.requiresGrad, k).toBe(k.includes('lora_'));
      // A kaiming-uniform(a=√5): U(±1/√in); B zeros
      const a = await l.loraA.get('default')!.weight.data();
      expect(Math.max(...Array.from(a, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(D) + 1e-7);
      expect(new Set(a).size).toBeGreaterThan(10);
      expect(Array.from(await l.loraB.get('default')!.weight.data())).toEqual(new Array(4 * D).fill(0));
      model.dispose();
    });

    it('starts as the base model (B = 0), and a new adapter leaves the base weights without gradients', async () => {
      const model = await baseModel('lm');
      const { x, y } = tokens(ref.cases.lm);
      const before = await (wt.noGrad(() => model.forward(x))).data();
      lora.apply(model, { r: 2, targetModules: ['q_proj', 'v_proj', 'fc1', 'fc2', 'o_proj', 'lm_head'] });
      const after = await (wt.noGrad(() => model.forward(x))).data();
      expectClose(after, before, 1e-6, 1e-6, 'output with fresh adapters');
      const loss = lossOf(model, x, y);
      loss.backward();
      for (const [k, p] of model.namedParameters()) {
        if (k.includes('lora_')) expect(p.grad, k).not.toBeNull();
        else expect(p.grad, k).toBeNull();
      }
      wt.dispose([x, y, loss]);
      model.dispose();
    });

    it('matches target modules as PEFT: exact or suffix names, a regex string over the whole path', () => {
      const m1 = lora.apply(new TinyLM(), { targetModules: 'layers\\.1\\..*_proj' });
      expect(m1.namedModules().filter(([, m]) => m instanceof lora.LoraLinear).map(([n]) => n)).toEqual(['layers.1.q_proj', 'layers.1.v_proj', 'layers.1.o_proj']);
      const m2 = lora.apply(new TinyLM(), { targetModules: ['mlp.fc2', 'lm_head'] });
      expect(m2.namedModules().filter(([, m]) => m instanceof lora.LoraLinear).map(([n]) => n)).toEqual(['layers.0.mlp.fc2', 'layers.1.mlp.fc2', 'lm_head']);
      // layer indices as PEFT reads them: the number after the path's second component (model.layers.<i>.)
      class Wrapped extends nn.Module {
        model = new TinyLM();
        forward(x: wt.Tensor) { return this.model.forward(x); }
      }
      const m3 = lora.apply(new Wrapped(), { targetModules: ['q_proj'], layersToTransform: [1] });
      expect(m3.namedModules().filter(([, m]) => m instanceof lora.LoraLinear).map(([n]) => n)).toEqual(['model.layers.1.q_proj']);
      const m4 = lora.apply(new TinyLM(), { targetModules: ['q_proj', 'v_proj'], rankPattern: { 'layers.0.q_proj': 3 }, alphaPattern: { v_proj: 4 } });
      const q0 = m4.layers[0].qProj as unknown as wt.nn.lora.LoraLinear, v1 = m4.layers[1].vProj as unknown as wt.nn.lora.LoraLinear;
      expect([q0.r.default, q0.scaling.default, v1.r.default, v1.scaling.default]).toEqual([3, 8 / 3, 8, 0.5]);
      const m5 = lora.apply(new TinyLM(), { r: 4, alpha: 8, useRslora: true, targetModules: ['q_proj'] });
      expect((m5.layers[0].qProj as unknown as wt.nn.lora.LoraLinear).scaling.default).toBe(4);
      for (const m of [m1, m2, m3, m4, m5]) m.dispose();
    });

    it('refuses targets that match nothing or are not Linear / Conv1D, and bad configs, naming them', () => {
      const model = new TinyLM();
      expect(() => lora.apply(model, { targetModules: ['k_proj'] })).toThrow(wt.ArgumentError);
      expect(() => lora.apply(model, { targetModules: ['k_proj'] })).toThrow(/lora\.apply: targetModules \["k_proj"\] matched no layer of the model \(its Linear \/ Conv1D layers: layers\.0\.q_proj/);
      expect(() => lora.apply(model, { targetModules: ['mlp'] })).toThrow(/target module 'layers\.0\.mlp' is a MLP; LoRA wraps Linear and Conv1D layers/);
      expect(() => lora.apply(model, { targetModules: ['ln'] })).toThrow(/is a LayerNorm/);
      expect(() => lora.apply(model, { r: 0, targetModules: ['q_proj'] })).toThrow(/lora\.apply: r must be/);
      expect(() => lora.apply(model, { targetModules: ['q_proj'], rank: 4 } as never)).toThrow(/unknown key 'rank' in config/);
      expect(() => lora.apply(model, {} as never)).toThrow(/targetModules is required/);
      expect(() => lora.apply(model, { targetModules: '(' })).toThrow(/not a valid regular expression/);
      expect(() => lora.apply(model, { targetModules: ['q_proj'], bias: 'all' as never })).toThrow(/bias must be 'none'/);
      // nothing was changed by the refusals
      expect(model.namedModules().some(([, m]) => m instanceof lora.LoraLinear)).toBe(false);
      expect(model.parameters().every((p) => p.requiresGrad)).toBe(true);
      model.dispose();
    });

    it('applies dropout to the adapter input only, in training mode', async () => {
      const model = await baseModel('lm');
      const { x } = tokens(ref.cases.lm);
      const base = await wt.noGrad(() => model.forward(x)).data();
      lora.apply(model, { r: 2, dropout: 1, targetModules: ['q_proj', 'fc1'], initLoraWeights: false });
      model.train();
      // p = 1 drops the adapter's whole input: the base model's output
      expectClose(await wt.noGrad(() => model.forward(x)).data(), base, 1e-6, 1e-6, 'training with dropout 1');
      model.eval();
      const evalOut = await wt.noGrad(() => model.forward(x)).data();
      expect(Math.max(...Array.from(evalOut, (v, i) => Math.abs(v - base[i])))).toBeGreaterThan(1e-3);
      model.dispose();
      x.dispose();
    });
  });

  for (const c of ['lm', 'gpt'] as const) {
    describe(`PEFT fixture (${c === 'lm' ? 'Linear' : 'GPT-2 Conv1D, fan_in_fan_out'})`, () => {
      it('loads the PEFT adapter and gives PyTorch\'s outputs', async () => {
        const model = await baseModel(c);
        await lora.load(model, join(HERE, `${c}_adapter`));
        const info = lora.adapters(model);
        expect(info.names).toEqual(['default']);
        expect(info.configs.default.fanInFanOut).toBe(c === 'gpt');
        // loaded for inference: the adapter is frozen too
        expect(model.trainableParameters()).toEqual([]);
        const { x } = tokens(ref.cases[c]);
        model.eval();
        const y = wt.noGrad(() => model.forward(x));
        expectClose(await y.data(), ref.cases[c].logits.data, 1e-4, 1e-4, 'logits');
        wt.dispose([x, y]);
        model.dispose();
      });

      it('merge adds scaling·BA into the base weights (PyTorch\'s), unmerge takes it out', async () => {
        const model = await baseModel(c);
        await lora.load(model, join(HERE, `${c}_adapter`));
        model.eval();
        const { x } = tokens(ref.cases[c]);
        const y0 = await wt.noGrad(() => model.forward(x)).data();
        const layers = model.namedModules().filter((e): e is [string, wt.nn.lora.LoraLinear] => e[1] instanceof lora.LoraLinear);
        const orig = await Promise.all(layers.map(([, l]) => l.baseLayer.weight.data()));
        lora.merge(model);
        for (const [name, l] of layers) {
          expect(l.mergedAdapters).toEqual(['default']);
          expectClose(await l.baseLayer.weight.data(), ref.cases[c].merged[name].data, 1e-5, 1e-5, `${name} merged`);
        }
        expectClose(await wt.noGrad(() => model.forward(x)).data(), y0, 1e-4, 1e-4, 'merged output');
        lora.unmerge(model);
        for (let i = 0; i < layers.length; i++) expectClose(await layers[i][1].baseLayer.weight.data(), orig[i], 1e-6, 1e-6, 'unmerged');
        expectClose(await wt.noGrad(() => model.forward(x)).data(), y0, 1e-5, 1e-5, 'unmerged output');
        // merge and unload: the plain model back, with the change in its weights
        lora.unload(model, { merge: true });
        expect(model.namedModules().some(([, m]) => m instanceof lora.LoraLinear)).toBe(false);
        expect(Object.keys(model.stateDict()).sort()).toEqual(Object.keys(MAKE[c]().stateDict()).sort());
        expectClose(await wt.noGrad(() => model.forward(x)).data(), y0, 1e-4, 1e-4, 'merged and unloaded');
        x.dispose();
        model.dispose();
      });

      it('fine-tunes with the loss curve of PyTorch from the same start (AdamW on the adapters)', async () => {
        const model = await baseModel(c);
        await lora.load(model, join(HERE, `${c}_adapter`), { isTrainable: true });
        model.train();
        const params = model.trainableParameters();
        expect(params.reduce((n, p) => n + p.numel(), 0)).toBe(ref.cases[c].trainable);
        // the whole model's parameters go in, as a PyTorch user might: state only for the trainable ones
        const opt = new wt.optim.AdamW(model.parameters(), { lr: ref.lr, weightDecay: ref.weightDecay });
        const { x, y } = tokens(ref.cases[c]);
        const losses: number[] = [];
        for (let s = 0; s < ref.steps; s++) {
          opt.zeroGrad();
          const loss = lossOf(model, x, y);
          loss.backward();
          if (s === 0) {
            const sd = lora.stateDict(model);
            for (const [k, g] of Object.entries(ref.cases[c].grads0)) expectClose(await sd[k].grad!.data(), g.data, 1e-5, 1e-3, `step 0 gradient of ${k}`);
          }
          losses.push(await loss.item());
          loss.dispose();
          opt.step();
        }
        expectClose(losses, ref.cases[c].losses, 1e-5, 1e-4, 'losses');
        const last = lossOf(model, x, y);
        expectClose([await last.item()], [ref.cases[c].finalLoss], 1e-5, 1e-4, 'final loss');
        const sd = lora.stateDict(model);
        for (const [k, w] of Object.entries(ref.cases[c].trained)) expectClose(await sd[k].data(), w.data, 1e-4, 1e-3, `trained ${k}`);
        expect(Object.keys(opt.stateDict().state).length).toBe(params.length);
        for (const [k, p] of model.namedParameters()) if (!k.includes('lora_')) expect(p.grad, k).toBeNull();
        opt.dispose();
        wt.dispose([x, y, last]);
        model.dispose();
      });

      it('saves PEFT\'s files: the fixture\'s keys and config, and they load back', async () => {
        const model = await baseModel(c);
        await lora.load(model, join(HERE, `${c}_adapter`));
        const files = await lora.save(model);
        const theirs = await wt.load(join(HERE, `${c}_adapter`, 'adapter_model.safetensors'));
        const ours = await wt.load(files['adapter_model.safetensors']);
        expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
        for (const k of Object.keys(theirs)) {
          expect(ours[k].shape, k).toEqual(theirs[k].shape);
          expect(Array.from(await ours[k].data()), k).toEqual(Array.from(await theirs[k].data()));
        }
        expect(await wt.loadMetadata(files['adapter_model.safetensors'])).toEqual({ format: 'pt' });
        const cfg = JSON.parse(files['adapter_config.json']);
        const fixtureCfg = JSON.parse(readFileSync(join(HERE, `${c}_adapter`, 'adapter_config.json'), 'utf8'));
        for (const k of Object.keys(fixtureCfg)) expect(cfg[k], k).toEqual(fixtureCfg[k]);
        // and in: a fresh base model from the bytes
        const again = await baseModel(c);
        await lora.load(again, files);
        const { x } = tokens(ref.cases[c]);
        again.eval();
        expectClose(await wt.noGrad(() => again.forward(x)).data(), ref.cases[c].logits.data, 1e-4, 1e-4, 'reloaded');
        if (outDir && kind === 'cpu') {
          // a webtensor-trained adapter (r and values of its own) for the script's --check
          const fresh = await baseModel(c);
          const targets = c === 'lm' ? ['q_proj', 'v_proj', 'fc1'] : ['c_attn', 'c_proj'];
          lora.apply(fresh, { r: c === 'lm' ? 4 : 2, alpha: c === 'lm' ? 8 : 6, targetModules: targets, initLoraWeights: false });
          fresh.eval();
          const yw = wt.noGrad(() => fresh.forward(x));
          const dir = join(outDir, `${c}_adapter`);
          mkdirSync(dir, { recursive: true });
          await lora.save(fresh, { dir, baseModelNameOrPath: `tiny-${c}`, taskType: 'CAUSAL_LM' });
          const [B, T] = x.shape;
          const ids = Array.from(await x.data());
          written[c] = { ids: Array.from({ length: B }, (_, b) => ids.slice(b * T, (b + 1) * T)), logits: { shape: [...yw.shape], data: Array.from(await yw.data()) } };
          fresh.dispose();
        }
        wt.dispose([...Object.values(ours), ...Object.values(theirs), x]);
        model.dispose();
        again.dispose();
      });
    });
  }

  describe('webtensor/lm models (hub module paths)', () => {
    it('a PEFT adapter for a hub GPT-2 (transformer.h.0.attn.c_attn, Conv1D) loads into GPT2LMHeadModel and gives PyTorch\'s logits', async () => {
      const model = await loadCausalLM(join(LM_FIXTURES, 'tiny-gpt2'));
      await lora.load(model, join(HERE, 'hub_gpt2_adapter'), { isTrainable: true });
      expect(Object.keys(lora.stateDict(model)).sort()).toEqual(ref.hub_gpt2.keys);
      expect(lora.adapters(model).configs.default.fanInFanOut).toBe(true);
      const y = wt.noGrad(() => model.forward(ref.hub_gpt2.ids));
      expectClose(await y.data(), ref.hub_gpt2.logits.data, 1e-4, 1e-4, 'logits');
      // trains: gradients reach the adapters only
      model.train();
      const ids = wt.tensor(new Int32Array(ref.hub_gpt2.ids.flat()), { shape: [2, 6] });
      const loss = wt.tidy(() => wt.crossEntropy(model.forward(ids).reshape([-1, 128]), wt.tensor(new Int32Array(12).fill(3))));
      loss.backward();
      for (const [k, p] of model.namedParameters()) expect(p.grad !== null, k).toBe(k.includes('lora_'));
      wt.dispose([y, ids, loss]);
      model.dispose();
    });

    it('adapts a Llama\'s projections under PEFT\'s keys (base_model.model.model.layers.0.self_attn.q_proj)', async () => {
      const model = await loadCausalLM(join(LM_FIXTURES, 'tiny-llama'));
      const ids = [[1, 2, 3, 4]];
      const before = await wt.noGrad(() => model.forward(ids)).data();
      lora.apply(model, { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'] });
      expect(Object.keys(lora.stateDict(model))).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
      expect(Object.keys(model.stateDict())).toContain('model.layers.0.self_attn.q_proj.base_layer.weight');
      expectClose(await wt.noGrad(() => model.forward(ids)).data(), before, 1e-5, 1e-5, 'fresh adapters change nothing');
      model.dispose();
    });
  });

  describe('several adapters', () => {
    it('adds, switches, combines and deletes adapters on one base', async () => {
      const model = await baseModel('lm');
      const { x } = tokens(ref.cases.lm);
      model.eval();
      const out = async () => wt.noGrad(() => model.forward(x)).data();
      const base = await out();
      await lora.load(model, join(HERE, 'lm_adapter'), { adapterName: 'peft', isTrainable: true });
      lora.apply(model, { r: 2, alpha: 4, targetModules: ['q_proj', 'fc1'], initLoraWeights: false }, 'mine');
      expect(lora.adapters(model).names).toEqual(['peft', 'mine']);
      expect(lora.adapters(model).active).toEqual(['peft']); // PEFT's add_adapter: the new one inactive
      expectClose(await out(), ref.cases.lm.logits.data, 1e-4, 1e-4, 'first adapter active');
      const trainable = () => model.namedParameters().filter(([, p]) => p.requiresGrad).map(([k]) => k);
      expect(trainable().every((k) => k.includes('.peft.'))).toBe(true);
      lora.setAdapter(model, 'mine');
      expect(trainable().length).toBe(8);
      expect(trainable().every((k) => k.includes('.mine.'))).toBe(true);
      const mine = await out();
      expect(Math.max(...Array.from(mine, (v, i) => Math.abs(v - base[i])))).toBeGreaterThan(1e-3);
      // both: the changes add up; none: the base model
      lora.setAdapter(model, ['peft', 'mine']);
      const both = await out();
      const sumOfChanges = Array.from(both, (_, i) => ref.cases.lm.logits.data[i] + mine[i] - base[i]);
      expect(Math.max(...Array.from(both, (v, i) => Math.abs(v - sumOfChanges[i])))).toBeGreaterThan(1e-4); // not linear through the net
      lora.setAdapter(model, []);
      expectClose(await out(), base, 1e-5, 1e-5, 'no adapter active');
      // each adapter saves on its own, under the same keys
      lora.setAdapter(model, 'peft');
      const saved = await wt.load((await lora.save(model, { adapterName: 'mine' }))['adapter_model.safetensors']);
      expect(Object.keys(saved).length).toBe(8);
      expect(Object.keys(saved).every((k) => /^base_model\.model\.layers\.\d\.(q_proj|mlp\.fc1)\.lora_[AB]\.weight$/.test(k))).toBe(true);
      wt.dispose(saved);
      lora.deleteAdapter(model, 'peft');
      expect(lora.adapters(model)).toMatchObject({ names: ['mine'], active: ['mine'] });
      expectClose(await out(), mine, 1e-5, 1e-5, 'after deleting the other');
      expect(Object.keys(model.stateDict()).some((k) => k.includes('.peft.'))).toBe(false);
      expect(() => lora.setAdapter(model, 'peft')).toThrow(/lora\.setAdapter: no adapter "peft" \(adapters: mine\)/);
      expect(() => lora.apply(model, { targetModules: ['q_proj'] }, 'mine')).toThrow(/already has an adapter named 'mine'/);
      lora.unload(model);
      expectClose(await out(), base, 1e-5, 1e-5, 'unloaded');
      x.dispose();
      model.dispose();
    });

    it('refuses a PEFT adapter whose keys do not fit the model, leaving the model as it was', async () => {
      const model = await baseModel('gpt');
      await expect(lora.load(model, join(HERE, 'lm_adapter'))).rejects.toThrow(/lora\.apply: targetModules \["q_proj","v_proj","fc1"\] matched no layer/);
      const files = await (async () => {
        const m = await baseModel('gpt');
        await lora.load(m, join(HERE, 'gpt_adapter'));
        const f = await lora.save(m);
        m.dispose();
        return f;
      })();
      const cfg = JSON.parse(files['adapter_config.json']);
      await expect(lora.load(model, { ...files, 'adapter_config.json': { ...cfg, r: 3 } })).rejects.toThrow(/lora\.loadStateDict: .* has shape \[2,8\] in the state dict but \[3,8\] in the model/);
      await expect(lora.load(model, { ...files, 'adapter_config.json': { ...cfg, target_modules: ['c_attn'] } })).rejects.toThrow(/lora\.loadStateDict: missing keys \[\], unexpected keys \[base_model\.model\.h\.0\.c_proj\.lora_A\.weight/);
      await expect(lora.load(model, { ...files, 'adapter_config.json': { ...cfg, use_dora: true } })).rejects.toThrow(/DoRA/);
      await expect(lora.load(model, { ...files, 'adapter_config.json': '{' })).rejects.toThrow(wt.FormatError);
      expect(model.namedModules().some(([, m]) => m instanceof lora.LoraLinear)).toBe(false);
      expect(lora.adapters(model).names).toEqual([]);
      model.dispose();
    });
  });

  it('does not leak tensors over training steps', async () => {
    const model = await baseModel('lm');
    lora.apply(model, { r: 2, targetModules: ['q_proj', 'v_proj'], dropout: 0.1 });
    const opt = new wt.optim.SGD(model.trainableParameters(), { lr: 0.1 });
    const { x, y } = tokens(ref.cases.lm);
    const step = () => { opt.zeroGrad(); const l = lossOf(model, x, y); l.backward(); l.dispose(); opt.step(); };
    step();
    step();
    const before = wt.memory().tensors;
    for (let i = 0; i < 3; i++) step();
    expect(wt.memory().tensors).toBe(before);
    opt.dispose();
    wt.dispose([x, y]);
    model.dispose();
  });
});

afterAll(() => {
  if (outDir && Object.keys(written).length) writeFileSync(join(outDir, 'outputs.json'), JSON.stringify(written));
});
