/** Choosing and initialising a backend. */
import type { Backend, BackendInfo, MatmulPrecision } from './backend/backend.js';
import { CpuBackend } from './backend/cpu/index.js';
import { engine } from './engine.js';
import { ArgumentError, BackendError } from './errors.js';
import { checkOptions, describeValue } from './validate.js';
// static, not import(): inside the single-file bundle a dynamic import only wraps every module it
// reaches in lazy initialisers, which defeats tree shaking for apps that bundle webtensor
import { createWebGPUBackend } from './backend/webgpu/index.js';

export interface InitOptions {
  /** 'auto' (default) prefers WebGPU and falls back to the CPU with one warning */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** a GPUDevice owned by the host app: shared, never destroyed by webtensor */
  device?: GPUDevice;
  /** eager elementwise fusion: true, false or 'auto' (the default: on WebGPU only); see `wt.setFusion` */
  fusion?: boolean | 'auto';
  /**
   * Node + Dawn only: how reads wait for the GPU. 'sleep' lets the main thread sleep between
   * Dawn's polls after the first quarter millisecond, 'spin' polls back to back (Dawn's way).
   * Default: 'sleep' on a software adapter (SwiftShader: its threads need the CPU), else 'spin'.
   */
  waits?: 'spin' | 'sleep';
}

let warned = false;

/**
 * Initialises the runtime. Safe to call again (e.g. after a lost device).
 *
 * @example await wt.init({ backend: 'cpu' });
 */
export async function init(opts: InitOptions = {}): Promise<Backend> {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new ArgumentError(`init: options must be an object like { backend: 'webgpu' }, got ${describeValue(opts)}`);
  checkOptions('init', opts, ['backend', 'device', 'fusion', 'waits']);
  if (opts.device !== undefined && (typeof opts.device !== 'object' || opts.device === null || typeof (opts.device as GPUDevice).createBuffer !== 'function')) {
    throw new ArgumentError('init: device must be a GPUDevice');
  }
  if (opts.fusion !== undefined) {
    if (typeof opts.fusion !== 'boolean' && opts.fusion !== 'auto') throw new ArgumentError(`init: fusion must be true, false or 'auto', got ${describeValue(opts.fusion)}`);
    engine.fusion = opts.fusion;
  }
  if (opts.waits !== undefined && opts.waits !== 'spin' && opts.waits !== 'sleep') throw new ArgumentError(`init: waits must be 'spin' or 'sleep', got ${describeValue(opts.waits)}`);
  const want = opts.backend ?? (opts.device ? 'webgpu' : 'auto');
  if (!['auto', 'webgpu', 'cpu'].includes(want)) throw new ArgumentError(`init: backend must be 'auto', 'webgpu' or 'cpu', got ${describeValue(want)}`);
  if (want === 'cpu') return setBackend(new CpuBackend());
  try {
    return setBackend(await createWebGPUBackend(opts.device, opts.waits ? { waits: opts.waits } : {}));
  } catch (e) {
    if (want === 'webgpu') throw e instanceof BackendError ? e : new BackendError(`init: WebGPU is not available: ${(e as Error).message}`);
    if (!warned) {
      warned = true;
      console.warn(`webtensor: WebGPU is not available (${(e as Error).message}); using the CPU backend`);
    }
    return setBackend(new CpuBackend());
  }
}

/** Makes `backend` current. The previous one is left as it is (its tensors still work): destroy it with `backend.destroy()` when done. */
export function setBackend(backend: Backend): Backend {
  const b = backend as Partial<Backend> | null;
  if (typeof b !== 'object' || b === null || typeof b.alloc !== 'function' || typeof b.dispatch !== 'function' || typeof b.read !== 'function') {
    throw new ArgumentError(`setBackend: expected a Backend (what wt.init() returns), got ${describeValue(backend)}`);
  }
  engine.backend = backend;
  backend.setMatmulPrecision?.(matmulPrecision);
  return backend;
}

let matmulPrecision: MatmulPrecision = 'highest';

/**
 * Sets the precision of float32 matmuls, linear layers and convolutions, as PyTorch's
 * `torch.set_float32_matmul_precision`: 'highest' (the default) and 'high' compute in float32;
 * 'medium' lets the WebGPU backend take the operands of its tiled GEMMs (large matmuls and
 * convolutions) through half precision, f16 products summed in f32 over K, when the device has
 * `shader-f16` and they pass a check on the device (src/backend/webgpu/probe.ts; until then, and
 * if they fail it, float32). Elsewhere (no shader-f16, the small-output kernels, the CPU backend) 'medium'
 * still computes in float32. Results then differ from float32 by about 1e-3 relative; train with
 * `wt.amp.GradScaler` so that small gradients are not lost to f16's range. Applies to ops issued
 * afterwards (a step compiled with `wt.compile` keeps the precision it was recorded with).
 *
 * @example wt.setFloat32MatmulPrecision('medium');
 */
export function setFloat32MatmulPrecision(precision: MatmulPrecision): void {
  if (precision !== 'highest' && precision !== 'high' && precision !== 'medium') {
    throw new ArgumentError(`setFloat32MatmulPrecision: precision must be 'highest', 'high' or 'medium', got ${describeValue(precision)}`);
  }
  matmulPrecision = precision;
  engine.backend?.setMatmulPrecision?.(precision);
}

/** The float32 matmul precision set by {@link setFloat32MatmulPrecision} ('highest' by default). */
export function getFloat32MatmulPrecision(): MatmulPrecision {
  return matmulPrecision;
}

/** The current backend, or a BackendError when init() has not run. */
export function getBackend(): Backend {
  return engine.requireBackend();
}

export type { BackendInfo };

/**
 * Describes the current backend (the GPU adapter, enabled features and key limits on WebGPU).
 *
 * @example await wt.init(); console.log(wt.backendInfo().name);
 */
export function backendInfo(): BackendInfo {
  return engine.requireBackend().info();
}

/**
 * Releases the buffers the current backend keeps for reuse (live tensors keep theirs), like
 * `torch.cuda.empty_cache()`.
 */
export function emptyCache(): void {
  engine.backend?.emptyCache?.();
}
