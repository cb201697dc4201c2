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
