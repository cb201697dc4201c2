/**
 * Where model files come from and go to: bytes in memory, a Blob (a browser File), a path in
 * Node, or a URL in a browser. A source is read by byte range, so a parser can check the header
 * before it touches the data and never reads past what the header promised.
 */
import { ArgumentError, FormatError } from '../errors.js';
import { describeValue } from '../validate.js';

/** Random access to a file's bytes. */
export interface ByteSource {
  /** total size in bytes */
  readonly size: number;
  /** bytes [begin, end), with 0 <= begin <= end <= size */
  read(begin: number, end: number): Promise<Uint8Array>;
  /** releases an open file handle (Node paths) */
  close(): Promise<void>;
}

/** What `wt.load` accepts. */
export type LoadSource = Uint8Array | ArrayBuffer | Blob | string;

const isNode = (): boolean => {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
};

// a variable specifier keeps bundlers for the browser from trying to resolve a Node module
const FS = 'node:fs/promises';
type Fs = typeof import('node:fs/promises');
const nodeFs = (): Promise<Fs> => import(/* @vite-ignore */ FS) as Promise<Fs>;

function memory(bytes: Uint8Array): ByteSource {
  return { size: bytes.byteLength, read: async (b, e) => bytes.subarray(b, e), close: async () => {} };
}

/** Opens a source for reading; `op` names the caller in errors. */
export async function openSource(op: string, src: LoadSource): Promise<ByteSource> {
  if (src instanceof Uint8Array) return memory(src);
  if (src instanceof ArrayBuffer) return memory(new Uint8Array(src));
  if (ArrayBuffer.isView(src)) return memory(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  if (typeof Blob !== 'undefined' && src instanceof Blob) {
    const blob = src;
    return { size: blob.size, read: async (b, e) => new Uint8Array(await blob.slice(b, e).arrayBuffer()), close: async () => {} };
  }
  if (typeof src === 'string') {
    if (src === '') throw new ArgumentError(`${op}: the path is empty`);
    if (!isNode()) {
      // in a browser a string is a URL
      let res: Response;
      try {
        res = await fetch(src);
      } catch (e) {
        throw new ArgumentError(`${op}: fetching ${src} failed: ${(e as Error).message}`);
      }
      if (!res.ok) throw new ArgumentError(`${op}: fetching ${src} failed: HTTP ${res.status}`);
      return memory(new Uint8Array(await res.arrayBuffer()));
    }
    const fs = await nodeFs();
    let fh: Awaited<ReturnType<Fs['open']>>;
    try {
      fh = await fs.open(src, 'r');
    } catch (e) {
      throw new ArgumentError(`${op}: cannot open ${src}: ${(e as Error).message}`);
    }
    const stat = await fh.stat();
    if (!stat.isFile()) {
      await fh.close();
      throw new ArgumentError(`${op}: ${src} is ${stat.isDirectory() ? 'a directory' : 'not a regular file'}; expected a safetensors file`);
    }
    const size = stat.size;
    return {
      size,
      read: async (b, e) => {
        const out = new Uint8Array(e - b);
        let got = 0;
        while (got < out.length) {
          let bytesRead: number;
          try {
            ({ bytesRead } = await fh.read(out, got, out.length - got, b + got));
          } catch (err) {
            throw new FormatError(`${op}: cannot read ${src}: ${(err as Error).message}`);
          }
          if (bytesRead === 0) throw new FormatError(`${op}: ${src} ended early (it changed while being read?)`);
          got += bytesRead;
        }
        return out;
      },
      close: () => fh.close(),
    };
  }
  throw new ArgumentError(`${op}: expected bytes (Uint8Array or ArrayBuffer), a Blob, or a path/URL string, got ${describeValue(src)}`);
}

/** Writes bytes to a path (Node only). */
export async function writeBytes(op: string, path: string, bytes: Uint8Array): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`${op}: path must be a non-empty string, got ${describeValue(path)}`);
  if (!isNode()) {
    throw new ArgumentError(`${op}: writing to a path needs Node; in a browser use the returned bytes, e.g. new Blob([bytes])`);
  }
  const fs = await nodeFs();
  try {
    await fs.writeFile(path, bytes);
  } catch (e) {
    // ENOENT (a missing folder), EISDIR, EACCES: the message says which
    throw new ArgumentError(`${op}: cannot write ${path}: ${(e as Error).message}`);
  }
}
