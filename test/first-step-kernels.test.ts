/**
 * Kernels compiled by the first training step (issue 22, after issue 8's finding that fusion could
 * compile a pipeline per op): for each training workload of the benchmark (bench/lib/workloads.ts,
 * quick sizes) on a fresh backend, the first step of a compiled training step (it runs eagerly)
 * compiles a bounded number of kernels (`wt.kernelStats()`: WebGPU pipelines, CPU JIT and wasm
 * kernels), and the recording and replayed steps compile none or almost none more. The bench
 * reports the same counts beside the cold first step's time. Bounds: today's counts plus about a
 * quarter, so that a change which compiles per layer or per step shows here.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { trainingModel } from '../bench/lib/webtensor.js';
import { TRAIN_LR, workloads } from '../bench/lib/workloads.js';
import { BACKENDS, useBackend } from './backends.js';

/** Bounds per workload and backend: [first step, steps 2–5]. */
const BOUNDS: Record<string, Record<'cpu' | 'webgpu', [number, number]>> = {
  // 2026-12-06 (SwiftShader, Node): cpu 8 / 9 / 10 / 10 then 1 / 1 / 2 / 2; webgpu 14 / 20 / 28 / 27 then 0
  'mnist-mlp': { cpu: [10, 2], webgpu: [18, 2] },
  'mnist-cnn': { cpu: [12, 2], webgpu: [25, 2] },
  'char-gpt b4 t32': { cpu: [13, 3], webgpu: [35, 2] },
  'char-gpt b4 t64': { cpu: [13, 3], webgpu: [35, 2] },
};

for (const kind of BACKENDS) {
  describe(kind, () => {
    for (const w of workloads(true).filter((w) => w.group === 'training')) {
      const key = Object.keys(BOUNDS).find((k) => w.name.includes(k));
      it(`${w.name}: the first step compiles a bounded number of kernels, later steps (recording, replays) almost none`, async () => {
        expect(key, `no bound for ${w.name}`).toBeDefined();
        const prev = await useBackend(kind);
        const fresh = kind === 'cpu' ? new CpuBackend() : await wt.init({ backend: 'webgpu' });
        wt.setBackend(fresh);
        try {
          const { model, x, y, lossOf } = trainingModel(w);
          const opt = new wt.optim.SGD(model.parameters(), { lr: TRAIN_LR });
          const step = wt.compile((x: wt.Tensor, y: wt.Tensor) => {
            opt.zeroGrad();
            const l = lossOf(x, y);
            l.backward();
            opt.step();
            return l;
          });
          const counts: number[] = [];
          for (let i = 0; i < 5; i++) {
            const k0 = wt.kernelStats().compiled;
            const l = step(x, y);
            expect(Number.isFinite(await l.item())).toBe(true);
            l.dispose();
            counts.push(wt.kernelStats().compiled - k0);
          }
          expect(step.reason).toBeNull();
          const [first, later] = BOUNDS[key!][kind];
          const more = counts.slice(1).reduce((a, b) => a + b, 0);
          expect(counts[0]).toBeGreaterThan(0);
          expect(counts[0], `${w.name}: kernels compiled by the first step`).toBeLessThanOrEqual(first);
          expect(more, `${w.name}: kernels compiled by steps 2–5 (${counts.slice(1)})`).toBeLessThanOrEqual(later);
          step.dispose();
          opt.zeroGrad();
          opt.dispose();
          model.dispose();
          wt.dispose([x, y]);
        } finally {
          wt.setBackend(prev);
          if (fresh !== prev) fresh.destroy();
        }
      });
    }
  });
}
