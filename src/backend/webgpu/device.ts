/**
 * Acquiring a GPUDevice: `navigator.gpu` in browsers, the optional `webgpu` package (Dawn) in
 * Node, or a device the host app passes in. Optional features are enabled when the adapter has
 * them, and the compute limits are raised to what the adapter supports.
 */
import { BackendError } from '../../errors.js';

/** Features we turn on when present; every path that uses one has a fallback. */
const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/** Limits raised to the adapter's maximum: bigger buffers, more bindings, more shared memory. */
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxUniformBufferBindingSize',
] as const;

/** What `backendInfo()` reports about a WebGPU backend. */
export interface WebGPUInfo {
  name: 'webgpu';
  /** subgroup sizes where the adapter reports them (the 'subgroups' feature) */
  adapter: { vendor: string; architecture: string; device: string; description: string; subgroupMinSize?: number; subgroupMaxSize?: number };
  /** true when webtensor uses a device the host app passed in (and never destroys it) */
  hostDevice: boolean;
  features: string[];
  limits: Record<string, number>;
}

export interface Acquired {
  device: GPUDevice;
  info: WebGPUInfo;
  owned: boolean;
}

let nodeGpu: GPU | null = null;

/** navigator.gpu, or Dawn's bindings through the `webgpu` package in Node (an optional peer dependency: `npm i webgpu`). */
async function getGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (nodeGpu) return nodeGpu;
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  if (!isNode) throw new BackendError('no navigator.gpu in this browser or worker');
  // a variable specifier keeps bundlers from trying to resolve this Node-only package
  const specifier = 'webgpu';
  let mod: { create: (opts: string[]) => GPU };
  try {
    mod = await import(/* @vite-ignore */ specifier);
  } catch (e) {
    const message = String((e as Error | null)?.message ?? e);
    const missing = (e as { code?: string } | null)?.code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test(message);
    throw new BackendError(missing
      ? "Node has no WebGPU without the 'webgpu' package (Dawn's bindings, an optional peer dependency of webtensor): run `npm i webgpu`, or use init({ backend: 'cpu' })"
      : `the 'webgpu' package (Dawn's bindings for Node) failed to load: ${message} (reinstall it with \`npm i webgpu\`, or use init({ backend: 'cpu' }))`);
  }
  nodeGpu = mod.create([]);
  return nodeGpu;
}

function limitsOf(l: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...RAISED_LIMITS, 'maxComputeWorkgroupsPerDimension', 'maxBindGroups', 'minUniformBufferOffsetAlignment', 'minStorageBufferOffsetAlignment'] as const) {
    out[k] = (l as unknown as Record<string, number>)[k];
  }
  return out;
}

function adapterInfo(i: GPUAdapterInfo | undefined): WebGPUInfo['adapter'] {
  const sg = i as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
  return {
    vendor: i?.vendor ?? '', architecture: i?.architecture ?? '', device: i?.device ?? '', description: i?.description ?? '',
    ...(sg?.subgroupMinSize ? { subgroupMinSize: sg.subgroupMinSize, subgroupMaxSize: sg.subgroupMaxSize } : {}),
  };
}

/**
 * The subgroup size of `device` when it has the 'subgroups' feature and its adapter's subgroups
 * all have one size (subgroup kernels rely on it); else undefined.
 */
export function fixedSubgroupSize(device: GPUDevice, adapter: WebGPUInfo['adapter']): number | undefined {
  const { subgroupMinSize: min, subgroupMaxSize: max } = adapter;
  return device.features.has('subgroups') && min && min === max ? min : undefined;
}

/**
 * Returns a ready device: `hostDevice` when given (adopted, never destroyed), else a new one
 * from the default adapter (high-performance preferred).
 */
export async function acquireDevice(hostDevice?: GPUDevice): Promise<Acquired> {
  if (hostDevice) {
    const info = (hostDevice as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return {
      device: hostDevice,
      owned: false,
      info: { name: 'webgpu', adapter: adapterInfo(info), hostDevice: true, features: [...hostDevice.features].sort(), limits: limitsOf(hostDevice.limits) },
    };
  }
  const gpu = await getGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new BackendError('WebGPU is not available: requestAdapter() returned no adapter');
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const k of RAISED_LIMITS) requiredLimits[k] = adapter.limits[k];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new BackendError(`WebGPU is not available: requestDevice failed (${(e as Error).message})`);
  }
  return {
    device,
    owned: true,
    info: { name: 'webgpu', adapter: adapterInfo(adapter.info), hostDevice: false, features: [...device.features].sort(), limits: limitsOf(device.limits) },
  };
}
