/**
 * Fine-tuning the webtensor/lm models (issue 24): gradient checkpointing
 * (`model.gradientCheckpointingEnable()`, loadCausalLM's `gradientCheckpointing`) gives the plain
 * step's gradients on the fixture models (tiny-gpt2, tiny-llama), full fine-tuning and LoRA, with
 * a lower peak; and a LoRA + AdamW fine-tuning loop on tiny-gpt2 keeps live tensors and device
 * bytes exactly flat over 1,000 steps (timing is bench/finetune.ts's: `--flat`); and LoRA
 * fine-tuning of tiny-gpt2 from a PEFT adapter gives PyTorch's loss curve
 * (test/fixtures/lora_peft.py, hub_gpt2_train), with and without checkpointing.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as wt from '../src/index.js';
import { GPT2LMHeadModel, loadCausalLM, type CausalLM } from '../src/lm/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';

const LM_FIXTURES = fileURLToPath(new URL('./fixtures/lm/', import.meta.url));
const LORA_FIXTURES = fileURLToPath(new URL('./fixtures/lora/', import.meta.url));
/** test/fixtures/lora_peft.py's LoRA fine-tuning run of tiny-gpt2 in PyTorch (hub_gpt2.train) */
const torchRun = (JSON.parse(readFileSync(join(LORA_FIXTURES, 'reference.json'), 'utf8')) as {
  hub_gpt2: { train: { ids: number[][]; steps: number; lr: number; weightDecay: number; losses: number[]; finalLoss: number; trained: Record<string, { data: number[] }> } };
}).hub_gpt2.train;
const FIXTURES = { 'tiny-gpt2': ['c_attn', 'c_proj', 'c_fc'], 'tiny-llama': ['q_proj', 'v_proj', 'gate_proj'] } as const;

/** ids [B, T + 1] of token ids below `vocab` (seeded): inputs ids[:, :-1], targets ids[:, 1:]. */
function batch(vocab: number, B: number, T: number, seed: number): { x: wt.Tensor; y: wt.Tensor } {
  return wt.tidy(() => {
    const ids = wt.randint(0, vocab, [B, T + 1], { seed, dtype: 'int32' });
    return { x: ids.narrow(1, 0, T).contiguous(), y: ids.narrow(1, 1, T).reshape([-1]) };
  });
}

function lossOf(model: CausalLM, x: wt.Tensor, y: wt.Tensor): wt.Tensor {
  return wt.crossEntropy(model.forward(x).reshape([-1, model.vocabSize]), y);
}

/** The trainable parameters' gradients (by name) after one backward, with the loss. */
async function gradsOf(model: CausalLM, x: wt.Tensor, y: wt.Tensor): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  model.zeroGrad();
  wt.manualSeed(5); // LoRA dropout draws the same masks each time
  const loss = await wt.tidy(() => {
    const l = lossOf(model, x, y);
    l.backward();
    return l;
  }).item();
  const grads = new Map<string, Float32Array>();
  for (const [k, p] of model.namedParameters()) if (p.requiresGrad) grads.set(k, (await p.grad!.data()) as Float32Array);
  return { loss, grads };
}

/** How many checkpoint nodes the graph of `t` holds. */
function checkpointNodes(t: wt.Tensor): number {
  type N = { op: string; parents: readonly (N | null)[] };
  const seen = new Set<N>();
  const stack = [(t as unknown as { gradFn: N | null }).gradFn];
  let n = 0;
  while (stack.length) {
    const node = stack.pop();
    if (!node || seen.has(node)) continue;
    seen.add(node);
    if (node.op === 'checkpoint') n++;
    stack.push(...node.parents);
  }
  return n;
}

forEachBackend((kind) => {
  describe('gradient checkpointing', () => {
    for (const [name, targets] of Object.entries(FIXTURES)) {
      for (const adapter of [false, true]) {
        it(`${name}${adapter ? ' with LoRA (dropout)' : ', full fine-tuning'}: a checkpointed step's gradients are the plain step's`, async () => {
          const model = await loadCausalLM(join(LM_FIXTURES, name));
          if (adapter) wt.nn.lora.apply(model, { r: 4, alpha: 8, dropout: 0.1, targetModules: [...targets], initLoraWeights: false });
          model.train();
          const { x, y } = batch(model.vocabSize, 2, 12, 3);
          const plain = await gradsOf(model, x, y);
          expect(model.isGradientCheckpointing).toBe(false);
          expect(model.gradientCheckpointingEnable()).toBe(model);
          expect(model.isGradientCheckpointing).toBe(true);
          const ck = await gradsOf(model, x, y);
          expect(ck.loss).toBeCloseTo(plain.loss, 5);
          expect([...ck.grads.keys()]).toEqual([...plain.grads.keys()]);
          expect(ck.grads.size).toBe(model.trainableParameters().length);
          for (const [k, g] of plain.grads) expectClose(ck.grads.get(k)!, g, 1e-5, 1e-4, `${k} (${kind})`);
          if (adapter) for (const [k, p] of model.namedParameters()) if (!k.includes('lora_')) expect(p.grad, k).toBeNull();
          // one checkpoint per decoder block, in training with gradients only
          wt.tidy(() => {
            expect(checkpointNodes(lossOf(model, x, y))).toBe(model.numLayers);
            expect(checkpointNodes(wt.noGrad(() => lossOf(model, x, y)))).toBe(0);
            model.eval();
            expect(checkpointNodes(lossOf(model, x, y))).toBe(0);
            model.train();
            // a forward with a key/value cache runs the blocks directly (the recomputation would append again)
            const cache = model.newCache();
            expect(checkpointNodes(model.forward(x, { cache }))).toBe(0);
            cache.dispose();
          });
          model.gradientCheckpointingDisable();
          expect(model.isGradientCheckpointing).toBe(false);
          wt.tidy(() => expect(checkpointNodes(lossOf(model, x, y))).toBe(0));
          model.zeroGrad();
          wt.dispose([x, y]);
          model.dispose();
        });
      }
    }

    it('loadCausalLM({ gradientCheckpointing: true }) turns it on; a bad value is refused naming the option', async () => {
      const model = await loadCausalLM(join(LM_FIXTURES, 'tiny-llama'), { gradientCheckpointing: true });
      expect(model.isGradientCheckpointing).toBe(true);
      // eval-mode inference is unchanged
      const logits = await wt.noGrad(() => model.forward([[1, 2, 3]])).data();
      model.gradientCheckpointingDisable();
      expectClose(await wt.noGrad(() => model.forward([[1, 2, 3]])).data(), logits, 0, 0, 'logits');
      model.dispose();
      const bad = loadCausalLM(join(LM_FIXTURES, 'tiny-llama'), { gradientCheckpointing: 'yes' as never });
      await expect(bad).rejects.toThrow(wt.ArgumentError);
      await expect(loadCausalLM(join(LM_FIXTURES, 'tiny-llama'), { gradientCheckpointing: 1 as never })).rejects.toThrow(/loadCausalLM: gradientCheckpointing must be true or false, got 1/);
    });

    it('lowers the peak memory of a training step', async () => {
      // a GPT-2 of the fixture's width, 6 layers, batch 4 x 64
      const model = new GPT2LMHeadModel({ vocab_size: 128, n_positions: 64, n_embd: 32, n_layer: 6, n_head: 4 });
      model.train();
      const { x, y } = batch(128, 4, 64, 4);
      const peak = (ck: boolean) => {
        if (ck) model.gradientCheckpointingEnable();
        else model.gradientCheckpointingDisable();
        model.zeroGrad();
        wt.tidy(() => lossOf(model, x, y).backward()); // the gradients' buffers exist before the measured step
        const base = wt.memory().bytes;
        wt.resetPeakMemory();
        wt.tidy(() => lossOf(model, x, y).backward());
        return wt.memory().peakBytes - base;
      };
      const plain = peak(false), ck = peak(true);
      console.log(`[gradient checkpointing, ${kind}] GPT-2 n_embd 32, 6 layers, 4 heads, vocab 128, batch 4x64, full fine-tuning: ` +
        `peak above the step's start ${(plain / 2 ** 20).toFixed(2)} MiB plain, ${(ck / 2 ** 20).toFixed(2)} MiB checkpointed (${(100 * ck / plain).toFixed(0)}%)`);
      expect(ck).toBeLessThan(plain * 0.6);
      wt.dispose([x, y]);
      model.dispose();
    });
  });

  describe('against PyTorch', () => {
    for (const ck of [false, true]) {
      it(`LoRA fine-tuning of tiny-gpt2 from a PEFT adapter gives PyTorch's loss curve (AdamW${ck ? ', gradient checkpointing' : ''})`, async () => {
        const model = await loadCausalLM(join(LM_FIXTURES, 'tiny-gpt2'), { gradientCheckpointing: ck });
        await wt.nn.lora.load(model, join(LORA_FIXTURES, 'hub_gpt2_adapter'), { isTrainable: true });
        model.train();
        const opt = new wt.optim.AdamW(model.trainableParameters(), { lr: torchRun.lr, weightDecay: torchRun.weightDecay });
        const ids = torchRun.ids;
        const x = wt.tensor(new Int32Array(ids.flatMap((r) => r.slice(0, -1))), { shape: [ids.length, ids[0].length - 1] });
        const y = wt.tensor(new Int32Array(ids.flatMap((r) => r.slice(1))));
        const losses: number[] = [];
        for (let s = 0; s < torchRun.steps; s++) {
          const loss = wt.tidy(() => {
            opt.zeroGrad();
            const l = lossOf(model, x, y);
            l.backward();
            opt.step();
            return l;
          });
          losses.push(await loss.item());
          loss.dispose();
        }
        expectClose(losses, torchRun.losses, 1e-4, 1e-4, 'losses');
        const last = wt.noGrad(() => lossOf(model, x, y));
        expectClose([await last.item()], [torchRun.finalLoss], 1e-4, 1e-4, 'final loss');
        const sd = wt.nn.lora.stateDict(model);
        for (const [k, w] of Object.entries(torchRun.trained)) expectClose(await sd[k].data(), w.data, 1e-4, 1e-3, `trained ${k}`);
        opt.dispose();
        wt.dispose([x, y, last]);
        model.dispose();
      });
    }
  });

  describe('a long fine-tuning run', () => {
    it('keeps live tensors and device bytes exactly flat over 1,000 LoRA + AdamW steps on tiny-gpt2', async () => {
      // SwiftShader emulates the GPU on this machine's CPU: a smaller batch there keeps the run short
      const [B, T] = kind === 'cpu' ? [2, 64] : [1, 64];
      const STEPS = 1000, READ_EVERY = 100;
      const model = await loadCausalLM(join(LM_FIXTURES, 'tiny-gpt2'));
      wt.nn.lora.apply(model, { r: 8, alpha: 16, dropout: 0.05, targetModules: ['c_attn', 'c_proj'] });
      model.train();
      const opt = new wt.optim.AdamW(model.trainableParameters(), { lr: 2e-3 });
      const data = Array.from({ length: 4 }, (_, i) => batch(128, B, T, 10 + i));
      const snapshot = () => {
        const m = wt.memory();
        return { tensors: m.tensors, bytes: m.bytes, deviceBytes: m.bytesInUse + m.bytesPooled };
      };
      let first = 0, last = 0, warm: ReturnType<typeof snapshot> | null = null;
      const t0 = performance.now();
      for (let s = 0; s < STEPS; s++) {
        const { x, y } = data[s % data.length];
        const loss = wt.tidy(() => {
          opt.zeroGrad();
          const l = lossOf(model, x, y);
          l.backward();
          opt.step();
          return l;
        });
        // read back now and then, as a training loop logs; the counts are compared there (in
        // between, on WebGPU, buffers of queued work are still on their way back to the pool)
        if (s % READ_EVERY === 0 || s === STEPS - 1) {
          const v = await loss.item();
          loss.dispose();
          if (s === 0) first = v;
          last = v;
          if (s === READ_EVERY) warm = snapshot();
          else if (warm) expect(snapshot(), `step ${s}`).toEqual(warm);
        } else loss.dispose();
      }
      console.log(`[long run, ${kind}] ${STEPS} steps of ${B}x${T} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s; loss ${first.toFixed(3)} -> ${last.toFixed(3)}; ${JSON.stringify(warm)}`);
      // it learned something (four batches, seen 250 times each)
      expect(last).toBeLessThan(first * 0.8);
      opt.dispose();
      for (const { x, y } of data) wt.dispose([x, y]);
      model.dispose();
    }, 240_000);
  });
});
