/**
 * Model files in the safetensors format (Hugging Face), readable by PyTorch and HF tools:
 *
 *   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data]
 *   header = { "__metadata__": { str: str }, name: { dtype, shape, data_offsets: [begin, end] } }
 *
 * Offsets count from the start of the data. We write F32 (or F16 on request), I32 and BOOL,
 * contiguous in insertion order with the header padded to 8 bytes; we read F32, F16, BF16, F64
 * (to float32), I32, I16, I8, U8, I64 (to int32, range-checked) and BOOL.
 *
 * A file is untrusted input: every length and offset is checked against the file size before
 * anything is read, so a malformed file throws FormatError and never over-reads, allocates what
 * the file does not hold, or hangs.
 *
 * @example
 * const bytes = await wt.save(model.stateDict(), 'model.safetensors', { metadata: { epoch: '3' } });
 * model.loadStateDict(await wt.load('model.safetensors'));
 */
import { ArgumentError, FormatError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { QUANT_METADATA_KEY, packedLayouts } from '../ops/quant.js';
import { Tensor } from '../tensor.js';
import { dispose } from '../memory.js';
import { openSource, writeBytes, type ByteSource, type LoadSource } from './source.js';
import { bf16ToF32, f16ToF32, f32ToF16 } from './float16.js';
import type { ParamGroup } from '../optim/optimizer.js';
import { checkBoolean, checkOptions, describeValue } from '../validate.js';

/** The header may not exceed this (the reference implementation's limit), so a bogus length cannot make us allocate. */
export const MAX_HEADER_BYTES = 100_000_000;
/** More dims than any model uses; a bound keeps a hostile shape from reaching the kernels. */
const MAX_DIMS = 32;

/** Bytes per element and the webtensor dtype each file dtype is read as. */
const READ = {
  F64: { size: 8, dtype: 'float32' }, F32: { size: 4, dtype: 'float32' }, F16: { size: 2, dtype: 'float32' }, BF16: { size: 2, dtype: 'float32' },
  I64: { size: 8, dtype: 'int32' }, I32: { size: 4, dtype: 'int32' }, I16: { size: 2, dtype: 'int32' }, I8: { size: 1, dtype: 'int32' },
  U8: { size: 1, dtype: 'int32' }, BOOL: { size: 1, dtype: 'bool' },
} as const;
type FileDType = keyof typeof READ;

/** One tensor's entry in the header; offsets are absolute positions in the file. */
export interface HeaderEntry {
  name: string;
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface Header {
  entries: HeaderEntry[];
  metadata: Record<string, string>;
}

export interface SaveOptions {
  /** string key/value pairs stored in the header's __metadata__ */
  metadata?: Record<string, string>;
  /** store float32 tensors as F16 (half the size; values rounded to nearest even) */
  float16?: boolean;
}

/** What `optimizer.stateDict()` returns (and `optimizer.loadStateDict()` takes). */
export interface OptimizerStateDict {
  paramGroups: Omit<ParamGroup, 'params'>[];
  state: Record<string, { step: number; tensors: Tensor[] }>;
}

const OPTIMIZER_KEY = 'webtensor.optimizer';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---- reading ------------------------------------------------------------------------------

const bad = (op: string, msg: string) => new FormatError(`${op}: malformed safetensors file: ${msg}`);

/**
 * Sets obj[key] as an own data property: plain assignment of "__proto__" would replace the
 * object's prototype instead, losing a tensor of that name (names come from untrusted files).
 */
function setEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Reads and validates the header of a file of `source.size` bytes. */
export async function readHeader(op: string, source: ByteSource): Promise<Header> {
  const size = source.size;
  if (size < 8) throw bad(op, `the file is ${size} bytes, too short for the 8-byte header length (truncated?)`);
  const head = await source.read(0, 8);
  const dv = new DataView(head.buffer, head.byteOffset, 8);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER_BYTES) throw bad(op, `the header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + n > size) throw bad(op, `the header length ${n} goes beyond the end of the file (${size} bytes; truncated?)`);
  if (n < 2) throw bad(op, `the header length ${n} is too short for a JSON object`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await source.read(8, 8 + n)));
  } catch (e) {
    throw bad(op, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw bad(op, 'the header is not a JSON object');
  const dataStart = 8 + n, dataLen = size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (v === null) continue;
      if (!isPlainObject(v)) throw bad(op, '__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw bad(op, `__metadata__.${k} must be a string, got ${describeValue(s)}`);
        setEntry(metadata, k, s);
      }
      continue;
    }
    if (!isPlainObject(v)) throw bad(op, `the entry of tensor "${name}" is not an object`);
    const { dtype, shape, data_offsets: offs } = v as { dtype: unknown; shape: unknown; data_offsets: unknown };
    if (typeof dtype !== 'string' || !(dtype in READ)) {
      throw bad(op, `tensor "${name}" has unknown dtype ${describeValue(dtype)} (supported: ${Object.keys(READ).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(op, `tensor "${name}" has an invalid shape ${describeValue(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw bad(op, `tensor "${name}" has invalid data_offsets ${describeValue(offs)}`);
    }
    const [b, e] = offs as [number, number];
    if (e > dataLen) throw bad(op, `tensor "${name}" data_offsets [${b},${e}] run past the end of the data (${dataLen} bytes; truncated?)`);
    if (shape.length > MAX_DIMS) throw bad(op, `tensor "${name}" has ${shape.length} dims, more than ${MAX_DIMS}`);
    // the product may overflow to Infinity for a hostile shape: it then cannot match the byte count
    const bytes = (shape as number[]).reduce((a, d) => a * d, READ[dtype as FileDType].size);
    if (bytes !== e - b) {
      throw bad(op, `tensor "${name}" of dtype ${dtype} and shape [${shape.join(',')}] needs ${bytes} bytes but data_offsets [${b},${e}] hold ${e - b}`);
    }
    entries.push({ name, dtype: dtype as FileDType, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1], c = sorted[i];
    if (c.begin < p.end) {
      throw bad(op, `tensors "${p.name}" and "${c.name}" overlap (data_offsets [${p.begin - dataStart},${p.end - dataStart}] and [${c.begin - dataStart},${c.end - dataStart}])`);
    }
  }
  return { entries, metadata };
}

let F16_TABLE: Float32Array | null = null;
const f16Table = (): Float32Array => (F16_TABLE ??= Float32Array.from({ length: 65536 }, (_, h) => f16ToF32(h)));

/** The n 16-bit words of `bytes` (little-endian host), copied only if their offset is odd. */
function halfWords(bytes: Uint8Array, n: number): Uint16Array {
  return bytes.byteOffset % 2 ? new Uint16Array(bytes.slice().buffer, 0, n) : new Uint16Array(bytes.buffer, bytes.byteOffset, n);
}

/** Decodes one entry's bytes (little-endian) into the values of a webtensor dtype. */
export function decode(op: string, e: HeaderEntry, bytes: Uint8Array): Float32Array | Int32Array | Uint8Array {
  const n = (e.end - e.begin) / READ[e.dtype].size;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (e.dtype) {
    // slice() copies into a fresh, aligned buffer (offsets in the file need not be aligned)
    case 'F32': return LITTLE_ENDIAN ? new Float32Array(bytes.slice().buffer) : Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, true));
    case 'F64': return Float32Array.from({ length: n }, (_, i) => dv.getFloat64(8 * i, true));
    case 'F16': {
      if (!LITTLE_ENDIAN) return Float32Array.from({ length: n }, (_, i) => f16ToF32(dv.getUint16(2 * i, true)));
      // a table of the 65536 patterns (built once): about 30x faster than decoding each value
      const h = halfWords(bytes, n), out = new Float32Array(n), lut = f16Table();
      for (let i = 0; i < n; i++) out[i] = lut[h[i]];
      return out;
    }
    case 'BF16': {
      if (!LITTLE_ENDIAN) return Float32Array.from({ length: n }, (_, i) => bf16ToF32(dv.getUint16(2 * i, true)));
      const h = halfWords(bytes, n), out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = h[i] << 16; // the top half of a float32
      return new Float32Array(out.buffer);
    }
    case 'I32': return LITTLE_ENDIAN ? new Int32Array(bytes.slice().buffer) : Int32Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, true));
    case 'I16': return Int32Array.from({ length: n }, (_, i) => dv.getInt16(2 * i, true));
    case 'I8': return Int32Array.from({ length: n }, (_, i) => dv.getInt8(i));
    case 'U8': return Int32Array.from(bytes);
    case 'BOOL': return Uint8Array.from(bytes, (b) => (b ? 1 : 0));
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(8 * i, true), hi = dv.getInt32(8 * i + 4, true);
        // in int32 range: the high word is the sign extension of the low word
        if (hi !== (lo >= 0x80000000 ? -1 : 0)) {
          throw new FormatError(`${op}: tensor "${e.name}" (I64) holds ${BigInt(hi) * 2n ** 32n + BigInt(lo)} at index ${i}, outside the int32 range webtensor stores`);
        }
        out[i] = lo | 0;
      }
      return out;
    }
  }
}

/** Reads the tensors of a header from a source; on failure frees the ones already made. */
async function readTensors(op: string, source: ByteSource, header: Header): Promise<Record<string, Tensor>> {
  const out: Record<string, Tensor> = {};
  try {
    for (const e of header.entries) {
      const values = decode(op, e, await source.read(e.begin, e.end));
      setEntry(out, e.name, tensor(values, { shape: e.shape, dtype: READ[e.dtype].dtype }));
    }
  } catch (err) {
    dispose(out);
    throw err;
  }
  return out;
}

async function withSource<T>(op: string, src: LoadSource, fn: (s: ByteSource) => Promise<T>): Promise<T> {
  const source = await openSource(op, src);
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

/**
 * Loads the tensors of a safetensors file, by name, on the current backend. The caller owns
 * them (pass them to `model.loadStateDict`, then `wt.dispose` them).
 *
 * @example const sd = await wt.load(await file.arrayBuffer()); model.loadStateDict(sd); wt.dispose(sd);
 */
export function load(src: LoadSource): Promise<Record<string, Tensor>> {
  return withSource('load', src, async (s) => readTensors('load', s, await readHeader('load', s)));
}

/**
 * The `__metadata__` string map of a safetensors file (reads only the header).
 *
 * @example const { epoch } = await wt.loadMetadata('model.safetensors');
 */
export function loadMetadata(src: LoadSource): Promise<Record<string, string>> {
  return withSource('loadMetadata', src, async (s) => (await readHeader('loadMetadata', s)).metadata);
}

/**
 * Loads an optimizer checkpoint written by `wt.save(optimizer.stateDict())`, in the form
 * `optimizer.loadStateDict` takes. The state tensors belong to the caller (the optimizer copies them).
 *
 * @example opt.loadStateDict(await wt.loadOptimizerState('opt.safetensors'));
 */
export function loadOptimizerState(src: LoadSource): Promise<OptimizerStateDict> {
  const op = 'loadOptimizerState';
  return withSource(op, src, async (s) => {
    const header = await readHeader(op, s);
    const raw = header.metadata[OPTIMIZER_KEY];
    if (raw === undefined) throw new FormatError(`${op}: the file has no "${OPTIMIZER_KEY}" metadata; it was not saved from optimizer.stateDict()`);
    let meta: { paramGroups: OptimizerStateDict['paramGroups']; steps: Record<string, number>; counts: Record<string, number> };
    try {
      meta = JSON.parse(raw);
    } catch (e) {
      throw new FormatError(`${op}: the "${OPTIMIZER_KEY}" metadata is not JSON (${(e as Error).message})`);
    }
    if (!meta || !Array.isArray(meta.paramGroups) || !isPlainObject(meta.steps) || !isPlainObject(meta.counts)) {
      throw new FormatError(`${op}: the "${OPTIMIZER_KEY}" metadata lacks paramGroups, steps or counts`);
    }
    const tensors = await readTensors(op, s, header);
    const state: OptimizerStateDict['state'] = {};
    for (const [k, step] of Object.entries(meta.steps)) {
      const list = Array.from({ length: meta.counts[k] ?? 0 }, (_, j) => tensors[`state.${k}.${j}`]);
      if (list.some((t) => !t)) {
        dispose(tensors);
        throw new FormatError(`${op}: parameter ${k} should have ${meta.counts[k]} state tensors but the file lacks some`);
      }
      state[k] = { step, tensors: list };
    }
    return { paramGroups: meta.paramGroups, state };
  });
}

// ---- writing ------------------------------------------------------------------------------

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isOptimizerState(x: unknown): x is OptimizerStateDict {
  return isPlainObject(x) && Array.isArray(x.paramGroups) && isPlainObject(x.state);
}

/** Flattens an optimizer state dict to named tensors plus JSON metadata. */
function flattenOptimizer(sd: OptimizerStateDict): { tensors: Record<string, Tensor>; meta: string } {
  const tensors: Record<string, Tensor> = {};
  const steps: Record<string, number> = {}, counts: Record<string, number> = {};
  for (const [k, s] of Object.entries(sd.state)) {
    if (!isPlainObject(s) || !Array.isArray(s.tensors)) throw new ArgumentError(`save: optimizer state ${k} must be { step, tensors }`);
    steps[k] = s.step;
    counts[k] = s.tensors.length;
    s.tensors.forEach((t, j) => (tensors[`state.${k}.${j}`] = t));
  }
  let meta: string;
  try {
    meta = JSON.stringify({ paramGroups: sd.paramGroups, steps, counts });
  } catch (e) {
    throw new ArgumentError(`save: optimizer hyperparameters must be JSON-serialisable (${(e as Error).message})`);
  }
  return { tensors, meta };
}

/**
 * Serialises named tensors (e.g. `model.stateDict()`) or an optimizer's `stateDict()` as
 * safetensors bytes; with a path (Node), also writes the file. Reads the tensors back from the
 * device, so it is asynchronous.
 *
 * @example
 * const bytes = await wt.save(model.stateDict());                    // browser: new Blob([bytes])
 * await wt.save(model.stateDict(), 'model.safetensors', { metadata: { arch: 'mlp' } }); // Node
 * await wt.save(opt.stateDict(), 'opt.safetensors');                  // optimizer checkpoint
 */
export async function save(state: Record<string, Tensor> | OptimizerStateDict, pathOrOptions?: string | SaveOptions, options: SaveOptions = {}): Promise<Uint8Array> {
  const op = 'save';
  const path = typeof pathOrOptions === 'string' ? pathOrOptions : undefined;
  const opts = isPlainObject(pathOrOptions) ? (pathOrOptions as SaveOptions) : options;
  if (pathOrOptions !== undefined && path === undefined && !isPlainObject(pathOrOptions)) {
    throw new ArgumentError(`${op}: the second argument must be a path string or an options object, got ${typeof pathOrOptions}`);
  }
  checkOptions(op, opts, ['metadata', 'float16']);
  if (opts.float16 !== undefined) checkBoolean(op, 'float16', opts.float16);
  if (!isPlainObject(state) || state instanceof Tensor) throw new ArgumentError(`${op}: expected an object of named tensors (e.g. model.stateDict()) or optimizer.stateDict(), got ${describeValue(state)}`);
  // null prototypes: a "__proto__" name is an ordinary key in the JSON header
  const metadata: Record<string, string> = Object.create(null);
  if (opts.metadata !== undefined) {
    if (!isPlainObject(opts.metadata)) throw new ArgumentError(`${op}: metadata must be an object of strings`);
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== 'string') throw new ArgumentError(`${op}: metadata.${k} must be a string (safetensors stores strings), got ${typeof v}`);
      setEntry(metadata, k, v);
    }
  }
  let tensors: Record<string, Tensor>;
  if (isOptimizerState(state)) {
    const flat = flattenOptimizer(state);
    tensors = flat.tensors;
    metadata[OPTIMIZER_KEY] = flat.meta;
  } else tensors = state as Record<string, Tensor>;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__' || name === '') throw new ArgumentError(`${op}: "${name}" cannot be a tensor name`);
    if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: "${name}" is not a tensor (got ${t === null ? 'null' : typeof t})`);
    t._check(`${op} "${name}"`);
  }
  const names = Object.keys(tensors);
  // quantized layers (packed codes of a QuantizedLinear) are described in the header, so a
  // loader can make them without float weights (README: "Weight-only quantization")
  const layers: Record<string, unknown> = {};
  for (const name of names) {
    const lay = name.endsWith('.qweight') || name === 'qweight' ? packedLayouts.get(tensors[name]) : undefined;
    if (lay) layers[name.slice(0, -'qweight'.length).replace(/\.$/, '')] = { bits: lay.bits, groupSize: lay.groupSize, mins: lay.mins, shape: [...lay.shape] };
  }
  if (Object.keys(layers).length && !(QUANT_METADATA_KEY in metadata)) metadata[QUANT_METADATA_KEY] = JSON.stringify(layers);
  const values = await Promise.all(names.map((n) => tensors[n].data()));
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  names.forEach((name, i) => {
    const t = tensors[name], v = values[i];
    let bytes: Uint8Array, dtype: string;
    if (t.dtype === 'float32' && opts.float16) {
      dtype = 'F16';
      const h = new Uint16Array(v.length);
      for (let j = 0; j < v.length; j++) h[j] = f32ToF16(v[j]);
      bytes = littleEndian(h);
    } else if (t.dtype === 'bool') {
      dtype = 'BOOL';
      bytes = v as Uint8Array;
    } else {
      dtype = t.dtype === 'float32' ? 'F32' : 'I32';
      bytes = littleEndian(v as Float32Array | Int32Array);
    }
    setEntry(header, name, { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] });
    blobs.push(bytes);
    offset += bytes.byteLength;
  });
  // pad the header with spaces so the data starts 8-byte aligned, as the reference writer does
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padded - json.length));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.byteLength;
  }
  if (path !== undefined) await writeBytes(op, path, out);
  return out;
}

/** The bytes of a typed array in little-endian order (a copy on big-endian hosts). */
function littleEndian(a: Float32Array | Int32Array | Uint16Array): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes.length), w = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += w) for (let j = 0; j < w; j++) out[i + j] = bytes[i + w - 1 - j];
  return out;
}
