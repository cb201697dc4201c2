import { beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, randomTensor } from './helpers.js';

beforeAll(async () => {
  await wt.init({ backend: 'cpu' });
});

const arr = async (t: wt.Tensor) => Array.from(await t.data());

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
      await wt.gradcheck(f, [randomTensor([2, 3, 4], 1)[0]]);
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
