/**
 * The WebGPU buffer pool: storage buffers in size classes, reused after release.
 *
 * The pool only hands out and takes back GPUBuffers; deciding *when* a freed buffer may come
 * back (once every command buffer naming it has been submitted) is the dispatcher's job, so a
 * pooled buffer is never named by unsubmitted work. Destruction (pool trimming, emptyCache)
 * waits for the queue to drain, so no in-flight work names a destroyed buffer either.
 *
 * Out of memory: WebGPU reports allocation failure asynchronously, through an error scope.
 * Creation pushes an 'out-of-memory' scope and never waits on it; a failure empties the pool
 * and is handed to `onOutOfMemory`, which retries or records the error for the next read.
 */
import { OutOfMemoryError } from '../../errors.js';

/** GPUBufferUsage values, spelled out so nothing depends on WebGPU globals being installed. */
export const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/**
 * The allocation size class of a request: powers of two up to 256 bytes, then steps of a
 * quarter of the power of two below (so at most 25% is wasted); at least 16 bytes.
 *
 * @example sizeClass(4) === 16; sizeClass(1000) === 1024; sizeClass(1100) === 1280
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes));
  if (b <= 256) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** Math.floor(Math.log2(b)) / 4;
  return Math.ceil(b / step) * step;
}

export interface PoolStats {
  bytesInUse: number;
  bytesPooled: number;
  poolHits: number;
  poolMisses: number;
}

/** Size-classed pool of buffers with one usage. */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** pooled buffers, least recently released first (for trimming) */
  private lru = new Set<GPUBuffer>();
  private stats: PoolStats = { bytesInUse: 0, bytesPooled: 0, poolHits: 0, poolMisses: 0 };
  /** buffers whose creation the device reported as failed: never pooled */
  private failed = new WeakSet<GPUBuffer>();
  /** the device's limit, read once (a getter call into the bindings per allocation otherwise) */
  private maxBufferSize: number | undefined;
  /** a serial per buffer (see `id`) */
  private ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;

  /**
   * @param maxPooled bytes the pool may keep before it destroys the least recently released
   * @param onOutOfMemory called (after the pool was emptied) when the device reports that
   * creating `buf` failed; `retried` is true for a buffer made by `recreate`
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    private readonly maxPooled: number,
    private readonly onOutOfMemory: (buf: GPUBuffer, size: number, retried: boolean) => void = () => {},
    /** called whenever the pool destroys or forgets buffers (caches naming them must go) */
    private readonly onDestroy: () => void = () => {},
  ) {}

  /** A buffer of at least `bytes` (its size is the size class), from the pool when possible. */
  acquire(bytes: number): GPUBuffer {
    const size = this.sizeFor(bytes);
    const list = this.free.get(size);
    const hit = list?.pop();
    if (hit) {
      this.lru.delete(hit);
      this.stats.poolHits++;
      this.stats.bytesPooled -= size;
      this.stats.bytesInUse += size;
      return hit;
    }
    this.stats.poolMisses++;
    const buf = this.create(size);
    this.stats.bytesInUse += size;
    return buf;
  }

  /** The size class of a `bytes` request; throws OutOfMemoryError when no buffer can be that big. */
  sizeFor(bytes: number): number {
    let size = sizeClass(bytes);
    const max = (this.maxBufferSize ??= this.device.limits.maxBufferSize);
    if (size > max) size = Math.ceil(Math.max(bytes, 16) / 16) * 16;
    if (size > max) throw new OutOfMemoryError(`webgpu: cannot allocate ${bytes} bytes: larger than the device's maxBufferSize (${max} bytes)`);
    return size;
  }

  /** Takes back a buffer that no unsubmitted work names. */
  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.stats.bytesInUse -= size;
    if (this.failed.has(buf)) {
      this.onDestroy();
      buf.destroy();
      return;
    }
    this.stats.bytesPooled += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // kept in descending serial order, so acquire hands out the oldest free buffer: the buffers a
    // step draws then depend only on which are free, not on the order earlier steps freed them,
    // and a training loop binds the same buffers step after step (the dispatcher caches bind groups)
    const id = this.id(buf);
    // binary search for the first entry with a smaller serial (a training step frees hundreds)
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.id(list[mid]) > id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
    this.lru.add(buf);
    if (this.stats.bytesPooled > this.maxPooled) this.trim(this.maxPooled);
  }

  /**
   * Takes a specific pooled buffer out of the pool for good (a compiled step keeps the buffers
   * its replays use); false when it is not pooled (handed out again, or destroyed by a trim).
   */
  take(buf: GPUBuffer): boolean {
    if (!this.lru.delete(buf)) return false;
    const list = this.free.get(buf.size)!;
    list.splice(list.indexOf(buf), 1);
    this.stats.bytesPooled -= buf.size;
    this.stats.bytesInUse += buf.size;
    return true;
  }

  /** A serial number of `buf`, the same for its whole life (a cache key). */
  id(buf: GPUBuffer): number {
    let id = this.ids.get(buf);
    if (id === undefined) this.ids.set(buf, (id = this.nextId++));
    return id;
  }

  /** Forgets a buffer that will not come back (destroyed by its owner). */
  forget(buf: GPUBuffer): void {
    this.onDestroy();
    this.stats.bytesInUse -= buf.size;
  }

  /** Destroys pooled buffers, least recently released first, until at most `keep` bytes remain. */
  trim(keep = 0): number {
    const doomed: GPUBuffer[] = [];
    for (const b of this.lru) {
      if (this.stats.bytesPooled <= keep) break;
      this.lru.delete(b);
      const list = this.free.get(b.size)!;
      list.splice(list.indexOf(b), 1);
      this.stats.bytesPooled -= b.size;
      doomed.push(b);
    }
    if (doomed.length) {
      this.onDestroy();
      destroyLater(this.device, doomed);
    }
    return doomed.reduce((n, b) => n + b.size, 0);
  }

  memory(): PoolStats {
    return { ...this.stats };
  }

  /** A fresh buffer of exactly `size` bytes replacing one whose creation failed (not counted again). */
  recreate(size: number): GPUBuffer {
    return this.create(size, true);
  }

  private create(size: number, retried = false): GPUBuffer {
    const desc = { size, usage: this.usage };
    this.device.pushErrorScope('out-of-memory');
    let buf: GPUBuffer;
    try {
      buf = this.device.createBuffer(desc);
    } catch {
      // some implementations throw (e.g. RangeError) instead of reporting: empty and retry once
      void this.device.popErrorScope();
      this.trim(0);
      try {
        const retry = this.device.createBuffer(desc);
        this.id(retry);
        return retry;
      } catch (e) {
        throw new OutOfMemoryError(`webgpu: allocating ${size} bytes failed even after emptying the buffer pool (${(e as Error).message})`);
      }
    }
    this.device.popErrorScope().then(
      (err) => {
        if (!err) return;
        this.failed.add(buf);
        this.trim(0);
        this.onOutOfMemory(buf, size, retried);
      },
      () => {}, // the device was lost: reported through device.lost
    );
    this.id(buf); // serials in creation order: the oldest buffer has the smallest
    return buf;
  }
}

/** Destroys buffers once the work already submitted (which may name them) has finished. */
export function destroyLater(device: GPUDevice, bufs: readonly GPUBuffer[]): void {
  const go = () => bufs.forEach((b) => b.destroy());
  device.queue.onSubmittedWorkDone().then(go, go);
}
