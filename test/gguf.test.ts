/**
 * GGUF: the header, metadata of every value type, tensor infos and alignment, each block type
 * (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) decoded by decodeGgufTensor checked against a scalar
 * decoder written here from the specification (element by element), on random blocks and on the
 * committed writer's quantizations, the quantizers' round-trip error, and the malformed files.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { decodeGgufTensor, readGguf, type GgufTensorEntry } from '../src/io/gguf.js';
import type { ByteSource } from '../src/io/source.js';
import { T, TYPE_ID, encodeTensor, fromF16, writeGguf, type QType } from './fixtures/gguf_writer.js';

const mem = (b: Uint8Array): ByteSource => ({ size: b.length, read: async (s, e) => b.subarray(s, e), close: async () => {} });

/** a deterministic generator */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randn = (n: number, seed: number, scale = 1) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()));
};

// ---- the scalar decoder, from the specification: one element at a time ----
const BLOCK: Record<string, [number, number]> = { F32: [1, 4], F16: [1, 2], BF16: [1, 2], Q8_0: [32, 34], Q4_0: [32, 18], Q4_K: [256, 144], Q6_K: [256, 210] };
function specElement(type: string, blk: Uint8Array, i: number): number {
  const u16 = (o: number) => blk[o] | (blk[o + 1] << 8);
  const i8 = (o: number) => (blk[o] << 24) >> 24;
  switch (type) {
    case 'F32': return new DataView(blk.buffer, blk.byteOffset, 4).getFloat32(0, true);
    case 'F16': return fromF16(u16(0));
    case 'BF16': return new DataView(new Uint32Array([u16(0) << 16]).buffer).getFloat32(0, true);
    case 'Q8_0': return fromF16(u16(0)) * i8(2 + i);
    case 'Q4_0': {
      // elements 0..15: low nibbles of qs[0..15]; 16..31: high nibbles
      const byte = blk[2 + (i % 16)];
      const q = i < 16 ? byte & 0x0f : byte >> 4;
      return (q - 8) * fromF16(u16(0));
    }
    case 'Q4_K': {
      const d = fromF16(u16(0)), dmin = fromF16(u16(2)), s = Math.floor(i / 32), l = i % 32;
      const sc = (k: number) => blk[4 + k];
      let scale: number, min: number;
      if (s < 4) {
        scale = sc(s) & 63;
        min = sc(s + 4) & 63;
      } else {
        scale = (sc(s + 4) & 0x0f) + 16 * (sc(s - 4) >> 6);
        min = (sc(s + 4) >> 4) + 16 * (sc(s) >> 6);
      }
      // 64 elements share 32 bytes of qs: the first 32 in low nibbles, the next 32 in high
      const byte = blk[16 + 32 * Math.floor(s / 2) + l];
      const q = s % 2 === 0 ? byte & 0x0f : byte >> 4;
      return d * scale * q - dmin * min;
    }
    case 'Q6_K': {
      const d = fromF16(u16(208));
      const half = Math.floor(i / 128), r = i % 128, quarter = Math.floor(r / 32), l = r % 32;
      const qlByte = blk[64 * half + l + (quarter % 2 === 1 ? 32 : 0)];
      const low = quarter < 2 ? qlByte & 0x0f : qlByte >> 4;
      const high = (blk[128 + 32 * half + l] >> (2 * quarter)) & 3;
      const scale = i8(192 + Math.floor(i / 16));
      return d * scale * (low + 16 * high - 32);
    }
  }
  throw new Error(type);
}
function specDecode(type: string, bytes: Uint8Array, n: number): Float32Array {
  const [elems, size] = BLOCK[type];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / elems);
    out[i] = specElement(type, bytes.subarray(b * size, (b + 1) * size), i % elems);
  }
  return out;
}

function expectSame(got: Float32Array, want: Float32Array, what: string) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    const a = got[i], b = want[i];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (a === b) continue;
    // the order of the float products may differ by an ulp of float32
    if (Math.abs(a - b) <= 2e-7 * Math.max(Math.abs(a), Math.abs(b))) continue;
    expect.fail(`${what}: element ${i}: decodeGgufTensor ${a}, spec decoder ${b}`);
  }
}

const TYPES: QType[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'];
/** shapes: odd row counts, several blocks per row, a 1-D and a 3-D tensor */
const shapesFor = (elems: number): number[][] => [[elems], [3, elems], [5, 2 * elems], [3, 1, 3 * elems]].map((s) => s.map((d) => (d === 1 && elems === 1 ? 7 : d)));

async function roundTrip(tensors: { name: string; shape: number[]; type: QType; data: Float32Array; raw?: Uint8Array }[], opts: { alignment?: number } = {}) {
  const file = writeGguf({ tensors, metadata: { 'general.architecture': 'test' }, ...opts });
  const g = await readGguf(mem(file));
  return { file, g, values: g.tensors.map((e) => decodeGgufTensor(e, file.subarray(e.begin, e.end))) };
}

describe('gguf: blocks against the scalar decoder from the specification', () => {
  for (const type of TYPES) {
    it(`${type}: random block bytes, several shapes`, async () => {
      const [elems, size] = BLOCK[type];
      let seed = 1;
      for (const shape of shapesFor(elems)) {
        const n = shape.reduce((a, b) => a * b, 1);
        const raw = new Uint8Array((n / elems) * size);
        const r = rng(seed++);
        for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(r() * 256);
        // scales (half floats) kept finite so that the values are numbers
        if (type !== 'F32' && type !== 'F16' && type !== 'BF16') {
          const dAt = type === 'Q6_K' ? [208] : type === 'Q4_K' ? [0, 2] : [0];
          for (let b = 0; b < n / elems; b++) for (const o of dAt) raw[b * size + o + 1] &= 0x3b;
        }
        const { g, values } = await roundTrip([{ name: 'w', shape, type, data: new Float32Array(n), raw }]);
        expect(g.tensors[0].shape).toEqual(shape);
        expect(g.tensors[0].dims).toEqual([...shape].reverse());
        expectSame(values[0], specDecode(type, raw, n), `${type} ${JSON.stringify(shape)}`);
      }
    });
    it(`${type}: the writer's quantization decodes as the spec says, within its error bound`, async () => {
      const [elems] = BLOCK[type];
      const shape = [5, 2 * Math.max(elems, 32)];
      const n = shape[0] * shape[1];
      const x = randn(n, 7);
      const { file, g, values } = await roundTrip([{ name: 'w', shape, type, data: x }]);
      const e = g.tensors[0];
      expectSame(values[0], specDecode(type, file.subarray(e.begin, e.end), n), type);
      // relative RMS error of the round trip
      let num = 0, den = 0;
      for (let i = 0; i < n; i++) (num += (values[0][i] - x[i]) ** 2), (den += x[i] ** 2);
      const rel = Math.sqrt(num / den);
      console.log(`gguf quantizer ${type}: relative RMS error ${rel.toExponential(2)} on N(0, 1) data`);
      const bound = { F32: 0, F16: 1e-3, BF16: 5e-3, Q8_0: 0.01, Q4_0: 0.15, Q4_K: 0.12, Q6_K: 0.03 }[type];
      expect(rel, `${type} relative RMS error ${rel}`).toBeLessThanOrEqual(bound);
    });
  }
  it('the quantizers keep zeros and exact small grids exact', () => {
    for (const type of ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as QType[]) {
      const n = 256;
      const zeros = specDecode(type, encodeTensor(type, new Float32Array(n)), n);
      expect(zeros.every((v) => v === 0), type).toBe(true);
    }
  });
});

describe('gguf: header and metadata', () => {
  it('reads every metadata value type, arrays and strings, v2 and v3', async () => {
    for (const version of [2, 3]) {
      const metadata = {
        u8: { type: T.u8, value: 250 }, i8: { type: T.i8, value: -100 }, u16: { type: T.u16, value: 65000 }, i16: { type: T.i16, value: -30000 },
        u32: { type: T.u32, value: 4e9 }, i32: { type: T.i32, value: -2e9 }, f32: { type: T.f32, value: 0.5 }, f64: { type: T.f64, value: Math.PI },
        bool: { type: T.bool, value: true }, str: 'héllo wörld', u64: { type: T.u64, value: 2n ** 60n }, i64: { type: T.i64, value: -5 },
        strs: ['a', '', 'ünï'], ints: { type: T.arr, itemType: T.i32, value: [1, -2, 3] }, floats: { type: T.arr, itemType: T.f32, value: [0.25, -1] },
        nested: { type: T.arr, itemType: T.arr, value: [[1, 2], [3]] }, empty: { type: T.arr, itemType: T.str, value: [] },
      };
      const file = writeGguf({ version, metadata, tensors: [{ name: 'x', shape: [2], type: 'F32', data: new Float32Array([1, 2]) }] });
      const g = await readGguf(mem(file));
      expect(g.version).toBe(version);
      const m = Object.fromEntries(g.metadata);
      expect(m).toEqual({ u8: 250, i8: -100, u16: 65000, i16: -30000, u32: 4e9, i32: -2e9, f32: 0.5, f64: Math.PI, bool: true, str: 'héllo wörld', u64: 2n ** 60n, i64: -5, strs: ['a', '', 'ünï'], ints: [1, -2, 3], floats: [0.25, -1], nested: [[1, 2], [3]], empty: [] });
      expect(g.metadataTypes.get('ints')).toEqual({ type: T.arr, itemType: T.i32 });
      expect(g.metadataTypes.get('u8')).toEqual({ type: T.u8 });
    }
  });
  it('aligns the data section and each tensor to general.alignment (default 32)', async () => {
    for (const alignment of [undefined, 64, 8]) {
      const tensors = [
        { name: 'a', shape: [3], type: 'F32' as QType, data: new Float32Array([1, 2, 3]) },
        { name: 'b', shape: [2, 32], type: 'Q8_0' as QType, data: randn(64, 3) },
        { name: 'c', shape: [5], type: 'F16' as QType, data: new Float32Array([1, 2, 3, 4, 5]) },
      ];
      const { g, values } = await roundTrip(tensors, alignment ? { alignment } : {});
      const al = alignment ?? 32;
      expect(g.alignment).toBe(al);
      expect(g.dataStart % al).toBe(0);
      for (const e of g.tensors) expect((e.begin - g.dataStart) % al).toBe(0);
      expect([...values[0]]).toEqual([1, 2, 3]);
      expect([...values[2]]).toEqual([1, 2, 3, 4, 5]);
    }
  });
});

describe('gguf: malformed files are FormatErrors that say what is wrong', () => {
  const good = () => writeGguf({ metadata: { 'general.architecture': 'x' }, tensors: [{ name: 'blk.0.w', shape: [2, 32], type: 'Q8_0', data: randn(64, 1) }] });
  const err = async (b: Uint8Array) => {
    const e = await readGguf(mem(b)).then(() => null, (x: Error) => x);
    expect(e).toBeInstanceOf(wt.FormatError);
    return e!.message;
  };
  it('bad magic, unsupported version', async () => {
    const b = good();
    b[0] = 0x47 + 1;
    expect(await err(b)).toMatch(/readGguf: bad magic .*not a GGUF file/);
    const v = good();
    v[4] = 1;
    expect(await err(v)).toMatch(/GGUF version 1 is not supported/);
    const be = good();
    be.set([0, 0, 0, 3], 4);
    expect(await err(be)).toMatch(/big-endian/);
  });
  it('truncated header and truncated data', async () => {
    const b = good();
    expect(await err(b.subarray(0, 30))).toMatch(/truncated/);
    expect(await err(b.subarray(0, 60))).toMatch(/the file ends .* inside .*truncated/);
    const e = await err(b.subarray(0, b.length - 40));
    expect(e).toMatch(/tensor "blk\.0\.w" \(Q8_0.*truncated/);
  });
  it('misaligned offsets', async () => {
    const b = writeGguf({ tensors: [{ name: 'a', shape: [1], type: 'F32', data: new Float32Array([1]) }, { name: 'b', shape: [1], type: 'F32', data: new Float32Array([1]) }] });
    // the second tensor's offset (the last u64 of its info) is 32: make it 4
    const g = await readGguf(mem(b));
    const dv = new DataView(b.buffer);
    let pos = -1;
    for (let i = g.dataStart - 8; i > 0; i--) if (dv.getBigUint64(i, true) === 32n) { pos = i; break; }
    dv.setBigUint64(pos, 4n, true);
    expect(await err(b)).toMatch(/tensor "b" starts at data offset 4, not a multiple of the alignment 32/);
  });
  it('an unsupported type is named by decodeGgufTensor; a wrong byte count too', async () => {
    const b = writeGguf({ tensors: [{ name: 'q', shape: [2, 32], type: 'Q8_0', typeId: 3, data: new Float32Array(64), raw: new Uint8Array(40) }] });
    const g = await readGguf(mem(b));
    expect(g.tensors[0].type).toBe('Q4_1');
    expect(() => decodeGgufTensor(g.tensors[0], new Uint8Array(40))).toThrow(/decodeGgufTensor: tensor "q" has type Q4_1 \(ggml type id 3\), which is not supported/);
    const e: GgufTensorEntry = { ...g.tensors[0], type: 'Q8_0', typeId: TYPE_ID.Q8_0 };
    expect(() => decodeGgufTensor(e, new Uint8Array(40))).toThrow(/tensor "q" \(Q8_0, 64 elements\) needs 68 bytes, got 40/);
  });
  it('a row not a multiple of the block size', async () => {
    const b = writeGguf({ tensors: [{ name: 'r', shape: [2, 16], type: 'Q8_0', data: new Float32Array(32), raw: new Uint8Array(34) }] });
    expect(await err(b)).toMatch(/tensor "r" is Q8_0 with a row of 16 elements, not a multiple of its block size 32/);
  });
});
