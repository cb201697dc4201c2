/**
 * Where training checkpoints live: a folder of named files in the browser's origin-private file
 * system (OPFS, `navigator.storage.getDirectory()`, kept across reloads; works in Workers) or,
 * in Node, a folder on disk. A checkpoint is a handful of whole files (the adapter, the
 * optimizer state, the trainer's progress); `manifest.json` is written last, so a checkpoint
 * interrupted half-way is never read back as a complete one.
 */
import { ArgumentError, FormatError } from '../errors.js';
import { describeValue } from '../validate.js';

/** A folder of named files (names without '/'). */
export interface CheckpointStore {
  /** where: "opfs:webtensor-checkpoints/<name>" or the Node folder */
  readonly where: string;
  write(name: string, bytes: Uint8Array | string): Promise<void>;
  /** the file's bytes, or null when there is none */
  read(name: string): Promise<Uint8Array | null>;
  /** file names */
  list(): Promise<string[]>;
  /** removes every file (and the folder) */
  clear(): Promise<void>;
}

const isNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
// a variable specifier keeps bundlers for the browser from resolving Node modules
const FS = 'node:fs/promises';
type Fs = typeof import('node:fs/promises');
const nodeFs = (): Promise<Fs> => import(/* @vite-ignore */ FS) as Promise<Fs>;

/** The OPFS folder checkpoints go under. */
export const OPFS_ROOT = 'webtensor-checkpoints';

function checkName(op: string, name: unknown): string {
  if (typeof name !== 'string' || !name || name.includes('/') || name.includes('\\') || name === '.' || name === '..') {
    throw new ArgumentError(`${op}: a checkpoint file name must be a non-empty string without '/', got ${describeValue(name)}`);
  }
  return name;
}

const bytesOf = (b: Uint8Array | string): Uint8Array => (typeof b === 'string' ? new TextEncoder().encode(b) : b);

/**
 * Opens (creating on first write) the checkpoint folder `name`: in a browser or Worker a folder
 * of OPFS (under webtensor-checkpoints/), in Node a folder path (relative to the working directory).
 *
 * @example const store = await openCheckpointStore('my-run'); await store.write('notes.txt', 'hi');
 */
export async function openCheckpointStore(name: string): Promise<CheckpointStore> {
  const op = 'openCheckpointStore';
  if (typeof name !== 'string' || !name) throw new ArgumentError(`${op}: name must be a non-empty string (an OPFS folder name, or a folder path in Node), got ${describeValue(name)}`);
  if (isNode()) return nodeStore(name);
  if (name.includes('/') || name === '.' || name === '..') throw new ArgumentError(`${op}: in a browser the name is one OPFS folder name, without '/', got ${describeValue(name)}`);
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<FileSystemDirectoryHandle> } } }).navigator?.storage;
  if (typeof storage?.getDirectory !== 'function') throw new ArgumentError(`${op}: this browser has no origin-private file system (navigator.storage.getDirectory)`);
  return opfsStore(storage.getDirectory.bind(storage), name);
}

async function nodeStore(dir: string): Promise<CheckpointStore> {
  const fs = await nodeFs();
  const path = (n: string) => `${dir.replace(/\/+$/, '')}/${n}`;
  return {
    where: dir,
    async write(n, bytes) {
      checkName('CheckpointStore.write', n);
      await fs.mkdir(dir, { recursive: true });
      // write then rename: a reader never sees half a file
      await fs.writeFile(`${path(n)}.tmp`, bytesOf(bytes));
      await fs.rename(`${path(n)}.tmp`, path(n));
    },
    async read(n) {
      checkName('CheckpointStore.read', n);
      try {
        return new Uint8Array(await fs.readFile(path(n)));
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return null;
        throw new FormatError(`CheckpointStore.read: cannot read ${path(n)}: ${(e as Error).message}`);
      }
    },
    async list() {
      try {
        return (await fs.readdir(dir)).filter((n) => !n.endsWith('.tmp')).sort();
      } catch {
        return [];
      }
    },
    async clear() {
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

function opfsStore(root: () => Promise<FileSystemDirectoryHandle>, name: string): CheckpointStore {
  const folder = async (create: boolean): Promise<FileSystemDirectoryHandle | null> => {
    try {
      const top = await (await root()).getDirectoryHandle(OPFS_ROOT, { create });
      return await top.getDirectoryHandle(name, { create });
    } catch (e) {
      if ((e as Error).name === 'NotFoundError') return null;
      throw e;
    }
  };
  return {
    where: `opfs:${OPFS_ROOT}/${name}`,
    async write(n, bytes) {
      checkName('CheckpointStore.write', n);
      const f = await (await folder(true))!.getFileHandle(n, { create: true });
      const w = await f.createWritable();
      await w.write(bytesOf(bytes) as Uint8Array<ArrayBuffer>);
      await w.close();
    },
    async read(n) {
      checkName('CheckpointStore.read', n);
      const d = await folder(false);
      if (!d) return null;
      try {
        return new Uint8Array(await (await (await d.getFileHandle(n)).getFile()).arrayBuffer());
      } catch (e) {
        if ((e as Error).name === 'NotFoundError') return null;
        throw e;
      }
    },
    async list() {
      const d = await folder(false);
      if (!d) return [];
      const out: string[] = [];
      for await (const k of (d as unknown as { keys(): AsyncIterable<string> }).keys()) out.push(k);
      return out.sort();
    },
    async clear() {
      try {
        const top = await (await root()).getDirectoryHandle(OPFS_ROOT);
        await top.removeEntry(name, { recursive: true });
      } catch (e) {
        if ((e as Error).name !== 'NotFoundError') throw e;
      }
    },
  };
}
