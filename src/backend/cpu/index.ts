/**
 * The CPU backend: typed arrays for storage, the kernel IR interpreted in TypeScript
 * (src/backend/cpu/expr.ts), and routines as plain loops (src/backend/cpu/routines/).
 * With `{ float64: true }` float32 tensors are stored in float64 — the reference backend that
 * gradcheck uses.
 */
import type { Backend, BackendBuffer, BackendMemory, Executable, View } from '../backend.js';
import type { DType, StorageArray } from '../../dtype.js';
import { BackendError } from '../../errors.js';
import { kernelKey, kernelLabel, type Kernel, type RoutineKernel } from '../../kernel/kernel.js';
import { compile, runElementwise, runReduce, type Program } from './expr.js';
import { cpuRoutines, type CpuView } from './routines/index.js';

class CpuBuffer implements BackendBuffer {
  constructor(public data: StorageArray | null) {}
  get numel(): number {
    return this.data ? this.data.length : 0;
  }
}

interface CpuExecutable extends Executable {
  program?: Program;
  /** kernelLabel, for profiles */
  label: string;
}

/** Count and wall-clock milliseconds per kernel label while `wt.profile` is attached. */
export type CpuProfile = Map<string, { count: number; ms: number }>;

const CACHE_LIMIT = 512;

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly float64: boolean;
  private bytes = 0;
  private cache = new Map<string, CpuExecutable>();
  /**
   * Attached by `wt.profile`: every dispatch is timed by the wall clock (the CPU backend runs
   * each kernel synchronously, so that is its whole cost).
   */
  profiler: CpuProfile | null = null;

  constructor(opts: { float64?: boolean } = {}) {
    this.float64 = opts.float64 ?? false;
  }

  alloc(numel: number, dtype: DType): BackendBuffer {
    const data = dtype === 'float32' ? (this.float64 ? new Float64Array(numel) : new Float32Array(numel)) : new Int32Array(numel);
    this.bytes += numel * 4;
    return new CpuBuffer(data);
  }

  free(buf: BackendBuffer): void {
    const b = buf as CpuBuffer;
    if (!b.data) return;
    this.bytes -= b.data.length * 4;
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
      exe = kernel.kind === 'routine' ? { kernel, label } : { kernel, label, program: compile(kernel.kind === 'elementwise' ? [kernel.expr, ...(kernel.more ?? [])] : kernel.expr) };
      if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, exe);
    }
    return exe;
  }

  dispatch(exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars: readonly number[] = []): void {
    if (!this.profiler) return this.run(exe, inputs, outputs, scalars);
    const t0 = performance.now();
    this.run(exe, inputs, outputs, scalars);
    const label = (exe as CpuExecutable).label;
    const k = this.profiler.get(label) ?? { count: 0, ms: 0 };
    k.count++;
    k.ms += performance.now() - t0;
    this.profiler.set(label, k);
  }

  private run(exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars: readonly number[]): void {
    const ins: CpuView[] = inputs.map((v) => ({ ...v, data: this.arr(v.buf) }));
    const outs: CpuView[] = outputs.map((v) => ({ ...v, data: this.arr(v.buf) }));
    const k = exe.kernel;
    const prog = (exe as CpuExecutable).program!;
    switch (k.kind) {
      case 'elementwise': {
        const S = k.segments ?? 1;
        const ni = ins.length / S, no = outs.length / S;
        for (let g = 0; g < S; g++) runElementwise(prog, ins.slice(g * ni, (g + 1) * ni), outs.slice(g * no, (g + 1) * no), scalars, this.float64);
        return;
      }
      case 'reduce':
        return runReduce(prog, k.op, k.nReduce, ins, inputs.length ? inputs[0].shape : [...outputs[0].shape, ...new Array(k.nReduce).fill(1)], outs[0], scalars, this.float64);
      case 'routine': {
        const r = cpuRoutines[k.name] as (cfg: unknown, i: CpuView[], o: CpuView[]) => void;
        return r((k as RoutineKernel).config, ins, outs);
      }
    }
  }

  flush(): void {}

  memory(): BackendMemory {
    return { bytesInUse: this.bytes, bytesPooled: 0, poolHits: 0, poolMisses: 0 };
  }

  destroy(): void {
    this.cache.clear();
  }
}
