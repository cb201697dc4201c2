/**
 * Deferred checks (src/deferred.ts, issue 19 defect 2.3): an out-of-range index on a backend that
 * cannot read it at once (WebGPU; the CPU while `wt.compile` records a step) makes reads of what
 * depends on the bad result throw the op's ArgumentError — the result itself every time it is
 * read, anything computed from it (fused pending results, reductions, routines, views, in-place
 * copies into other tensors, optimizer updates, compiled steps' replays) — and never return its
 * values; reads of unrelated tensors succeed.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { BACKENDS, forEachBackend, useBackend } from './backends.js';

const int = (v: number[][] | number[]) => wt.tensor(v, { dtype: 'int32' });
const GATHER = /^gather: index \[2,2\] holds a value out of range \[0, 3\) for dim 1 of input \[2,3\]/;

/** Expects a read of t to reject with an ArgumentError matching `re`. */
async function rejects(t: wt.Tensor, re: RegExp): Promise<void> {
  const e = await t.data().then(() => null, (x: unknown) => x);
  expect(e, 'the read returned values').toBeInstanceOf(wt.ArgumentError);
  expect((e as Error).message).toMatch(re);
}

describe.runIf(BACKENDS.includes('webgpu'))('deferred index checks (webgpu)', () => {
  beforeEach(async () => {
    await useBackend('webgpu');
  });

  it('the issue\'s case: an unrelated read succeeds; the bad result throws on every read', async () => {
    const idx = int([[0, 7], [1, 2]]);
    const bad = wt.ones([2, 3]).gather(1, idx);
    expect(Array.from(await wt.tensor([1, 2]).data())).toEqual([1, 2]);
    await rejects(bad, GATHER);
    await rejects(bad, GATHER);
    // the index itself holds what it holds
    expect(await idx.array()).toEqual([[0, 7], [1, 2]]);
    // another unrelated read, after the verdict
    expect(await wt.tensor([3]).item()).toBe(3);
    wt.dispose([idx, bad]);
  });

  it('what is computed from the bad result throws: fused chains, reductions, routines, views', async () => {
    const idx = int([[0, 7], [1, 2]]);
    const bad = wt.ones([2, 3]).gather(1, idx);
    const chain = bad.mul(2).add(1).relu(); // pending, fused
    const red = bad.exp().sum(); // a fused prologue into a reduction
    const mm = bad.matmul(wt.ones([2, 4])); // a routine
    const sm = bad.softmax(-1);
    const view = bad.transpose(0, 1).reshape([4]).slice(0, 1, 3);
    const both = wt.cat([wt.zeros([1, 2]), bad], 0);
    for (const t of [chain, red, mm, sm, view, both]) await rejects(t, GATHER);
    // made after the verdict: still carried
    await rejects(bad.neg(), GATHER);
    wt.dispose([idx, bad, chain, red, mm, sm, view, both]);
  });

  it('an in-place copy into another tensor carries the check there; a full overwrite clears it', async () => {
    const idx = int([[0, 7], [1, 2]]);
    const bad = wt.ones([2, 3]).gather(1, idx);
    const y = wt.zeros([3, 2]);
    wt.noGrad(() => y.slice(0, 1, 3).copy_(bad));
    const part = y.slice(0, 0, 1);
    await rejects(y, GATHER);
    await rejects(part, GATHER); // a view of the same storage
    const z = wt.zeros([2, 2]);
    wt.noGrad(() => z.add_(bad));
    await rejects(z, GATHER);
    // every element overwritten with values that do not depend on the bad ones
    wt.noGrad(() => z.fill_(4));
    expect(Array.from(await z.data())).toEqual([4, 4, 4, 4]);
    wt.dispose([idx, bad, y, part, z]);
  });

  it('training on a bad batch: the loss, the gradients and the updated parameters throw; other tensors read', async () => {
    wt.manualSeed(3);
    const emb = new wt.nn.Embedding(10, 4);
    const other = wt.randn([4]);
    const opt = new wt.optim.SGD(emb.parameters(), { lr: 0.1 });
    const loss = wt.tidy(() => emb.forward(int([1, 12, 3])).square().mean());
    loss.backward();
    opt.step();
    const emb2 = /^embedding: indices \[3\] holds a value out of range \[0, 10\) for weight \[10,4\]/;
    await rejects(loss, emb2);
    await rejects(emb.weight.grad!, emb2);
    await rejects(emb.weight, emb2);
    expect((await other.data()).length).toBe(4);
    // cross-entropy targets: the loss and the logits' gradient
    const logits = wt.randn([3, 5]).requiresGrad_();
    const l2 = wt.F.crossEntropy(logits, int([0, 9, 1]));
    l2.backward();
    await rejects(l2, /^crossEntropy: target \[3\]/);
    await rejects(logits.grad!, /^crossEntropy: target \[3\]/);
    wt.dispose([other, loss, logits, l2]);
    emb.dispose();
    opt.dispose();
  });

  it('two reads in flight at once: the one that depends on the bad result throws, whichever started first', async () => {
    const idx = int([[0, 7], [1, 2]]);
    for (const badFirst of [false, true]) {
      const bad = wt.ones([2, 3]).gather(1, idx);
      const good = wt.tensor([5, 6]);
      const reads = badFirst ? [bad.data(), good.data()] : [good.data(), bad.data()];
      const [a, b] = await Promise.allSettled(reads);
      const [rb, rg] = badFirst ? [a, b] : [b, a];
      expect(rb.status).toBe('rejected');
      expect(((rb as PromiseRejectedResult).reason as Error).message).toMatch(GATHER);
      expect(rg.status).toBe('fulfilled');
      wt.dispose([bad, good]);
    }
    idx.dispose();
  });

  it('a good index gives values, and its results read', async () => {
    const x = wt.tensor([[1, 2, 3], [4, 5, 6]]);
    const g = x.gather(1, int([[2, 0], [1, 1]]));
    expect(await g.array()).toEqual([[3, 1], [5, 5]]);
    expect(await g.sum().item()).toBe(14);
    wt.dispose([x, g]);
  });
});

/** A compiled SGD step on an embedding (its index checked on the device), recorded with good indices. */
async function embeddingStep(): Promise<{ emb: wt.nn.Embedding; opt: wt.optim.SGD; step: wt.Compiled<[wt.Tensor], wt.Tensor> }> {
  const emb = new wt.nn.Embedding(10, 4);
  const opt = new wt.optim.SGD(emb.parameters(), { lr: 0.1 });
  const step = wt.compile((idx: wt.Tensor) => {
    opt.zeroGrad();
    const l = emb.forward(idx).sum();
    l.backward();
    opt.step();
    return l;
  });
  const good = int([1, 2, 3]);
  for (let i = 0; i < 4; i++) {
    const l = step(good);
    await l.item();
    l.dispose();
  }
  good.dispose();
  return { emb, opt, step };
}

forEachBackend((kind) => {
  describe('deferred checks in compiled steps', () => {
    it('a replay with a bad index throws from its output; unrelated tensors read; a good replay of a step without state reads', async () => {
      const table = wt.tensor([[1, 2], [3, 4], [5, 6]]);
      const step = wt.compile((idx: wt.Tensor) => wt.indexSelect(table, 0, idx).sum(1));
      const good = int([2, 0]), bad = int([1, 5]);
      for (let i = 0; i < 4; i++) {
        const r = step(good);
        expect(Array.from(await r.data())).toEqual([11, 3]);
        r.dispose();
      }
      expect(step.stats.replayed).toBe(1);
      const r = step(bad);
      expect(step.stats.replayed).toBe(2);
      expect(await wt.tensor([7]).item()).toBe(7);
      await rejects(r, /^indexSelect: index \[2\] holds a value out of range \[0, 3\)/);
      await rejects(r.mul(2), /^indexSelect/);
      // the step keeps no state: the next good call's output does not depend on the bad one
      const ok = step(good);
      expect(Array.from(await ok.data())).toEqual([11, 3]);
      expect(Array.from(await table.data())).toEqual([1, 2, 3, 4, 5, 6]);
      wt.dispose([table, good, bad, r, ok]);
      step.dispose();
    });

    it(`unread replays of a step without state: a bad one fails its own output only, not a good one after it (${kind})`, async () => {
      const table = wt.tensor([[1, 2], [3, 4], [5, 6]]);
      const step = wt.compile((idx: wt.Tensor) => wt.indexSelect(table, 0, idx).sum(1));
      const good = int([2, 0]), bad = int([1, 5]);
      for (let i = 0; i < 4; i++) {
        const r = step(good);
        expect(Array.from(await r.data())).toEqual([11, 3]);
        r.dispose();
      }
      // none read until the end: 12 good, the bad one, 12 good
      const outs = [...Array.from({ length: 12 }, () => step(good)), step(bad), ...Array.from({ length: 12 }, () => step(good))];
      expect(Array.from(await outs[24].data())).toEqual([11, 3]);
      expect(Array.from(await outs[0].data())).toEqual([11, 3]);
      await rejects(outs[12], /^indexSelect: index \[2\] holds a value out of range \[0, 3\)/);
      wt.dispose([table, good, bad, ...outs]);
      step.dispose();
    });

    it(`a replayed training step with a bad index poisons the parameters it updated (${kind})`, async () => {
      wt.manualSeed(2);
      const { emb, opt, step } = await embeddingStep();
      const good = int([1, 2, 3]), bad = int([1, 12, 3]);
      expect(step.stats.replayed).toBe(1);
      const l = step(bad);
      expect(step.stats.replayed).toBe(2);
      await rejects(l, /^embedding/);
      // the update used the bad step's gradients: the weights (and what they compute) say so
      await rejects(emb.weight, /^embedding/);
      const next = step(good);
      await rejects(next, /^embedding/);
      wt.dispose([good, bad, l, next]);
      step.dispose();
      emb.dispose();
      opt.dispose();
    });

    it(`eager training steps not read for many steps: the checks a parameter carries are folded, not one per step; a bad step among them still fails the reads (${kind})`, async () => {
      wt.manualSeed(4);
      const emb = new wt.nn.Embedding(10, 4);
      const opt = new wt.optim.SGD(emb.parameters(), { lr: 0.1 });
      const stepOf = (idx: wt.Tensor) => wt.tidy(() => {
        opt.zeroGrad();
        const l = emb.forward(idx).sum();
        l.backward();
        opt.step();
        return l;
      });
      const carried = () => emb.weight._store.checks?.length ?? 0;
      // each batch a new index tensor (a data loader's): a new check each step
      for (let i = 0; i < 60; i++) {
        const idx = int([i % 10, (i * 3) % 10]);
        stepOf(idx).dispose();
        idx.dispose();
      }
      expect(carried()).toBeLessThanOrEqual(10);
      const ok = int([4, 5]);
      const l = stepOf(ok);
      expect(Number.isFinite(await l.item())).toBe(true);
      expect(Number.isFinite((await emb.weight.data())[0])).toBe(true);
      // a bad batch among 40 unread ones: the next reads throw its error (the CPU backend checks
      // eager indices at once: the bad step throws and updates nothing)
      const batches = Array.from({ length: 40 }, (_, i) => int(i === 17 ? [3, 11] : [i % 10, 1]));
      for (const [i, b] of batches.entries()) {
        if (kind === 'cpu' && i === 17) expect(() => stepOf(b)).toThrow(/^embedding: indices \[2\] holds 11/);
        else stepOf(b).dispose();
      }
      expect(carried()).toBeLessThanOrEqual(10);
      const after = stepOf(ok);
      if (kind === 'webgpu') {
        await rejects(after, /^embedding: indices \[2\] holds a value out of range \[0, 10\)/);
        await rejects(emb.weight, /^embedding/);
      } else expect(Number.isFinite(await after.item())).toBe(true);
      // results that do not depend on it read
      expect(await wt.tensor([3]).item()).toBe(3);
      wt.dispose([ok, l, after, ...batches]);
      emb.dispose();
      opt.dispose();
    });

    it(`replays not read for many steps: the checks the parameters carry stay few (folded); a bad replay among them still fails the next read (${kind})`, async () => {
      wt.manualSeed(3);
      const { emb, opt, step } = await embeddingStep();
      const good = int([1, 2, 3]), bad = int([1, 12, 3]);
      // 40 replays, none read: the weight's list of carried checks stays short (it grew by one per
      // replay before, and was copied on each: a loop reading every N steps cost O(N) per step)
      const carried = () => emb.weight._store.checks?.length ?? 0;
      for (let i = 0; i < 40; i++) step(good).dispose();
      expect(carried()).toBeLessThanOrEqual(10);
      const last = step(good);
      expect(Number.isFinite(await last.item())).toBe(true);
      // a bad replay between good unread ones: the flags of every replay are judged
      for (let i = 0; i < 5; i++) step(good).dispose();
      step(bad).dispose();
      for (let i = 0; i < 5; i++) step(good).dispose();
      expect(carried()).toBeLessThanOrEqual(10);
      const after = step(good);
      await rejects(after, /^embedding: indices \[3\] holds a value out of range \[0, 10\)/);
      await rejects(emb.weight, /^embedding/);
      wt.dispose([good, bad, last, after]);
      step.dispose();
      emb.dispose();
      opt.dispose();
    });
  });
});
