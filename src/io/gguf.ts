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
 * decodeGgufTensor converts any of these types to float32 (F16/BF16 widened, Q8_0/Q4_0/Q4_K/Q6_K
 * dequantized); repackGgufTensor keeps a quantized matrix's codes, in the quantized matmul's
 * layout (src/lm/gguf.ts uses it for Linear layers).
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

/** Thrown by the synchronous reads when the buffered header ends before `upTo`: the caller reads more and retries. */
class NeedMore {
  constructor(readonly upTo: number) {}
}

/**
 * A cursor over the header. Values are read synchronously from a buffer that grows in large
 * chunks (1 MiB, then growing fourfold): {@link Reader.parse} runs a whole metadata entry or tensor
 * info, and when the buffer ends inside it reads more and runs it again from its start, so a
 * 150k-string vocabulary costs a few reads, not an await per value.
 */
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
  /** runs `f` (synchronous reads) from the current position, buffering more and rerunning it as long as the buffer ends inside it */
  async parse<T>(f: () => T): Promise<T> {
    const start = this.pos;
    for (;;) {
      try {
        return f();
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        this.pos = start;
        await this.fill(e.upTo);
      }
    }
  }
  private async fill(upTo: number): Promise<void> {
    const want = Math.min(this.src.size, MAX_HEADER_BYTES, Math.max(upTo, this.buf.length * 4, 1 << 20));
    const more = await this.src.read(this.buf.length, want);
    const next = new Uint8Array(want);
    next.set(this.buf);
    next.set(more, this.buf.length);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  /** checks that [pos, pos+n) is buffered (NeedMore if not yet) and inside the file */
  need(n: number, what: string): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos + n > this.src.size) throw new FormatError(`${this.op}: the file ends (${this.src.size} bytes) inside ${what} at byte ${this.pos}; it is truncated`);
    if (this.pos + n > MAX_HEADER_BYTES) throw new FormatError(`${this.op}: the header runs past ${MAX_HEADER_BYTES} bytes at ${what}; refusing to read more`);
    throw new NeedMore(this.pos + n);
  }
  u8(w: string) { this.need(1, w); return this.dv.getUint8(this.pos++); }
  i8(w: string) { this.need(1, w); return this.dv.getInt8(this.pos++); }
  u16(w: string) { this.need(2, w); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  i16(w: string) { this.need(2, w); const v = this.dv.getInt16(this.pos, true); this.pos += 2; return v; }
  u32(w: string) { this.need(4, w); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  i32(w: string) { this.need(4, w); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  f32(w: string) { this.need(4, w); const v = this.dv.getFloat32(this.pos, true); this.pos += 4; return v; }
  f64(w: string) { this.need(8, w); const v = this.dv.getFloat64(this.pos, true); this.pos += 8; return v; }
  u64big(w: string) { this.need(8, w); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  i64big(w: string) { this.need(8, w); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return v; }
  /** a u64 that must fit a JS number (counts, sizes, offsets) */
  size(w: string): number {
    const v = this.u64big(w);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`${this.op}: ${w} is ${v}, too large`);
    return Number(v);
  }
  str(w: string): string {
    const n = this.size(`the length of ${w}`);
    if (n > this.src.size) throw new FormatError(`${this.op}: ${w} claims ${n} bytes, more than the file's ${this.src.size}; it is truncated or corrupt`);
    this.need(n, w);
    try {
      return this.dec.decode(this.buf.subarray(this.pos, (this.pos += n)));
    } catch {
      throw new FormatError(`${this.op}: ${w} is not valid UTF-8`);
    }
  }
}

const VALUE_NAMES = Object.fromEntries(Object.entries(GGUF_VALUE).map(([k, v]) => [v, k])) as Record<number, string>;

function readValue(r: Reader, op: string, type: number, what: string, depth = 0): GgufValue {
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
      const b = r.u8(what);
      if (b > 1) throw new FormatError(`${op}: ${what} is a bool stored as ${b} (expected 0 or 1)`);
      return b === 1;
    }
    case GGUF_VALUE.STRING: return r.str(what);
    case GGUF_VALUE.UINT64: { const v = r.u64big(what); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case GGUF_VALUE.INT64: { const v = r.i64big(what); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case GGUF_VALUE.ARRAY: {
      if (depth > 8) throw new FormatError(`${op}: ${what} nests arrays more than 8 deep`);
      const itemType = r.u32(`the element type of ${what}`);
      const n = r.size(`the length of ${what}`);
      // every element takes at least one byte: a count past the file is corrupt
      if (n > r.fileSize) throw new FormatError(`${op}: ${what} claims ${n} elements, more than the ${r.fileSize}-byte file can hold`);
      if (depth === 0) r.lastItemType = itemType;
      const out: GgufValue[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(r, op, itemType, `${what}[${i}]`, depth + 1));
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
  const magic = await r.parse(() => r.u32('the magic'));
  if (magic !== MAGIC) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, magic, true);
    throw new FormatError(`${op}: bad magic ${JSON.stringify(String.fromCharCode(...b))} (0x${magic.toString(16).padStart(8, '0')}); expected "GGUF": not a GGUF file`);
  }
  const version = await r.parse(() => r.u32('the version'));
  if (version === 0x02000000 || version === 0x03000000) throw new FormatError(`${op}: this GGUF file is big-endian (version ${version >>> 24} byte-swapped); only little-endian GGUF is supported`);
  if (version !== 2 && version !== 3) throw new FormatError(`${op}: GGUF version ${version} is not supported (versions 2 and 3 are)`);
  const [tensorCount, kvCount] = await r.parse(() => [r.size('the tensor count'), r.size('the metadata count')]);
  // each key/value takes at least 12 bytes, each tensor info at least 24: counts beyond the file are corrupt
  if (kvCount * 12 + tensorCount * 24 > source.size) throw new FormatError(`${op}: the header claims ${tensorCount} tensors and ${kvCount} metadata entries, more than the ${source.size}-byte file can hold (truncated or corrupt)`);
  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, { type: number; itemType?: number }>();
  for (let i = 0; i < kvCount; i++) {
    // one entry at a time, synchronously from the buffer (rerun from its start after a read)
    const [key, type, value] = await r.parse(() => {
      const key = r.str(`metadata key ${i}`);
      const type = r.u32(`the value type of metadata "${key}"`);
      if (metadata.has(key)) throw new FormatError(`${op}: metadata key "${key}" appears twice`);
      return [key, type, readValue(r, op, type, `metadata "${key}"`)] as const;
    });
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
    const info = await r.parse(() => {
      const name = r.str(`the name of tensor ${i}`);
      if (names.has(name)) throw new FormatError(`${op}: tensor "${name}" appears twice`);
      const nd = r.u32(`the dimension count of tensor "${name}"`);
      if (nd > 8) throw new FormatError(`${op}: tensor "${name}" has ${nd} dimensions (at most 8 are allowed)`);
      const dims: number[] = [];
      for (let d = 0; d < nd; d++) dims.push(r.size(`dimension ${d} of tensor "${name}"`));
      const typeId = r.u32(`the type of tensor "${name}"`);
      const offset = r.size(`the offset of tensor "${name}"`);
      return { name, dims, typeId, offset };
    });
    names.add(info.name);
    infos.push(info);
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

/**
 * The GGUF block types that repack exactly into the group-wise layout of the quantized matmul
 * (src/kernel/kernel.ts `QuantConfig`): the codes are kept, each block's (or sub-block's) f16
 * scale becomes an f32 group scale, and every value the kernels dequantize is the float32 that
 * decodeGgufTensor gives (no re-rounding):
 *   Q8_0 → 8-bit symmetric, group 32: u = q + 128, scale d;
 *   Q4_0 → 4-bit symmetric, group 32: u = q (value d·(q − 8)), scale d;
 *   Q4_K → 4-bit with mins, group 32 (a sub-block): scale d·sc, minimum −dmin·m (both exact in f32);
 *   Q6_K → 8-bit symmetric, group 16 (a sub-block): u = q − 32 + 128, scale d·sc (exact in f32).
 */
export const GGUF_REPACK: Readonly<Record<string, { bits: 4 | 8; groupSize: number; mins: boolean }>> = {
  Q8_0: { bits: 8, groupSize: 32, mins: false },
  Q4_0: { bits: 4, groupSize: 32, mins: false },
  Q4_K: { bits: 4, groupSize: 32, mins: true },
  Q6_K: { bits: 8, groupSize: 16, mins: false },
};

/** A repacked GGUF matrix [N, K]: codes packed along K in int32 words, f32 scales (and mins) per group. */
export interface GgufRepacked {
  q: Int32Array;
  scales: Float32Array;
  mins: Float32Array | null;
  bits: 4 | 8;
  groupSize: number;
  /** int32 words and groups per row */
  words: number;
  groups: number;
}

/**
 * Repacks a 2-D Q8_0 / Q4_0 / Q4_K / Q6_K tensor (row-major [N, K], K = dims[0]) into the
 * quantized matmul's layout (see {@link GGUF_REPACK}): exact, no value changes.
 */
export function repackGgufTensor(entry: GgufTensorEntry, bytes: Uint8Array, op = 'repackGgufTensor'): GgufRepacked {
  const cfg = GGUF_REPACK[entry.type];
  if (!cfg) throw new FormatError(`${op}: tensor "${entry.name}" is ${entry.type}; only ${Object.keys(GGUF_REPACK).join(', ')} repack into the quantized matmul's layout`);
  if (entry.dims.length !== 2) throw new FormatError(`${op}: tensor "${entry.name}" has ${entry.dims.length} dims; only matrices repack`);
  const block = GGML_BLOCK[entry.type];
  const n = entry.dims[0] * entry.dims[1], need = (n / block.elems) * block.bytes;
  if (bytes.length !== need) throw new FormatError(`${op}: tensor "${entry.name}" (${entry.type}, ${n} elements) needs ${need} bytes, got ${bytes.length}`);
  const { bits, groupSize: G } = cfg;
  // K is a multiple of the block (readGguf checks), so of the group and the pack width: no padding
  const groups = n / G, P = 32 / bits;
  const q = new Int32Array(n / P), scales = new Float32Array(groups), mins = cfg.mins ? new Float32Array(groups) : null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nb = n / block.elems;
  switch (entry.type) {
    case 'Q8_0':
      // block b is group b; its 32 int8 codes (+128) fill words 8b .. 8b+7
      for (let b = 0; b < nb; b++) {
        const o = 34 * b;
        scales[b] = f16ToF32(dv.getUint16(o, true));
        for (let w = 0; w < 8; w++) {
          const c = o + 2 + 4 * w;
          q[8 * b + w] = ((bytes[c] ^ 128) | ((bytes[c + 1] ^ 128) << 8) | ((bytes[c + 2] ^ 128) << 16) | ((bytes[c + 3] ^ 128) << 24)) | 0;
        }
      }
      break;
    case 'Q4_0':
      // elements 0..15 are the low nibbles of qs[0..15], 16..31 the high ones; 8 codes a word
      for (let b = 0; b < nb; b++) {
        const o = 18 * b + 2;
        scales[b] = f16ToF32(dv.getUint16(o - 2, true));
        for (let w = 0; w < 4; w++) {
          const at = o + 8 * (w & 1), shift = (w >> 1) * 4;
          let word = 0;
          for (let i = 0; i < 8; i++) word |= ((bytes[at + i] >> shift) & 15) << (4 * i);
          q[4 * b + w] = word | 0;
        }
      }
      break;
    case 'Q4_K':
      for (let b = 0; b < nb; b++) {
        const o = 144 * b, d = f16ToF32(dv.getUint16(o, true)), dmin = f16ToF32(dv.getUint16(o + 2, true));
        const sc = bytes.subarray(o + 4, o + 16), qs = o + 16;
        for (let s = 0; s < 8; s++) {
          const scale = s < 4 ? sc[s] & 63 : (sc[s + 4] & 15) | ((sc[s - 4] >> 6) << 4);
          const min = s < 4 ? sc[s + 4] & 63 : (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
          // d·scale and dmin·min are exact in f32 (11 + 6 significant bits)
          scales[8 * b + s] = d * scale;
          mins![8 * b + s] = -(dmin * min);
          const at = qs + 32 * (s >> 1), shift = (s & 1) * 4;
          for (let w = 0; w < 4; w++) {
            let word = 0;
            for (let i = 0; i < 8; i++) word |= ((bytes[at + 8 * w + i] >> shift) & 15) << (4 * i);
            q[32 * b + 4 * s + w] = word | 0;
          }
        }
      }
      break;
    case 'Q6_K': {
      // 16 groups of 16 a block; group g's scale is scales[g] (int8); 6-bit codes − 32 + 128
      const u = new Uint8Array(256);
      for (let b = 0; b < nb; b++) {
        const o = 210 * b, d = f16ToF32(dv.getUint16(o + 208, true));
        for (let h = 0; h < 2; h++) {
          const ql = o + 64 * h, qh = o + 128 + 32 * h;
          for (let l = 0; l < 32; l++) {
            const hi = bytes[qh + l], y = 128 * h + l;
            u[y] = ((bytes[ql + l] & 15) | ((hi & 3) << 4)) + 96;
            u[y + 32] = ((bytes[ql + l + 32] & 15) | (((hi >> 2) & 3) << 4)) + 96;
            u[y + 64] = ((bytes[ql + l] >> 4) | (((hi >> 4) & 3) << 4)) + 96;
            u[y + 96] = ((bytes[ql + l + 32] >> 4) | (((hi >> 6) & 3) << 4)) + 96;
          }
        }
        for (let g = 0; g < 16; g++) scales[16 * b + g] = d * dv.getInt8(o + 192 + g); // exact in f32 (11 + 8 bits)
        for (let w = 0; w < 64; w++) q[64 * b + w] = (u[4 * w] | (u[4 * w + 1] << 8) | (u[4 * w + 2] << 16) | (u[4 * w + 3] << 24)) | 0;
      }
      break;
    }
  }
  return { q, scales, mins, bits, groupSize: G, words: entry.dims[0] / P, groups: entry.dims[0] / G };
}
