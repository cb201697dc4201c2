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

/**
 * `v` read with another shape and strides (and offset): an object literal of the same shape every
 * time, which V8 builds several times faster than `{ ...v, shape, strides }` (eager CPU ops make
 * several views each).
 */
export function relayout(v: View, shape: readonly number[], strides: readonly number[], offset = v.offset): View {
  return { buf: v.buf, dtype: v.dtype, shape, strides, offset };
}

/**
 * FNV-1a over the bytes of `data`: captures (Backend.beginCapture) compare recorded writes by
 * their contents without keeping a copy in the line.
 */
export function contentHash(data: ArrayBufferView): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16);
}

/** A prepared kernel; what it holds is the backend's business. */
export interface Executable {
  readonly kernel: Kernel;
}

/**
 * Scalars of a dispatch that change from step to step without changing the kernel (an optimizer's
 * learning rate and bias corrections, a random op's generator key and stream): a captured step
 * (src/compile.ts) recomputes the `n` scalars from `at` with `values()` before each replay.
 */
export interface DynamicScalars {
  n: number;
  values: () => readonly number[];
  /** index of the first recomputed scalar (default 0) */
  at?: number;
}

/** A copy of `numel` elements between buffers (element offsets). */
export interface BufferCopy {
  src: BackendBuffer;
  srcOffset: number;
  dst: BackendBuffer;
  dstOffset: number;
  numel: number;
}

/**
 * The commands of one run of a step, recorded by a backend that can replay them
 * (Backend.beginCapture / endCapture; used by `wt.compile`, src/compile.ts).
 */
export interface CapturedStep {
  /** one readable line per command; two recordings of a static step have equal lines */
  readonly lines: readonly string[];
  /** why it cannot be replayed (a read inside the step), else null */
  readonly spoiled: string | null;
  /** kernel dispatches per replay */
  readonly dispatches: number;
  /**
   * Makes it replayable: keeps the buffers only it uses out of the pool and builds its bind
   * groups. Call at once after endCapture; returns why it cannot be (else null).
   */
  prepare(): string | null;
  /** Null while every buffer it shares with live tensors is alive and unchanged, else why not. */
  invalid(): string | null;
  /** Runs `before`, the recorded commands (dynamic scalars recomputed), then `after`, in one submit. */
  replay(before: readonly BufferCopy[], after: readonly BufferCopy[]): void;
  /** Gives its buffers back. */
  dispose(): void;
}

export interface BackendMemory {
  /** bytes held by live buffers */
  bytesInUse: number;
  /** bytes held in the pool for reuse */
  bytesPooled: number;
  poolHits: number;
  poolMisses: number;
}

/** Kernels a backend has compiled (`wt.kernelStats()`). */
export interface KernelStats {
  /** kernels compiled since the backend started (WebGPU: compute pipelines; CPU: expression programs) */
  compiled: number;
  /** milliseconds spent compiling them (WebGPU: creating shader modules and pipelines) */
  compileMs: number;
  /** bytes of generated source they compiled (WGSL; 0 on the CPU backend) */
  sourceBytes: number;
  /** kernels in the backend's cache now */
  cached: number;
}

/**
 * Precision of float32 matmuls and convolutions (`wt.setFloat32MatmulPrecision`, as PyTorch):
 * 'highest' and 'high' compute in float32; 'medium' lets a backend compute products from
 * half-precision operands, summing in float32 (WebGPU with shader-f16: the tiled GEMMs).
 */
export type MatmulPrecision = 'highest' | 'high' | 'medium';

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
  /**
   * Queues one run of a prepared kernel; `scalars` are the expression's scalar parameters, of which
   * `dynamic` ranges change per replay of a captured step (elementwise kernels).
   */
  dispatch(exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars?: readonly number[], dynamic?: readonly DynamicScalars[]): void;
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
  /** Starts recording every command for replay (`wt.compile`; WebGPU and CPU). */
  beginCapture?(): void;
  /** Stops recording; the commands since beginCapture. */
  endCapture?(): CapturedStep;
  /** Copies elements between buffers, in order with the dispatches. */
  copyBuffer?(c: BufferCopy): void;
  /** What the backend has compiled so far (absent: it compiles nothing). */
  kernelStats?(): KernelStats;
  /** Applies a float32 matmul precision to later dispatches (absent: always float32). */
  setMatmulPrecision?(p: MatmulPrecision): void;
}
