/** Choosing and initialising a backend. */
import type { Backend } from './backend/backend.js';
import { CpuBackend } from './backend/cpu/index.js';
import { engine } from './engine.js';
import { ArgumentError, BackendError } from './errors.js';

export interface InitOptions {
  /** 'auto' (default) prefers WebGPU and falls back to the CPU with one warning */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** a GPUDevice owned by the host app: shared, never destroyed by webtensor */
  device?: GPUDevice;
}

let warned = false;

/**
 * Initialises the runtime. Safe to call again (e.g. after a lost device).
 *
 * @example await wt.init({ backend: 'cpu' });
 */
export async function init(opts: InitOptions = {}): Promise<Backend> {
  const want = opts.backend ?? (opts.device ? 'webgpu' : 'auto');
  if (!['auto', 'webgpu', 'cpu'].includes(want)) throw new ArgumentError(`init: backend must be 'auto', 'webgpu' or 'cpu', got ${JSON.stringify(want)}`);
  if (want === 'cpu') return setBackend(new CpuBackend());
  try {
    const { createWebGPUBackend } = await import('./backend/webgpu/index.js');
    return setBackend(await createWebGPUBackend(opts.device));
  } catch (e) {
    if (want === 'webgpu') throw e instanceof BackendError ? e : new BackendError(`init: WebGPU is not available: ${(e as Error).message}`);
    if (!warned) {
      warned = true;
      console.warn(`webtensor: WebGPU is not available (${(e as Error).message}); using the CPU backend`);
    }
    return setBackend(new CpuBackend());
  }
}

/** Makes `backend` current (the previous one is destroyed unless it is still in use by tensors). */
export function setBackend(backend: Backend): Backend {
  engine.backend = backend;
  return backend;
}

/** The current backend, or a BackendError when init() has not run. */
export function getBackend(): Backend {
  return engine.requireBackend();
}

/** What `backendInfo()` reports: the backend's name, and for WebGPU the adapter, features and limits. */
export type BackendInfo =
  | { name: 'cpu'; float64: boolean }
  | { name: 'webgpu'; adapter: { vendor: string; architecture: string; device: string; description: string }; hostDevice: boolean; features: string[]; limits: Record<string, number> };

/**
 * Describes the current backend (the GPU adapter, enabled features and key limits on WebGPU).
 *
 * @example await wt.init(); console.log(wt.backendInfo().name);
 */
export function backendInfo(): BackendInfo {
  const b = engine.requireBackend() as Backend & { info?: () => BackendInfo; float64?: boolean };
  if (b.info) return b.info();
  return { name: 'cpu', float64: b.float64 ?? false };
}

/**
 * Releases the buffers the current backend keeps for reuse (live tensors keep theirs), like
 * `torch.cuda.empty_cache()`.
 */
export function emptyCache(): void {
  (engine.backend as (Backend & { emptyCache?: () => void }) | null)?.emptyCache?.();
}
