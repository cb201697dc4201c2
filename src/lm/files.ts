/**
 * The files of a model repository (config.json, model.safetensors or its shards), wherever they
 * are: under a URL base (a hub URL such as https://huggingface.co/gpt2/resolve/main/, read by
 * HTTP range requests so that no file is held whole in memory), in a set of Blobs (a browser's
 * file picker: Files, keyed by their names), or in a Node directory.
 */
import { ArgumentError, FormatError } from '../errors.js';
import { openSource, type ByteSource } from '../io/source.js';
import { describeValue } from '../validate.js';

/** Where a model's files are: a URL base or (in Node) a directory path, a URL, Blobs by file name, or Files (a FileList, an array). */
export type ModelSource = string | URL | Record<string, Blob> | Map<string, Blob> | ArrayLike<File>;

/** A model repository's files by name. */
export interface ModelFiles {
  /** the source, for messages */
  readonly where: string;
  /** whether the file exists */
  has(name: string): Promise<boolean>;
  /** the file as text */
  text(name: string): Promise<string>;
  /** the file for reading by range */
  open(name: string): Promise<ByteSource>;
}

const isNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
const FS = 'node:fs/promises';
type Fs = typeof import('node:fs/promises');
const nodeFs = (): Promise<Fs> => import(/* @vite-ignore */ FS) as Promise<Fs>;

/** The files of a source; `op` names the caller in errors. */
export async function modelFiles(op: string, src: ModelSource): Promise<ModelFiles> {
  if (src instanceof URL) return urlFiles(op, src.href);
  if (typeof src === 'string') {
    if (src === '') throw new ArgumentError(`${op}: the source is an empty string; expected a URL base or a directory path`);
    if (/^(https?|blob|data):/i.test(src) || !isNode()) return urlFiles(op, src);
    return dirFiles(op, src);
  }
  if (typeof Blob !== 'undefined') {
    let entries: [string, Blob][] | null = null;
    if (src instanceof Map) entries = [...src.entries()];
    else if (Array.isArray(src) || (typeof FileList !== 'undefined' && src instanceof FileList)) entries = Array.from(src as ArrayLike<File>, (f) => [f?.name, f]);
    else if (typeof src === 'object' && src !== null && Object.getPrototypeOf(src) === Object.prototype) entries = Object.entries(src as Record<string, Blob>);
    if (entries) return blobFiles(op, entries);
  }
  throw new ArgumentError(`${op}: expected a URL base, a directory path (Node), or the model's files as Blobs by name (an object, a Map, a File list), got ${describeValue(src)}`);
}

function blobFiles(op: string, entries: [string, Blob][]): ModelFiles {
  const byName = new Map<string, Blob>();
  for (const [name, b] of entries) {
    if (typeof name !== 'string' || !(b instanceof Blob)) throw new ArgumentError(`${op}: expected Blobs (Files) by file name, got ${describeValue(b)} for ${describeValue(name)}`);
    // a folder pick gives paths (webkitRelativePath is not the name); the last part is the file's name
    byName.set(name.split('/').pop()!, b);
  }
  const get = (name: string): Blob => {
    const b = byName.get(name);
    if (!b) throw new ArgumentError(`${op}: the files given lack ${name} (they are ${[...byName.keys()].join(', ') || 'none'})`);
    return b;
  };
  return {
    where: 'the files given',
    has: async (name) => byName.has(name),
    text: async (name) => get(name).text(),
    open: async (name) => openSource(op, get(name)),
  };
}

async function dirFiles(op: string, dir: string): Promise<ModelFiles> {
  const fs = await nodeFs();
  const st = await fs.stat(dir).catch((e: Error) => {
    throw new ArgumentError(`${op}: cannot open ${dir}: ${e.message}`);
  });
  if (!st.isDirectory()) throw new ArgumentError(`${op}: ${dir} is not a directory; expected the model's folder (config.json, model.safetensors)`);
  const path = (name: string) => `${dir.replace(/\/+$/, '')}/${name}`;
  return {
    where: dir,
    has: async (name) => fs.stat(path(name)).then((s) => s.isFile(), () => false),
    text: async (name) => fs.readFile(path(name), 'utf8').catch((e: Error) => {
      throw new ArgumentError(`${op}: cannot read ${name} in ${dir}: ${e.message}`);
    }),
    open: (name) => openSource(op, path(name)),
  };
}

function urlFiles(op: string, base: string): ModelFiles {
  const root = base.endsWith('/') ? base : `${base}/`;
  const url = (name: string) => new URL(name, root).href;
  const get = async (name: string, init?: RequestInit): Promise<Response> => {
    try {
      return await fetch(url(name), init);
    } catch (e) {
      throw new ArgumentError(`${op}: fetching ${url(name)} failed: ${(e as Error).message}`);
    }
  };
  return {
    where: root,
    has: async (name) => {
      const res = await get(name, { method: 'HEAD' }).catch(() => null);
      return !!res?.ok;
    },
    text: async (name) => {
      const res = await get(name);
      if (!res.ok) throw new ArgumentError(`${op}: fetching ${url(name)} failed: HTTP ${res.status}`);
      return res.text();
    },
    open: (name) => httpSource(op, url(name), get, name),
  };
}

/**
 * A file over HTTP, read by range requests. A server that ignores Range (status 200) gets the
 * whole file read once into memory instead.
 */
async function httpSource(op: string, href: string, get: (name: string, init?: RequestInit) => Promise<Response>, name: string): Promise<ByteSource> {
  const range = (b: number, e: number) => get(name, { headers: { Range: `bytes=${b}-${e - 1}` } });
  const first = await range(0, 8);
  if (first.status === 200) {
    const bytes = new Uint8Array(await first.arrayBuffer());
    return { size: bytes.length, read: async (b, e) => bytes.subarray(b, e), close: async () => {} };
  }
  if (first.status !== 206) throw new ArgumentError(`${op}: fetching ${href} failed: HTTP ${first.status}`);
  await first.arrayBuffer();
  let size = Number(/\/(\d+)\s*$/.exec(first.headers.get('content-range') ?? '')?.[1]);
  if (!Number.isSafeInteger(size)) {
    // Content-Range may be hidden from a page by CORS; Content-Length of a HEAD request is not
    const head = await get(name, { method: 'HEAD' });
    size = Number(head.headers.get('content-length'));
    if (!head.ok || !Number.isSafeInteger(size)) throw new ArgumentError(`${op}: cannot tell the size of ${href} (no Content-Range or Content-Length)`);
  }
  return {
    size,
    read: async (b, e) => {
      if (e <= b) return new Uint8Array(0);
      const res = await range(b, e);
      if (res.status !== 206 && res.status !== 200) throw new FormatError(`${op}: reading bytes ${b}-${e - 1} of ${href} failed: HTTP ${res.status}`);
      let bytes = new Uint8Array(await res.arrayBuffer());
      if (res.status === 200) bytes = bytes.subarray(b, e); // the server sent it all after all
      if (bytes.length !== e - b) throw new FormatError(`${op}: reading bytes ${b}-${e - 1} of ${href} returned ${bytes.length} bytes (the file changed?)`);
      return bytes;
    },
    close: async () => {},
  };
}
