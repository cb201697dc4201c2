/**
 * Model files (safetensors): the byte layout, every dtype read and written, metadata, Node paths
 * and Blobs, optimizer checkpoints, a trained model that predicts identically after a round trip,
 * and one hand-built malformed file per failure mode (each a FormatError, no over-read, no hang).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { f16ToF32, f32ToF16, bf16ToF32 } from '../src/io/float16.js';
import { forEachBackend } from './backends.js';

/** A safetensors file from a header object and raw data bytes (the header is not validated). */
function file(header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLen ?? json.length, true);
  dv.setUint32(4, headerLen !== undefined ? Math.floor(headerLen / 2 ** 32) : 0, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function loadError(src: Uint8Array | Blob): Promise<Error> {
  const e = await wt.load(src).then(() => null, (x: Error) => x);
  expect(e, 'expected load to fail').toBeInstanceOf(wt.FormatError);
  return e!;
}

forEachBackend((kind) => {
  describe('safetensors: layout and dtypes', () => {
    it('writes the 8-byte length, a padded JSON header and contiguous little-endian data', async () => {
      const a = wt.tensor([[1, 2], [3, 4]]);
      const b = wt.tensor(new Int32Array([-7, 9]));
      const c = wt.tensor([true, false, true]);
      const bytes = await wt.save({ a, b, c }, { metadata: { format: 'pt', note: 'ünïcode' } });
      const n = new DataView(bytes.buffer).getUint32(0, true);
      expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(0);
      expect((8 + n) % 8).toBe(0);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
      expect(header).toEqual({
        __metadata__: { format: 'pt', note: 'ünïcode' },
        a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
        b: { dtype: 'I32', shape: [2], data_offsets: [16, 24] },
        c: { dtype: 'BOOL', shape: [3], data_offsets: [24, 27] },
      });
      expect(bytes.length).toBe(8 + n + 27);
      expect(Array.from(new Float32Array(bytes.slice(8 + n, 8 + n + 16).buffer))).toEqual([1, 2, 3, 4]);
      expect(Array.from(bytes.subarray(8 + n + 24))).toEqual([1, 0, 1]);
      const back = await wt.load(bytes);
      expect(await back.a.array()).toEqual([[1, 2], [3, 4]]);
      expect(back.b.dtype).toBe('int32');
      expect(Array.from(await back.b.data())).toEqual([-7, 9]);
      expect(await back.c.array()).toEqual([true, false, true]);
      expect(await wt.loadMetadata(bytes)).toEqual({ format: 'pt', note: 'ünïcode' });
      wt.dispose([a, b, c, back]);
    });

    it('round-trips 0-d, empty and non-contiguous tensors, NaN and infinities', async () => {
      const s = wt.tensor(3.5), e = wt.zeros([0, 4]);
      const base = wt.tidy(() => wt.arange(6).float().reshape(2, 3));
      const t = base.transpose(0, 1); // [3,2], strided
      const special = wt.tensor([NaN, Infinity, -Infinity, -0]);
      const back = await wt.load(await wt.save({ s, e, t, special }));
      expect(back.s.shape).toEqual([]);
      expect(await back.s.item()).toBe(3.5);
      expect(back.e.shape).toEqual([0, 4]);
      expect(await back.t.array()).toEqual([[0, 3], [1, 4], [2, 5]]);
      expect(Array.from(await back.special.data())).toEqual([NaN, Infinity, -Infinity, -0]);
      wt.dispose([s, e, base, t, special, back]);
    });

    it('F16: exact conversions, every half round-trips, float16 saving halves the size', async () => {
      expect([1, -2, 65504, 1e6, 0.1, 2 ** -24, 2 ** -25, 3 * 2 ** -25, -0].map(f32ToF16)).toEqual([0x3c00, 0xc000, 0x7bff, 0x7c00, 0x2e66, 0x0001, 0x0000, 0x0002, 0x8000]);
      expect(f32ToF16(NaN) & 0x7fff).toBeGreaterThan(0x7c00);
      for (let h = 0; h < 0x10000; h++) {
        const v = f16ToF32(h);
        if (!Number.isNaN(v)) expect(f32ToF16(v)).toBe(h);
      }
      expect(bf16ToF32(0x3f80)).toBe(1);
      const x = wt.tensor([0.1, 1, -3.25, 70000]);
      const full = await wt.save({ x });
      const half = await wt.save({ x }, { float16: true });
      expect(half.length).toBeLessThan(full.length);
      const back = await wt.load(half);
      expect(back.x.dtype).toBe('float32');
      expect(Array.from(await back.x.data())).toEqual([f16ToF32(0x2e66), 1, -3.25, Infinity]);
      wt.dispose([x, back]);
    });

    it('reads F64, BF16, I64 (in range), I16, I8 and U8 as written by other tools', async () => {
      const f64 = new Float64Array([1.5, -2]), bf16 = new Uint16Array([0x3f80, 0xc040]);
      const i64 = new BigInt64Array([5n, -3n, 2147483647n, -2147483648n]);
      const i16 = new Int16Array([-300, 300]), i8 = new Int8Array([-5, 7]), u8 = new Uint8Array([200, 1]);
      const parts = [bytesOf(f64), bytesOf(bf16), bytesOf(i64), bytesOf(i16), bytesOf(i8), u8];
      const names = ['f64', 'bf16', 'i64', 'i16', 'i8', 'u8'], dtypes = ['F64', 'BF16', 'I64', 'I16', 'I8', 'U8'];
      const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
      let off = 0;
      parts.forEach((p, i) => {
        header[names[i]] = { dtype: dtypes[i], shape: [p.length / [8, 2, 8, 2, 1, 1][i]], data_offsets: [off, off + p.length] };
        off += p.length;
      });
      const data = new Uint8Array(off);
      off = 0;
      for (const p of parts) { data.set(p, off); off += p.length; }
      const t = await wt.load(file(header, data));
      expect(Array.from(await t.f64.data())).toEqual([1.5, -2]);
      expect(Array.from(await t.bf16.data())).toEqual([1, -3]);
      expect(t.i64.dtype).toBe('int32');
      expect(Array.from(await t.i64.data())).toEqual([5, -3, 2147483647, -2147483648]);
      expect(Array.from(await t.i16.data())).toEqual([-300, 300]);
      expect(Array.from(await t.i8.data())).toEqual([-5, 7]);
      expect(Array.from(await t.u8.data())).toEqual([200, 1]);
      wt.dispose(t);
    });

    it('an I64 value outside the int32 range is a FormatError naming the tensor and value', async () => {
      const d = bytesOf(new BigInt64Array([1n, 2147483648n]));
      const before = wt.memory().tensors;
      const e = await loadError(file({ big: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, d));
      expect(e.message).toMatch(/"big".*2147483648.*index 1.*int32/);
      expect(wt.memory().tensors).toBe(before);
    });
  });

  describe('safetensors: sources', () => {
    it('saves to and loads from a Node path, and loads from a Blob and an ArrayBuffer', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wt-st-'));
      const path = join(dir, 'm.safetensors');
      const x = wt.randn([3, 5], { seed: 1 });
      const bytes = await wt.save({ x }, path, { metadata: { epoch: '2' } });
      expect(new Uint8Array(readFileSync(path))).toEqual(bytes);
      const want = Array.from(await x.data());
      for (const src of [path, new Blob([bytes]), bytes.slice().buffer]) {
        const t = await wt.load(src as string);
        expect(Array.from(await t.x.data())).toEqual(want);
        wt.dispose(t);
      }
      expect(await wt.loadMetadata(path)).toEqual({ epoch: '2' });
      await expect(wt.load(join(dir, 'missing.safetensors'))).rejects.toThrow(wt.ArgumentError);
      x.dispose();
    });

    it('rejects what is not a source, a state dict or a string metadata value', async () => {
      await expect(wt.load(42 as never)).rejects.toThrow(/load: expected bytes/);
      await expect(wt.load(null as never)).rejects.toThrow(wt.ArgumentError);
      await expect(wt.save(null as never)).rejects.toThrow(wt.ArgumentError);
      await expect(wt.save({ a: [1, 2] } as never)).rejects.toThrow(/"a" is not a tensor/);
      const x = wt.ones([1]);
      await expect(wt.save({ x }, { metadata: { n: 3 as never } })).rejects.toThrow(/metadata.n must be a string/);
      await expect(wt.save({ __metadata__: x })).rejects.toThrow(wt.ArgumentError);
      const d = wt.ones([1]);
      d.dispose();
      await expect(wt.save({ d })).rejects.toThrow(wt.DisposedError);
      x.dispose();
    });
  });

  describe('safetensors: malformed files throw FormatError', () => {
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const data8 = new Uint8Array(8);
    const cases: [string, () => Uint8Array, RegExp][] = [
      ['empty file', () => new Uint8Array(0), /0 bytes, too short/],
      ['truncated length', () => new Uint8Array([4, 0, 0]), /3 bytes, too short/],
      ['header length beyond the file', () => file(ok, data8, 5000), /header length 5000 goes beyond the end/],
      ['a huge header length', () => file(ok, data8, 2 ** 40), /exceeds the 100000000-byte limit/],
      ['header length 2^64-1', () => { const f = file(ok, data8); f.fill(0xff, 0, 8); return f; }, /exceeds/],
      ['header not JSON', () => file('{"a": nope}   '), /not valid UTF-8 JSON/],
      ['header not UTF-8', () => file(String.fromCharCode(0x7b, 0x22) + '\udc80"}'), /not valid UTF-8 JSON|not a JSON object/],
      ['header a JSON array', () => file('[1,2,3]'), /not a JSON object/],
      ['entry not an object', () => file({ a: 5 }), /"a" is not an object/],
      ['unknown dtype', () => file({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, data8), /unknown dtype "Q4"/],
      ['bad shape', () => file({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8), /invalid shape/],
      ['fractional shape', () => file({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, data8), /invalid shape/],
      ['too many dims', () => file({ a: { dtype: 'F32', shape: new Array(40).fill(1), data_offsets: [0, 4] } }, data8), /40 dims/],
      ['offsets reversed', () => file({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data8), /invalid data_offsets/],
      ['offsets missing', () => file({ a: { dtype: 'F32', shape: [2] } }, data8), /invalid data_offsets/],
      ['offsets out of range', () => file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data8), /run past the end of the data \(8 bytes/],
      ['truncated data', () => file(ok, new Uint8Array(5)), /run past the end/],
      ['byte count not matching the shape', () => file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8), /needs 12 bytes but data_offsets \[0,8\] hold 8/],
      ['a shape whose size overflows', () => file({ a: { dtype: 'F32', shape: [2 ** 52, 2 ** 52, 2 ** 52], data_offsets: [0, 8] } }, data8), /needs 3.65\d*e\+47 bytes but data_offsets \[0,8\] hold 8/],
      ['overlapping offsets', () => file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8), /"a" and "b" overlap/],
      ['metadata not strings', () => file({ __metadata__: { epoch: 3 }, ...ok }, data8), /__metadata__.epoch must be a string/],
    ];
    for (const [what, make, msg] of cases) {
      it(what, async () => {
        const e = await loadError(make());
        expect(e.message).toMatch(/^load: malformed safetensors file: /);
        expect(e.message).toMatch(msg);
      });
    }

    it('a Blob with a bogus header is rejected after reading only the first 8 bytes', async () => {
      const reads: [number, number][] = [];
      const f = file(ok, data8, 2 ** 40);
      const blob = new Blob([f]);
      const spy = new Proxy(blob, {
        get(target, key) {
          if (key === 'slice') return (b: number, e: number) => { reads.push([b, e]); return target.slice(b, e); };
          const v = Reflect.get(target, key, target);
          return typeof v === 'function' ? v.bind(target) : v;
        },
        getPrototypeOf: () => Blob.prototype,
      });
      await loadError(spy as Blob);
      expect(reads).toEqual([[0, 8]]);
    });

    it('a failure part-way frees the tensors already loaded', async () => {
      const d = new Uint8Array(24);
      new DataView(d.buffer).setInt32(12, 1); // the I64 at bytes 8..16 has a high word of 2^24
      const before = wt.memory().tensors;
      await loadError(file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I64', shape: [2], data_offsets: [8, 24] } }, d));
      expect(wt.memory().tensors).toBe(before);
    });
  });

  describe('safetensors: checkpoints', () => {
    class Net extends wt.nn.Module {
      fc1 = new wt.nn.Linear(4, 8);
      bn = new wt.nn.BatchNorm1d(8);
      fc2 = new wt.nn.Linear(8, 3);
      forward(x: wt.Tensor): wt.Tensor {
        return this.fc2.forward(this.bn.forward(this.fc1.forward(x)).relu());
      }
    }
    const x = () => wt.randn([16, 4], { seed: 7 });
    const y = () => wt.randint(0, 3, [16], { seed: 8 });

    function trainSteps(model: Net, opt: wt.optim.Optimizer, n: number, xs: wt.Tensor, ys: wt.Tensor): void {
      for (let i = 0; i < n; i++) {
        wt.tidy(() => {
          opt.zeroGrad();
          wt.F.crossEntropy(model.forward(xs) as wt.Tensor, ys).backward();
          opt.step();
        });
      }
    }

    it('a model trained, saved and loaded gives identical predictions', async () => {
      wt.manualSeed(1);
      const a = new Net(), xs = x(), ys = y();
      const opt = new wt.optim.Adam(a.parameters(), { lr: 0.05 });
      trainSteps(a, opt, 20, xs, ys);
      a.eval();
      const bytes = await wt.save(a.stateDict(), { metadata: { steps: '20' } });
      wt.manualSeed(99);
      const b = new Net().eval();
      const sd = await wt.load(bytes);
      expect(Object.keys(sd).sort()).toEqual(Object.keys(a.stateDict()).sort());
      b.loadStateDict(sd);
      wt.dispose(sd);
      const pa = wt.noGrad(() => a.forward(xs)), pb = wt.noGrad(() => b.forward(xs));
      expect(Array.from(await pb.data())).toEqual(Array.from(await pa.data()));
      wt.dispose([pa, pb, xs, ys]);
      a.dispose(); b.dispose(); opt.dispose();
    });

    it('an optimizer checkpoint restores state and hyperparameters: training continues identically', async () => {
      wt.manualSeed(2);
      const a = new Net(), xs = x(), ys = y();
      const optA = new wt.optim.Adam(a.parameters(), { lr: 0.03, betas: [0.8, 0.99] });
      trainSteps(a, optA, 5, xs, ys);
      const modelBytes = await wt.save(a.stateDict());
      const optBytes = await wt.save(optA.stateDict());
      expect((await wt.loadMetadata(optBytes))['webtensor.optimizer']).toMatch(/"betas":\[0.8,0.99\]/);

      wt.manualSeed(50);
      const b = new Net();
      const sd = await wt.load(modelBytes);
      b.loadStateDict(sd);
      const optB = new wt.optim.Adam(b.parameters(), { lr: 1 });
      const os = await wt.loadOptimizerState(optBytes);
      optB.loadStateDict(os);
      wt.dispose([sd, Object.values(os.state).map((s) => s.tensors)]);
      expect(optB.lr).toBe(0.03);
      expect(optB.paramGroups[0].betas).toEqual([0.8, 0.99]);

      trainSteps(a, optA, 3, xs, ys);
      trainSteps(b, optB, 3, xs, ys);
      const pa = a.parameters(), pb = b.parameters();
      for (let i = 0; i < pa.length; i++) expect(Array.from(await pb[i].data())).toEqual(Array.from(await pa[i].data()));
      await expect(wt.loadOptimizerState(modelBytes)).rejects.toThrow(wt.FormatError);
      wt.dispose([xs, ys]);
      a.dispose(); b.dispose(); optA.dispose(); optB.dispose();
    });
  });
});
