/**
 * Long runs stay flat in memory, on every backend: 1,000 training steps and repeated fit() calls
 * leave the live tensor count, bytes and bytes in use where the first steps put them (the
 * WebGPU pool's pooled bytes and misses are checked in test/webgpu/hardening.test.ts).
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { trainer } from './trainer.js';
import { forEachBackend } from './backends.js';

forEachBackend((kind) => {
  describe('memory stays flat', () => {
    it('1,000 training steps: live tensors and bytes do not grow', async () => {
      const base = wt.memory();
      const t = trainer(1);
      const samples: { tensors: number; bytes: number; inUse: number }[] = [];
      let first = 0, last = 0;
      for (let i = 0; i < 1000; i++) {
        const loss = t.step();
        if (i === 0) first = await loss.item();
        if (i === 999) last = await loss.item();
        if (i % 100 === 99) {
          // after a read, WebGPU has submitted every batch and taken back every freed buffer
          await loss.item();
          const m = wt.memory();
          samples.push({ tensors: m.tensors, bytes: m.bytes, inUse: m.bytesInUse });
        }
        loss.dispose();
      }
      expect(last).toBeLessThan(first); // it trained
      expect(samples.every((s) => s.tensors === samples[0].tensors && s.bytes === samples[0].bytes && s.inUse === samples[0].inUse), JSON.stringify(samples)).toBe(true);
      t.dispose();
      expect(wt.memory().tensors).toBe(base.tensors);
      expect(wt.memory().bytes).toBe(base.bytes);
    });

    it('repeated fit / evaluate / predict calls leave nothing behind', async () => {
      const t = trainer(2);
      const after: number[] = [];
      for (let run = 0; run < 4; run++) {
        await t.model.fit([t.x, t.y], { optimizer: t.opt, loss: 'crossEntropy', metrics: ['accuracy'], epochs: 2, batchSize: 8, verbose: 0, validationSplit: 0.25 });
        await t.model.evaluate([t.x, t.y], { loss: 'crossEntropy' });
        t.model.predict(t.x).dispose();
        after.push(wt.memory().tensors);
      }
      expect(new Set(after.slice(1)).size, JSON.stringify(after)).toBe(1);
      t.dispose();
    });
  });
});
