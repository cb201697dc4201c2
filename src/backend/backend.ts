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

/** A prepared kernel; what it holds is the backend's business. */
export interface Executable {
  readonly kernel: Kernel;
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
 * A command of a recorded step (`wt.compile`; the recorder is the front end's, src/record.ts):
 * what the front end gave the backend, in order. Writes carry their values.
 */
export type StepCommand =
  | { kind: 'run'; exe: Executable; inputs: readonly View[]; outputs: readonly View[]; scalars: readonly number[] }
  | { kind: 'copy'; copy: BufferCopy }
  | { kind: 'write'; buf: BackendBuffer; offset: number; data: Float32Array | Float64Array | Int32Array };

/** What a backend made of a recorded step's commands (Backend.bake) to run them faster. */
export interface BakedStep {
  /**
   * Runs `before`, the commands (run i with `scalars.get(i)` in place of its recorded scalars,
   * where given), then `after`, in order with the backend's other work.
   */
  run(before: readonly BufferCopy[], after: readonly BufferCopy[], scalars: ReadonlyMap<number, readonly number[]>): void;
  /** Frees what it made (never the buffers the commands name: those are the recorder's). */
  dispose(): void;
}

/** What `wt.backendInfo()` reports: the backend's name, and for WebGPU the adapter, features and limits. */
export type BackendInfo =
  | { name: 'cpu'; float64: boolean }
  | { name: 'webgpu'; adapter: { vendor: string; architecture: string; device: string; description: string }; hostDevice: boolean; features: string[]; limits: Record<string, number> };

/** Kernels a backend timed between startProfile and stopProfile (`wt.profile`). */
export interface KernelProfile {
  /** 'timestamp-query': device time per kernel; 'wall-clock': kernels counted, time per flush only; 'cpu': wall clock per kernel */
  mode: 'timestamp-query' | 'wall-clock' | 'cpu';
  /** count and milliseconds (0 where not timed) by readable kernel name */
  kernels: ReadonlyMap<string, { count: number; ms: number }>;
  /** milliseconds from each submitted batch to its work being done */
  flushMs: readonly number[];
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
   * Eager elementwise fusion pays here: a kernel launch costs far more than a small op's
   * arithmetic, so `wt.setFusion('auto')` (the default) turns it on for this backend.
   */
  readonly fusionPays: boolean;
  /** What the backend runs on (`wt.backendInfo()`). */
  info(): BackendInfo;
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
  /** Releases the buffers kept for reuse (`wt.emptyCache()`). */
  emptyCache?(): void;
  /** Starts timing every kernel (`wt.profile`); throws an ArgumentError while a profile runs. */
  startProfile?(): void;
  /** Stops timing, once every kernel timed has finished. */
  stopProfile?(): Promise<KernelProfile>;
  /**
   * Wraps a device buffer the host app owns as a buffer of `numel` elements, without a copy
   * (WebGPU only). It is never pooled or destroyed; the host keeps ownership.
   */
  importBuffer?(buffer: GPUBuffer, numel: number, dtype: DType): BackendBuffer;
  /** The device buffer behind `buf`, after submitting every queued command (WebGPU only). */
  exportBuffer?(buf: BackendBuffer): GPUBuffer;
  /**
   * Makes something that runs a recorded step's commands faster than dispatching them one by
   * one (WebGPU: pipelines and bind groups resolved once, one command buffer per run), for
   * `wt.compile`'s replays; `dynamic`: the runs whose scalars each run may replace. The buffers
   * the commands name stay alive, unchanged, until dispose (the recorder holds them). Optional:
   * without it, replays dispatch the commands again.
   */
  bake?(commands: readonly StepCommand[], dynamic: ReadonlySet<number>): BakedStep;
  /** Copies elements between buffers, in order with the dispatches. */
  copyBuffer?(c: BufferCopy): void;
  /**
   * `numel` elements of `parent` from element `offset` as a buffer of their own (an arena slot,
   * src/optim/arena.ts): kernels, copies, reads and writes of it reach that range of the parent;
   * `free` of it is a no-op (the memory is the parent's). `offset` must be a multiple of
   * `sliceAlign`; the parent at most `sliceLimit` elements (it is bound whole).
   */
  slice?(parent: BackendBuffer, offset: number, numel: number): BackendBuffer;
  readonly sliceAlign?: number;
  readonly sliceLimit?: number;
  /** Where `buf`'s bytes start in the device buffer `exportBuffer` gives (nonzero for a slice). */
  bufferByteOffset?(buf: BackendBuffer): number;
  /** What the backend has compiled so far (absent: it compiles nothing). */
  kernelStats?(): KernelStats;
  /** Applies a float32 matmul precision to later dispatches (absent: always float32). */
  setMatmulPrecision?(p: MatmulPrecision): void;
}
