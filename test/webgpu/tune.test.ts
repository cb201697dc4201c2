/**
 * GEMM tile tuning (src/backend/webgpu/tune.ts): the timing of both tiles on the device, the
 * choice, its memo and browser storage, failures, and how the backend applies it. SwiftShader is
 * a software adapter, where the backend does not tune (its matmuls run the direct core), so the
 * measurement is exercised directly on small products here.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { CpuBackend } from '../../src/backend/cpu/index.js';
import { createWebGPUBackend, WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { clearTuningMemo, measureGemmTiles, pickTile, tuneGemmTile, tuningKey } from '../../src/backend/webgpu/tune.js';
import { matmulPlan } from '../../src/backend/webgpu/routines/matmul.js';
import type { GpuContext } from '../../src/backend/webgpu/launch.js';
import { ArgumentError } from '../../src/errors.js';
import { expectClose } from '../helpers.js';
import { createHarness, type Harness } from './harness.js';

const h = (await createHarness()) as Harness;
const cpu = new CpuBackend();
const device = h.backend.device;
const adapter = { vendor: 'test', architecture: 'tune', device: 'x', description: 'tune.test.ts' };
/** The device with some methods replaced (the rest bound to it: Dawn's need their own `this`). */
const patched = (over: Partial<Record<keyof GPUDevice, unknown>>): GPUDevice => new Proxy(device, {
  get: (d, k) => {
    if (k in over) return over[k as keyof GPUDevice];
    const v = Reflect.get(d, k, d);
    return typeof v === 'function' ? v.bind(d) : v;
  },
});
const noBuffers = (): GPUDevice => patched({ createBuffer: () => { throw new Error('no buffers here'); } });

afterEach(() => clearTuningMemo());
afterAll(() => h.backend.destroy());

describe('GEMM tile tuning', () => {
  it('times both tiles on the device, in f32 and through half tiles', async () => {
    for (const half of [undefined, 'emulate'] as const) {
      const t = await measureGemmTiles(device, h.ctx, { size: 128, half });
      expect(t.map((x) => x.tile)).toEqual([64, 128]);
      for (const x of t) {
        expect(x.error).toBeUndefined();
        expect(x.ms).toBeGreaterThan(0);
        expect(Number.isFinite(x.ms)).toBe(true);
      }
    }
  });

  it('takes 128 only when it ran and beat 64 by more than the noise margin', () => {
    expect(pickTile([{ tile: 64, ms: 10 }, { tile: 128, ms: 9 }])).toBe(128);
    expect(pickTile([{ tile: 64, ms: 10 }, { tile: 128, ms: 9.9 }])).toBe(64);
    expect(pickTile([{ tile: 64, ms: 10 }, { tile: 128, ms: 11 }])).toBe(64);
    expect(pickTile([{ tile: 64, ms: null, error: 'x' }, { tile: 128, ms: 11 }])).toBe(128);
    expect(pickTile([{ tile: 64, ms: 10 }, { tile: 128, ms: null, error: 'x' }])).toBe(64);
    expect(pickTile([])).toBe(64);
  });

  it('measures once per adapter, precision and size, then answers from the memo', async () => {
    const first = await tuneGemmTile(device, h.ctx, adapter, { size: 128 });
    expect(first.source).toBe('measured');
    expect(first.tile).toBe(pickTile(first.timings));
    expect(first.timings.every((x) => x.ms !== null)).toBe(true);
    // a device that cannot run anything: an answer from it would have to come from the memo
    const broken = noBuffers();
    const again = await tuneGemmTile(broken, h.ctx, adapter, { size: 128 });
    expect(again).toMatchObject({ source: 'cached', tile: first.tile });
    // another precision or size is another measurement
    const other = await tuneGemmTile(broken, h.ctx, adapter, { size: 128, half: 'emulate' });
    expect(other.source).toBe('measured');
    expect(other.tile).toBe(64);
    expect(other.reason).toMatch(/no tile could be timed.*no buffers here/);
    // a failed measurement is not remembered
    expect((await tuneGemmTile(device, h.ctx, adapter, { size: 128, half: 'emulate' })).source).toBe('measured');
  });

  it('a page keeps the choice in localStorage across loads', async () => {
    const store = new Map<string, string>();
    const g = globalThis as { document?: unknown; localStorage?: unknown };
    g.document = {};
    g.localStorage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    try {
      const first = await tuneGemmTile(device, h.ctx, adapter, { size: 128 });
      const saved = JSON.parse(store.get(tuningKey(adapter, 'f32', 128))!);
      expect(saved.tile).toBe(first.tile);
      clearTuningMemo(); // a new page load
      const broken = noBuffers();
      expect(await tuneGemmTile(broken, h.ctx, adapter, { size: 128 })).toMatchObject({ source: 'cached', tile: first.tile });
      // an entry that is not ours is measured over
      store.set(tuningKey(adapter, 'f32', 128), '{"tile": 96}');
      clearTuningMemo();
      expect((await tuneGemmTile(device, h.ctx, adapter, { size: 128 })).source).toBe('measured');
    } finally {
      delete g.document;
      delete g.localStorage;
    }
  });

  it('a tile whose shader does not compile is timed as failed; the other still decides', async () => {
    // the 128 tile is the second shader compiled: break it
    let compiled = 0;
    const second = patched({ createShaderModule: (desc: GPUShaderModuleDescriptor) => device.createShaderModule({ ...desc, code: ++compiled === 2 ? `${desc.code}\nthis is not wgsl` : desc.code }) });
    const t = await measureGemmTiles(second, h.ctx, { size: 128 });
    expect(t[0]).toMatchObject({ tile: 64 });
    expect(t[0].ms).toBeGreaterThan(0);
    expect(t[1]).toMatchObject({ tile: 128, ms: null });
    expect(t[1].error).toMatch(/does not compile/);
    expect(pickTile(t)).toBe(64);
  });

  it('the backend: software adapters keep 64 without measuring; a fixed tile is taken as given', async () => {
    const auto = await createWebGPUBackend();
    const forced = await createWebGPUBackend(undefined, { gemmTile: 128 });
    const tune = await createWebGPUBackend(undefined, { gemmTile: 'tune' });
    try {
      expect(auto.gemmTunings()).toEqual([expect.objectContaining({ precision: 'f32', tile: 64, source: 'fixed', reason: expect.stringMatching(/software adapter/) })]);
      expect(tune.gemmTunings()[0]).toMatchObject({ tile: 64, source: 'fixed' });
      expect(forced.gemmTunings()).toEqual([expect.objectContaining({ tile: 128, source: 'fixed', reason: 'gemmTile 128 was asked for' })]);
      // the half tiles get their own entry (here: emulated, on the first 'medium')
      expect((await forced.tuneGemm('emulate')).tile).toBe(128);
      expect(forced.gemmTunings().map((t) => t.precision)).toEqual(['f32', 'emulate']);
    } finally {
      auto.destroy();
      forced.destroy();
      tune.destroy();
    }
    await expect(createWebGPUBackend(undefined, { gemmTile: 96 as 64 })).rejects.toThrow(ArgumentError);
    await expect(createWebGPUBackend(undefined, { gemmTile: 96 as 64 })).rejects.toThrow(/gemmTile must be 64, 128 or 'tune', got 96/);
  });

  it('a hardware adapter: the backend times the tiles, takes the choice, and its matmuls stay right', async () => {
    // the harness's device under a hardware adapter's name (not destroyed with this backend)
    const meta = { ...h.backend.info(), adapter: { ...adapter, description: 'a hardware GPU' } };
    const be = new WebGPUBackend(device, meta, false);
    try {
      const t = await be.tuneGemm(undefined, 128);
      expect(t).toMatchObject({ precision: 'f32', source: 'measured', size: 128 });
      expect(t.timings.map((x) => x.tile)).toEqual([64, 128]);
      expect((be as unknown as { ctx: GpuContext }).ctx.gemmTile).toBe(t.tile);
      expect(await be.tuneGemm()).toBe(t); // once per precision
      // 32 products of 128², enough 128-tiles for either choice to run tiled
      wt.setBackend(be);
      const a = wt.randn([32, 128, 96], { seed: 1 }), b = wt.randn([32, 96, 128], { seed: 2 });
      const got = await a.matmul(b).data();
      const [ad, bd] = [await a.data(), await b.data()];
      wt.setBackend(cpu);
      const want = await wt.tensor(ad, { shape: [32, 128, 96] }).matmul(wt.tensor(bd, { shape: [32, 96, 128] })).data();
      expectClose(got, want, 1e-4, 1e-4);
    } finally {
      wt.setBackend(cpu);
      be.destroy();
    }
  });

  it('the plan takes the half tiles\' own choice under medium precision', () => {
    const ctx: GpuContext = { limits: { maxComputeWorkgroupsPerDimension: 65535 } as GPUSupportedLimits, features: new Set(), gemmTile: 64, gemmTileHalf: 128, snapshot: (b) => b };
    expect(matmulPlan(1, 4096, 4096, 4096, ctx)).toEqual({ kernel: 'tiled' });
    expect(matmulPlan(1, 4096, 4096, 4096, { ...ctx, gemmHalf: 'f16' })).toEqual({ kernel: 'tiled', tile: 128 });
    expect(matmulPlan(1, 4096, 4096, 4096, { ...ctx, gemmHalf: 'f16', gemmTile: 128, gemmTileHalf: 64 })).toEqual({ kernel: 'tiled' });
    expect(matmulPlan(1, 4096, 4096, 4096, { ...ctx, gemmHalf: 'f16', gemmTile: 128, gemmTileHalf: undefined })).toEqual({ kernel: 'tiled', tile: 128 });
  });
});
