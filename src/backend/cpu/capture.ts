/**
 * Step capture on the CPU backend (`wt.compile`, src/compile.ts): the dispatches, copies and
 * writes of one run of a step, replayed later by calling the same prepared kernels on the same
 * typed arrays — without the front end (ops, autograd, allocation), which is most of a small
 * step's cost on the CPU.
 *
 * While recording, every command runs as usual and is also written down with the buffers it
 * names. Buffers made before the recording started are *external* (parameters, optimizer state,
 * the compiled function's input copies): replays read and write them in place, so a replay is
 * valid only while they are alive. Buffers made during it are *internal*: the recording keeps
 * their arrays, including those of buffers freed before it ended (intermediates), so replays
 * reuse them without allocating; their bytes stay counted in `wt.memory()` until the capture is
 * disposed. `lines` name external buffers by serial and internal ones by order of first use, so
 * two runs of a static step record equal lines.
 */
import { contentHash, type BackendBuffer, type BufferCopy, type CapturedStep, type DynamicScalars, type View } from '../backend.js';
import type { DType, StorageArray } from '../../dtype.js';
import type { CpuView } from './routines/index.js';
import { BackendError } from '../../errors.js';

/** What a capture needs of the buffers it names. */
export interface CapturableBuffer extends BackendBuffer {
  readonly serial: number;
  readonly dtype: DType;
  /** elements when allocated */
  readonly size: number;
  data: StorageArray | null;
  /** captures holding the array: a freed buffer is not pooled while one does */
  holds: number;
}

/** What a capture needs of the backend. */
export interface CaptureHost<E> {
  /** runs a prepared kernel on resolved views (the backend's dispatch without the lookup) */
  exec(exe: E, inputs: CpuView[], outputs: CpuView[], scalars: readonly number[]): void;
  /** the live array of a buffer (throws if it was freed) */
  arr(buf: unknown): StorageArray;
  /** the capture no longer keeps `bytes` of arrays of freed buffers */
  release(bytes: number): void;
}

export type Recorded<E> =
  | { kind: 'run'; exe: E; key: string; inputs: View[]; outputs: View[]; scalars: number[]; dynamic?: readonly DynamicScalars[] }
  | { kind: 'copy'; c: BufferCopy }
  | { kind: 'write'; buf: CapturableBuffer; offset: number; data: StorageArray };

type Step<E> =
  | { kind: 'run'; exe: E; inputs: CpuView[]; outputs: CpuView[]; scalars: number[]; dynamic?: readonly DynamicScalars[] }
  | { kind: 'copy'; src: StorageArray; srcOffset: number; dst: StorageArray; dstOffset: number; numel: number };


/** Copies numel elements between arrays (the CPU backend's copyBuffer). */
export function copyElements(src: StorageArray, srcOffset: number, dst: StorageArray, dstOffset: number, numel: number): void {
  dst.set(src.subarray(srcOffset, srcOffset + numel), dstOffset);
}

export class CpuCapture<E> implements CapturedStep {
  readonly lines: string[] = [];
  readonly dispatches: number;
  private readonly steps: Step<E>[] = [];
  /** external buffers: replays need each alive */
  private readonly guards: CapturableBuffer[] = [];
  /** internal buffers alive when prepared (gradients, outputs): held out of the pool until dispose */
  private readonly held: CapturableBuffer[] = [];
  /** the array of every buffer the steps name (an internal one stays usable after its tensor is disposed) */
  private arrays = new Map<BackendBuffer, StorageArray>();
  private prepared = false;
  private disposed = false;

  constructor(
    private readonly host: CaptureHost<E>,
    private cmds: Recorded<E>[],
    readonly spoiled: string | null,
    private readonly start: number,
    /** arrays of internal buffers freed during the recording */
    private kept: Map<CapturableBuffer, StorageArray>,
    private keptBytes: number,
  ) {
    const internal = new Map<CapturableBuffer, number>();
    const name = (b: CapturableBuffer) => {
      if (b.serial < start) return `e${b.serial}:${b.size}`;
      let k = internal.get(b);
      if (k === undefined) internal.set(b, (k = internal.size));
      return `i${k}:${b.size}`;
    };
    const viewName = (v: View) => `${name(v.buf as CapturableBuffer)}@${v.offset}[${v.shape.join(',')}]/[${v.strides.join(',')}]`;
    let n = 0;
    for (const c of cmds) {
      if (c.kind === 'run') {
        n++;
        // dynamic scalars are left out: they change between runs by design
        let u = c.scalars;
        if (c.dynamic) {
          u = u.slice();
          for (const d of c.dynamic) u.fill(0, d.at ?? 0, (d.at ?? 0) + d.n);
        }
        const dyn = c.dynamic ? ` dynamic=${c.dynamic.map((d) => `${d.at ?? 0}+${d.n}`).join(',')}` : '';
        this.lines.push(`run ${c.key} u=${u.join(',')} ${c.inputs.map(viewName).join(' ')} -> ${c.outputs.map(viewName).join(' ')}${dyn}`);
      } else if (c.kind === 'copy') {
        const x = c.c;
        this.lines.push(`copy ${name(x.src as CapturableBuffer)}@${x.srcOffset} -> ${name(x.dst as CapturableBuffer)}@${x.dstOffset} ${x.numel}`);
      } else {
        this.lines.push(`write ${name(c.buf)}@${c.offset} ${c.data.length} #${contentHash(c.data)}`);
      }
    }
    this.dispatches = n;
  }

  prepare(): string | null {
    if (this.spoiled) return this.spoiled;
    const arrays = this.arrays;
    const resolve = (b: CapturableBuffer): StorageArray | string => {
      let a = arrays.get(b);
      if (a) return a;
      if (b.serial < this.start) {
        if (!b.data) return `the step frees a tensor it uses that was made before it (a buffer of ${b.size} ${b.dtype}); the next run would not find it`;
        this.guards.push(b);
        a = b.data;
      } else {
        const d = b.data ?? this.kept.get(b);
        if (!d) return `a buffer the step made was lost before the step ended (a buffer of ${b.size} ${b.dtype})`;
        if (b.data) {
          b.holds++;
          this.held.push(b);
        }
        a = d;
      }
      arrays.set(b, a);
      return a;
    };
    const views = (vs: View[]): CpuView[] | string => {
      const out: CpuView[] = [];
      for (const v of vs) {
        const data = resolve(v.buf as CapturableBuffer);
        if (typeof data === 'string') return data;
        out.push({ ...v, data });
      }
      return out;
    };
    for (const c of this.cmds) {
      if (c.kind === 'run') {
        const inputs = views(c.inputs), outputs = views(c.outputs);
        if (typeof inputs === 'string') return this.fail(inputs);
        if (typeof outputs === 'string') return this.fail(outputs);
        this.steps.push({ kind: 'run', exe: c.exe, inputs, outputs, scalars: c.scalars, dynamic: c.dynamic });
      } else if (c.kind === 'copy') {
        const src = resolve(c.c.src as CapturableBuffer), dst = resolve(c.c.dst as CapturableBuffer);
        if (typeof src === 'string') return this.fail(src);
        if (typeof dst === 'string') return this.fail(dst);
        this.steps.push({ kind: 'copy', src, srcOffset: c.c.srcOffset, dst, dstOffset: c.c.dstOffset, numel: c.c.numel });
      } else {
        const dst = resolve(c.buf);
        if (typeof dst === 'string') return this.fail(dst);
        this.steps.push({ kind: 'copy', src: c.data, srcOffset: 0, dst, dstOffset: c.offset, numel: c.data.length });
      }
    }
    // the arrays are in the steps now; the map's other entries were never used
    this.kept = new Map();
    this.cmds = [];
    this.prepared = true;
    return null;
  }

  invalid(): string | null {
    if (this.disposed) return 'it was disposed';
    for (const g of this.guards) if (!g.data) return `a tensor the step uses was disposed (a buffer of ${g.size} ${g.dtype})`;
    return null;
  }

  replay(before: readonly BufferCopy[], after: readonly BufferCopy[]): void {
    if (!this.prepared) throw new BackendError('cpu: replay of a capture that was not prepared');
    // the outputs' copies read the recorded arrays even where the tensor was disposed since
    const arr = (b: BackendBuffer) => this.arrays.get(b) ?? this.host.arr(b);
    const copy = (c: BufferCopy) => copyElements(arr(c.src), c.srcOffset, this.host.arr(c.dst), c.dstOffset, c.numel);
    before.forEach(copy);
    for (const s of this.steps) {
      if (s.kind === 'copy') {
        copyElements(s.src, s.srcOffset, s.dst, s.dstOffset, s.numel);
        continue;
      }
      let scalars = s.scalars;
      if (s.dynamic) {
        scalars = scalars.slice();
        for (const d of s.dynamic) {
          const v = d.values(), at = d.at ?? 0;
          for (let i = 0; i < d.n; i++) scalars[at + i] = v[i];
        }
      }
      this.host.exec(s.exe, s.inputs, s.outputs, scalars);
    }
    after.forEach(copy);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.unhold();
    this.host.release(this.keptBytes);
    this.keptBytes = 0;
    this.kept = new Map();
    this.arrays = new Map();
    this.cmds = [];
    this.steps.length = 0;
    this.guards.length = 0;
  }

  private unhold(): void {
    for (const b of this.held) b.holds--;
    this.held.length = 0;
  }

  private fail(why: string): string {
    this.unhold();
    this.arrays = new Map();
    this.steps.length = 0;
    this.guards.length = 0;
    return why;
  }
}
