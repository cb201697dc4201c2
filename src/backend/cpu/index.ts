/**
 * The CPU backend: typed arrays for storage; expression kernels compiled once into WebAssembly
 * SIMD or JavaScript block functions (expr.ts: wasm/expr.ts, jit.ts, an interpreter where
 * generated code is not allowed); routines in routines/ (a cache-blocked GEMM for matmul and the
 * convolutions, WebAssembly SIMD row kernels for the norms).
 * With `{ float64: true }` float32 tensors are stored in float64 — the reference backend that
 * gradcheck uses. A compiled step (`wt.compile`) replays by dispatching its recorded commands
 * again (the recorder is the front end's, src/record.ts).
 */
import type { Backend, BackendBuffer, BackendInfo, BackendMemory, BufferCopy, Executable, KernelProfile, KernelStats, View } from '../backend.js';
import type { DType, StorageArray } from '../../dtype.js';
import { ArgumentError, BackendError } from '../../errors.js';
import { kernelKey, kernelLabel, type Kernel, type RoutineKernel } from '../../kernel/kernel.js';
import { runElementwise, runReduce } from './expr.js';
import { compile, type Program } from './program.js';
import { cpuRoutines, type CpuView } from './routines/index.js';
import { checkBoolean, checkOptions } from '../../validate.js';

class CpuBuffer implements BackendBuffer {
  constructor(
    public data: StorageArray | null,
    readonly dtype: DType,
    readonly size: number,
    /** a slice of another buffer (Backend.slice: an arena slot): its array is a subarray of that one's */
    readonly slot = false,
  ) {}
  get numel(): number {
    return this.data ? this.data.length : 0;
  }
}

interface CpuExecutable extends Executable {
  program?: Program;
  /** kernelLabel, for profiles */
  label: string;
}


const CACHE_LIMIT = 512;
/** Most bytes of freed arrays kept for reuse. */
const POOL_LIMIT = 64 << 20;

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  /** measured no faster here: the front end's per-op work dominates (src/fusion.ts) */
  readonly fusionPays = false;
  readonly float64: boolean;
  private bytes = 0;
  private cache = new Map<string, CpuExecutable>();
  private readonly compiled = { count: 0, ms: 0 };
  /**
   * While `wt.profile` runs: every dispatch timed by the wall clock (the CPU backend runs each
   * kernel synchronously, so that is its whole cost), by kernel label.
   */
  private profiler: Map<string, { count: number; ms: number }> | null = null;
  /**
   * Arrays of freed buffers by kind and length, handed out again by alloc (contents undefined, as
   * the Backend contract allows): a run of small eager ops otherwise spent about a quarter of its
   * time allocating zeroed arrays and collecting them.
   */
  private readonly pool = new Map<number, StorageArray[]>();
  private pooled = 0;
  private hits = 0;
  private misses = 0;

  constructor(opts: { float64?: boolean } = {}) {
    checkOptions('CpuBackend', opts, ['float64']);
    if (opts.float64 !== undefined) checkBoolean('CpuBackend', 'float64', opts.float64);
    this.float64 = opts.float64 ?? false;
  }

  alloc(numel: number, dtype: DType): BackendBuffer {
    let data = this.pool.get(this.poolKey(numel, dtype))?.pop();
    if (data) {
      this.pooled -= numel * 4;
      this.hits++;
    } else {
      data = dtype === 'float32' ? (this.float64 ? new Float64Array(numel) : new Float32Array(numel)) : new Int32Array(numel);
      this.misses++;
    }
    this.bytes += numel * 4;
    return new CpuBuffer(data, dtype, numel);
  }

  /** Pool key: the length and the array type (float32 storage is float64 on the float64 backend). */
  private poolKey(numel: number, dtype: DType): number {
    return numel * 3 + (dtype !== 'float32' ? 0 : this.float64 ? 1 : 2);
  }

  /** Arena slots need no alignment here. */
  readonly sliceAlign = 1;
  readonly sliceLimit = 2 ** 30;

  /** `numel` elements of `parent` from `offset`, sharing its memory (a subarray). */
  slice(parent: BackendBuffer, offset: number, numel: number): BackendBuffer {
    const p = parent as CpuBuffer;
    const d = this.arr(p);
    if (p.slot || offset < 0 || offset + numel > d.length) throw new BackendError(`cpu: slice of ${numel} elements at ${offset} of a buffer of ${d.length}`);
    return new CpuBuffer(d.subarray(offset, offset + numel), p.dtype, numel, true);
  }

  free(buf: BackendBuffer): void {
    const b = buf as CpuBuffer;
    if (!b.data || b.slot) return; // a slot's memory is its arena's
    const bytes = b.data.length * 4;
    this.bytes -= bytes;
    if (b.data.length > 0 && this.pooled + bytes <= POOL_LIMIT) {
      const key = this.poolKey(b.data.length, b.dtype);
      const list = this.pool.get(key);
      if (list) list.push(b.data);
      else this.pool.set(key, [b.data]);
      this.pooled += bytes;
    }
    b.data = null;
  }

  private arr(buf: BackendBuffer): StorageArray {
    const d = (buf as CpuBuffer).data;
    if (!d) throw new BackendError('cpu: buffer used after it was freed');
    return d;
  }

  write(buf: BackendBuffer, data: ArrayLike<number>, offset = 0): void {
    this.arr(buf).set(data, offset);
  }

  readSync(buf: BackendBuffer, _dtype: DType, offset = 0, numel?: number): StorageArray {
    const d = this.arr(buf);
    return d.slice(offset, numel === undefined ? undefined : offset + numel);
  }

  async read(buf: BackendBuffer, dtype: DType, offset = 0, numel?: number): Promise<StorageArray> {
    return this.readSync(buf, dtype, offset, numel);
  }

  prepare(kernel: Kernel): Executable {
    const key = kernelKey(kernel);
    let exe = this.cache.get(key);
    if (!exe) {
      const label = kernelLabel(kernel);
      const t0 = performance.now();
      exe = kernel.kind === 'routine' ? { kernel, label } : { kernel, label, program: compile(kernel.kind === 'elementwise' ? [kernel.expr, ...(kernel.more ?? [])] : kernel.expr) };
      if (kernel.kind !== 'routine') {
        this.compiled.count++;
        this.compiled.ms += performance.now() - t0;
      }
      if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, exe);
    }
    return exe;
  }

  kernelStats(): KernelStats {
    return { compiled: this.compiled.count, compileMs: this.compiled.ms, sourceBytes: 0, cached: this.cache.size };
  }

  dispatch(exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars: readonly number[] = []): void {
    this.exec(exe as CpuExecutable, inputs.map(this.resolve), outputs.map(this.resolve), scalars);
  }

  /** A view with its array (a literal, not a spread: V8 builds it several times faster). */
  private readonly resolve = (v: View): CpuView => ({ buf: v.buf, dtype: v.dtype, shape: v.shape, strides: v.strides, offset: v.offset, data: this.arr(v.buf) });

  /** Runs a kernel on resolved views, timed while `wt.profile` is attached. */
  private exec(exe: CpuExecutable, ins: CpuView[], outs: CpuView[], scalars: readonly number[]): void {
    if (!this.profiler) return this.run(exe, ins, outs, scalars);
    const t0 = performance.now();
    this.run(exe, ins, outs, scalars);
    const k = this.profiler.get(exe.label) ?? { count: 0, ms: 0 };
    k.count++;
    k.ms += performance.now() - t0;
    this.profiler.set(exe.label, k);
  }

  private run(exe: CpuExecutable, ins: CpuView[], outs: CpuView[], scalars: readonly number[]): void {
    const k = exe.kernel;
    const prog = exe.program!;
    switch (k.kind) {
      case 'elementwise': {
        const S = k.segments ?? 1;
        const ni = ins.length / S, no = outs.length / S;
        for (let g = 0; g < S; g++) runElementwise(prog, ins.slice(g * ni, (g + 1) * ni), outs.slice(g * no, (g + 1) * no), scalars, this.float64);
        return;
      }
      case 'reduce':
        return runReduce(prog, k.op, k.nReduce, ins, ins.length ? ins[0].shape : [...outs[0].shape, ...new Array(k.nReduce).fill(1)], outs[0], scalars, this.float64);
      case 'routine': {
        const r = cpuRoutines[k.name] as (cfg: unknown, i: CpuView[], o: CpuView[]) => void;
        return r((k as RoutineKernel).config, ins, outs);
      }
    }
  }

  flush(): void {}

  copyBuffer(c: BufferCopy): void {
    this.arr(c.dst).set(this.arr(c.src).subarray(c.srcOffset, c.srcOffset + c.numel), c.dstOffset);
  }

  info(): BackendInfo {
    return { name: 'cpu', float64: this.float64 };
  }

  startProfile(): void {
    if (this.profiler) throw new ArgumentError('profile: a profile is already running (profiles do not nest)');
    this.profiler = new Map();
  }

  async stopProfile(): Promise<KernelProfile> {
    const kernels = this.profiler ?? new Map();
    this.profiler = null;
    return { mode: 'cpu', kernels, flushMs: [] };
  }

  memory(): BackendMemory {
    return { bytesInUse: this.bytes, bytesPooled: this.pooled, poolHits: this.hits, poolMisses: this.misses };
  }

  destroy(): void {
    this.cache.clear();
    this.pool.clear();
    this.pooled = 0;
  }
}
