import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { mulhi32, philox, wordToUniform } from '../src/kernel/philox.js';
import { forEachBackend, gradcheck } from './backends.js';

forEachBackend((kind) => {
  describe('creation', () => {
    it('tensor infers shape and dtype; rejects ragged input', async () => {
      const t = wt.tensor([[1, 2], [3, 4]]);
      expect(t.shape).toEqual([2, 2]);
      expect(t.dtype).toBe('float32');
      expect(wt.tensor([true, false]).dtype).toBe('bool');
      expect(wt.tensor(3).shape).toEqual([]);
      expect(wt.tensor(new Int32Array([1, 2])).dtype).toBe('int32');
      expect(wt.tensor([1.7, -1.7], { dtype: 'int32' }).dtype).toBe('int32');
      expect(Array.from(await wt.tensor([1.7, -1.7], { dtype: 'int32' }).data())).toEqual([1, -1]);
      expect(() => wt.tensor([[1, 2], [3]])).toThrow(wt.ArgumentError);
      expect(() => wt.tensor([1], { dtype: 'float64' as never })).toThrow(wt.DTypeError);
      expect(await wt.tensor([true, false]).data()).toBeInstanceOf(Uint8Array);
    });

    it('fills, ranges and eye', async () => {
      expect(Array.from(await wt.full([2, 2], 7).data())).toEqual([7, 7, 7, 7]);
      expect(Array.from(await wt.zerosLike(wt.ones([3], { dtype: 'int32' })).data())).toEqual([0, 0, 0]);
      expect(wt.onesLike(wt.ones([3], { dtype: 'int32' })).dtype).toBe('int32');
      expect(Array.from(await wt.arange(5).data())).toEqual([0, 1, 2, 3, 4]);
      expect(wt.arange(5).dtype).toBe('int32');
      expect(Array.from(await wt.arange(1, 2, 0.25).data())).toEqual([1, 1.25, 1.5, 1.75]);
      expect(Array.from(await wt.arange(5, 0, -2).data())).toEqual([5, 3, 1]);
      expect(Array.from(await wt.linspace(0, 1, 5).data())).toEqual([0, 0.25, 0.5, 0.75, 1]);
      expect(await wt.eye(2, 3).array()).toEqual([[1, 0, 0], [0, 1, 0]]);
      expect(wt.zeros([0, 4]).numel()).toBe(0);
    });

    it('triu and tril keep a triangle of the last two dims (torch semantics), with gradients', async () => {
      // reference: element (.., r, c) kept when c - r >= k (triu) or c - r <= k (tril)
      const ref = (shape: number[], v: number[], k: number, upper: boolean) => {
        const [R, C] = shape.slice(-2);
        return v.map((x, i) => {
          const c = i % C, r = Math.floor(i / C) % R;
          return (upper ? c - r >= k : c - r <= k) ? x : 0;
        });
      };
      for (const shape of [[1, 1], [3, 5], [5, 3], [2, 3, 4], [2, 1, 7, 3]]) {
        const v = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i - 7.5);
        const x = wt.tensor(v, { shape });
        for (const k of [-3, -1, 0, 1, 2, 6]) {
          expect(Array.from(await x.triu(k).data())).toEqual(ref(shape, v, k, true));
          expect(Array.from(await wt.tril(x, k).data())).toEqual(ref(shape, v, k, false));
        }
        expect(x.triu().shape).toEqual(shape);
      }
      expect(await wt.tensor([[1, 2], [3, 4]], { dtype: 'int32' }).tril().array()).toEqual([[1, 0], [3, 4]]);
      const b = wt.ones([2, 2], { dtype: 'bool' }).triu(1);
      expect(b.dtype).toBe('bool');
      expect(await b.array()).toEqual([[false, true], [false, false]]);
      await gradcheck((a) => a.triu(1).mul(a).sum().add(a.tril(-1).sum()), [wt.randn([3, 4], { seed: 5 })]);
      expect(() => wt.triu(wt.ones([3]))).toThrow(/triu: x must have at least 2 dimensions, got shape \[3\]/);
      expect(() => wt.tril(wt.ones([2, 2]), 0.5)).toThrow(/tril: diagonal/);
    });

    it('rand is Philox: reproducible by seed and equal to the reference words', async () => {
      const a = await wt.rand([5], { seed: 123 }).data();
      const b = await wt.rand([5], { seed: 123 }).data();
      expect(Array.from(a)).toEqual(Array.from(b));
      const w = new Uint32Array(4);
      for (let i = 0; i < 5; i++) {
        philox(i, 0, 0, 0, 123, 0, w);
        expect(a[i]).toBe(wordToUniform(w[0]));
      }
      const c = await wt.rand([5]).data(), d = await wt.rand([5]).data();
      expect(Array.from(c)).not.toEqual(Array.from(d));
      wt.manualSeed(5);
      const e = await wt.rand([3]).data();
      wt.manualSeed(5);
      expect(Array.from(await wt.rand([3]).data())).toEqual(Array.from(e));
    });

    it('Philox matches the published known-answer vectors', () => {
      // Random123 kat_vectors: philox4x32_10 with zero counter/key, and with all-ones
      const w = new Uint32Array(4);
      philox(0, 0, 0, 0, 0, 0, w);
      expect(Array.from(w)).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
      philox(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, w);
      expect(Array.from(w)).toEqual([0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    });

    it('mulhi32 is the exact high word of the 64-bit product', () => {
      let s = 12345;
      const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
      const cases: [number, number][] = [[0, 0], [0xffffffff, 0xffffffff], [0xd2511f53, 0xffffffff], [1, 0xffffffff], [0x80000000, 2], [0xffff, 0x10000]];
      for (let i = 0; i < 20000; i++) cases.push([next(), next()]);
      for (const [a, b] of cases) expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
    });

    it('randn has mean 0 and std 1; randint stays in range', async () => {
      const z = wt.randn([20000], { seed: 9 });
      expect(Math.abs(await z.mean().item())).toBeLessThan(0.03);
      expect(Math.abs((await z.std().item()) - 1)).toBeLessThan(0.03);
      const r = await wt.randint(-3, 4, [5000], { seed: 1 }).data();
      expect(Math.min(...r)).toBe(-3);
      expect(Math.max(...r)).toBe(3);
      expect(wt.randint(0, 2, [2]).dtype).toBe('int32');
    });
  });

  describe('reading and printing', () => {
    it('data, array, item', async () => {
      const t = wt.tensor([[1, 2], [3, 4]]);
      expect(await t.array()).toEqual([[1, 2], [3, 4]]);
      expect(await t.sum().item()).toBe(10);
      await expect(t.item()).rejects.toThrow(/one-element/);
    });

    it('format() prints like PyTorch', async () => {
      expect(await wt.tensor([[1, 2], [3, 4]]).format()).toBe('tensor([[1., 2.],\n        [3., 4.]])');
      expect(await wt.tensor([0.5, -1.25]).format()).toBe('tensor([ 0.5000, -1.2500])');
      expect(await wt.tensor([1, 2], { dtype: 'int32' }).format()).toBe('tensor([1, 2], dtype=int32)');
      expect(await wt.tensor(3.5).format()).toBe('tensor(3.5000)');
      expect(await wt.tensor([1], { requiresGrad: true }).format()).toBe('tensor([1.], requiresGrad=true)');
      expect(await wt.arange(2000).format()).toContain('...');
    });

    it(`toString (${kind}: ${kind === 'cpu' ? 'values, read synchronously' : 'shape and dtype, no read'})`, async () => {
      const t = wt.tensor([[1, 2], [3, 4]]);
      if (kind === 'cpu') expect(t.toString()).toBe(await t.format());
      else expect(t.toString()).toBe('tensor(shape=[2,2], dtype=float32, backend=webgpu)');
    });
  });
});
