/**
 * Sleeping waits (src/backend/webgpu/wait.ts): while a read is pending under Dawn's Node
 * bindings, native polls of `setImmediate` go through a timer after SPIN_MS; JavaScript callers
 * and everything outside the wait see the real `setImmediate`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { SPIN_MS, sleepStats, sleepingWait } from '../../src/backend/webgpu/wait.js';

const real = globalThis.setImmediate;
const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** a callback whose source reads as native code, as Dawn's does (a bound function) */
const nativeLike = (f: () => void) => f.bind(null);

describe('sleepingWait', () => {
  it('defers native polls to a timer after SPIN_MS, passes JavaScript callbacks through, restores setImmediate', async () => {
    const ran: string[] = [];
    const before = sleepStats.timed;
    const v = await sleepingWait(async () => {
      expect(globalThis.setImmediate).not.toBe(real);
      globalThis.setImmediate(nativeLike(() => ran.push('early native'))); // inside the spin window
      await pause(SPIN_MS + 2);
      const d0 = sleepStats.timed;
      globalThis.setImmediate(() => ran.push('js'));
      expect(sleepStats.timed).toBe(d0);
      globalThis.setImmediate(nativeLike(() => ran.push('late native')));
      expect(sleepStats.timed).toBe(d0 + 1);
      await pause(5);
      return 42;
    });
    expect(v).toBe(42);
    expect(ran.sort()).toEqual(['early native', 'js', 'late native']);
    expect(sleepStats.timed).toBeGreaterThan(before);
    expect(globalThis.setImmediate).toBe(real);
  });
  it('nested and failing waits restore setImmediate only when the last one ends', async () => {
    let inner: Promise<unknown> | null = null;
    await expect(sleepingWait(async () => {
      inner = sleepingWait(() => pause(3));
      await pause(1);
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(globalThis.setImmediate).not.toBe(real); // the inner wait is still pending
    await inner;
    expect(globalThis.setImmediate).toBe(real);
  });
  it('leaves a replacement someone else installed during the wait in place', async () => {
    const theirs = ((fn: () => void) => real(fn)) as unknown as typeof setImmediate;
    await sleepingWait(async () => {
      globalThis.setImmediate = theirs;
      await pause(1);
    });
    expect(globalThis.setImmediate).toBe(theirs);
    globalThis.setImmediate = real;
  });
});

describe('webgpu backend waits', () => {
  let spin: WebGPUBackend, sleep: WebGPUBackend;
  beforeAll(async () => {
    spin = await createWebGPUBackend(undefined, { waits: 'spin' });
    sleep = await createWebGPUBackend(undefined, { waits: 'sleep' });
  });
  afterAll(() => {
    spin?.destroy();
    sleep?.destroy();
  });
  it('reads the same results either way, and leaves setImmediate as it was', async () => {
    const out: number[][] = [];
    for (const be of [spin, sleep]) {
      wt.setBackend(be);
      const a = wt.arange(96 * 80).reshape([96, 80]).div(1000);
      const r = await a.matmul(a.transpose(0, 1)).relu().sum(1).data();
      out.push(Array.from(r));
      expect(globalThis.setImmediate).toBe(real);
      a.dispose();
    }
    expect(out[1]).toEqual(out[0]);
  });
  it('wt.init passes the waits option through and checks it', async () => {
    await expect(wt.init({ backend: 'webgpu', waits: 'nap' as 'spin' })).rejects.toThrow(/init: waits must be 'spin' or 'sleep', got "nap"/);
    const be = await wt.init({ backend: 'webgpu', waits: 'sleep' });
    expect(Array.from(await wt.arange(5).mul(3).data())).toEqual([0, 3, 6, 9, 12]);
    expect(globalThis.setImmediate).toBe(real);
    be.destroy();
  });
  it('rejects an unknown waits option naming it', async () => {
    await expect(createWebGPUBackend(undefined, { waits: 'nap' as 'spin' })).rejects.toThrow(/waits must be 'spin' or 'sleep', got "nap"/);
  });
});
