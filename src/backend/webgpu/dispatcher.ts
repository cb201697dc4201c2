/**
 * Batched command submission: one command encoder and one compute pass accumulate many
 * dispatches; the batch is submitted every `batchSize` dispatches, when the uniform ring is
 * full, and on every read — never per op.
 *
 * Uniforms go to a CPU-side shadow of one uniform ring buffer, each launch in a slot aligned to
 * minUniformBufferOffsetAlignment; the whole used range is written with one queue.writeBuffer
 * just before the batch is submitted. That is safe because queue operations run in call order:
 * the write lands after the previous batch (which used the old contents) has run.
 *
 * Buffer lifetime: each GpuBuffer remembers the serial of the last batch that names it. A freed
 * buffer goes back to the pool at once if that batch was already submitted, else at the next
 * submit; a write to a buffer the open batch names submits the batch first, since
 * queue.writeBuffer would otherwise overtake the encoded work.
 *
 * Bind groups are cached by layout, uniform size and buffers (the uniforms' ring offset is a
 * dynamic offset, not part of the group): a training loop draws the same pooled buffers step after
 * step, so most dispatches reuse a group instead of creating one (~50 µs each in Dawn's Node
 * bindings). Keys use the pool's serial per buffer, never reused, so a group naming a destroyed
 * buffer can never be hit again; the cache is emptied when the pool destroys buffers all the same,
 * so that it does not hold on to them.
 *
 * Profiling (`wt.profile`, src/profile.ts): while a DispatchProfiler is attached, every dispatch
 * is counted under a readable kernel name and, when the device has 'timestamp-query', gets its
 * own compute pass with begin/end timestamps; each submit is also timed on the wall clock.
 */
import type { BackendBuffer } from '../backend.js';
import type { DType } from '../../dtype.js';
import { BackendError } from '../../errors.js';
import { BufferPool, STORAGE_USAGE, USAGE } from './pool.js';
import { PipelineCache } from './pipelines.js';

/** A storage buffer handed to the front end. */
export class GpuBuffer implements BackendBuffer {
  /** serial of the last batch whose commands name this buffer (0: none yet) */
  lastUse = 0;
  /** written or bound at least once (an out-of-memory retry may only replace an untouched one) */
  touched = false;
  freed = false;
  /** where its bytes start in `gpu`: nonzero for a window or an arena slot (copies, reads and writes add it) */
  byteOffset = 0;
  constructor(public gpu: GPUBuffer, readonly numel: number, readonly dtype: DType) {}
  /** the bytes it spans from `byteOffset`: all of `gpu`, or a window's or slot's own */
  get span(): number {
    return this.gpu.size;
  }
}

/**
 * A window of a buffer larger than one storage binding (maxStorageBufferBindingSize, e.g. a
 * language model's vocabulary matrix): what one launch binds of it, `bytes` from `byteOffset`
 * (a multiple of minStorageBufferOffsetAlignment). Made per launch by the backend, which shifts
 * the launch's view offsets by the window's start; uses are recorded on the whole buffer.
 */
export class GpuWindow extends GpuBuffer {
  constructor(readonly base: GpuBuffer, byteOffset: number, readonly bytes: number, numel = bytes / 4) {
    super(base.gpu, numel, base.dtype);
    this.byteOffset = byteOffset;
    // the pool's bookkeeping (last batch, touched) belongs to the whole buffer
    Object.defineProperty(this, 'lastUse', { get: () => base.lastUse, set: (v: number) => (base.lastUse = v) });
    Object.defineProperty(this, 'touched', { get: () => base.touched, set: (v: boolean) => (base.touched = v) });
  }
  override get span(): number {
    return this.bytes;
  }
}

/**
 * An arena slot (Backend.slice: an optimizer's parameter, gradient and state arenas, one buffer
 * each, src/optim/arena.ts): `numel` elements of `base` from `byteOffset` (a multiple of
 * minStorageBufferOffsetAlignment), bound as that range. It is a buffer of its own to the front
 * end (a storage owns it, kernels bind it), but the memory is the arena's: freeing it gives nothing
 * back to the pool.
 */
export class GpuSlot extends GpuWindow {
  constructor(base: GpuBuffer, byteOffset: number, numel: number) {
    // bound as whole 16-byte words, as pooled buffers are (vec4 kernels need them); the arena's
    // layout leaves that much room before the next slot
    super(base, byteOffset, Math.max(16, Math.ceil(numel / 4) * 16), numel);
  }
}

/**
 * WebGPU forbids binding one GPUBuffer writable beside any other binding of it in a dispatch, and
 * two slots of one arena are one GPUBuffer: the arena's users (src/optim/arena.ts) never make such
 * a launch; this says so plainly if one ever is, instead of a validation error at submit.
 */
function checkSlots(l: Launch, nWrite: number): void {
  const bufs = l.buffers;
  for (let i = bufs.length - nWrite; i < bufs.length; i++) {
    for (let j = 0; j < bufs.length; j++) {
      if (j !== i && bufs[j] !== bufs[i] && bufs[j].gpu === bufs[i].gpu) {
        throw new BackendError(`webgpu: ${l.label} writes an arena slot and binds another range of the same buffer (an optimizer's parameter or gradient arena), which WebGPU forbids`);
      }
    }
  }
}

/** One compute dispatch: whole buffers bound after the uniform block, read-only ones first. */
export interface Launch {
  key: string;
  /** what profiles call it (kernelLabel of the kernel it runs, as on the CPU) */
  label: string;
  code: () => string;
  buffers: readonly GpuBuffer[];
  nRead: number;
  uniforms: Uint32Array;
  workgroups: readonly [number, number, number];
  /** packs other scalars into `uniforms`, where the expression's scalar slots are (expression kernels planned for a baked step) */
  pack?: (u: Uint32Array, scalars: readonly number[]) => void;
}

const RING_BYTES = 64 * 1024;
/** Most bind groups kept (each names a few buffers; a training step uses a few hundred). */
const GROUP_CACHE = 4096;
const QUERY_RESOLVE = 0x200; // GPUBufferUsage.QUERY_RESOLVE

/** Time and count per kernel name, and wall-clock per submitted batch, while attached. */
export class DispatchProfiler {
  readonly kernels = new Map<string, { count: number; ms: number }>();
  /** milliseconds from each submit to its work being done (the queue runs batches in order) */
  readonly flushMs: number[] = [];
  readonly timestamps: boolean;
  private readonly inFlight = new Set<Promise<void>>();
  private lastDone = 0;
  /** the open batch's query set and the kernel name of each dispatch in it */
  private querySet: GPUQuerySet | null = null;
  private names: string[] = [];

  constructor(private readonly device: GPUDevice, private readonly capacity: number) {
    this.timestamps = device.features.has('timestamp-query');
  }

  /** Counts a dispatch; with timestamps returns the pass descriptor that times it alone. */
  onDispatch(name: string): GPUComputePassDescriptor | undefined {
    const k = this.kernels.get(name) ?? { count: 0, ms: 0 };
    k.count++;
    this.kernels.set(name, k);
    if (!this.timestamps) return undefined;
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: 2 * this.capacity, label: 'wt profile' });
    const i = this.names.push(name) - 1;
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /** Counts a dispatch replayed from a compiled step (no per-dispatch timing). */
  count(name: string): void {
    const k = this.kernels.get(name) ?? { count: 0, ms: 0 };
    k.count++;
    this.kernels.set(name, k);
  }

  /** Before a submit: resolve the batch's timestamps into a buffer that can be mapped afterwards. */
  beforeSubmit(encoder: GPUCommandEncoder): () => void {
    const t0 = performance.now();
    const qs = this.querySet, names = this.names;
    this.querySet = null;
    this.names = [];
    if (qs && names.length) {
      const bytes = names.length * 16;
      const resolve = this.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | USAGE.COPY_SRC });
      const readback = this.device.createBuffer({ size: bytes, usage: USAGE.MAP_READ | USAGE.COPY_DST });
      encoder.resolveQuerySet(qs, 0, 2 * names.length, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, bytes);
      return () => {
        // mapAsync only after the submit: a buffer mapped (or being mapped) may not be submitted
        this.track(readback.mapAsync(0x1 /* GPUMapMode.READ */).then(() => {
          const t = new BigUint64Array(readback.getMappedRange());
          names.forEach((n, i) => {
            // a pass whose timestamps were not written (or wrapped) reads as 0: skip it
            const ns = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
            this.kernels.get(n)!.ms += ns / 1e6;
          });
          readback.unmap();
        }).finally(() => readback.destroy()));
        // destroy() lets submitted work that uses them finish first
        resolve.destroy();
        qs.destroy();
        this.afterSubmit(t0);
      };
    }
    qs?.destroy();
    return () => this.afterSubmit(t0);
  }

  /** Waits for every timing still in flight. */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  private afterSubmit(t0: number): void {
    this.track(this.device.queue.onSubmittedWorkDone().then(() => {
      const done = performance.now();
      // batches run one after another: this one started when it was submitted or when the last ended
      this.flushMs.push(done - Math.max(t0, this.lastDone));
      this.lastDone = done;
    }));
  }

  private track(p: Promise<void>): void {
    const t = p.catch(() => {}).finally(() => this.inFlight.delete(t));
    this.inFlight.add(t);
  }
}

export interface DispatcherOptions {
  /** dispatches per submitted command buffer (default 32) */
  batchSize?: number;
  /** bytes the storage pool may keep (default 1 GiB) */
  maxPooledBytes?: number;
  /**
   * How reads wait under Dawn's Node bindings (src/backend/webgpu/wait.ts): 'spin' polls back to
   * back (Dawn's own way), 'sleep' polls about once a millisecond after the first quarter
   * millisecond. Default: 'sleep' on a software adapter (its threads need the CPU), else 'spin'.
   * Browsers have no such polling; there this makes no difference.
   */
  waits?: 'spin' | 'sleep';
  /**
   * Optimizer steps update several parameters per kernel (ElementwiseKernel.segments) instead of
   * one kernel each. Off by default: on SwiftShader, the only adapter measured so far, such a
   * kernel runs slower than the separate ones (the MNIST MLP's 6 parameters: one 6-segment
   * kernel 11.4–12.5 ms against 6 kernels 2.6–2.8 ms in all), and the dispatches it saves cost
   * about 20 µs each in a compiled step, so training steps lost up to 1.25x in process CPU time
   * (MLP) and gained at most 1.1x (bench/RESULTS.md, 2026-11-22 and issue 22, 2026-12-06);
   * measure a hardware GPU with `npm run bench -- --segments compare` before turning it on there.
   */
  segments?: boolean;
  /**
   * The largest storage binding kernels may use, in bytes (default and cap: the device's
   * maxStorageBufferBindingSize). Buffers above it are bound a window at a time (GpuWindow);
   * tests set it low to exercise that on an adapter whose limit is large.
   */
  maxBindingBytes?: number;
  /**
   * Subgroup operations where the device has 'subgroups' of one fixed size: row kernels
   * (softmax, layerNorm, cross-entropy) with one subgroup per row and no workgroup memory or
   * barriers, and long reductions whose workgroup trees finish each subgroup with shuffles.
   * Default: on software adapters (measured faster on SwiftShader, bench/RESULTS.md 2026-11-22),
   * off on hardware until measured there (`bench/gpu.ts` runs a "webtensor (subgroups)" peer).
   */
  subgroupOps?: boolean;
  /**
   * Output tile of the tiled matmul GEMM for large products: 64 (4x4 per thread) or 128 (8x8 per
   * thread: twice the FMAs per workgroup-memory read; shaders/gemm.wgsl BIG), or 'tune': time
   * both on the device when the backend is created (and the half tiles when 'medium' precision
   * first takes them) and keep the faster, remembered per adapter (tune.ts; `gemmTunings()` says
   * what was chosen and why). Default: 'tune' on hardware adapters, 64 on software ones (they run
   * every matmul on the direct core).
   */
  gemmTile?: 64 | 128 | 'tune';
  /**
   * Under 'medium' matmul precision on a device without shader-f16, round the tiled GEMMs'
   * operands to f16 in f32 tiles (shaders/gemm.wgsl HALF without F16): the numerics of the f16
   * path, not its speed, so that the variant can be tested on any adapter. Default false: there
   * 'medium' computes in f32.
   */
  emulateF16?: boolean;
}

export class Dispatcher {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** serial of the open (unsubmitted) batch */
  private batch = 1;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly ring: GPUBuffer;
  private readonly shadow = new Uint8Array(RING_BYTES);
  private ringUsed = 0;
  private readonly align: number;
  private readonly batchSize: number;
  /** freed buffers still named by the open batch */
  private freedInBatch: GpuBuffer[] = [];
  private readonly staging: BufferPool;
  /** submit-time validation checks in flight */
  private readonly checks = new Set<Promise<void>>();
  /** command buffers submitted, dispatches encoded and bind groups created so far */
  readonly counts = { submits: 0, dispatches: 0, bindGroups: 0 };
  /** attached by `wt.profile` for its duration */
  private profiler: DispatchProfiler | null = null;
  /** bind groups by layout, uniform bytes and buffer ids, least recently used first */
  private readonly groups = new Map<string, GPUBindGroup>();

  constructor(private readonly device: GPUDevice, private readonly onError: (e: Error) => void, onOutOfMemory: (buf: GPUBuffer, size: number, retried: boolean) => void, opts: DispatcherOptions = {}) {
    this.batchSize = opts.batchSize ?? 32;
    this.align = device.limits.minUniformBufferOffsetAlignment;
    this.pool = new BufferPool(device, STORAGE_USAGE, opts.maxPooledBytes ?? 2 ** 30, onOutOfMemory, () => this.groups.clear());
    this.staging = new BufferPool(device, USAGE.MAP_READ | USAGE.COPY_DST, 256 * 2 ** 20);
    this.pipelines = new PipelineCache(device, onError);
    this.ring = device.createBuffer({ size: RING_BYTES, usage: USAGE.UNIFORM | USAGE.COPY_DST, label: 'wt uniforms' });
  }

  /** True while `wt.profile` is attached. */
  get profiling(): boolean {
    return this.profiler !== null;
  }

  /** Starts profiling (work already encoded is submitted first, so it is not counted). */
  startProfile(): DispatchProfiler {
    this.submit();
    return (this.profiler = new DispatchProfiler(this.device, this.batchSize));
  }

  /** Submits what is open, detaches the profiler and waits until its figures are complete. */
  async stopProfile(): Promise<DispatchProfiler | null> {
    this.submit();
    const p = this.profiler;
    this.profiler = null;
    await p?.settle();
    return p;
  }

  /** Encodes one dispatch into the open batch. */
  run(l: Launch): void {
    const nWrite = l.buffers.length - l.nRead;
    const maxX = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (l.workgroups.some((n) => n > maxX)) throw new BackendError(`webgpu: launch ${l.key.slice(0, 60)} needs workgroups ${l.workgroups.join('x')}, over the device limit ${maxX} per dimension`);
    if (l.workgroups.some((n) => n === 0)) return;
    const entry = this.pipelines.get(l.key, l.code, l.nRead, nWrite);
    const bytes = Math.ceil(Math.max(l.uniforms.byteLength, 16) / 16) * 16;
    if (bytes > Math.min(RING_BYTES, this.device.limits.maxUniformBufferBindingSize)) throw new BackendError(`webgpu: launch ${l.key.slice(0, 60)} has ${bytes} bytes of uniforms, more than a uniform binding holds`);
    if (this.ringUsed + bytes > RING_BYTES) this.submit();
    const offset = this.ringUsed;
    this.shadow.set(new Uint8Array(l.uniforms.buffer, l.uniforms.byteOffset, l.uniforms.byteLength), offset);
    this.ringUsed = Math.ceil((offset + bytes) / this.align) * this.align;
    for (const b of l.buffers) {
      b.lastUse = this.batch;
      b.touched = true;
    }
    if (l.buffers.some((b) => b instanceof GpuSlot)) checkSlots(l, nWrite);
    const group = this.bindGroup(entry.layout, `${l.nRead},${nWrite}`, bytes, l.buffers);
    // profiling with timestamps: a pass of its own, so that its begin/end time just this dispatch
    const timed = this.profiler?.onDispatch(l.label);
    if (timed) this.endPass();
    const pass = this.computePass(timed);
    pass.setPipeline(entry.pipeline);
    pass.setBindGroup(0, group, [offset]);
    pass.dispatchWorkgroups(l.workgroups[0], l.workgroups[1], l.workgroups[2]);
    if (timed) this.endPass();
    this.counts.dispatches++;
    if (++this.dispatches >= this.batchSize) this.submit();
  }

  /** The bind group of `buffers` after `bytes` of uniforms, from the cache when it was made before. */
  private bindGroup(layout: GPUBindGroupLayout, layoutKey: string, bytes: number, buffers: readonly GpuBuffer[]): GPUBindGroup {
    const key = this.groupKey(layoutKey, bytes, buffers);
    let group = this.groups.get(key);
    if (group) {
      this.groups.delete(key);
    } else {
      group = this.createGroup(layout, this.ring, bytes, buffers);
      this.counts.bindGroups++;
      if (this.groups.size >= GROUP_CACHE) this.groups.delete(this.groups.keys().next().value!);
    }
    this.groups.set(key, group);
    return group;
  }

  /** A bind group's cache key: layout, uniform bytes and the buffers' pool serials. */
  groupKey(layoutKey: string, bytes: number, buffers: readonly GpuBuffer[]): string {
    let key = `${layoutKey}:${bytes}`;
    for (const b of buffers) key += `,${this.pool.id(b.gpu)}${b instanceof GpuWindow ? `@${b.byteOffset}+${b.bytes}` : ''}`;
    return key;
  }

  /** A bind group of `bytes` of `uniforms` (at a dynamic offset) followed by `buffers`. */
  createGroup(layout: GPUBindGroupLayout, uniforms: GPUBuffer, bytes: number, buffers: readonly GpuBuffer[]): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms, offset: 0, size: bytes } }];
    buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: b instanceof GpuWindow ? { buffer: b.gpu, offset: b.byteOffset, size: b.bytes } : { buffer: b.gpu } }));
    return this.device.createBindGroup({ layout, entries });
  }

  /** Encodes a buffer-to-buffer copy in order with the dispatches (bytes, multiples of 4). */
  copy(src: GpuBuffer, srcOffset: number, dst: GpuBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.gpu, src.byteOffset + srcOffset, dst.gpu, dst.byteOffset + dstOffset, bytes);
    src.lastUse = dst.lastUse = this.batch;
    src.touched = dst.touched = true;
  }

  /** Writes data at a byte offset, after all work encoded so far. */
  write(buf: GpuBuffer, data: ArrayBufferView, byteOffset: number): void {
    if (buf.lastUse === this.batch) this.submit();
    this.device.queue.writeBuffer(buf.gpu, buf.byteOffset + byteOffset, data.buffer, data.byteOffset, data.byteLength);
    buf.touched = true;
  }

  /** Copies `bytes` from a byte offset of `buf` after all earlier work, through a pooled staging buffer. */
  async read(buf: GpuBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    const staging = this.staging.acquire(bytes);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(buf.gpu, buf.byteOffset + byteOffset, staging, 0, bytes);
    buf.lastUse = this.batch;
    this.submit();
    await staging.mapAsync(0x1 /* GPUMapMode.READ */, 0, bytes);
    const out = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.staging.release(staging);
    return out;
  }

  /** Returns a buffer to the pool once no unsubmitted work names it. */
  release(buf: GpuBuffer): void {
    if (buf instanceof GpuWindow) return; // a window or an arena slot: the memory is its base's
    if (buf.lastUse === this.batch) this.freedInBatch.push(buf);
    else this.pool.release(buf.gpu);
  }

  /**
   * Submits a command buffer made outside the batches (a compiled step's replay) after the open
   * batch, with the same validation check; `dispatches` counts towards `counts`.
   */
  submitCommands(cb: GPUCommandBuffer, labels: readonly string[]): void {
    this.submit();
    this.device.pushErrorScope('validation');
    this.device.queue.submit([cb]);
    this.counts.submits++;
    this.counts.dispatches += labels.length;
    if (this.profiler) for (const k of labels) this.profiler.count(k);
    this.track(this.device.popErrorScope());
  }

  /** Submits the open batch (if any work is in it). */
  submit(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.ringUsed) this.device.queue.writeBuffer(this.ring, 0, this.shadow.buffer, 0, this.ringUsed);
    const profiled = this.profiler?.beforeSubmit(this.encoder);
    this.device.pushErrorScope('validation');
    this.device.queue.submit([this.encoder.finish()]);
    profiled?.();
    this.counts.submits++;
    this.track(this.device.popErrorScope());
    this.encoder = null;
    this.dispatches = 0;
    this.ringUsed = 0;
    this.batch++;
    const ready = this.freedInBatch;
    this.freedInBatch = [];
    for (const b of ready) this.pool.release(b.gpu);
  }

  /** Reports a submit's validation error scope through onError; reads wait for it (settle). */
  private track(scope: Promise<GPUError | null>): void {
    const check = scope.then((err) => {
      if (err) this.onError(new BackendError(`webgpu: a submitted batch failed validation: ${err.message}`));
    }, () => {});
    const tracked = check.finally(() => this.checks.delete(tracked));
    this.checks.add(tracked);
  }

  /** Waits until every compile and submit check issued so far has reported. */
  async settle(): Promise<void> {
    await Promise.all([this.pipelines.settle(), ...this.checks]);
  }

  /** Destroys pooled buffers (storage and staging). */
  emptyCache(): void {
    this.pool.trim(0);
    this.staging.trim(0);
  }

  /** The device (a baked step builds its own bind groups and buffers on it). */
  get gpuDevice(): GPUDevice {
    return this.device;
  }

  destroy(): void {
    this.groups.clear();
    this.encoder = null;
    this.pass = null;
    this.emptyCache();
    this.pipelines.clear();
    this.ring.destroy();
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder({ label: `wt batch ${this.batch}` }));
  }

  private computePass(desc?: GPUComputePassDescriptor): GPUComputePassEncoder {
    return (this.pass ??= this.commandEncoder().beginComputePass(desc));
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }
}
