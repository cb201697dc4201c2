/**
 * The WebGPU backend's machinery: device info, batching, the uniform ring, write/read ordering,
 * the buffer pool and its steady state in a training loop, aliasing rules, compile errors with
 * line messages, out of memory, device loss and recovery, and a host-provided device.
 * Runs on SwiftShader here; without an adapter these tests fail, they do not skip.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { BufferPool, STORAGE_USAGE, sizeClass } from '../../src/backend/webgpu/pool.js';
import { coalesce, grid } from '../../src/backend/webgpu/kernels.js';
import type { GpuLaunch } from '../../src/backend/webgpu/launch.js';

let gpu: WebGPUBackend;

beforeAll(async () => {
  gpu = (await wt.init({ backend: 'webgpu' })) as WebGPUBackend;
  expect(gpu.name).toBe('webgpu');
});

afterAll(() => gpu?.destroy());

// tests of the backend's own batching turn eager fusion off (one kernel per op) for themselves
afterEach(() => wt.setFusion('auto'));

const use = () => wt.setBackend(gpu);

describe('webgpu backend: pieces', () => {
  it('size classes hold the size asked for, in 16-byte units, wasting at most a quarter past 256 bytes; monotone and idempotent', () => {
    let prev = 0;
    for (let b = 0; b < 1 << 24; b = Math.ceil(b * 1.37) + 1) {
      const c = sizeClass(b);
      expect(c >= Math.max(b, 16) && c % 16 === 0 && c <= Math.max(256, b * 1.25 + 16), `${b} → ${c}`).toBe(true);
      expect(c).toBeGreaterThanOrEqual(prev);
      expect(sizeClass(c)).toBe(c);
      prev = c;
    }
  });
  it('the pool hands out its oldest free buffer of a size class, whatever the order they came back', () => {
    const pool = new BufferPool(gpu.device, STORAGE_USAGE, 2 ** 20);
    const bufs = Array.from({ length: 6 }, () => pool.acquire(1000));
    for (const i of [3, 0, 5, 1, 4, 2]) pool.release(bufs[i]);
    expect(Array.from({ length: 6 }, () => bufs.indexOf(pool.acquire(1000)))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(new Set(bufs.map((b) => pool.id(b))).size).toBe(6);
    bufs.forEach((b) => pool.release(b));
    pool.trim(0);
  });
  it('coalesces dims contiguous in every view and splits big grids in two dimensions', () => {
    expect(coalesce([2, 3, 4], [[12, 4, 1], [0, 0, 0]])).toEqual({ shape: [24], strides: [[1], [0]] });
    expect(coalesce([2, 1, 3], [[3, 99, 1], [1, 7, 2]])).toEqual({ shape: [2, 3], strides: [[3, 1], [1, 2]] });
    expect(coalesce([1, 1], [[5, 6]])).toEqual({ shape: [], strides: [[]] });
    expect(grid(10, 65535)).toEqual([10, 1, 1]);
    const [x, y] = grid(200000, 65535);
    expect(x <= 65535 && y <= 65535 && x * y >= 200000).toBe(true);
  });
  it('reports the adapter, features and limits', () => {
    use();
    const info = wt.backendInfo();
    expect(info.name).toBe('webgpu');
    if (info.name !== 'webgpu') return;
    expect(typeof info.adapter.vendor).toBe('string');
    expect(info.hostDevice).toBe(false);
    expect(info.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(info.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    expect(Array.isArray(info.features)).toBe(true);
  });
});

describe('webgpu backend: batching and ordering', () => {
  it('submits in batches, not per op, and on every read', async () => {
    use();
    wt.setFusion(false); // one dispatch per op: fusion off
    const x = wt.ones([64]);
    await x.data();
    const before = gpu.stats();
    const ys = wt.tidy(() => {
      let y = x;
      for (let i = 0; i < 100; i++) y = y.add(1);
      return y;
    });
    const mid = gpu.stats();
    expect(mid.dispatches - before.dispatches).toBe(100);
    expect(mid.submits - before.submits).toBeLessThanOrEqual(4);
    expect(Array.from(await ys.data())).toEqual(new Array(64).fill(101));
    expect(gpu.stats().submits - mid.submits).toBe(1);
    wt.dispose([x, ys]);
  });
  it('a write lands after the dispatches queued before it', async () => {
    use();
    wt.setFusion(false); // a raw backend write under the front end: ops must be dispatched when issued
    const x = wt.tensor([1, 2, 3]);
    const y = x.mul(2); // encoded, not submitted
    gpu.write(x._view().buf, [10, 20, 30]);
    const z = x.mul(2);
    expect(Array.from(await y.data())).toEqual([2, 4, 6]);
    expect(Array.from(await z.data())).toEqual([20, 40, 60]);
    wt.dispose([x, y, z]);
  });
  it('keeps dispatch order across many batches of in-place updates', async () => {
    use();
    const x = wt.zeros([5]);
    for (let i = 0; i < 200; i++) x.add_(1).mul_(1);
    expect(Array.from(await x.data())).toEqual([200, 200, 200, 200, 200]);
    x.dispose();
  });
  it('takes the vec4 path for dense aligned views and the strided one otherwise', async () => {
    use();
    wt.setFusion(false); // the kernels of these very ops, unfused
    const x = wt.arange(128).float();
    const s = wt.tensor(3);
    const y = x.mul(s).add(1);
    const z = x.slice(0, 1).add(1);
    expect(Array.from(await y.data())).toEqual(Array.from({ length: 128 }, (_, i) => 3 * i + 1));
    expect(Array.from(await z.data())).toEqual(Array.from({ length: 127 }, (_, i) => i + 2));
    const keys = gpu.stats().pipelines;
    // x * s: x dense, the 0-d s read as one broadcast element ("splat" flags 0 and 1)
    expect(keys.some((k) => k.startsWith('x:vec4') && k.includes(':01|'))).toBe(true);
    expect(keys.some((k) => k.startsWith('x:strided'))).toBe(true);
    wt.dispose([x, s, y, z]);
  });
  it('uses the uniform ring across many launches with large uniform blocks', async () => {
    use();
    const out = wt.zeros([64], { dtype: 'int32' });
    // each launch writes its own uniform word to out[i]: 4 KiB of uniforms per launch overflow the ring
    const code = () => `struct U { w: array<vec4<u32>, 256> }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(1) fn main() { o[u.w[255].w] = u.w[0].x; }`;
    for (let i = 0; i < 64; i++) {
      const uniforms = new Uint32Array(1024);
      uniforms[0] = 1000 + i;
      uniforms[1023] = i;
      gpu.launch({ key: 'test-ring', code, inputs: [], outputs: [out._view()], uniforms, workgroups: [1, 1, 1] });
    }
    expect(Array.from(await out.data())).toEqual(Array.from({ length: 64 }, (_, i) => 1000 + i));
    out.dispose();
  });
  it('reads a buffer that a launch also writes through a snapshot (no read/write aliasing)', async () => {
    use();
    const x = wt.tensor([1, 2, 3, 4]);
    const code = () => `struct U { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i: u32) { o[i] = a[3u - i] * 10.0; }`;
    gpu.launch({ key: 'test-alias', code, inputs: [x._view()], outputs: [x._view()], uniforms: new Uint32Array(4), workgroups: [1, 1, 1] });
    expect(Array.from(await x.data())).toEqual([40, 30, 20, 10]);
    x.dispose();
  });
});

describe('webgpu backend: memory', () => {
  it('recycles a freed buffer only after the batch naming it is submitted', async () => {
    use();
    wt.setFusion(false); // b must be dispatched (named by the batch) when issued
    await wt.zeros([1]).data();
    gpu.emptyCache();
    const a = wt.ones([1000]);
    const b = a.add(1);
    const pooled = gpu.memory().bytesPooled;
    b.dispose(); // named by the open batch
    expect(gpu.memory().bytesPooled).toBe(pooled);
    gpu.flush();
    expect(gpu.memory().bytesPooled).toBe(pooled + sizeClass(4000));
    const hits = gpu.memory().poolHits;
    const c = wt.zeros([990]); // the same size class
    expect(gpu.memory().poolHits).toBe(hits + 1);
    wt.emptyCache();
    expect(gpu.memory().bytesPooled).toBe(0);
    wt.dispose([a, c]);
  });
  it('a training loop reaches a steady state: pool misses stop growing, bytes in use stay flat, bind groups are reused', async () => {
    use();
    const w = wt.tensor(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), { shape: [8, 8] }).requiresGrad_();
    const b = wt.zeros([8]).requiresGrad_();
    const step = (i: number) => wt.tidy(() => {
      const x = wt.rand([16, 8, 1], { seed: i });
      const h = x.mul(w).sum(1).add(b).tanh(); // [16, 8]
      const l = h.sub(x.squeeze(2)).square().mean();
      l.backward();
      wt.noGrad(() => {
        w.sub_(w.grad!, 0.1);
        b.sub_(b.grad!, 0.1);
      });
      w.zeroGrad();
      b.zeroGrad();
      return l;
    });
    const misses: number[] = [], inUse: number[] = [], live: number[] = [], groups: number[] = [];
    for (let i = 0; i < 100; i++) {
      const loss = step(i);
      if (i % 10 === 9) {
        // measured after a read, when every batch is submitted and every freed buffer pooled
        expect(Number.isFinite(await loss.item())).toBe(true);
        loss.dispose();
        const m = gpu.memory();
        misses.push(m.poolMisses);
        inUse.push(m.bytesInUse);
        live.push(wt.memory().tensors);
        groups.push(gpu.stats().bindGroups);
      } else loss.dispose();
    }
    // after two iterations of warm-up nothing new is allocated and nothing leaks
    expect(misses.slice(2)).toEqual(new Array(8).fill(misses[2]));
    expect(inUse.slice(2)).toEqual(new Array(8).fill(inUse[2]));
    expect(live.slice(2)).toEqual(new Array(8).fill(live[2]));
    // the same pooled buffers are drawn every step, so each bind group is made once
    expect(groups.slice(2)).toEqual(new Array(8).fill(groups[2]));
    // emptying the pool destroys buffers the cached bind groups name: the cache starts over
    wt.emptyCache();
    const after: number[] = [];
    for (let i = 0; i < 3; i++) {
      const loss = step(i);
      expect(Number.isFinite(await loss.item())).toBe(true);
      loss.dispose();
      after.push(gpu.stats().bindGroups);
    }
    expect(after[0]).toBeGreaterThan(groups[9]);
    expect(after[2]).toBe(after[1]);
    wt.dispose([w, b]);
  });
  it('an allocation beyond maxBufferSize throws OutOfMemoryError naming the size', () => {
    use();
    const max = gpu.device.limits.maxBufferSize;
    expect(() => wt.zeros([Math.floor(max / 4) + 16])).toThrow(wt.OutOfMemoryError);
    expect(() => wt.zeros([Math.floor(max / 4) + 16])).toThrow(/bytes/);
  });
  it('a failed device allocation empties the pool and surfaces as OutOfMemoryError; the backend recovers', async () => {
    use();
    const max = gpu.device.limits.maxBufferSize;
    const x = wt.ones([1000]);
    x.add(1).dispose();
    gpu.flush();
    let err: unknown = null;
    try {
      const big = wt.zeros([Math.floor(max / 4)]);
      await big.slice(0, 0, 4).data();
      big.dispose();
    } catch (e) {
      err = e;
    }
    // a device with room for it simply succeeds (SwiftShader refuses 1 GiB)
    if (err) {
      expect(err).toBeInstanceOf(wt.OutOfMemoryError);
      expect(String(err)).toMatch(/out of memory allocating \d+ bytes/);
      expect(gpu.memory().bytesPooled).toBe(0);
    }
    expect(Array.from(await x.add(1).data()).slice(0, 3)).toEqual([2, 2, 2]);
    x.dispose();
  });
});

describe('webgpu backend: errors and devices', () => {
  const broken: Omit<GpuLaunch, 'outputs'> = {
    key: 'test-broken',
    code: () => `struct U { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() {
  let x: f32 = 1u;
  o[0] = x;
}`,
    inputs: [],
    uniforms: new Uint32Array(4),
    workgroups: [1, 1, 1],
  };
  it('a WGSL error becomes ShaderCompileError with line messages and the source', async () => {
    use();
    const out = wt.zeros([4]);
    gpu.launch({ ...broken, outputs: [out._view()] });
    const err = await out.data().then(() => null, (e) => e);
    expect(err).toBeInstanceOf(wt.ShaderCompileError);
    expect(err.message).toMatch(/5:\d+ error: .*'f32'.*'u32'/);
    expect(err.message).toContain('5 |   let x: f32 = 1u;');
    expect(err.messages[0]).toMatchObject({ type: 'error', line: 5 });
    expect(err.source).toContain('fn main()');
    // the same kernel again fails at once; other work is unaffected
    expect(() => gpu.launch({ ...broken, outputs: [out._view()] })).toThrow(wt.ShaderCompileError);
    expect(Array.from(await out.add(2).data())).toEqual([2, 2, 2, 2]);
    out.dispose();
  });
  it('after device loss every call throws DeviceLostError; init() recovers', async () => {
    const be = await createWebGPUBackend();
    wt.setBackend(be);
    const x = wt.ones([3]);
    be.device.destroy();
    await be.device.lost;
    expect(() => x.add(1)).toThrow(wt.DeviceLostError);
    await expect(x.data()).rejects.toThrow(wt.DeviceLostError);
    expect(() => wt.zeros([2])).toThrow(/call wt.init\(\)/);
    x.dispose(); // freeing after loss is harmless
    const fresh = await wt.init({ backend: 'webgpu' });
    expect(Array.from(await wt.ones([3]).add(1).data())).toEqual([2, 2, 2]);
    fresh.destroy();
  });
  it('adopts a host device and never destroys it', async () => {
    const { create } = await import('webgpu');
    const adapter = await create([]).requestAdapter();
    const device = await adapter!.requestDevice();
    const be = await wt.init({ device });
    expect(wt.backendInfo()).toMatchObject({ name: 'webgpu', hostDevice: true });
    expect(Array.from(await wt.arange(4).mul(2).data())).toEqual([0, 2, 4, 6]);
    be.destroy();
    const lost = await Promise.race([device.lost.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
    expect(lost).toBe(false);
    device.createBuffer({ size: 16, usage: 0x80 }).destroy();
    device.destroy();
  });
});
