/**
 * GGUF files (llama.cpp / ggml): the header, metadata of every GGUF value type, tensor infos,
 * alignment, and the tensor data of F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K (the types a
 * Q4_K_M file holds), decoded to float32.
 *
 * Layout (GGUF v2/v3, little-endian): "GGUF" magic, u32 version, u64 tensor count, u64 metadata
 * count; metadata key/value pairs (string key, u32 value type, value); tensor infos (string name,
 * u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset relative to the data section); padding
 * to `general.alignment` (default 32); the data section, each tensor at an aligned offset.
 *
 * Shapes: GGUF lists dims innermost-first (ne[0] is the contiguous axis), so the row-major shape
 * is the reverse: dims [in, out] of a matmul weight are shape [out, in], as PyTorch stores it.
 * Quantized blocks run along ne[0], the last axis of the row-major shape.
 *
 * At load, this first version converts every type to float32 once (decodeGgufTensor): F16/BF16
 * are widened, Q8_0/Q4_0/Q4_K/Q6_K dequantized. Keeping quantized weights on the device waits
 * for quantized matmul kernels.
 */
import { ArgumentError, FormatError } from '../errors.js';
import { bf16ToF32, f16ToF32 } from './float16.js';
import type { ByteSource } from './source.js';

/** GGUF metadata value types. */
export const GGUF_VALUE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;

/** ggml tensor type ids by name (the ones GGUF files use). */
export const GGML_TYPE: Record<string, number> = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9, Q2_K: 10, Q3_K: 11,
  Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15, IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19,
  IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23, I8: 24, I16: 25, I32: 26, I64: 27, F64: 28,
  IQ1_M: 29, BF16: 30, TQ1_0: 34, TQ2_0: 35,
};
const TYPE_NAME = new Map(Object.entries(GGML_TYPE).map(([k, v]) => [v, k]));
/** The name of a ggml type id ('Q4_K'), or 'type N' for an unknown id. */
export const ggmlTypeName = (id: number): string => TYPE_NAME.get(id) ?? `type ${id}`;

/** Elements per block and bytes per block of the types this reader decodes. */
export const GGML_BLOCK: Record<string, { elems: number; bytes: number }> = {
  F32: { elems: 1, bytes: 4 },
  F16: { elems: 1, bytes: 2 },
  BF16: { elems: 1, bytes: 2 },
  Q8_0: { elems: 32, bytes: 34 },
  Q4_0: { elems: 32, bytes: 18 },
  Q4_K: { elems: 256, bytes: 144 },
  Q6_K: { elems: 256, bytes: 210 },
};

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorEntry {
  name: string;
  /** dims as the file lists them, innermost first (ne[0] contiguous) */
  dims: number[];
  /** row-major shape: dims reversed */
  shape: number[];
  /** ggml type name ('F32', 'Q4_K', ...) */
  type: string;
  typeId: number;
  /** absolute byte range in the file */
  begin: number;
  end: number;
}

export interface GgufFile {
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  /** metadata value types by key (GGUF_VALUE; arrays: their element type as well) */
  metadataTypes: Map<string, { type: number; itemType?: number }>;
  tensors: GgufTensorEntry[];
  /** absolute offset of the data section */
  dataStart: number;
}

const MAGIC = 0x46554747; // "GGUF" little-endian
/** Largest metadata+infos region read (a real model's vocabulary is a few MB). */
const MAX_HEADER_BYTES = 256 << 20;

/** A cursor over the header, reading more of the source as it goes. */
class Reader {
  private buf = new Uint8Array(0);
  private dv = new DataView(this.buf.buffer);
  pos = 0;
  /** the element type of the last top-level array read */
  lastItemType: number | undefined;
  get fileSize(): number {
    return this.src.size;
  }
  private readonly dec = new TextDecoder('utf-8', { fatal: true });
  constructor(private readonly op: string, private readonly src: ByteSource) {}
  /** ensures [pos, pos+n) is buffered */
  async need(n: number, what: string): Promise<void> {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos + n > this.src.size) throw new FormatError(`${this.op}: the file ends (${this.src.size} bytes) inside ${what} at byte ${this.pos}; it is truncated`);
    if (this.pos + n > MAX_HEADER_BYTES) throw new FormatError(`${this.op}: the header runs past ${MAX_HEADER_BYTES} bytes at ${what}; refusing to read more`);
    const want = Math.min(this.src.size, Math.max(this.pos + n, this.buf.length * 2, 1 << 16));
    const more = await this.src.read(this.buf.length, want);
    const next = new Uint8Array(want);
    next.set(this.buf);
    next.set(more, this.buf.length);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  async u8(w: string) { await this.need(1, w); return this.dv.getUint8(this.pos++); }
  async i8(w: string) { await this.need(1, w); return this.dv.getInt8(this.pos++); }
  async u16(w: string) { await this.need(2, w); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  async i16(w: string) { await this.need(2, w); const v = this.dv.getInt16(this.pos, true); this.pos += 2; return v; }
  async u32(w: string) { await this.need(4, w); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  async i32(w: string) { await this.need(4, w); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  async f32(w: string) { await this.need(4, w); const v = this.dv.getFloat32(this.pos, true); this.pos += 4; return v; }
  async f64(w: string) { await this.need(8, w); const v = this.dv.getFloat64(this.pos, true); this.pos += 8; return v; }
  async u64big(w: string) { await this.need(8, w); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  async i64big(w: string) { await this.need(8, w); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return v; }
  /** a u64 that must fit a JS number (counts, sizes, offsets) */
  async size(w: string): Promise<number> {
    const v = await this.u64big(w);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`${this.op}: ${w} is ${v}, too large`);
    return Number(v);
  }
  async str(w: string): Promise<string> {
    const n = await this.size(`the length of ${w}`);
    if (n > this.src.size) throw new FormatError(`${this.op}: ${w} claims ${n} bytes, more than the file's ${this.src.size}; it is truncated or corrupt`);
    await this.need(n, w);
    try {
      return this.dec.decode(this.buf.subarray(this.pos, (this.pos += n)));
    } catch {
      throw new FormatError(`${this.op}: ${w} is not valid UTF-8`);
    }
  }
}

const VALUE_NAMES = Object.fromEntries(Object.entries(GGUF_VALUE).map(([k, v]) => [v, k])) as Record<number, string>;

async function readValue(r: Reader, op: string, type: number, what: string, depth = 0): Promise<GgufValue> {
  switch (type) {
    case GGUF_VALUE.UINT8: return r.u8(what);
    case GGUF_VALUE.INT8: return r.i8(what);
    case GGUF_VALUE.UINT16: return r.u16(what);
    case GGUF_VALUE.INT16: return r.i16(what);
    case GGUF_VALUE.UINT32: return r.u32(what);
    case GGUF_VALUE.INT32: return r.i32(what);
    case GGUF_VALUE.FLOAT32: return r.f32(what);
    case GGUF_VALUE.FLOAT64: return r.f64(what);
    case GGUF_VALUE.BOOL: {
      const b = await r.u8(what);
      if (b > 1) throw new FormatError(`${op}: ${what} is a bool stored as ${b} (expected 0 or 1)`);
      return b === 1;
    }
    case GGUF_VALUE.STRING: return r.str(what);
    case GGUF_VALUE.UINT64: { const v = await r.u64big(what); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case GGUF_VALUE.INT64: { const v = await r.i64big(what); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case GGUF_VALUE.ARRAY: {
      if (depth > 8) throw new FormatError(`${op}: ${what} nests arrays more than 8 deep`);
      const itemType = await r.u32(`the element type of ${what}`);
      const n = await r.size(`the length of ${what}`);
      // every element takes at least one byte: a count past the file is corrupt
      if (n > r.fileSize) throw new FormatError(`${op}: ${what} claims ${n} elements, more than the ${r.fileSize}-byte file can hold`);
      if (depth === 0) r.lastItemType = itemType;
      const out: GgufValue[] = [];
      for (let i = 0; i < n; i++) out.push(await readValue(r, op, itemType, `${what}[${i}]`, depth + 1));
      return out;
    }
    default:
      throw new FormatError(`${op}: ${what} has unknown value type ${type} (GGUF defines 0..12)`);
  }
}

/**
 * Reads a GGUF file's header: metadata and tensor infos, checked (magic, version 2 or 3,
 * alignment, every tensor's offset aligned and its data inside the file). No tensor data is read.
 */
export async function readGguf(source: ByteSource, op = 'readGguf'): Promise<GgufFile> {
  const r = new Reader(op, source);
  if (source.size < 4) throw new FormatError(`${op}: the file is ${source.size} bytes, too short for a GGUF header`);
  const magic = await r.u32('the magic');
  if (magic !== MAGIC) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, magic, true);
    throw new FormatError(`${op}: bad magic ${JSON.stringify(String.fromCharCode(...b))} (0x${magic.toString(16).padStart(8, '0')}); expected "GGUF": not a GGUF file`);
  }
  const version = await r.u32('the version');
  if (version === 0x02000000 || version === 0x03000000) throw new FormatError(`${op}: this GGUF file is big-endian (version ${version >>> 24} byte-swapped); only little-endian GGUF is supported`);
  if (version !== 2 && version !== 3) throw new FormatError(`${op}: GGUF version ${version} is not supported (versions 2 and 3 are)`);
  const tensorCount = await r.size('the tensor count');
  const kvCount = await r.size('the metadata count');
  // each key/value takes at least 12 bytes, each tensor info at least 24: counts beyond the file are corrupt
  if (kvCount * 12 + tensorCount * 24 > source.size) throw new FormatError(`${op}: the header claims ${tensorCount} tensors and ${kvCount} metadata entries, more than the ${source.size}-byte file can hold (truncated or corrupt)`);
  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, { type: number; itemType?: number }>();
  for (let i = 0; i < kvCount; i++) {
    const key = await r.str(`metadata key ${i}`);
    const type = await r.u32(`the value type of metadata "${key}"`);
    if (metadata.has(key)) throw new FormatError(`${op}: metadata key "${key}" appears twice`);
    const value = await readValue(r, op, type, `metadata "${key}"`);
    metadata.set(key, value);
    metadataTypes.set(key, type === GGUF_VALUE.ARRAY ? { type, itemType: r.lastItemType! } : { type });
  }
  let alignment = 32;
  if (metadata.has('general.alignment')) {
    const a = metadata.get('general.alignment');
    if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
      throw new FormatError(`${op}: general.alignment is ${String(a)}; it must be a positive power of two`);
    }
    alignment = a;
  }
  const infos: { name: string; dims: number[]; typeId: number; offset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await r.str(`the name of tensor ${i}`);
    if (names.has(name)) throw new FormatError(`${op}: tensor "${name}" appears twice`);
    names.add(name);
    const nd = await r.u32(`the dimension count of tensor "${name}"`);
    if (nd > 8) throw new FormatError(`${op}: tensor "${name}" has ${nd} dimensions (at most 8 are allowed)`);
    const dims: number[] = [];
    for (let d = 0; d < nd; d++) dims.push(await r.size(`dimension ${d} of tensor "${name}"`));
    const typeId = await r.u32(`the type of tensor "${name}"`);
    const offset = await r.size(`the offset of tensor "${name}"`);
    infos.push({ name, dims, typeId, offset });
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const tensors: GgufTensorEntry[] = [];
  for (const { name, dims, typeId, offset } of infos) {
    const type = ggmlTypeName(typeId);
    if (offset % alignment !== 0) throw new FormatError(`${op}: tensor "${name}" starts at data offset ${offset}, not a multiple of the alignment ${alignment} (misaligned)`);
    const n = dims.reduce((a, b) => a * b, 1);
    const block = GGML_BLOCK[type];
    let bytes = NaN;
    if (block) {
      if ((dims[0] ?? 1) % block.elems !== 0) throw new FormatError(`${op}: tensor "${name}" is ${type} with a row of ${dims[0] ?? 1} elements, not a multiple of its block size ${block.elems}`);
      bytes = (n / block.elems) * block.bytes;
    }
    const begin = dataStart + offset;
    // sizes of types this reader does not decode are unknown here: decodeGgufTensor names the type
    const end = Number.isFinite(bytes) ? begin + bytes : begin;
    if (end > source.size) throw new FormatError(`${op}: tensor "${name}" (${type}, dims [${dims.join(', ')}]) needs bytes ${begin}..${end} but the file is ${source.size} bytes; it is truncated`);
    tensors.push({ name, dims, shape: [...dims].reverse(), type, typeId, begin, end });
  }
  return { version, alignment, metadata, metadataTypes, tensors, dataStart };
}

/** Bytes of a tensor's data (its type's block size times its block count); throws for types not decoded. */
export function ggufTensorBytes(entry: GgufTensorEntry, op = 'ggufTensorBytes'): number {
  const block = GGML_BLOCK[entry.type];
  if (!block) throw unsupported(op, entry);
  const n = entry.dims.reduce((a, b) => a * b, 1);
  return (n / block.elems) * block.bytes;
}

function unsupported(op: string, e: GgufTensorEntry): Error {
  return new FormatError(`${op}: tensor "${e.name}" has type ${e.type} (ggml type id ${e.typeId}), which is not supported; supported: ${Object.keys(GGML_BLOCK).join(', ')}`);
}

/**
 * A tensor's values as float32 (row-major, shape `entry.shape`), from its data bytes
 * (bytes[entry.begin, entry.end) of the file). F16 and BF16 are widened; Q8_0, Q4_0, Q4_K and
 * Q6_K are dequantized.
 */
export function decodeGgufTensor(entry: GgufTensorEntry, bytes: Uint8Array, op = 'decodeGgufTensor'): Float32Array {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${op}: bytes must be a Uint8Array`);
  const block = GGML_BLOCK[entry.type];
  if (!block) throw unsupported(op, entry);
  const n = entry.dims.reduce((a, b) => a * b, 1);
  const need = (n / block.elems) * block.bytes;
  if (bytes.length !== need) throw new FormatError(`${op}: tensor "${entry.name}" (${entry.type}, ${n} elements) needs ${need} bytes, got ${bytes.length}${bytes.length < need ? ' (truncated)' : ''}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  const nb = n / block.elems;
  switch (entry.type) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToF32(dv.getUint16(2 * i, true));
      break;
    case 'Q8_0':
      for (let b = 0; b < nb; b++) {
        const o = 34 * b, d = f16ToF32(dv.getUint16(o, true));
        for (let j = 0; j < 32; j++) out[32 * b + j] = d * dv.getInt8(o + 2 + j);
      }
      break;
    case 'Q4_0':
      for (let b = 0; b < nb; b++) {
        const o = 18 * b, d = f16ToF32(dv.getUint16(o, true));
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j];
          out[32 * b + j] = ((q & 15) - 8) * d;
          out[32 * b + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      break;
    case 'Q4_K':
      for (let b = 0; b < nb; b++) {
        const o = 144 * b, d = f16ToF32(dv.getUint16(o, true)), dmin = f16ToF32(dv.getUint16(o + 2, true));
        const sc = bytes.subarray(o + 4, o + 16), qs = bytes.subarray(o + 16, o + 144);
        for (let s = 0; s < 8; s++) {
          // sub-block s: 6-bit scale and min, packed
          const scale = s < 4 ? sc[s] & 63 : (sc[s + 4] & 15) | ((sc[s - 4] >> 6) << 4);
          const min = s < 4 ? sc[s + 4] & 63 : (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
          const ds = d * scale, dm = dmin * min;
          // sub-blocks 2k and 2k+1 share qs[32k .. 32k+32): low nibbles, then high
          const q = qs.subarray(32 * (s >> 1), 32 * (s >> 1) + 32), shift = (s & 1) * 4;
          for (let l = 0; l < 32; l++) out[256 * b + 32 * s + l] = ds * ((q[l] >> shift) & 15) - dm;
        }
      }
      break;
    case 'Q6_K':
      for (let b = 0; b < nb; b++) {
        const o = 210 * b, d = f16ToF32(dv.getUint16(o + 208, true));
        for (let h = 0; h < 2; h++) {
          // each half of 128: ql[64h ..], qh[32h ..], scales[8h ..]
          const ql = o + 64 * h, qh = o + 128 + 32 * h, scs = o + 192 + 8 * h;
          for (let l = 0; l < 32; l++) {
            const hi = bytes[qh + l];
            const q1 = ((bytes[ql + l] & 15) | ((hi & 3) << 4)) - 32;
            const q2 = ((bytes[ql + l + 32] & 15) | (((hi >> 2) & 3) << 4)) - 32;
            const q3 = ((bytes[ql + l] >> 4) | (((hi >> 4) & 3) << 4)) - 32;
            const q4 = ((bytes[ql + l + 32] >> 4) | (((hi >> 6) & 3) << 4)) - 32;
            const is = l >> 4, y = 256 * b + 128 * h + l;
            out[y] = d * dv.getInt8(scs + is) * q1;
            out[y + 32] = d * dv.getInt8(scs + is + 2) * q2;
            out[y + 64] = d * dv.getInt8(scs + is + 4) * q3;
            out[y + 96] = d * dv.getInt8(scs + is + 6) * q4;
          }
        }
      }
      break;
  }
  return out;
}

/** The value types' names (for messages). */
export const ggufValueTypeName = (t: number): string => VALUE_NAMES[t] ?? `type ${t}`;
