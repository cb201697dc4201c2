/**
 * The Backend interface: the only thing the front end knows about a device.
 *
 * Buffers hold 32-bit elements. Operations are guaranteed to run in dispatch order; `read`
 * sees every dispatch issued before it. A backend never imports the front end.
 */
import type { DType, StorageArray } from '../dtype.js';
import type { Kernel } from '../kernel/kernel.js';

/** An opaque device allocation of `numel` 32-bit elements. */
export interface BackendBuffer {
  readonly numel: number;
}

/** A strided window onto a buffer (element units). */
export interface View {
  readonly buf: BackendBuffer;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A prepared kernel; what it holds is the backend's business. */
export interface Executable {
  readonly kernel: Kernel;
}

export interface BackendMemory {
  /** bytes held by live buffers */
  bytesInUse: number;
  /** bytes held in the pool for reuse */
  bytesPooled: number;
  poolHits: number;
  poolMisses: number;
}

export interface Backend {
  readonly name: 'cpu' | 'webgpu';
  /**
   * Storage buffers one multi-segment kernel (runSegmentsInto: an optimizer step over many
   * parameters) may bind; undefined: no limit; 0: one segment per kernel.
   */
  readonly segmentBuffers?: number;
  /** Allocates a buffer of numel elements (contents undefined). */
  alloc(numel: number, dtype: DType): BackendBuffer;
  /**
   * Throws what `alloc` would throw for a request it can refuse up front (a lost device, a size no
   * buffer can have), without allocating: a pending result (fusion) gets its buffer later.
   */
  reserve?(numel: number, dtype: DType): void;
  /** Releases a buffer; the backend may pool it once no queued work names it. */
  free(buf: BackendBuffer): void;
  /** Writes `data` into the buffer starting at element `offset`. */
  write(buf: BackendBuffer, data: ArrayLike<number>, offset?: number): void;
  /** Reads `numel` elements from `offset` (default: all), after all earlier dispatches. */
  read(buf: BackendBuffer, dtype: DType, offset?: number, numel?: number): Promise<StorageArray>;
  /** A synchronous read, offered only by backends that can (CPU); used by toString(). */
  readSync?(buf: BackendBuffer, dtype: DType, offset?: number, numel?: number): StorageArray;
  /** Compiles (or fetches from the cache) a kernel. */
  prepare(kernel: Kernel): Executable;
  /** Queues one run of a prepared kernel; `scalars` are the expression's scalar parameters. */
  dispatch(exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars?: readonly number[]): void;
  /** Submits queued work. */
  flush(): void;
  memory(): BackendMemory;
  /** Releases every resource (never a device the host app passed in). */
  destroy(): void;
  /**
   * Wraps a device buffer the host app owns as a buffer of `numel` elements, without a copy
   * (WebGPU only). It is never pooled or destroyed; the host keeps ownership.
   */
  importBuffer?(buffer: GPUBuffer, numel: number, dtype: DType): BackendBuffer;
  /** The device buffer behind `buf`, after submitting every queued command (WebGPU only). */
  exportBuffer?(buf: BackendBuffer): GPUBuffer;
}
