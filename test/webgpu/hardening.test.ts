/**
 * Hardening on WebGPU (Dawn on SwiftShader): a training run flat in live tensors, bytes in use
 * and pooled bytes; a lost device (simulated with device.destroy()) giving DeviceLostError on
 * every next call and a working re-init, for our own device and a host's; out of memory giving
 * OutOfMemoryError that names the allocation after the pool was emptied.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { sizeClass } from '../../src/backend/webgpu/pool.js';
import { trainer } from '../trainer.js';

let gpu: WebGPUBackend;

beforeAll(async () => {
  gpu = (await wt.init({ backend: 'webgpu' })) as WebGPUBackend;
});
afterAll(() => gpu?.destroy());

describe('webgpu: long runs', () => {
  it('120 training steps: live tensors, bytes in use and pooled bytes stay flat', async () => {
    wt.setBackend(gpu);
    const t = trainer(3);
    const samples: string[] = [];
    for (let i = 0; i < 120; i++) {
      const loss = t.step();
      if (i % 20 === 19) {
        // after a read every batch is submitted and every freed buffer is back in the pool
        expect(Number.isFinite(await loss.item())).toBe(true);
        const m = wt.memory();
        samples.push(JSON.stringify([m.tensors, m.bytes, m.bytesInUse, m.bytesPooled, m.poolMisses]));
      }
      loss.dispose();
    }
    expect(new Set(samples.slice(1)).size, samples.join('\n')).toBe(1);
    t.dispose();
  });
});

/** A tiny model and one SGD step (few pipelines to compile on a fresh device). */
function tinyStep() {
  const lin = new wt.nn.Linear(3, 2);
  const opt = new wt.optim.SGD(lin.parameters(), { lr: 0.1 });
  const x = wt.ones([4, 3]);
  const step = () => wt.tidy(() => {
    opt.zeroGrad();
    const l = lin.forward(x).square().mean();
    l.backward();
    opt.step();
    return l;
  });
  return { step, dispose: () => { lin.dispose(); opt.dispose(); x.dispose(); } };
}

describe('webgpu: a lost device', () => {
  it('gives DeviceLostError on the next op, read and step; wt.init() starts over', async () => {
    const be = (await wt.init({ backend: 'webgpu' })) as WebGPUBackend;
    const t = tinyStep();
    t.step().dispose();
    const x = wt.ones([3]);
    be.device.destroy();
    await be.device.lost;
    expect(() => x.add(1)).toThrow(wt.DeviceLostError);
    await expect(x.data()).rejects.toThrow(wt.DeviceLostError);
    expect(() => t.step()).toThrow(wt.DeviceLostError);
    expect(() => wt.zeros([2])).toThrow(/lost.*call wt\.init\(\)/);
    expect(() => wt.flush()).toThrow(wt.DeviceLostError);
    await expect(wt.save({ x })).rejects.toThrow(wt.DeviceLostError);
    // disposing what belonged to the lost device is harmless
    x.dispose();
    t.dispose();
    const fresh = await wt.init({ backend: 'webgpu' });
    const t2 = tinyStep();
    const loss = t2.step();
    expect(Number.isFinite(await loss.item())).toBe(true);
    loss.dispose();
    t2.dispose();
    fresh.destroy();
  });

  it('a read in flight when the device is lost rejects with DeviceLostError', async () => {
    const be = (await wt.init({ backend: 'webgpu' })) as WebGPUBackend;
    const x = wt.randn([64, 64], { seed: 1 });
    const y = x.matmul(x);
    const pending = y.data();
    be.device.destroy();
    await expect(pending).rejects.toThrow(wt.DeviceLostError);
    wt.dispose([x, y]);
  });

  it('a host device lost under webtensor: DeviceLostError, then init({ device }) with a new one', async () => {
    const owner1 = await createWebGPUBackend();
    wt.setBackend(await wt.init({ device: owner1.device }));
    const x = wt.ones([2]);
    owner1.device.destroy(); // the host app's device goes away
    await owner1.device.lost;
    expect(() => x.mul(2)).toThrow(wt.DeviceLostError);
    x.dispose();
    const owner2 = await createWebGPUBackend();
    await wt.init({ device: owner2.device });
    expect(Array.from(await wt.ones([2]).mul(2).data())).toEqual([2, 2]);
    owner2.destroy();
    wt.setBackend(gpu);
  });
});

describe('webgpu: out of memory', () => {
  /**
   * The device as webtensor sees it, refusing to create storage buffers above `limit` bytes
   * (some implementations throw, others report through an error scope; this is the former).
   */
  function tightDevice(device: GPUDevice, limit: number): GPUDevice & { refused: number[] } {
    const refused: number[] = [];
    return new Proxy(device, {
      get(target, key) {
        if (key === 'refused') return refused;
        if (key === 'createBuffer') {
          return (desc: GPUBufferDescriptor) => {
            if (desc.size > limit && desc.usage & 0x80) {
              refused.push(desc.size);
              throw new RangeError(`simulated: cannot allocate ${desc.size} bytes`);
            }
            return target.createBuffer(desc);
          };
        }
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as GPUDevice & { refused: number[] };
  }

  it('names the op, shape and bytes, after emptying the pool; the backend keeps working', async () => {
    const dev = tightDevice(gpu.device, 2 << 20);
    const be = await createWebGPUBackend(dev);
    wt.setBackend(be);
    const x = wt.ones([1000]);
    const y = x.add(1);
    await y.data(); // computed into its buffer, which goes back to the pool
    y.dispose();
    be.flush();
    expect(wt.memory().bytesPooled).toBeGreaterThan(0);
    const a = wt.ones([1000, 1]), b = wt.ones([1, 1000]);
    let err: Error | null = null;
    const m = a.matmul(b); // 4 MB of output, allocated when computed (a pending matmul may still fold an epilogue)
    try {
      await m.data();
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(wt.OutOfMemoryError);
    expect(err!.message).toMatch(/^matmul( \(computed when needed, fused\))?: out of memory for a float32 tensor of shape \[(1,)?1000,1000\] \(4000000 bytes\)/);
    expect(err!.message).toMatch(/even after emptying the buffer pool/);
    // the pool was emptied before the one retry
    expect(wt.memory().bytesPooled).toBe(0);
    expect(dev.refused).toEqual([sizeClass(4e6), sizeClass(4e6)]); // the size class, refused twice
    expect(Array.from(await x.add(1).data()).slice(0, 2)).toEqual([2, 2]);
    expect(Array.from(await a.matmul(b.slice(1, 0, 10)).sum().data())).toEqual([10000]);
    wt.dispose([x, a, b, m]);
    be.destroy();
    wt.setBackend(gpu);
  });
});
