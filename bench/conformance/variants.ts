/**
 * The WebGPU configurations a case runs under, each on a backend of its own, and how to tell
 * whether a configuration took the path it exists for.
 *
 * A configuration sets the backend's options (createWebGPUBackend: GEMM tile, subgroup
 * operations, multi-segment optimizer kernels, f16 emulation) and the engine's settings (fusion,
 * matmul precision, fused attention, compiled steps). Each gets its own backend even when its
 * options are the defaults, so the pipelines its backend compiled are its own: after its last
 * case the runner looks for the pipeline keys of its path (`marks`: the tile's `|t128`, the f16
 * tiles' `|half-`, the subgroup kernels, the fused attention routine). A configuration that ran
 * none of them compared the default kernels twice, and says so.
 *
 * `hardwarePlans`: the backend plans kernels as on a GPU even on a software adapter (where it
 * otherwise runs every matmul and conv on the direct cores and short rows one thread each), so
 * that SwiftShader runs the tiled GEMMs, subgroup rows and workgroup trees a GPU would.
 */
import * as wt from '../../src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import type { DispatcherOptions } from '../../src/backend/webgpu/dispatcher.js';
import type { GpuContext } from '../../src/backend/webgpu/launch.js';
import type { MatmulPrecision } from '../../src/backend/backend.js';
import type { AdapterReport } from '../lib/adapter.js';
import type { VariantName } from './cases.js';

export interface Variant {
  /** what it sets, for the report */
  what: string;
  /** the backend's options, or a function of the adapter */
  options?: DispatcherOptions | ((a: AdapterReport) => DispatcherOptions);
  fusion?: boolean;
  precision?: MatmulPrecision;
  fusedAttention?: boolean;
  /** false: steps run eagerly instead of through wt.compile */
  compiled?: boolean;
  /** false: optimizers made in it keep no parameter arenas (wt.optim.Optimizer.arenas) */
  arenas?: boolean;
  /** pipeline keys of the path the configuration exists for */
  marks?: RegExp;
  /** why this adapter (with the plans asked for) cannot run it: it is then left out */
  unavailable?: (a: AdapterReport, hardwarePlans: boolean) => string | undefined;
}

const hasF16 = (a: AdapterReport): boolean => a.features.includes('shader-f16');
export const isSoftware = (a: AdapterReport): boolean => /swiftshader|llvmpipe|lavapipe|warp/i.test(`${a.adapter.architecture} ${a.adapter.description} ${a.adapter.device}`);
/** a software adapter's own plans run every GEMM on the direct cores: no tiles to configure */
const tiles = (a: AdapterReport, hardwarePlans: boolean): string | undefined =>
  isSoftware(a) && !hardwarePlans ? 'a software adapter\'s plans run GEMMs on the direct cores (--plans gpu takes the tiles)' : undefined;
/** 'medium' precision: the f16 tiles where the device has shader-f16, else their numerics in f32 tiles */
const half = (tile: 64 | 128) => (a: AdapterReport): DispatcherOptions => ({ gemmTile: tile, emulateF16: !hasF16(a) });

export const VARIANTS: { [K in VariantName]: Variant } = {
  default: { what: 'the backend as an app gets it (GEMM tile tuned on the device, fusion on)' },
  'fusion off': { what: 'wt.setFusion(false): every op its own kernel', fusion: false },
  eager: { what: 'training steps without wt.compile', compiled: false },
  'tile 64': { what: 'gemmTile 64: the 64×64 tiled GEMMs', options: { gemmTile: 64 }, marks: /^r:(matmul|conv2d)\|(?!.*\|t128)/, unavailable: tiles },
  'tile 128': { what: 'gemmTile 128: 128×128 tiles (8×8 per thread) where 32+ fill the grid', options: { gemmTile: 128 }, marks: /\|t128/, unavailable: tiles },
  'f16 tile 64': {
    what: "'medium' precision: f16 GEMM tiles (emulated in f32 tiles without shader-f16), 64×64", precision: 'medium', options: half(64), marks: /\|half-/, unavailable: tiles,
  },
  'f16 tile 128': {
    what: "'medium' precision: f16 GEMM tiles (emulated without shader-f16), 128×128", precision: 'medium', options: half(128), marks: /\|half-\w+\|t128/, unavailable: tiles,
  },
  subgroups: {
    what: 'subgroupOps on: subgroup rows and shuffles in reductions', options: { subgroupOps: true }, marks: /\|subgroup\||:sg\d/,
    unavailable: (a) => {
      const { subgroupMinSize: min, subgroupMaxSize: max } = a.adapter as { subgroupMinSize?: number; subgroupMaxSize?: number };
      if (!a.features.includes('subgroups')) return 'no subgroups feature';
      return min && min === max ? undefined : `subgroup sizes vary (${min}–${max}): the kernels need one fixed size`;
    },
  },
  'no subgroups': { what: 'subgroupOps off: workgroup trees and barriers', options: { subgroupOps: false } },
  'fused attention': { what: 'setFusedAttention(true): attention in the fused kernels (short-sequence or flash)', fusedAttention: true, marks: /^r:attention(Short)?\|/ },
  'unfused attention': { what: 'setFusedAttention(false): matmuls and a causal softmax', fusedAttention: false },
  // fusion off: a pending gradient folds into its parameter's own kernel, never into a segment;
  // arenas off: an optimizer with arenas steps each group in one kernel and never packs segments
  segments: { what: 'optimizer steps packing parameters into multi-segment kernels (fusion and parameter arenas off)', options: { segments: true }, fusion: false, arenas: false, marks: /^x:segments/ },
};

/** The backend options of a configuration on this adapter. */
export function optionsOf(name: VariantName, a: AdapterReport): DispatcherOptions {
  const o = VARIANTS[name].options ?? {};
  return typeof o === 'function' ? o(a) : o;
}

/** Creates a configuration's backend; `hardwarePlans` makes it plan kernels as on a GPU. */
export async function createVariantBackend(name: VariantName, a: AdapterReport, hardwarePlans: boolean): Promise<WebGPUBackend> {
  const be = await createWebGPUBackend(undefined, optionsOf(name, a));
  if (hardwarePlans) {
    // the plans read the backend's kernel context; its `software` flag is all that differs
    const ctx = (be as unknown as { ctx?: GpuContext }).ctx;
    if (!ctx || typeof ctx.software !== 'boolean') throw new Error('conformance: the WebGPU backend keeps its kernel context elsewhere now; update createVariantBackend');
    ctx.software = false;
  }
  return be;
}

/** Makes a configuration's engine settings current; the returned function restores the defaults. */
export async function enter(name: VariantName, be: wt.Backend): Promise<() => void> {
  const v = VARIANTS[name];
  wt.setBackend(be);
  wt.setFusion(v.fusion ?? 'auto');
  wt.setFusedAttention(v.fusedAttention ?? 'auto');
  wt.setFloat32MatmulPrecision(v.precision ?? 'highest');
  wt.optim.Optimizer.arenas = v.arenas ?? true;
  // 'medium' switches the f16 tiles on after their check on the device
  if (v.precision === 'medium') await (be as { halfReady?: () => Promise<boolean> }).halfReady?.();
  return () => {
    wt.setFusion('auto');
    wt.setFusedAttention('auto');
    wt.setFloat32MatmulPrecision('highest');
    wt.optim.Optimizer.arenas = true;
  };
}

/** The pipelines of a configuration's path that its backend compiled. */
export function pathPipelines(name: VariantName, be: WebGPUBackend): string[] {
  const m = VARIANTS[name].marks;
  return m ? be.stats().pipelines.filter((k) => m.test(k)) : [];
}
