/**
 * Embedding on a host-owned GPUDevice (Dawn in Node): wrapping host buffers without copies,
 * handing ours out, ordering with host commands, ownership (nothing of the host's is pooled or
 * destroyed) and clear errors for unusable buffers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import type { WebGPUBackend } from '../../src/backend/webgpu/index.js';

const U = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, STORAGE: 0x80 };
let device: GPUDevice;
let be: WebGPUBackend;
let owner: WebGPUBackend;

beforeAll(async () => {
  // NOTE: the host device comes from webtensor's own Dawn instance: a second Dawn instance in one
  // process crashes at random on SwiftShader here (see test/webgpu/harness.ts)
  owner = (await wt.init({ backend: 'webgpu' })) as WebGPUBackend;
  device = owner.device;
  be = (await wt.init({ device })) as WebGPUBackend;
});

afterAll(() => {
  be?.destroy();
  owner?.destroy();
});

function hostBuffer(values: Float32Array | Int32Array, usage = U.STORAGE | U.COPY_SRC | U.COPY_DST): GPUBuffer {
  const buf = device.createBuffer({ size: Math.max(16, values.byteLength), usage });
  if (usage & U.COPY_DST) device.queue.writeBuffer(buf, 0, values);
  return buf;
}

/** Reads a buffer range with the host's own commands (no webtensor involved). */
async function hostRead(buf: GPUBuffer, byteOffset: number, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: bytes, usage: U.MAP_READ | U.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, byteOffset, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(1);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

describe('embedding: a host device', () => {
  it('shares the host device and reports it', () => {
    expect(wt.backendInfo()).toMatchObject({ name: 'webgpu', hostDevice: true });
    expect(be.device).toBe(device);
  });

  it('fromGPUBuffer wraps a host buffer without copying, at an element offset, in any 32-bit dtype', async () => {
    const buf = hostBuffer(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
    const x = wt.fromGPUBuffer(buf, [2, 3]);
    const tail = wt.fromGPUBuffer(buf, [2], 'float32', { offset: 6 });
    expect(await x.array()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(Array.from(await tail.data())).toEqual([7, 8]);
    const y = x.mul(2).sum(1);
    expect(Array.from(await y.data())).toEqual([12, 30]);
    const ib = hostBuffer(new Int32Array([3, -1, 0, 9]));
    const i = wt.fromGPUBuffer(ib, [4], 'int32');
    const b = wt.fromGPUBuffer(ib, [4], 'bool');
    expect(Array.from(await i.add(1).data())).toEqual([4, 0, 1, 10]);
    expect(await b.array()).toEqual([true, true, false, true]);
    wt.dispose([x, tail, y, i, b]);
    buf.destroy();
    ib.destroy();
  });

  it('writes through to the host buffer and sees host writes made after wt.flush()', async () => {
    const buf = hostBuffer(new Float32Array([1, 1, 1, 1]));
    const x = wt.fromGPUBuffer(buf, [4]);
    x.mul_(5); // in place: lands in the host's buffer
    const before = x.add(0); // queued, reads 5s
    wt.flush();
    device.queue.writeBuffer(buf, 0, new Float32Array([9, 8, 7, 6]));
    const after = x.add(0);
    expect(Array.from(await before.data())).toEqual([5, 5, 5, 5]);
    expect(Array.from(await after.data())).toEqual([9, 8, 7, 6]);
    wt.dispose([x, before, after]);
    buf.destroy();
  });

  it('never pools or destroys a host buffer: dispose and backend.destroy leave it usable', async () => {
    const buf = hostBuffer(new Float32Array([4, 3, 2, 1]));
    await wt.zeros([1]).data();
    const pooled = wt.memory().bytesPooled;
    const x = wt.fromGPUBuffer(buf, [4]);
    expect(Array.from(await x.data())).toEqual([4, 3, 2, 1]);
    x.dispose();
    wt.flush();
    expect(wt.memory().bytesPooled).toBe(pooled);
    // a second backend on the same device, destroyed while a tensor still wraps the buffer
    const other = await wt.init({ device });
    const y = wt.fromGPUBuffer(buf, [4]);
    await y.data();
    other.destroy();
    await device.queue.onSubmittedWorkDone();
    expect(Array.from(await hostRead(buf, 0, 16))).toEqual([4, 3, 2, 1]);
    wt.setBackend(be);
    buf.destroy();
  });

  it('gpuBuffer() hands out our buffer after submitting pending work; host commands see the values', async () => {
    const x = wt.arange(10).float();
    const y = wt.tidy(() => x.mul(3).slice(0, 2, 7)); // a contiguous view at element offset 2
    const c = y.contiguous();
    expect(c).toBe(y);
    const info = c.gpuBuffer();
    expect(info).toMatchObject({ offset: 2, byteOffset: 8, byteLength: 20, shape: [5], dtype: 'float32' });
    expect(Array.from(await hostRead(info.buffer, info.byteOffset, info.byteLength))).toEqual([6, 9, 12, 15, 18]);
    // a contiguous view keeps its element offset
    const tail = x.slice(0, 4);
    expect(tail.gpuBuffer()).toMatchObject({ offset: 4, byteOffset: 16, byteLength: 24 });
    expect(Array.from(await hostRead(tail.gpuBuffer().buffer, 16, 24))).toEqual([4, 5, 6, 7, 8, 9]);
    // handing it back in aliases the same memory
    const alias = wt.fromGPUBuffer(info.buffer, [5], 'float32', { offset: info.offset });
    alias.add_(1);
    expect(Array.from(await c.data())).toEqual([7, 10, 13, 16, 19]);
    wt.dispose([x, y, c, tail, alias]);
  });

  it('gpuBuffer() of a parameter an optimizer moved into its arena: the arena buffer, at the slot\'s offset', async () => {
    const a = wt.tensor([1, 2, 3], { requiresGrad: true }), b = wt.tensor([4, 5], { requiresGrad: true });
    const opt = new wt.optim.SGD([a, b], { lr: 0.1 });
    const ia = a.gpuBuffer(), ib = b.gpuBuffer();
    expect(ib.buffer).toBe(ia.buffer); // one arena
    expect(ib.byteOffset).toBeGreaterThan(ia.byteOffset);
    expect(ib.byteOffset % device.limits.minStorageBufferOffsetAlignment).toBe(0);
    expect(ib).toMatchObject({ offset: ib.byteOffset / 4, byteLength: 8, shape: [2] });
    expect(Array.from(await hostRead(ib.buffer, ib.byteOffset, ib.byteLength))).toEqual([4, 5]);
    opt.dispose();
    wt.dispose([a, b]);
  });

  it('rejects unusable buffers with clear errors', async () => {
    const noStorage = device.createBuffer({ size: 16, usage: U.COPY_DST | U.COPY_SRC });
    expect(() => wt.fromGPUBuffer(noStorage, [4])).toThrow(wt.ArgumentError);
    expect(() => wt.fromGPUBuffer(noStorage, [4])).toThrow(/lacks STORAGE/);
    const buf = hostBuffer(new Float32Array(4));
    expect(() => wt.fromGPUBuffer(buf, [5])).toThrow(/needs 20 bytes, but the buffer has 16/);
    expect(() => wt.fromGPUBuffer(buf, [2], 'float32', { offset: 3 })).toThrow(/needs 20 bytes/);
    expect(() => wt.fromGPUBuffer(buf, [2], 'float32', { offset: -1 })).toThrow(wt.ArgumentError);
    expect(() => wt.fromGPUBuffer(buf, [2], 'float64' as never)).toThrow(wt.DTypeError);
    expect(() => wt.fromGPUBuffer(buf, [-2])).toThrow(wt.ArgumentError);
    expect(() => wt.fromGPUBuffer({} as GPUBuffer, [2])).toThrow(/expected a GPUBuffer/);
    const mapped = device.createBuffer({ size: 16, usage: U.STORAGE | U.COPY_SRC, mappedAtCreation: true });
    expect(() => wt.fromGPUBuffer(mapped, [4])).toThrow(/mapped/);
    mapped.unmap();
    // storage without COPY_SRC: usable in ops, but its own values cannot be read back directly
    const noSrc = device.createBuffer({ size: 16, usage: U.STORAGE | U.COPY_DST });
    device.queue.writeBuffer(noSrc, 0, new Float32Array([1, 2, 3, 4]));
    const t = wt.fromGPUBuffer(noSrc, [4]);
    await expect(t.data()).rejects.toThrow(/lacks COPY_SRC usage/);
    const d = t.add(1);
    expect(Array.from(await d.data())).toEqual([2, 3, 4, 5]);
    wt.dispose([t, d]);
    // a buffer from another device fails at the next read, naming the cause
    const otherBackend = (await wt.init({ backend: 'webgpu' })) as WebGPUBackend;
    wt.setBackend(be);
    const alien = otherBackend.device.createBuffer({ size: 16, usage: U.STORAGE | U.COPY_SRC });
    const a = wt.fromGPUBuffer(alien, [4]);
    const err = await a.data().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(wt.ArgumentError);
    expect(String(err)).toMatch(/another GPUDevice/);
    a.dispose();
    otherBackend.destroy();
    // the backend keeps working
    expect(Array.from(await wt.ones([2]).add(1).data())).toEqual([2, 2]);
    for (const b of [noStorage, buf, mapped, noSrc]) b.destroy();
  });

  it('gpuBuffer() needs a contiguous tensor on the WebGPU backend', async () => {
    const x = wt.ones([2, 3]);
    expect(() => x.T.gpuBuffer()).toThrow(/strided view.*contiguous\(\)/);
    x.dispose();
    const cpu = new wt.CpuBackend();
    wt.setBackend(cpu);
    const c = wt.ones([2]);
    expect(() => c.gpuBuffer()).toThrow(wt.BackendError);
    expect(() => wt.fromGPUBuffer(hostBuffer(new Float32Array(4)), [4])).toThrow(/need the WebGPU backend/);
    c.dispose();
    wt.setBackend(be);
  });
});
