/**
 * gather, indexSelect, embedding, scatterAdd, oneHot and padMode against float64 / plain-loop
 * references written here, on seeded inputs; gradients through wt.gradcheck (its defaults:
 * atol 1e-5, rtol 1e-3). These ops only move values, so forward results must match exactly
 * (tolerance 0), except scatterAdd's float32 sums (atol 1e-5).
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, numelOf, randomTensor, rng, stridesOf, unravel, ODD_SIZES } from './helpers.js';
import { expectIndexError, forEachBackend, gradcheck } from './backends.js';

const int = (vals: ArrayLike<number>, shape: number[]) => wt.tensor(Int32Array.from(vals), { shape, dtype: 'int32' });

function randomIndex(n: number, hi: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * hi));
}

const offsetOf = (idx: number[], shape: number[]) => idx.reduce((a, j, d) => a + j * stridesOf(shape)[d], 0);

function refGather(v: ArrayLike<number>, shape: number[], dim: number, iv: ArrayLike<number>, ishape: number[]): number[] {
  return Array.from({ length: iv.length }, (_, i) => {
    const idx = unravel(i, ishape);
    idx[dim] = iv[i];
    return v[offsetOf(idx, shape)];
  });
}

function refScatterAdd(v: ArrayLike<number>, shape: number[], dim: number, iv: ArrayLike<number>, ishape: number[], sv: ArrayLike<number>, sshape: number[]): number[] {
  const out = Array.from(v);
  for (let i = 0; i < iv.length; i++) {
    const idx = unravel(i, ishape);
    const s = sv[offsetOf(idx, sshape)];
    idx[dim] = iv[i];
    out[offsetOf(idx, shape)] += s;
  }
  return out;
}

function refIndexSelect(v: ArrayLike<number>, shape: number[], dim: number, iv: ArrayLike<number>): { vals: number[]; shape: number[] } {
  const oshape = shape.map((s, d) => (d === dim ? iv.length : s));
  const vals = Array.from({ length: numelOf(oshape) }, (_, i) => {
    const idx = unravel(i, oshape);
    idx[dim] = iv[idx[dim]];
    return v[offsetOf(idx, shape)];
  });
  return { vals, shape: oshape };
}

forEachBackend((kind) => {
  describe('gather', () => {
    const cases: [number[], number, number[]][] = [
      [[3, 4, 5], 0, [7, 4, 5]],
      [[3, 4, 5], 1, [2, 1, 3]],
      [[3, 4, 5], 2, [3, 4, 17]],
      [[17, 33], 1, [17, 3]],
      [[33], 0, [1]],
      [[1, 1], 0, [1, 1]],
    ];
    it('matches the reference on odd sizes, every dim, smaller index shapes', async () => {
      for (const [shape, dim, ishape] of cases) {
        const [x, v] = randomTensor(shape, 1 + numelOf(shape));
        const iv = randomIndex(numelOf(ishape), shape[dim], 2 + dim);
        const y = x.gather(dim, int(iv, ishape));
        expect(y.shape).toEqual(ishape);
        expectClose(await y.data(), refGather(v, shape, dim, iv, ishape), 0, 0, `gather ${shape} dim ${dim}`);
      }
    });

    it('works on non-contiguous input and index, negative dim and int32 data', async () => {
      const [a, av] = randomTensor([5, 3], 3); // x = a.T: [3, 5]
      const xv = Array.from({ length: 15 }, (_, i) => av[(i % 5) * 3 + Math.floor(i / 5)]);
      const iv = randomIndex(6, 5, 4); // index = b.T with b [2, 3] → index [3, 2]
      const idx = int(iv, [2, 3]).T;
      const ivT = Array.from({ length: 6 }, (_, i) => iv[(i % 2) * 3 + Math.floor(i / 2)]);
      expectClose(await wt.gather(a.T, -1, idx).data(), refGather(xv, [3, 5], 1, ivT, [3, 2]), 0, 0, 'transposed');
      const xi = wt.arange(12).reshape([3, 4]);
      expect(await xi.gather(0, int([2, 1, 0, 0], [1, 4])).array()).toEqual([[8, 5, 2, 3]]);
      expect(xi.gather(0, int([2], [1, 1])).dtype).toBe('int32');
    });

    it('handles empty and 0-d index', async () => {
      expect(wt.gather(wt.zeros([3, 4]), 1, int([], [3, 0])).shape).toEqual([3, 0]);
      expect(await wt.gather(wt.tensor(5), 0, int([0], [])).item()).toBe(5);
    });

    it('gradient scatter-adds (repeated indices accumulate)', async () => {
      const idx = int([0, 0, 2, 1, 1, 1], [2, 3]);
      await expect(gradcheck((x, i) => x.gather(1, i), [wt.randn([2, 4], { seed: 1 }), idx])).resolves.toBe(true);
      await expect(gradcheck((x, i) => x.gather(0, i), [wt.randn([3, 2, 2], { seed: 2 }), int([2, 2, 0, 1], [1, 2, 2])])).resolves.toBe(true);
      const x = wt.ones([3], { requiresGrad: true });
      x.gather(0, int([1, 1, 1, 2], [4])).sum().backward();
      expect(await x.grad!.array()).toEqual([0, 3, 1]);
    });

    it('rejects bad arguments with the shapes in the message', async () => {
      const x = wt.zeros([3, 4, 5]);
      expect(() => x.gather(0, int([0, 0], [1, 2]))).toThrow(wt.ShapeError);
      expect(() => x.gather(0, int([0, 0], [1, 2]))).toThrow('gather: index has 2 dims but input [3,4,5] has 3');
      expect(() => x.gather(0, int([0, 0, 0, 0, 0], [1, 5, 1]))).toThrow(/index \[1,5,1\] is larger than input \[3,4,5\] in dim 1/);
      expect(() => x.gather(0, wt.zeros([1, 1, 1]))).toThrow(wt.DTypeError);
      await expectIndexError(kind, () => x.gather(1, int([4], [1, 1, 1])), /^gather: index \[1,1,1\] holds .*out of range \[0, 4\) for dim 1 of input \[3,4,5\]/);
      await expectIndexError(kind, () => x.gather(1, int([-1], [1, 1, 1])), /^gather: index/);
      expect(() => x.gather(3, int([0], [1, 1, 1]))).toThrow(wt.ShapeError);
    });
  });

  describe('indexSelect and embedding', () => {
    it('matches the reference on odd sizes and every dim', async () => {
      for (const n of ODD_SIZES) {
        for (const [shape, dim] of [[[n, 4], 0], [[3, n, 2], 1], [[2, 3, n], 2], [[n], -1]] as [number[], number][]) {
          const d = dim < 0 ? dim + shape.length : dim;
          const [x, v] = randomTensor(shape, 10 + n);
          const iv = randomIndex(n + 2, shape[d], 20 + n);
          const want = refIndexSelect(v, shape, d, iv);
          const y = x.indexSelect(dim, int(iv, [iv.length]));
          expect(y.shape).toEqual(want.shape);
          expectClose(await y.data(), want.vals, 0, 0, `indexSelect ${shape} dim ${dim}`);
        }
      }
    });

    it('accepts non-contiguous input, an empty index and a 0-d index', async () => {
      const [a, av] = randomTensor([4, 3], 5);
      const xv = Array.from({ length: 12 }, (_, i) => av[(i % 4) * 3 + Math.floor(i / 4)]); // a.T [3,4]
      expectClose(await a.T.indexSelect(1, int([3, 0, 3], [3])).data(), refIndexSelect(xv, [3, 4], 1, [3, 0, 3]).vals, 0, 0, 'transposed');
      expect(a.indexSelect(0, int([], [0])).shape).toEqual([0, 3]);
      expect(a.indexSelect(0, int([2], [])).shape).toEqual([1, 3]);
    });

    it('gradient index-adds; gradcheck', async () => {
      await expect(gradcheck((x, i) => x.indexSelect(0, i), [wt.randn([3, 2], { seed: 1 }), int([2, 0, 2, 2], [4])])).resolves.toBe(true);
      await expect(gradcheck((x, i) => x.indexSelect(1, i), [wt.randn([2, 3, 2], { seed: 2 }), int([1, 1], [2])])).resolves.toBe(true);
    });

    it('embedding looks rows up and accumulates their gradient; paddingIdx gets none', async () => {
      const [w0, wv] = randomTensor([5, 3], 7);
      const w = w0.requiresGrad_();
      const ids = int([1, 4, 1, 0, 2, 1], [2, 3]);
      const e = wt.embedding(ids, w);
      expect(e.shape).toEqual([2, 3, 3]);
      expectClose(await e.data(), [1, 4, 1, 0, 2, 1].flatMap((r) => Array.from(wv.slice(r * 3, r * 3 + 3))), 0, 0, 'embedding');
      e.sum().backward();
      expect(await w.grad!.array()).toEqual([[1, 1, 1], [3, 3, 3], [1, 1, 1], [0, 0, 0], [1, 1, 1]]);
      w.zeroGrad();
      const ep = wt.embedding(ids, w, { paddingIdx: 1 });
      expectClose(await ep.data(), await e.data(), 0, 0, 'paddingIdx keeps the values');
      ep.sum().backward();
      expect(await w.grad!.array()).toEqual([[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]]);
      await expect(gradcheck((w, i) => wt.embedding(i, w), [wt.randn([4, 2], { seed: 3 }), int([3, 3, 0], [3])])).resolves.toBe(true);
    });

    it('rejects bad arguments with the shapes in the message', async () => {
      const x = wt.zeros([3, 4]);
      expect(() => x.indexSelect(0, int([0, 1], [1, 2]))).toThrow(/index must be 1-D, got shape \[1,2\] for input \[3,4\]/);
      await expectIndexError(kind, () => x.indexSelect(1, int([4], [1])), /^indexSelect: index \[1\] holds .*out of range \[0, 4\) for dim 1 of input \[3,4\]/);
      expect(() => x.indexSelect(0, wt.tensor([1]))).toThrow(wt.DTypeError);
      await expectIndexError(kind, () => wt.embedding(int([5], [1]), x), /^embedding: indices \[1\] holds .*weight \[3,4\]/);
      expect(() => wt.embedding(int([0], [1]), wt.zeros([3]))).toThrow(wt.ShapeError);
      expect(() => wt.embedding(int([0], [1]), x, { paddingIdx: 3 })).toThrow(wt.ArgumentError);
    });
  });

  describe('scatterAdd', () => {
    const cases: [number[], number, number[], number[]][] = [
      [[3, 4], 0, [5, 4], [5, 4]],
      [[3, 4], 1, [2, 7], [3, 9]],
      [[2, 3, 17], 2, [2, 3, 33], [2, 3, 33]],
      [[33], 0, [17], [17]],
    ];
    it('matches the reference (repeated indices, src larger than index) and leaves x alone', async () => {
      for (const [shape, dim, ishape, sshape] of cases) {
        const [x, v] = randomTensor(shape, 30 + dim);
        const [src, sv] = randomTensor(sshape, 31 + dim);
        const iv = randomIndex(numelOf(ishape), shape[dim], 32 + dim);
        const y = wt.scatterAdd(x, dim, int(iv, ishape), src);
        expect(y.shape).toEqual(shape);
        expectClose(await y.data(), refScatterAdd(v, shape, dim, iv, ishape, sv, sshape), 1e-5, 1e-6, `scatterAdd ${shape} dim ${dim}`);
        expectClose(await x.data(), v, 0, 0, 'input unchanged');
      }
      const xi = wt.zeros([3], { dtype: 'int32' });
      expect(await wt.scatterAdd(xi, 0, int([0, 2, 0], [3]), int([1, 2, 3], [3])).array()).toEqual([4, 0, 2]);
    });

    it('gradients for input and src (gradcheck)', async () => {
      await expect(gradcheck((x, i, s) => wt.scatterAdd(x, 1, i, s), [wt.randn([2, 3], { seed: 1 }), int([0, 0, 2, 1], [2, 2]), wt.randn([2, 3], { seed: 2 })])).resolves.toBe(true);
      await expect(gradcheck((x, i, s) => wt.scatterAdd(x.T, 0, i, s), [wt.randn([2, 3], { seed: 3 }), int([1, 1, 2], [3, 1]), wt.randn([3, 1], { seed: 4 })])).resolves.toBe(true);
    });

    it('rejects bad arguments with the shapes in the message', async () => {
      const x = wt.zeros([3, 4]);
      expect(() => wt.scatterAdd(x, 0, int([0], [1]), wt.zeros([1, 1]))).toThrow(/input \[3,4\], index \[1\] and src \[1,1\] must have the same number of dims/);
      expect(() => wt.scatterAdd(x, 0, int([0, 0], [1, 2]), wt.zeros([1, 1]))).toThrow(wt.ShapeError);
      expect(() => wt.scatterAdd(x, 0, int([0], [1, 1]), wt.zeros([1, 1], { dtype: 'int32' }))).toThrow(wt.DTypeError);
      await expectIndexError(kind, () => wt.scatterAdd(x, 0, int([3], [1, 1]), wt.zeros([1, 1])), /^scatterAdd: index \[1,1\] holds .*for dim 0 of input \[3,4\]/);
    });
  });

  describe('oneHot', () => {
    it('encodes, inferring numClasses where the backend reads synchronously, and rejects bad indices', async () => {
      const idx = int([0, 2, 1, 2], [2, 2]);
      const want = [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 0, 1]]];
      expect(await wt.oneHot(idx, 3).array()).toEqual(want);
      if (kind === 'cpu') {
        const y = wt.oneHot(idx);
        expect(y.dtype).toBe('int32');
        expect(await y.array()).toEqual(want);
        expect(() => wt.oneHot(int([-1], [1]))).toThrow(wt.ArgumentError);
      } else {
        // inferring numClasses would stall the queue on a read
        expect(() => wt.oneHot(idx)).toThrow(/^oneHot: numClasses must be given on the webgpu backend/);
      }
      expect(wt.oneHot(int([1], [1]), 5).shape).toEqual([1, 5]);
      await expectIndexError(kind, () => wt.oneHot(int([3], [1]), 3), /^oneHot: indices \[1\] holds .*numClasses 3/);
      await expectIndexError(kind, () => wt.oneHot(int([-1], [1]), 3), /^oneHot: indices/);
      expect(() => wt.oneHot(wt.tensor([1]))).toThrow(wt.DTypeError);
    });
  });

  describe('padMode', () => {
    /** Reference for one trailing dim of a 2-D [R,W] array. */
    function refPad1(v: number[][], l: number, r: number, mode: string): number[][] {
      return v.map((row) => {
        const n = row.length;
        return Array.from({ length: n + l + r }, (_, k) => {
          const j = k - l;
          const s = mode === 'reflect' ? (j < 0 ? -j : j >= n ? 2 * (n - 1) - j : j) : mode === 'replicate' ? Math.min(Math.max(j, 0), n - 1) : ((j % n) + n) % n;
          return row[s];
        });
      });
    }
    const T = (m: number[][]) => m[0].map((_, j) => m.map((row) => row[j]));

    it('reflect / replicate / circular match the reference over one and two dims', async () => {
      const [x, v] = randomTensor([3, 5], 40);
      const rows = [0, 1, 2].map((r) => Array.from(v.slice(r * 5, r * 5 + 5)));
      for (const mode of ['reflect', 'replicate', 'circular'] as const) {
        expectClose((await wt.padMode(x, [2, 3], mode).array() as number[][]).flat(), refPad1(rows, 2, 3, mode).flat(), 0, 0, `${mode} 1-D`);
        const want = T(refPad1(T(refPad1(rows, 1, 4, mode)), 2, 1, mode)); // last dim (1, 4), then dim 0 (2, 1)
        const y = wt.padMode(x, [1, 4, 2, 1], mode);
        expect(y.shape).toEqual([6, 10]);
        expectClose((await y.array() as number[][]).flat(), want.flat(), 0, 0, `${mode} 2-D`);
      }
      expect(await wt.padMode(wt.tensor([[1, 2, 3]]), [2, 1], 'reflect').array()).toEqual([[3, 2, 1, 2, 3, 2]]);
      expect(await wt.padMode(wt.tensor([[1, 2]]), [1, 1], 'constant', 9).array()).toEqual([[9, 1, 2, 9]]);
    });

    it('gradients (gradcheck) and errors', async () => {
      for (const mode of ['reflect', 'replicate', 'circular'] as const) {
        await expect(gradcheck((x) => wt.padMode(x, [2, 1, 1, 1], mode), [wt.randn([1, 3, 3], { seed: 5 })])).resolves.toBe(true);
      }
      expect(() => wt.padMode(wt.zeros([2, 3]), [3, 0], 'reflect')).toThrow(/reflect padding \(3, 0\) of dim 1 must be less than its size 3 \(input \[2,3\]\)/);
      expect(() => wt.padMode(wt.zeros([2, 3]), [1], 'replicate')).toThrow(wt.ArgumentError);
      expect(() => wt.padMode(wt.zeros([2, 3]), [1, 1], 'wrap' as 'reflect')).toThrow(/unknown mode/);
    });
  });

  describe('routines never read or write out of bounds', () => {
    it('gather/indexSelect read 0, scatterAdd/indexAdd skip, crossEntropy gives NaN', async () => {
      // drive the backend's routines directly: the front end would reject these indices
      const be = wt.getBackend();
      const buf = (vals: number[], dtype: 'float32' | 'int32') => {
        const b = be.alloc(vals.length, dtype);
        be.write(b, vals);
        return { buf: b, dtype, shape: [vals.length], strides: [1], offset: 0 };
      };
      const run = (name: 'gather' | 'indexSelect' | 'scatterAdd' | 'indexAdd', ins: wt.View[], out: wt.View) =>
        be.dispatch(be.prepare({ kind: 'routine', name, config: { dim: 0 } }), ins, [out]);
      const x = buf([1, 2, 3], 'float32'), idx = buf([5, -1, 2], 'int32');
      const o1 = buf([9, 9, 9], 'float32');
      run('gather', [x, idx], o1);
      expect(Array.from(await be.read(o1.buf, 'float32'))).toEqual([0, 0, 3]);
      const o2 = buf([9, 9, 9], 'float32');
      run('indexSelect', [x, idx], o2);
      expect(Array.from(await be.read(o2.buf, 'float32'))).toEqual([0, 0, 3]);
      const o3 = buf([0, 0, 0], 'float32');
      run('scatterAdd', [idx, x], o3);
      expect(Array.from(await be.read(o3.buf, 'float32'))).toEqual([0, 0, 3]);
      const o4 = buf([0, 0, 0], 'float32');
      run('indexAdd', [idx, x], o4);
      expect(Array.from(await be.read(o4.buf, 'float32'))).toEqual([0, 0, 3]);
      const logits = { ...buf([0, 0, 0, 0], 'float32'), shape: [2, 2], strides: [2, 1] };
      const loss = buf([0, 0], 'float32');
      be.dispatch(be.prepare({ kind: 'routine', name: 'crossEntropy', config: { ignoreIndex: -100 } }), [logits, buf([7, 1], 'int32')], [loss]);
      const l = await be.read(loss.buf, 'float32');
      expect(Number.isNaN(l[0]) && Math.abs(l[1] - Math.LN2) < 1e-6).toBe(true);
    });
  });

  describe('int32 and bool data', () => {
    // words that a trip through an f32 register could change: denormal floats (small ints),
    // NaN patterns (a GPU may quiet or canonicalise them), and ints above 2^24
    const words = [0, 1, -1, 7, 16777217, 2139095041, 2143289344, 2147483647, -2147483648];
    const bools = [true, false, false, true, true, false, true, false, true];
    const n = words.length;
    const iv = randomIndex(2 * n + 1, n, 50);
    const asBool = (v: ArrayLike<number>) => Array.from(v, (b) => b !== 0);

    it('indexSelect, gather and embedding move int32 and bool words unchanged', async () => {
      const xi = wt.tensor(Int32Array.from(words), { dtype: 'int32' });
      const xb = wt.tensor(bools);
      const idx = int(iv, [iv.length]);
      const wantI = Array.from(iv, (k) => words[k]), wantB = Array.from(iv, (k) => bools[k]);
      const si = xi.indexSelect(0, idx), sb = xb.indexSelect(0, idx);
      expect([si.dtype, sb.dtype]).toEqual(['int32', 'bool']);
      expect(Array.from(await si.data())).toEqual(wantI);
      expect(await sb.array()).toEqual(wantB);
      expect(Array.from(await xi.gather(0, idx).data())).toEqual(wantI);
      expect(await xb.gather(0, idx).array()).toEqual(wantB);
      // 2-D, non-contiguous (a transposed view), along dim 1
      const m = xi.reshape([3, 3]).T; // m[i][j] = words[3j + i]
      const g = m.gather(1, int([2, 0, 1, 1, 1, 0], [3, 2]));
      expect(await g.array()).toEqual([[words[6], words[0]], [words[4], words[4]], [words[5], words[2]]]);
      const e = wt.embedding(int([2, 0, 2], [3]), xi.reshape([3, 3]));
      expect(await e.array()).toEqual([words.slice(6, 9), words.slice(0, 3), words.slice(6, 9)]);
      expect(await wt.embedding(int([1], [1]), xb.reshape([3, 3])).array()).toEqual([bools.slice(3, 6)]);
    });

    it('scatterAdd adds int32 exactly and or-s bool (as PyTorch)', async () => {
      const src = Int32Array.from({ length: iv.length }, (_, i) => (i % 2 ? -1 : 1) * (16777217 + i));
      const x0 = Int32Array.from({ length: n }, (_, i) => i * 1000);
      const want = Array.from(x0);
      iv.forEach((k, i) => (want[k] += src[i]));
      const y = wt.scatterAdd(int(x0, [n]), 0, int(iv, [iv.length]), int(src, [src.length]));
      expect(y.dtype).toBe('int32');
      expect(Array.from(await y.data())).toEqual(want);
      const b = wt.scatterAdd(wt.zeros([3], { dtype: 'bool' }), 0, int([0, 2, 0], [3]), wt.tensor([true, false, true]));
      expect(b.dtype).toBe('bool');
      expect(await b.array()).toEqual([true, false, false]);
      expect(await b.int().array()).toEqual([1, 0, 0]); // stored as 1, not 1 + 1
    });

    it('padMode reflect / replicate / circular keep int32 and bool values', async () => {
      const xi = int(words.slice(0, 6), [2, 3]);
      const xb = wt.tensor([bools.slice(0, 3), bools.slice(3, 6)]);
      const rows = [words.slice(0, 3), words.slice(3, 6)];
      const brows = [bools.slice(0, 3), bools.slice(3, 6)];
      const pick: Record<string, number[]> = { reflect: [2, 1, 0, 1, 2, 1], replicate: [0, 0, 0, 1, 2, 2], circular: [1, 2, 0, 1, 2, 0] };
      for (const mode of ['reflect', 'replicate', 'circular'] as const) {
        const yi = wt.padMode(xi, [2, 1], mode), yb = wt.padMode(xb, [2, 1], mode);
        expect(yi.dtype).toBe('int32');
        expect(await yi.array(), mode).toEqual(rows.map((r) => pick[mode].map((j) => r[j])));
        expect(await yb.array(), mode).toEqual(brows.map((r) => pick[mode].map((j) => r[j])));
      }
      expect(await wt.padMode(xi, [1, 1], 'constant', -5).array()).toEqual(rows.map((r) => [-5, ...r, -5]));
      expect(asBool(await wt.padMode(xb, [0, 1], 'constant').data())).toEqual([...brows[0], false, ...brows[1], false]);
    });
  });

  describe('memory', () => {
    it('forward and backward leave no tensors behind', async () => {
      const w = wt.randn([5, 3], { requiresGrad: true, seed: 1 });
      const ids = int([1, 2, 1], [3]);
      const before = wt.memory().tensors;
      for (let i = 0; i < 2; i++) {
        wt.tidy(() => {
          const loss = wt.crossEntropy(wt.layerNorm(wt.embedding(ids, w), 3).softmax(-1).gather(1, int([0, 1, 2], [3, 1])).mul(3).add(w.indexSelect(0, ids)), int([0, 1, 2], [3]));
          loss.backward();
        });
      }
      expect(wt.memory().tensors).toBe(before + 1); // w.grad
    });
  });
});
