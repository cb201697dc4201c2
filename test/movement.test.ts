import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, randomTensor } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

const arr = async (t: wt.Tensor) => Array.from(await t.data());

forEachBackend((kind) => {
  describe('views share storage and do not copy', () => {
    it('reshape/view/transpose/permute/expand/squeeze/unsqueeze/flatten/slice are views', async () => {
      const x = wt.arange(24).float().reshape(2, 3, 4);
      const views = [x.view(6, 4), x.transpose(0, 2), x.permute(2, 0, 1), x.unsqueeze(1), x.flatten(1), x.slice(2, 1, 3), x.narrow(1, 1, 2), x.select(0, 1), x.flip(2)];
      const before = wt.memory().bytes;
      const more = [x.reshape(4, 6), x.view([-1])];
      expect(wt.memory().bytes).toBe(before);
      wt.noGrad(() => x.fill_(1));
      for (const v of [...views, ...more]) expect((await arr(v)).every((e) => e === 1)).toBe(true);
      expect(x.unsqueeze(0).expand(5, 2, 3, 4).shape).toEqual([5, 2, 3, 4]);
      expect(wt.zeros([1, 3, 1]).squeeze().shape).toEqual([3]);
      expect(wt.zeros([1, 3, 1]).squeeze(0).shape).toEqual([3, 1]);
    });

    it('view refuses an impossible view; reshape copies', async () => {
      const x = wt.arange(6).reshape(2, 3);
      expect(() => x.T.view(6)).toThrow(wt.ShapeError);
      expect(await arr(x.T.reshape(6))).toEqual([0, 3, 1, 4, 2, 5]);
      expect(x.T.contiguous().isContiguous()).toBe(true);
    });

    it('slices with steps and negative indices, select, flip', async () => {
      const x = wt.arange(10);
      expect(await arr(x.slice(0, 1, 8, 3))).toEqual([1, 4, 7]);
      expect(await arr(x.slice(0, -3))).toEqual([7, 8, 9]);
      expect(await arr(x.slice(0, 5, 2))).toEqual([]);
      expect(await arr(x.flip(0))).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      const m = wt.arange(12).reshape(3, 4);
      expect(await arr(m.select(1, -1))).toEqual([3, 7, 11]);
      expect(await m.slice(1, 1, 3).array()).toEqual([[1, 2], [5, 6], [9, 10]]);
    });
  });

  describe('copies: cat, stack, split, chunk, pad', () => {
    it('cat along any dim, with odd sizes and empty pieces', async () => {
      const a = wt.arange(6).reshape(2, 3), b = wt.arange(6, 10).reshape(2, 2);
      expect(await wt.cat([a, b], 1).array()).toEqual([[0, 1, 2, 6, 7], [3, 4, 5, 8, 9]]);
      expect(await wt.cat([a, a], 0).array()).toEqual([[0, 1, 2], [3, 4, 5], [0, 1, 2], [3, 4, 5]]);
      expect(await wt.cat([a.T, a.T], -1).array()).toEqual([[0, 3, 0, 3], [1, 4, 1, 4], [2, 5, 2, 5]]);
      expect(wt.cat([wt.zeros([0, 3]), wt.ones([17, 3])]).shape).toEqual([17, 3]);
    });
    it('stack, split, chunk', async () => {
      const a = wt.tensor([1, 2]), b = wt.tensor([3, 4]);
      expect(await wt.stack([a, b], 1).array()).toEqual([[1, 3], [2, 4]]);
      const parts = wt.arange(7).split(3);
      expect(await Promise.all(parts.map(arr))).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
      expect((await Promise.all(wt.arange(7).split([2, 5]).map(arr)))).toEqual([[0, 1], [2, 3, 4, 5, 6]]);
      expect(wt.arange(10).chunk(3).map((t) => t.shape[0])).toEqual([4, 4, 2]);
    });
    it('pad with a constant', async () => {
      const x = wt.tensor([[1, 2], [3, 4]]);
      expect(await x.pad([1, 0, 0, 1], 9).array()).toEqual([[9, 1, 2], [9, 3, 4], [9, 9, 9]]);
    });
  });

  describe('copies of int32 and bool', () => {
    // words that a trip through an f32 register could change: denormal floats (small ints),
    // NaN patterns, ints above 2^24
    const words = [0, 1, -1, 7, 16777217, 2139095041, 2143289344, 2147483647, -2147483648, 3, -3, 5];
    const bools = words.map((w, i) => (w + i) % 3 === 0);
    const I = () => wt.tensor(Int32Array.from(words), { shape: [3, 4], dtype: 'int32' });
    const B = () => wt.tensor(Uint8Array.from(bools, Number), { shape: [3, 4], dtype: 'bool' });
    const rows = <T>(v: T[]) => [v.slice(0, 4), v.slice(4, 8), v.slice(8, 12)];
    const T = <T>(m: T[][]) => m[0].map((_, j) => m.map((r) => r[j]));

    it('cat, stack and constant pad keep the dtype and every word', async () => {
      for (const [x, v] of [[I(), rows(words)], [B(), rows(bools)]] as [wt.Tensor, (number | boolean)[][]][]) {
        const c0 = wt.cat([x, x.slice(0, 1, 2)], 0), c1 = wt.cat([x.T, x.T], 1);
        expect(c0.dtype).toBe(x.dtype);
        expect(await c0.array()).toEqual([...v, v[1]]);
        expect(await c1.array()).toEqual(T(v).map((r) => [...r, ...r]));
        const s = wt.stack([x, x.flip(0)], 1);
        expect(await s.array()).toEqual(v.map((r, i) => [r, v[2 - i]]));
        const fill = x.dtype === 'bool' ? true : -9;
        const p = x.pad([1, 0, 0, 1], Number(fill));
        expect(p.dtype).toBe(x.dtype);
        expect(await p.array()).toEqual([...v.map((r) => [fill, ...r]), [fill, fill, fill, fill, fill]]);
      }
    });

    it('where, flip, expand, slice and transpose copies keep the dtype and every word', async () => {
      for (const [x, v] of [[I(), rows(words)], [B(), rows(bools)]] as [wt.Tensor, (number | boolean)[][]][]) {
        const cond = wt.tensor([true, false, true, false]);
        const w = wt.where(cond, x, x.flip(0));
        expect(w.dtype).toBe(x.dtype);
        expect(await w.array()).toEqual(v.map((r, i) => r.map((e, j) => (j % 2 ? v[2 - i][j] : e))));
        expect(await x.flip([0, 1]).contiguous().array()).toEqual(v.map((r) => [...r].reverse()).reverse());
        expect(await x.select(0, 1).unsqueeze(0).expand([2, 4]).contiguous().array()).toEqual([v[1], v[1]]);
        expect(await x.slice(1, 1, 4, 2).clone().array()).toEqual(v.map((r) => [r[1], r[3]]));
        expect(await x.T.contiguous().array()).toEqual(T(v));
        expect(await x.T.reshape([12]).array()).toEqual(T(v).flat());
      }
    });

    it('copy_ of a view into a view keeps every word', async () => {
      for (const [x, v] of [[I(), rows(words)], [B(), rows(bools)]] as [wt.Tensor, (number | boolean)[][]][]) {
        const dst = wt.zeros([4, 3], { dtype: x.dtype });
        wt.noGrad(() => dst.copy_(x.T));
        expect(await dst.array()).toEqual(T(v));
        const d2 = wt.zeros([3, 4], { dtype: x.dtype });
        wt.noGrad(() => d2.slice(1, 0, 4, 2).copy_(x.flip(1).slice(1, 0, 4, 2)));
        const zero = x.dtype === 'bool' ? false : 0;
        expect(await d2.array()).toEqual(v.map((r) => [r[3], zero, r[1], zero]));
      }
    });
  });

  describe('movement gradients', () => {
    const fns: [string, (t: wt.Tensor) => wt.Tensor][] = [
      ['reshape', (t) => t.reshape(4, 6).mul(wt.arange(6).float())],
      ['permute', (t) => t.permute(2, 0, 1).mul(wt.arange(3).float())],
      ['transpose', (t) => t.transpose(0, 2).contiguous()],
      ['expand', (t) => t.unsqueeze(0).expand(3, 2, 3, 4)],
      ['slice', (t) => t.slice(2, 1, 4, 2)],
      ['flip', (t) => t.flip([0, 2]).mul(wt.arange(4).float())],
      ['select', (t) => t.select(1, 2)],
      ['cat', (t) => wt.cat([t, t.mul(2)], 1)],
      ['stack', (t) => wt.stack([t, t.square()], 0)],
      ['split', (t) => t.split([1, 3], 2)[1].mul(3)],
      ['pad', (t) => t.pad([1, 2, 0, 1])],
    ];
    for (const [name, f] of fns) {
      it(name, async () => {
        await gradcheck(f, [randomTensor([2, 3, 4], 1)[0]]);
      });
    }
  });

  describe('in-place ops', () => {
    it('add_/sub_/mul_/copy_/zero_ update the tensor and its views', async () => {
      const x = wt.ones([2, 3]);
      const row = x.select(0, 1);
      x.add_(wt.tensor([1, 2, 3]));
      row.mul_(10);
      expect(await x.array()).toEqual([[2, 3, 4], [20, 30, 40]]);
      x.sub_(1, 2).zero_();
      expect(await arr(x)).toEqual([0, 0, 0, 0, 0, 0]);
      x.copy_(wt.tensor([7, 8, 9]));
      expect(await x.array()).toEqual([[7, 8, 9], [7, 8, 9]]);
    });
    it('refuse tensors that require grad outside noGrad', () => {
      const p = wt.ones([2], { requiresGrad: true });
      expect(() => p.sub_(1)).toThrow(/noGrad/);
      wt.noGrad(() => p.sub_(1));
    });
  });

  describe('non-contiguous round trips', () => {
    it('data() of a strided view equals the reference', async () => {
      const [x, v] = randomTensor([3, 17], 4);
      const t = x.T.slice(0, 1, 17, 4);
      const want: number[] = [];
      for (let j = 1; j < 17; j += 4) for (let i = 0; i < 3; i++) want.push(v[i * 17 + j]);
      expectClose(await t.data(), want, 0);
    });
  });
});
