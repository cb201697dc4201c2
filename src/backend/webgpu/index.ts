/**
 * The WebGPU backend: device acquisition (device.ts), a size-classed buffer pool (pool.ts),
 * batched submission with a uniform ring and pooled staging reads (dispatcher.ts), a pipeline
 * cache (pipelines.ts), expression kernels generated from the IR (kernels.ts, src/kernel/wgsl.ts)
 * and hand-written routines (routines/, through the GpuLaunch contract of launch.ts).
 *
 * Errors that WebGPU reports asynchronously (WGSL compile errors, out of memory, validation)
 * are recorded and thrown by the next `read` or `flush`. After the device is lost every call
 * throws DeviceLostError; `wt.init()` builds a fresh backend.
 */
import type { Backend, BackendBuffer, BackendMemory, BakedStep, BufferCopy, Executable, KernelProfile, KernelStats, MatmulPrecision, StepCommand, View } from '../backend.js';
import type { DType, StorageArray } from '../../dtype.js';
import { ArgumentError, BackendError, DeviceLostError, OutOfMemoryError, ShaderCompileError } from '../../errors.js';
import { kernelKey, kernelLabel, type Kernel, type RoutineKernel, type RoutineName } from '../../kernel/kernel.js';
import { analyzeExpr, type ExprInfo } from '../../kernel/wgsl.js';
import { acquireDevice, fixedSubgroupSize, type WebGPUInfo } from './device.js';
import { Dispatcher, GpuBuffer, GpuSlot, GpuWindow, type DispatcherOptions, type Launch } from './dispatcher.js';
import { bake } from './bake.js';
import { USAGE } from './pool.js';
import { sleepingWait } from './wait.js';
import { elementwiseLaunch, reduceLaunch, segmentsLaunch } from './kernels.js';
import type { GpuContext, GpuLaunch, GpuRoutine } from './launch.js';
import { probeGemmHalf } from './probe.js';
import { tuneGemmTile, type GemmTuning } from './tune.js';
import type { GemmHalf, GemmTile } from './routines/matmul.js';
import { gpuRoutines } from './routines/index.js';

export type { WebGPUInfo } from './device.js';
export type { GemmTuning, TileTiming } from './tune.js';

interface GpuExecutable extends Executable {
  readonly info?: ExprInfo;
  /** kernelLabel, for profiles */
  readonly label: string;
}

const CACHE_LIMIT = 1024;

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  /** a chain of 1,000 small ops ran about 5x faster fused (bench/RESULTS.md) */
  readonly fusionPays = true;
  private readonly dispatcher: Dispatcher;
  private readonly executables = new Map<string, GpuExecutable>();
  private readonly ctx: GpuContext;
  /** the first asynchronously reported error not yet thrown */
  private asyncError: Error | null = null;
  private lost: GPUDeviceLostInfo | null = null;
  private destroyed = false;
  private readonly live = new Set<GpuBuffer>();
  /** buffers the host app owns (importBuffer): never pooled or destroyed */
  private readonly foreign = new WeakSet<GpuBuffer>();
  /** asynchronous validation of imported buffers, awaited by the next read */
  private readonly importChecks = new Set<Promise<void>>();
  private checkLayout: GPUBindGroupLayout | null = null;
  /** reads wait with Dawn's polling slowed to a timer (wait.ts) */
  private readonly sleep: boolean;
  /** DispatcherOptions.maxBindingBytes */
  private readonly maxBindingBytes: number | undefined;
  /** optimizer steps pack parameters into multi-segment kernels (DispatcherOptions.segments) */
  private readonly segments: boolean;
  /** 'medium' precision without shader-f16 rounds GEMM tiles to f16 (DispatcherOptions.emulateF16) */
  private readonly emulateF16: boolean;
  private precision: MatmulPrecision = 'highest';
  /** the half tiles' check on this device (probe.ts), started by the first 'medium' */
  private halfCheck: Promise<boolean> | null = null;
  /** its outcome once known */
  private halfOk: boolean | null = null;
  /** the GEMM tile: fixed, or measured on the device (tune.ts) */
  private readonly tileChoice: 64 | 128 | 'tune';
  /** what tuneGemm chose, per precision */
  private readonly tunings: GemmTuning[] = [];

  /**
   * Wraps a ready device; `owned` says whether destroy() may destroy it. Prefer
   * `createWebGPUBackend()`, which acquires one.
   */
  constructor(readonly device: GPUDevice, private readonly meta: WebGPUInfo, private readonly owned: boolean, opts: DispatcherOptions = {}) {
    this.dispatcher = new Dispatcher(device, (e) => this.keepError(e), (buf, size, retried) => this.outOfMemory(buf, size, retried), opts);
    const software = /swiftshader|llvmpipe|lavapipe|warp/i.test(`${meta.adapter.architecture} ${meta.adapter.description} ${meta.adapter.device}`);
    const subgroupSize = (opts.subgroupOps ?? software) ? fixedSubgroupSize(device, meta.adapter) : undefined;
    if (opts.gemmTile !== undefined && opts.gemmTile !== 64 && opts.gemmTile !== 128 && opts.gemmTile !== 'tune') throw new ArgumentError(`webgpu: gemmTile must be 64, 128 or 'tune', got ${JSON.stringify(opts.gemmTile)}`);
    this.tileChoice = opts.gemmTile ?? 'tune';
    const fixedTile = this.tileChoice === 'tune' ? undefined : this.tileChoice;
    this.ctx = { limits: device.limits, features: new Set(device.features), software, subgroupSize, gemmTile: fixedTile, snapshot: this.snapshot };
    if (opts.waits !== undefined && opts.waits !== 'spin' && opts.waits !== 'sleep') throw new ArgumentError(`webgpu: waits must be 'spin' or 'sleep', got ${JSON.stringify(opts.waits)}`);
    this.sleep = (opts.waits ?? (software ? 'sleep' : 'spin')) === 'sleep';
    this.segments = opts.segments ?? false;
    this.maxBindingBytes = opts.maxBindingBytes;
    this.emulateF16 = opts.emulateF16 ?? false;
    device.lost.then((info) => {
      this.lost = info;
    });
    if (owned) {
      device.addEventListener('uncapturederror', (ev) => this.keepError(new BackendError(`webgpu: ${(ev as GPUUncapturedErrorEvent).error.message}`)));
    }
  }

  get segmentBuffers(): number {
    return this.segments ? this.device.limits.maxStorageBuffersPerShaderStage : 0;
  }

  alloc(numel: number, dtype: DType): BackendBuffer {
    this.alive();
    const buf = new GpuBuffer(this.dispatcher.pool.acquire(Math.max(numel, 1) * 4), numel, dtype);
    this.live.add(buf);
    return buf;
  }

  /** Storage buffers may start at multiples of this many elements (minStorageBufferOffsetAlignment). */
  get sliceAlign(): number {
    return Math.max(1, this.device.limits.minStorageBufferOffsetAlignment / 4);
  }

  /** The largest buffer `slice` may carve (one storage binding: an arena is bound whole). */
  get sliceLimit(): number {
    return Math.floor(this.bindingLimit / 4);
  }

  /** `numel` elements of `parent` from element `offset` (a multiple of sliceAlign) as a buffer of their own (GpuSlot). */
  slice(parent: BackendBuffer, offset: number, numel: number): BackendBuffer {
    this.alive();
    const p = this.use(parent);
    if (p instanceof GpuWindow || offset % this.sliceAlign !== 0 || offset < 0 || (offset + Math.max(4, Math.ceil(numel / 4) * 4)) * 4 > p.gpu.size) {
      throw new BackendError(`webgpu: slice of ${numel} elements at ${offset} of a buffer of ${p.numel} (offsets must be multiples of ${this.sliceAlign})`);
    }
    return new GpuSlot(p, offset * 4, numel);
  }

  /** Where `buf`'s bytes start in the GPUBuffer exportBuffer gives (an arena slot's offset). */
  bufferByteOffset(buf: BackendBuffer): number {
    return (buf as GpuBuffer).byteOffset;
  }

  reserve(numel: number): void {
    this.alive();
    this.dispatcher.pool.sizeFor(Math.max(numel, 1) * 4);
  }

  free(buf: BackendBuffer): void {
    const b = buf as GpuBuffer;
    if (b.freed || b instanceof GpuSlot) return; // a slot's memory is its arena's
    b.freed = true;
    this.live.delete(b);
    // after loss or destroy there is nothing to recycle into; a host buffer stays the host's
    if (this.lost || this.destroyed || this.foreign.has(b)) return;
    this.dispatcher.release(b);
  }

  write(buf: BackendBuffer, data: ArrayLike<number>, offset = 0): void {
    this.alive();
    const b = this.use(buf);
    if (data.length === 0) return;
    this.needUsage(b, USAGE.COPY_DST, 'COPY_DST', 'write into it');
    const typed = b.dtype === 'float32'
      ? (data instanceof Float32Array ? data : Float32Array.from(data))
      : (data instanceof Int32Array ? data : Int32Array.from(data));
    if (offset < 0 || offset + typed.length > b.numel) throw new BackendError(`webgpu: write of ${typed.length} elements at ${offset} overflows a buffer of ${b.numel}`);
    this.dispatcher.write(b, typed, offset * 4);
  }

  async read(buf: BackendBuffer, dtype: DType, offset = 0, numel?: number): Promise<StorageArray> {
    this.alive();
    const b = this.use(buf);
    const n = numel ?? b.numel - offset;
    this.needUsage(b, USAGE.COPY_SRC, 'COPY_SRC', 'read it back (or read a copy: t.clone().data())');
    const bytes = await (this.sleep ? sleepingWait(() => this.fetch(b, offset, n)) : this.fetch(b, offset, n));
    this.alive();
    this.throwAsyncError();
    const out = dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
    if (bytes) out.set(dtype === 'float32' ? new Float32Array(bytes) : new Int32Array(bytes));
    return out;
  }

  /** Submits everything so far and copies n elements from `offset` out (null when n is 0). */
  private async fetch(b: GpuBuffer, offset: number, n: number): Promise<ArrayBuffer | null> {
    if (this.importChecks.size) await Promise.all(this.importChecks);
    let bytes: ArrayBuffer | null = null;
    if (n > 0) {
      try {
        bytes = await this.dispatcher.read(b, offset * 4, n * 4);
      } catch (e) {
        this.alive();
        throw new BackendError(`webgpu: read failed: ${(e as Error).message}`);
      }
    } else this.dispatcher.submit();
    await this.dispatcher.settle();
    return bytes;
  }

  prepare(kernel: Kernel): Executable {
    this.alive();
    const key = kernelKey(kernel);
    let exe = this.executables.get(key);
    if (!exe) {
      const label = kernelLabel(kernel);
      exe = kernel.kind === 'routine' ? { kernel, label }
        : { kernel, label, info: analyzeExpr(kernel.kind === 'elementwise' ? [kernel.expr, ...(kernel.more ?? [])] : kernel.expr) };
      if (this.executables.size >= CACHE_LIMIT) this.executables.delete(this.executables.keys().next().value!);
      this.executables.set(key, exe);
    }
    return exe;
  }

  dispatch(exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars: readonly number[] = []): void {
    this.alive();
    for (const v of inputs) this.use(v.buf);
    for (const v of outputs) this.use(v.buf);
    for (const l of this.plan(exe, inputs, outputs, scalars, this.snapshot, false)) this.dispatcher.run(l);
  }

  /**
   * The launches of one dispatch, in order: a routine's one at a time, each converted when the
   * one before has been taken (its snapshots must copy what the earlier launches wrote).
   * `snapshot` makes the copy a launch reads where it also writes a buffer; `repack` gives
   * expression launches the way to pack other scalars (a baked step).
   */
  private *plan(exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars: readonly number[], snapshot: (b: GpuBuffer) => GpuBuffer, repack: boolean): Iterable<Launch> {
    [inputs, outputs] = this.windowed(exe, inputs, outputs);
    const k = exe.kernel;
    const { info, label } = exe as GpuExecutable;
    const ctx = snapshot === this.snapshot ? this.ctx : { ...this.ctx, snapshot };
    let l: Omit<Launch, 'label'> | null = null;
    switch (k.kind) {
      case 'elementwise':
        l = k.segments ? segmentsLaunch(info!, k.segments, inputs, outputs, scalars, ctx, repack) : elementwiseLaunch(info!, inputs, outputs, scalars, ctx, repack);
        break;
      case 'reduce':
        l = reduceLaunch(k, info!, inputs, outputs[0], scalars, ctx);
        break;
      case 'routine': {
        const r = gpuRoutines[k.name as RoutineName] as GpuRoutine<RoutineName>;
        const passes = r((k as RoutineKernel).config, inputs, outputs, ctx);
        // a routine of several passes: each timed under its own name
        for (const [i, g] of passes.entries()) yield this.toLaunch(g, snapshot, passes.length > 1 ? `${label} ${i + 1}/${passes.length}` : label);
        return;
      }
    }
    if (l) yield Object.assign(l, { label });
  }

  /**
   * The views of a launch with every buffer larger than one storage binding replaced by the
   * window of it that the launch's views reach (one window per buffer, spanning all of its views,
   * so aliasing checks still see one buffer), their offsets shifted to the window's start. A
   * launch whose views of one buffer span more than a binding cannot run: a BackendError names
   * the sizes (split the tensor, e.g. a vocabulary matrix into row blocks: src/lm/layers.ts).
   */
  private windowed(exe: Executable, inputs: readonly View[], outputs: readonly View[]): [readonly View[], readonly View[]] {
    const limit = this.bindingLimit;
    const big = (v: View) => v.buf.numel * 4 > limit;
    if (!inputs.some(big) && !outputs.some(big)) return [inputs, outputs];
    const span = new Map<BackendBuffer, [number, number]>();
    for (const v of [...inputs, ...outputs]) {
      if (!big(v) || v.shape.some((d) => d === 0)) continue;
      let lo = v.offset, hi = v.offset;
      v.shape.forEach((d, i) => {
        const reach = (d - 1) * v.strides[i];
        if (reach < 0) lo += reach;
        else hi += reach;
      });
      const s = span.get(v.buf);
      span.set(v.buf, s ? [Math.min(s[0], lo), Math.max(s[1], hi)] : [lo, hi]);
    }
    const align = this.device.limits.minStorageBufferOffsetAlignment / 4;
    const windows = new Map<BackendBuffer, GpuWindow>();
    for (const [buf, [lo, hi]] of span) {
      const start = Math.floor(lo / align) * align;
      const end = Math.min(buf.numel, Math.ceil((hi + 1) / 4) * 4);
      const bytes = (end - start) * 4;
      if (bytes > limit) {
        throw new BackendError(`webgpu: ${kernelLabel(exe.kernel)} reaches ${bytes} bytes of one buffer (of ${buf.numel * 4}), more than one storage binding holds (${limit} bytes, maxStorageBufferBindingSize); run it on smaller slices of the tensor`);
      }
      windows.set(buf, new GpuWindow(buf as GpuBuffer, start * 4, bytes));
    }
    const shift = (v: View): View => {
      const w = windows.get(v.buf);
      return w ? { ...v, buf: w, offset: v.offset - w.byteOffset / 4 } : v;
    };
    return [inputs.map(shift), outputs.map(shift)];
  }

  /** The largest storage binding kernels use (DispatcherOptions.maxBindingBytes, capped by the device's). */
  get bindingLimit(): number {
    return Math.min(this.maxBindingBytes ?? Infinity, this.device.limits.maxStorageBufferBindingSize);
  }

  /** Runs routine launches (also the way tests inject hand-written shaders). */
  launch(l: GpuLaunch): void {
    this.alive();
    this.dispatcher.run(this.toLaunch(l, this.snapshot, l.key));
  }

  /** A routine's launch as the dispatcher takes it: uniforms padded; a buffer both read and written read through a snapshot (WebGPU forbids the aliasing). */
  private toLaunch(l: GpuLaunch, snapshot: (b: GpuBuffer) => GpuBuffer, label: string): Launch {
    const outs = new Set(l.outputs.map((v) => v.buf));
    const snaps = new Map<BackendBuffer, GpuBuffer>();
    const reads = l.inputs.map((v) => {
      if (!outs.has(v.buf)) return v.buf as GpuBuffer;
      let s = snaps.get(v.buf);
      if (!s) snaps.set(v.buf, (s = snapshot(v.buf as GpuBuffer)));
      return s;
    });
    const words = Math.ceil(Math.max(l.uniforms.length, 4) / 4) * 4;
    const uniforms = new Uint32Array(words);
    uniforms.set(l.uniforms);
    return { key: `r:${l.key}`, label, code: l.code, buffers: [...reads, ...l.outputs.map((v) => v.buf as GpuBuffer)], nRead: reads.length, uniforms, workgroups: l.workgroups };
  }

  /**
   * A compiled step's commands planned once, as one command buffer per run (bake.ts); the front
   * end's recorder keeps the buffers they name (src/record.ts).
   */
  bake(commands: readonly StepCommand[], dynamic: ReadonlySet<number>): BakedStep {
    this.alive();
    // released buffers the open batch still names go back to the pool first
    this.dispatcher.submit();
    const baked = bake(this.dispatcher, commands, dynamic, (exe, ins, outs, sc, snap, repack) => this.plan(exe, ins, outs, sc, snap, repack));
    return {
      run: (before, after, scalars) => {
        this.alive();
        baked.run(before, after, scalars);
      },
      dispose: () => baked.dispose(),
    };
  }

  flush(): void {
    this.alive();
    this.dispatcher.submit();
    this.throwAsyncError();
  }

  copyBuffer(c: BufferCopy): void {
    this.alive();
    this.dispatcher.copy(this.use(c.src), c.srcOffset * 4, this.use(c.dst), c.dstOffset * 4, c.numel * 4);
  }

  /**
   * 'medium' turns on the half-precision GEMM tiles ('f16' with shader-f16, else 'emulate' when
   * DispatcherOptions.emulateF16) once they pass a check on this device (probe.ts): until then,
   * and for good if they fail it (with one warning), matmuls stay in float32.
   */
  setMatmulPrecision(p: MatmulPrecision): void {
    this.precision = p;
    const half = p !== 'medium' ? undefined : this.ctx.features.has('shader-f16') ? 'f16' : this.emulateF16 ? 'emulate' : undefined;
    if (!half) {
      this.ctx.gemmHalf = undefined;
      return;
    }
    if (this.halfOk !== null) {
      // checked already: switch at once
      this.ctx.gemmHalf = this.halfOk ? half : undefined;
      return;
    }
    this.halfCheck ??= probeGemmHalf(this.device, this.ctx, half).then(async (why) => {
      if (why) console.warn(`webtensor: 'medium' matmul precision stays float32 on this device: the ${half} GEMM tiles failed their check (${why})`);
      // the half tiles' own timing; it queues behind whatever work is in flight, so the fastest
      // of its rounds counts (the one such work is least likely to have slowed)
      else await this.tuneGemm(half);
      this.halfOk = !why;
      if (this.halfOk && this.precision === 'medium') this.ctx.gemmHalf = half;
      return this.halfOk;
    });
  }

  /**
   * Sets the GEMM tile of `half` tiles (f32 when undefined) by DispatcherOptions.gemmTile: fixed,
   * or with 'tune' the faster on this device (tune.ts; software adapters keep 64: their matmuls
   * run the direct core). `createWebGPUBackend` runs it for f32, the first 'medium' precision for
   * its half tiles. Resolves to the choice, also listed by {@link gemmTunings}. `size`: the side
   * of the timed product (tests; default tune.ts TUNE_SIZE).
   */
  async tuneGemm(half?: GemmHalf, size?: number): Promise<GemmTuning> {
    const precision = half ?? 'f32';
    const done = this.tunings.find((t) => t.precision === precision);
    if (done) return done;
    const fixed = (tile: GemmTile, reason: string): GemmTuning => ({ precision, tile, source: 'fixed', size: 0, timings: [], reason });
    let t: GemmTuning;
    if (this.tileChoice !== 'tune') t = fixed(this.tileChoice, `gemmTile ${this.tileChoice} was asked for`);
    else if (this.ctx.software) t = fixed(64, 'a software adapter: its matmuls run the direct core, not the tiles');
    else {
      // a failure to time (a lost device, say) must not fail the backend: keep the default
      t = await tuneGemmTile(this.device, this.ctx, this.meta.adapter, { half, size })
        .catch((e: Error) => fixed(64, `timing the tiles failed: ${e.message}`));
    }
    if (!this.tunings.some((x) => x.precision === precision)) this.tunings.push(t);
    if (half) this.ctx.gemmTileHalf = t.tile;
    else this.ctx.gemmTile = t.tile;
    return t;
  }

  /** The GEMM tiles chosen so far, per precision, with the timings behind a measured choice. */
  gemmTunings(): readonly GemmTuning[] {
    return this.tunings;
  }

  /** Resolves once a 'medium' precision set so far is in force: whether its half tiles passed their check. */
  async halfReady(): Promise<boolean> {
    return this.halfCheck ? this.halfCheck : false;
  }

  memory(): BackendMemory {
    const m = this.dispatcher.pool.memory();
    return { bytesInUse: m.bytesInUse, bytesPooled: m.bytesPooled, poolHits: m.poolHits, poolMisses: m.poolMisses };
  }

  /**
   * Wraps a GPUBuffer of the host app (on this device, with STORAGE usage) without copying.
   * That it belongs to this device is checked asynchronously: a foreign device's buffer makes
   * the next read throw.
   */
  importBuffer(buffer: GPUBuffer, numel: number, dtype: DType): BackendBuffer {
    this.alive();
    if (!(buffer.usage & USAGE.STORAGE)) {
      throw new ArgumentError(`fromGPUBuffer: the buffer's usage (0x${buffer.usage.toString(16)}) lacks STORAGE; create it with GPUBufferUsage.STORAGE (and COPY_SRC to read values back with data())`);
    }
    if (buffer.mapState !== 'unmapped') throw new ArgumentError(`fromGPUBuffer: the buffer is ${buffer.mapState}; unmap it first`);
    if (numel * 4 > buffer.size) throw new ArgumentError(`fromGPUBuffer: ${numel} elements need ${numel * 4} bytes but the buffer has ${buffer.size}`);
    const b = new GpuBuffer(buffer, numel, dtype);
    this.foreign.add(b);
    // binding it is the cheapest operation that validates the buffer's device
    this.checkLayout ??= this.device.createBindGroupLayout({ entries: [{ binding: 0, visibility: 0x4 /* COMPUTE */, buffer: { type: 'read-only-storage' } }] });
    this.device.pushErrorScope('validation');
    this.device.createBindGroup({ layout: this.checkLayout, entries: [{ binding: 0, resource: { buffer } }] });
    const check = this.device.popErrorScope().then((err) => {
      if (err) this.keepError(new ArgumentError(`fromGPUBuffer: the buffer cannot be used on webtensor's device (is it from another GPUDevice, or destroyed? pass the host's device to wt.init({ device })): ${err.message}`));
    }, () => {});
    const tracked = check.finally(() => this.importChecks.delete(tracked));
    this.importChecks.add(tracked);
    return b;
  }

  /** The GPUBuffer behind `buf`, after submitting all queued work (so host commands run after it). */
  exportBuffer(buf: BackendBuffer): GPUBuffer {
    this.alive();
    const b = this.use(buf);
    this.flush();
    return b.gpu;
  }

  /** Destroys every pooled buffer (live tensors keep theirs). */
  emptyCache(): void {
    if (this.lost || this.destroyed) return;
    this.dispatcher.submit();
    this.dispatcher.emptyCache();
  }

  /** Counters for tests and benchmarks: submits, dispatches, bind groups made, and the cached pipelines' keys. */
  stats(): { submits: number; dispatches: number; bindGroups: number; pipelines: string[] } {
    return { ...this.dispatcher.counts, pipelines: this.dispatcher.pipelines.keys() };
  }

  kernelStats(): KernelStats {
    const c = this.dispatcher.pipelines.compiled;
    return { compiled: c.count, compileMs: c.ms, sourceBytes: c.sourceBytes, cached: this.dispatcher.pipelines.keys().length };
  }

  /** Adapter, features and limits of this backend. */
  info(): WebGPUInfo {
    return this.meta;
  }

  /** Times every dispatch: on the device with 'timestamp-query', else counts them and times each flush. */
  startProfile(): void {
    this.alive();
    if (this.dispatcher.profiling) throw new ArgumentError('profile: a profile is already running (profiles do not nest)');
    this.dispatcher.startProfile();
  }

  async stopProfile(): Promise<KernelProfile> {
    const p = await this.dispatcher.stopProfile();
    return { mode: p?.timestamps ? 'timestamp-query' : 'wall-clock', kernels: p?.kernels ?? new Map(), flushMs: p?.flushMs ?? [] };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (!this.lost) {
      this.dispatcher.submit();
      this.dispatcher.destroy();
      // buffers of tensors still alive: their work is submitted; free the memory once it ran
      const bufs = [...this.live].map((b) => b.gpu);
      const go = () => bufs.forEach((b) => b.destroy());
      this.device.queue.onSubmittedWorkDone().then(go, go);
    }
    this.live.clear();
    this.executables.clear();
    if (this.owned) this.device.destroy();
  }

  /** A temporary whole-buffer copy, freed once the current batch is submitted. */
  private readonly snapshot = (buf: GpuBuffer): GpuBuffer => {
    this.needUsage(buf, USAGE.COPY_SRC, 'COPY_SRC', 'be read and written by one kernel');
    const copy = new GpuBuffer(this.dispatcher.pool.acquire(buf.span), buf.numel, buf.dtype);
    this.dispatcher.copy(buf, 0, copy, 0, buf.span);
    this.dispatcher.release(copy);
    return copy;
  };

  private use(buf: BackendBuffer): GpuBuffer {
    const b = buf as GpuBuffer;
    if (!(b instanceof GpuBuffer)) throw new BackendError('webgpu: a buffer from another backend was passed in');
    if (b.freed) throw new BackendError('webgpu: buffer used after it was freed');
    return b;
  }

  /** Host buffers may lack the copy usages that our own buffers always have. */
  private needUsage(b: GpuBuffer, bit: number, name: string, what: string): void {
    if (!(b.gpu.usage & bit)) throw new ArgumentError(`webgpu: the host GPUBuffer behind this tensor lacks ${name} usage, needed to ${what}`);
  }

  private alive(): void {
    if (this.lost) {
      const why = this.lost.message ? `${this.lost.reason}: ${this.lost.message}` : this.lost.reason;
      throw new DeviceLostError(`webgpu: the GPU device was lost (${why}); call wt.init() to start a new backend`);
    }
    if (this.destroyed) throw new DeviceLostError('webgpu: this backend was destroyed; call wt.init() to start a new one');
  }

  /**
   * Keeps the first error, except that a specific one (a compile error, out of memory) replaces
   * a generic validation error, which is usually its consequence (an invalid pipeline or buffer).
   */
  private keepError(e: Error): void {
    const specific = (x: Error) => x instanceof ShaderCompileError || x instanceof OutOfMemoryError;
    if (!this.asyncError || (specific(e) && !specific(this.asyncError))) this.asyncError = e;
  }

  private throwAsyncError(): void {
    const e = this.asyncError;
    if (e) {
      this.asyncError = null;
      throw e;
    }
  }

  /**
   * The device could not create `gpu` (the pool was already emptied). An untouched buffer is
   * replaced once; otherwise the work that used it is lost and the next read throws.
   */
  private outOfMemory(gpu: GPUBuffer, size: number, retried: boolean): void {
    const owner = [...this.live].find((b) => b.gpu === gpu);
    if (owner && !owner.touched && !retried) {
      owner.gpu = this.dispatcher.pool.recreate(size);
      return;
    }
    this.keepError(new OutOfMemoryError(`webgpu: out of memory allocating ${size} bytes, even after emptying the buffer pool; ` +
      `${this.memory().bytesInUse} bytes are in use by live tensors (dispose tensors, use wt.tidy, or reduce the batch size)`));
  }
}

/**
 * Creates the WebGPU backend: on `device` when given (adopted, never destroyed), else on a new
 * device from navigator.gpu or, in Node, the optional `webgpu` package. On a hardware adapter it
 * first times the two GEMM tiles there (DispatcherOptions.gemmTile 'tune', tune.ts: a fraction of
 * a second the first time, nothing when the adapter's choice is remembered).
 *
 * @example const backend = await createWebGPUBackend(); wt.setBackend(backend);
 */
export async function createWebGPUBackend(device?: GPUDevice, opts: DispatcherOptions = {}): Promise<WebGPUBackend> {
  const acq = await acquireDevice(device);
  const backend = new WebGPUBackend(acq.device, acq.info, acq.owned, opts);
  await backend.tuneGemm();
  return backend;
}
