/**
 * The WebGPU adapter as webtensor sees it, which the GPU scripts (bench/gpu.ts,
 * bench/conformance.ts) print before anything else: adapter, enabled features, raised limits,
 * whether the f16 GEMM tiles passed their check on this device (src/backend/webgpu/probe.ts) and
 * which GEMM tile tune.ts chose. Runs on a backend of its own, destroyed before it returns.
 */
import * as wt from '../../src/index.js';
import type { GemmTuning, WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { adapterLabel } from './results.js';

export interface AdapterReport {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  features: string[];
  limits: Record<string, number>;
  /** whether 'medium' precision uses the f16 GEMM tiles on this device */
  f16Tiles: boolean;
  tunings: readonly GemmTuning[];
  /** the tunings in one line */
  tuningText: string;
  /** what the scripts print: adapter, features, limits, f16 tiles, GEMM tiles */
  lines: string[];
}

/**
 * Starts a WebGPU backend, reads what the adapter offers and what the backend chose, and
 * destroys it. Throws when WebGPU does not start (the GPU scripts need it).
 *
 * @example const a = await describeWebGPU(); a.lines.forEach((l) => console.log(l));
 */
export async function describeWebGPU(): Promise<AdapterReport> {
  const backend = await wt.init({ backend: 'webgpu' });
  try {
    const info = wt.backendInfo();
    if (info.name !== 'webgpu') throw new Error('WebGPU did not start');
    wt.setFloat32MatmulPrecision('medium');
    const f16Tiles = await (backend as { halfReady?: () => Promise<boolean> }).halfReady?.() ?? false;
    wt.setFloat32MatmulPrecision('highest');
    const tunings = (backend as WebGPUBackend).gemmTunings();
    const tuningText = tunings.map((t) => `${t.precision}: ${t.tile}×${t.tile} (${t.source}${t.reason ? `; ${t.reason}` : ''}${t.timings.length ? `; ${t.size}³ ms per product: ${t.timings.map((x) => `${x.tile}: ${x.ms?.toFixed(3) ?? x.error}`).join(', ')}` : ''})`).join('; ');
    const lines = [
      `adapter: ${adapterLabel(info.adapter)}`,
      `features: ${info.features.join(', ')}`,
      `limits: ${JSON.stringify(info.limits)}`,
      `f16 GEMM tiles: ${f16Tiles ? 'passed their check, in use under medium precision' : 'not in use (no shader-f16, or the check failed)'}`,
      `GEMM tiles: ${tuningText}`,
    ];
    return { adapter: info.adapter, features: info.features, limits: info.limits, f16Tiles, tunings, tuningText, lines };
  } finally {
    backend.destroy();
  }
}
