/**
 * WebGPU in Node for benchmarks: Dawn's bindings (the `webgpu` package) installed as
 * `navigator.gpu`, so every library in the process finds the same GPU object and therefore the
 * same adapter. TF.js's WebGPU backend registers itself only if `navigator.gpu` exists when its
 * module is evaluated, so call this before importing it (dynamic `import()` after this).
 *
 * On a machine without a GPU driver, point Vulkan at SwiftShader (a software GPU):
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
 */
import { create, globals } from 'webgpu';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** The GPU object now in `navigator.gpu` (Dawn's, unless the host already had one). */
export function installNodeWebGPU(): GPU {
  const g = globalThis as unknown as { navigator?: { gpu?: GPU; userAgent?: string } };
  if (g.navigator?.gpu) return g.navigator.gpu;
  // Dawn's globals: GPUBufferUsage, GPUMapMode, GPUShaderStage, … (libraries use them by name)
  Object.assign(globalThis, globals);
  // Node 20 has no `navigator`; jax-js reads navigator.userAgent (a Firefox check) at import
  if (!g.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node}` }, configurable: true, writable: true });
  }
  const gpu = create([]);
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  return gpu;
}

/** The default high-performance adapter's description, or null when there is none. */
export async function describeAdapter(gpu: GPU): Promise<AdapterDescription | null> {
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!a) return null;
  const i = a.info;
  return { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description };
}

/** One line for headings, e.g. "google swiftshader (SwiftShader driver 5.0.0)". */
export function adapterLabel(a: AdapterDescription): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.device || 'unknown adapter';
  return a.description ? `${name} (${a.description})` : name;
}

/** True for software adapters (SwiftShader, llvmpipe, WARP): their figures measure CPU emulation. */
export function isSoftwareAdapter(a: AdapterDescription): boolean {
  return /swiftshader|llvmpipe|lavapipe|warp|software|cpu/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}
