/**
 * The contract between WebGPU routines and the WebGPU backend's dispatcher.
 *
 * A routine turns (config, input views, output views) into one or more launches. Binding
 * layout of every launch: @group(0) @binding(0) is a uniform buffer with the launch's
 * `uniforms` (a u32 array; put floats in with bitcast, i32 as two's complement); bindings
 * 1..n are `inputs` as `var<storage, read>`, then `outputs` as `var<storage, read_write>`, in
 * that order. Whole buffers are bound: element offsets and strides travel in the uniforms, so
 * one pipeline serves every shape. f32 data binds as array<f32>, int32 as array<i32>, bool as
 * array<u32> (0/1).
 */
import type { View } from '../backend.js';
import type { RoutineName, Routines } from '../../kernel/kernel.js';
import type { GpuBuffer } from './dispatcher.js';

export interface GpuLaunch {
  /** pipeline cache key: everything that changes the WGSL source */
  key: string;
  /** the WGSL source; called only on a cache miss */
  code: () => string;
  inputs: readonly View[];
  outputs: readonly View[];
  /** uniform words (padded by the dispatcher to a multiple of 16 bytes) */
  uniforms: Uint32Array;
  /** workgroup counts; the dispatcher splits x beyond the device limit only if the routine says so */
  workgroups: readonly [number, number, number];
}

/** What a launch is planned against: the device's limits and features, and the backend's choices. */
export interface GpuContext {
  limits: GPUSupportedLimits;
  features: ReadonlySet<string>;
  /** a CPU-emulated adapter (SwiftShader, llvmpipe): workgroup barriers and atomics are costly there */
  software?: boolean;
  /**
   * The subgroup size when the device has 'subgroups' and the adapter's subgroups all have this
   * one size, and subgroup operations are on (DispatcherOptions.subgroupOps); else undefined.
   */
  subgroupSize?: number;
  /**
   * Tiled GEMMs (matmul, conv) take their operands through half-precision tiles: set by
   * WebGPUBackend.setMatmulPrecision('medium') when the device has shader-f16 ('f16'), or with
   * DispatcherOptions.emulateF16 on one without ('emulate'); else undefined (f32).
   */
  gemmHalf?: 'f16' | 'emulate';
  /**
   * Output tile of large tiled matmuls in f32 (DispatcherOptions.gemmTile: fixed, or measured on
   * the device by tune.ts; default 64).
   */
  gemmTile?: 64 | 128;
  /** The same for the half tiles of 'medium' precision (default: gemmTile). */
  gemmTileHalf?: 64 | 128;
  /**
   * A temporary copy of a whole buffer (freed after the current batch), for a launch that reads a
   * buffer it also writes. Expression kernels call it; routines leave it to the backend, which
   * snapshots their launches' aliased inputs itself.
   */
  snapshot(buf: GpuBuffer): GpuBuffer;
}

export type GpuRoutine<K extends RoutineName> = (config: Routines[K], inputs: readonly View[], outputs: readonly View[], ctx: GpuContext) => GpuLaunch[];

/** Helpers to pack uniforms. */
export const u32 = (x: number): number => x >>> 0;
export const i32 = (x: number): number => x | 0;
const f32buf = new Float32Array(1), u32view = new Uint32Array(f32buf.buffer);
export const f32 = (x: number): number => {
  f32buf[0] = x;
  return u32view[0];
};
