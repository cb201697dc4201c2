/**
 * The backend fixture: a public-API test is written once and runs on every backend, as jax-js
 * runs its suite over devices. A test about one backend says so in its name and does not use this.
 *
 * `WT_TEST_BACKENDS=cpu` (a comma list of cpu, webgpu) narrows the run, e.g. for a quick local
 * check; CI runs both. WebGPU that fails to start fails the tests (it is never skipped): in this
 * repository it runs on SwiftShader through Dawn (test/setup.sh installs it).
 *
 * @example
 * forEachBackend((kind) => {
 *   it('adds', async () => {
 *     expect(await wt.tensor([1, 2]).add(1).array()).toEqual([2, 3]);
 *   });
 * });
 */
import { afterAll, beforeAll, beforeEach, describe, expect } from 'vitest';
import * as wt from '../src/index.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { expectClose, rng } from './helpers.js';

export type BackendKind = 'cpu' | 'webgpu';

const ALL: readonly BackendKind[] = ['cpu', 'webgpu'];

/** The backends this run covers (WT_TEST_BACKENDS, default both). */
export const BACKENDS: readonly BackendKind[] = (() => {
  const env = typeof process !== 'undefined' ? process.env.WT_TEST_BACKENDS : undefined;
  if (!env) return ALL;
  const kinds = env.split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of kinds) if (!ALL.includes(k as BackendKind)) throw new Error(`WT_TEST_BACKENDS: unknown backend ${JSON.stringify(k)} (cpu, webgpu)`);
  return kinds as BackendKind[];
})();

const cache = new Map<BackendKind, wt.Backend>();

/** The (one per test file) backend of this kind, made current. */
export async function useBackend(kind: BackendKind): Promise<wt.Backend> {
  let be = cache.get(kind);
  if (!be) {
    be = kind === 'cpu' ? new CpuBackend() : await wt.init({ backend: 'webgpu' });
    cache.set(kind, be);
  }
  wt.setBackend(be);
  return be;
}

/**
 * Declares `body`'s tests once per backend, inside `describe('<kind>')` with that backend
 * current in its hooks and tests (fusion in its default, 'auto', mode: on for WebGPU, off for the CPU).
 */
export function forEachBackend(body: (kind: BackendKind) => void): void {
  for (const kind of BACKENDS) {
    describe(kind, () => {
      beforeAll(async () => {
        await useBackend(kind);
      });
      // again before each test: a test may have switched backends (wt.init inside an example)
      beforeEach(async () => {
        await useBackend(kind);
      });
      body(kind);
    });
  }
  afterAll(() => {
    for (const be of cache.values()) be.destroy();
    cache.clear();
  });
}

/**
 * Asserts that an op given an out-of-range index fails with an ArgumentError matching `message`:
 * at the call on the CPU (it reads the index synchronously), and on WebGPU at the first read of
 * the result (the check runs on the device; src/deferred.ts), the op itself returning normally.
 *
 * @example
 * await expectIndexError(kind, () => x.gather(1, idx), /holds .*out of range \[0, 4\)/);
 */
export async function expectIndexError(kind: BackendKind, op: () => wt.Tensor, message: RegExp): Promise<void> {
  if (kind === 'cpu') {
    expect(op).toThrow(wt.ArgumentError);
    expect(op).toThrow(message);
    return;
  }
  const out = op();
  const err = await out.data().then(() => null, (e: unknown) => e);
  expect(err, 'the read of the result must fail').toBeInstanceOf(wt.ArgumentError);
  expect((err as Error).message).toMatch(message);
}

/**
 * Whether 'medium' matmul precision (mixed-precision fit) takes f16 GEMM tiles on the current
 * backend (a WebGPU device with shader-f16): results then differ from float32 in the third digit.
 */
export function halfPrecisionMatmuls(): boolean {
  const info = wt.backendInfo();
  return info.name === 'webgpu' && info.features.includes('shader-f16');
}

/**
 * wt.gradcheck (autograd against finite differences, in float64 on a private CPU backend), and on
 * any other backend also its own backward kernels, which wt.gradcheck never runs: the gradients
 * of the same weighted sum of fn's output, computed on the current backend, must match the CPU
 * backend's (float32) within `atol + rtol·|cpu|` (default 1e-5, 1e-4: summation order only).
 *
 * @example
 * await gradcheck((x) => x.tanh().sum(1), [wt.randn([3, 4], { seed: 1 })]);
 */
export async function gradcheck(fn: (...xs: wt.Tensor[]) => wt.Tensor, inputs: readonly wt.Tensor[], opts: wt.GradcheckOptions & { gradAtol?: number; gradRtol?: number } = {}): Promise<true> {
  const ok = await wt.gradcheck(fn, inputs, opts);
  const here = wt.getBackend();
  if (here.name === 'cpu') return ok;
  const vals = await Promise.all(inputs.map((t) => t.data()));
  const check = opts.check ?? inputs.map((t) => t.dtype === 'float32');
  const gradsOn = async (be: wt.Backend): Promise<(Float32Array | null)[]> => {
    wt.setBackend(be);
    const xs = inputs.map((t, i) => wt.tensor(vals[i], { shape: [...t.shape], dtype: t.dtype, requiresGrad: check[i] }));
    try {
      wt.tidy(() => {
        const out = fn(...xs);
        const r = rng(12345);
        const w = wt.tensor(Float32Array.from({ length: out.numel() }, () => 0.5 + r()), { shape: [...out.shape] });
        out.mul(w).sum().backward();
      });
      return await Promise.all(xs.map(async (x) => (x.grad ? (await x.grad.data()) as Float32Array : null)));
    } finally {
      wt.dispose(xs.flatMap((x) => (x.grad ? [x.grad, x] : [x])));
      wt.setBackend(here);
    }
  };
  const want = await gradsOn(await useBackend('cpu'));
  const got = await gradsOn(here);
  for (let i = 0; i < inputs.length; i++) {
    expect(got[i] === null, `input ${i}: gradient on ${here.name} vs cpu`).toBe(want[i] === null);
    if (want[i]) expectClose(got[i]!, want[i]!, opts.gradAtol ?? 1e-5, opts.gradRtol ?? 1e-4, `gradient of input ${i} (shape [${inputs[i].shape}]) on ${here.name} vs cpu`);
  }
  return ok;
}
