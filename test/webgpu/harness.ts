/**
 * A thin runner for WebGPU routines through the Backend interface (alloc / write / dispatch /
 * read) of the WebGPU backend: below the Tensor API, so a test controls every view's shape,
 * strides and offset exactly, and compares with its own float64 reference.
 *
 * NOTE: an earlier version drove Dawn directly (own pipelines, onSubmittedWorkDone / mapAsync per
 * run); on Dawn + SwiftShader in this sandbox that crashes within a few submits ("The futex
 * facility returned an unexpected error code", segfaults), while the backend's dispatcher runs
 * the same shaders reliably. So the routines are exercised through the backend.
 *
 * @example
 * const h = await createHarness();           // null without a WebGPU adapter
 * const x = h.upload(new Float32Array([1, 2])), y = h.zeros(2);
 * h.run('softmax', { log: false }, [h.view(x, [1, 2])], [h.view(y, [1, 2])]);
 * const out = await h.read(y);
 */
import { expect } from 'vitest';
import type { BackendBuffer, View } from '../../src/backend/backend.js';
import type { DType } from '../../src/dtype.js';
import type { RoutineName, Routines } from '../../src/kernel/kernel.js';
import type { GpuContext, GpuLaunch, GpuRoutine } from '../../src/backend/webgpu/launch.js';
import { gpuRoutines } from '../../src/backend/webgpu/routines/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { fixedSubgroupSize } from '../../src/backend/webgpu/device.js';
import { cpuRoutines, type CpuRoutine, type CpuView } from '../../src/backend/cpu/routines/index.js';
import { expectClose } from '../helpers.js';

/** Builds the launches of one routine call on given views (to test a chosen kernel variant). */
export type Launcher = (inputs: readonly View[], outputs: readonly View[]) => GpuLaunch[];

export interface Harness {
  backend: WebGPUBackend;
  ctx: GpuContext;
  /** A buffer holding `data` (f32 or i32 bit patterns). */
  upload(data: Float32Array | Int32Array): BackendBuffer;
  /** A buffer of n elements, all `fill` (default 0). */
  zeros(n: number, fill?: number): BackendBuffer;
  /** A view; strides default to row-major. */
  view(buf: BackendBuffer, shape: readonly number[], opts?: { strides?: readonly number[]; offset?: number; dtype?: DType }): View;
  /**
   * Queues one routine through the backend's dispatch; with `ctx`, builds the launches with that
   * context instead (e.g. a small workgroup limit, to exercise grid splitting) and queues them;
   * with a {@link Launcher}, queues the launches it builds (a variant the adapter would not pick).
   */
  run<K extends RoutineName>(name: K, config: Routines[K], inputs: readonly View[], outputs: readonly View[], ctx?: GpuContext | Launcher): void;
  /** Whole buffer, after everything queued (throws errors the device reported, e.g. WGSL). */
  read(buf: BackendBuffer): Promise<Float32Array>;
  readInt(buf: BackendBuffer): Promise<Int32Array>;
}

/** Creates the harness on a fresh WebGPU backend, or returns null when WebGPU is unavailable. */
export async function createHarness(): Promise<Harness | null> {
  let be: WebGPUBackend;
  try {
    be = await createWebGPUBackend();
  } catch {
    return null;
  }
  const device = be.device;
  return {
    backend: be,
    // the subgroup size where subgroup row kernels could run (tests pick their layouts themselves)
    // routines never snapshot (the backend's launch does, for their aliased inputs)
    ctx: { limits: device.limits, features: new Set(device.features), subgroupSize: fixedSubgroupSize(device, be.info().adapter), snapshot: noSnapshot },
    upload(data) {
      const buf = be.alloc(data.length, data instanceof Int32Array ? 'int32' : 'float32');
      be.write(buf, data);
      return buf;
    },
    zeros(n, fill = 0) {
      const buf = be.alloc(n, 'float32');
      be.write(buf, new Float32Array(n).fill(fill));
      return buf;
    },
    view(buf, shape, opts = {}) {
      const strides = opts.strides ?? rowMajor(shape);
      return { buf, shape: [...shape], strides: [...strides], offset: opts.offset ?? 0, dtype: opts.dtype ?? 'float32' };
    },
    run(name, config, inputs, outputs, ctx) {
      if (!ctx) return be.dispatch(be.prepare({ kind: 'routine', name, config }), inputs, outputs);
      const ls = typeof ctx === 'function' ? ctx(inputs, outputs) : (gpuRoutines[name] as GpuRoutine<typeof name>)(config, inputs, outputs, ctx);
      for (const l of ls) be.launch(l);
    },
    read: async (buf) => Float32Array.from(await be.read(buf, 'float32')),
    readInt: async (buf) => Int32Array.from(await be.read(buf, 'int32')),
  };
}

/** Row-major strides of a shape. */
export function rowMajor(shape: readonly number[]): number[] {
  const s: number[] = [];
  let a = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = a;
    a *= shape[i];
  }
  return s;
}

/** One operand of {@link vsCpu}: the whole backing buffer and the view into it. */
export interface Operand {
  /** buffer contents (f32 or i32 bits); the view reads it at `offset` with `strides` */
  data: Float32Array | Int32Array;
  shape: readonly number[];
  strides?: readonly number[];
  offset?: number;
}

/**
 * Runs routine `name` on the WebGPU backend and the CPU routine on copies of the same buffers,
 * then compares every output buffer whole (so a write outside the view is caught too): floats
 * within atol + rtol*|cpu| (NaN matching NaN), int32 exactly.
 */
export async function vsCpu<K extends RoutineName>(h: Harness, name: K, config: Routines[K], inputs: readonly Operand[], outputs: readonly Operand[], tol: [number, number], what: string = name, ctx?: GpuContext | Launcher): Promise<void> {
  const dtypeOf = (o: Operand): DType => (o.data instanceof Int32Array ? 'int32' : 'float32');
  const gpuView = (o: Operand): View => h.view(h.upload(o.data), o.shape, { strides: o.strides, offset: o.offset, dtype: dtypeOf(o) });
  const cpuView = (o: Operand): CpuView => ({
    buf: { numel: o.data.length }, data: o.data.slice(), dtype: dtypeOf(o),
    shape: [...o.shape], strides: [...(o.strides ?? rowMajor(o.shape))], offset: o.offset ?? 0,
  });
  const gOut = outputs.map(gpuView);
  h.run(name, config, inputs.map(gpuView), gOut, ctx);
  const cOut = outputs.map(cpuView);
  (cpuRoutines[name] as CpuRoutine<K>)(config, inputs.map(cpuView), cOut);
  for (let i = 0; i < outputs.length; i++) {
    if (outputs[i].data instanceof Int32Array) {
      const got = await h.readInt(gOut[i].buf);
      expect(Array.from(got), `${what}: output ${i}`).toEqual(Array.from(cOut[i].data));
    } else {
      expectClose(await h.read(gOut[i].buf), cOut[i].data, tol[0], tol[1], `${what}: output ${i}`);
    }
  }
}

function noSnapshot(): never {
  throw new Error('a routine asked for a snapshot: the backend makes them');
}
