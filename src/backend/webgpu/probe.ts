/**
 * A self-check of the half-precision GEMM tiles (shaders/gemm.wgsl HALF) on the device at hand,
 * run once before 'medium' matmul precision uses them: the f16 variant has only been checked
 * where it could run, so a driver that rejects `enable f16`, fails to build the pipeline or
 * computes the product wrongly leaves matmuls in float32 instead of breaking them.
 *
 * The check is one tiled matmul, 64 x 64 x 48 (three k-slices), of small integers: every product
 * and partial sum is exact in f16, so the result must equal the integer product exactly. It uses
 * its own buffers and pipeline, away from the dispatcher, with error scopes around its own calls,
 * so a failure reaches no one else's error state.
 */
import type { View } from '../backend.js';
import type { GpuContext } from './launch.js';
import { matmulLaunches, type GemmHalf } from './routines/matmul.js';

const M = 64, N = 64, K = 48;

/**
 * Runs the check; resolves to null when the half tiles compile and compute the product exactly,
 * else to why not. `edit` changes the shader source (tests: a broken driver).
 */
export async function probeGemmHalf(device: GPUDevice, ctx: GpuContext, half: GemmHalf, edit: (code: string) => string = (c) => c): Promise<string | null> {
  const a = Float32Array.from({ length: M * K }, (_, i) => ((Math.floor(i / K) * 7 + (i % K) * 3) % 5) - 2);
  const b = Float32Array.from({ length: K * N }, (_, i) => ((Math.floor(i / N) * 5 + (i % N) * 11) % 5) - 2);
  const want = new Float32Array(M * N);
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) want[m * N + n] += a[m * K + k] * b[k * N + n];
  const view = (shape: number[]): View => ({ buf: { numel: shape[0] * shape[1] }, dtype: 'float32', shape, strides: [shape[1], 1], offset: 0 });
  const [l] = matmulLaunches({ bias: false, activation: 'none' }, [view([M, K]), view([K, N])], [view([M, N])], { ...ctx, gemmHalf: half }, { kernel: 'tiled' });
  const made: GPUBuffer[] = [];
  const buffer = (size: number, usage: number, data?: Float32Array | Uint32Array): GPUBuffer => {
    const buf = device.createBuffer({ size: Math.ceil(size / 16) * 16, usage });
    made.push(buf);
    if (data) device.queue.writeBuffer(buf, 0, data);
    return buf;
  };
  // error scopes only around synchronous calls: a scope left open across an await would also
  // catch the errors of whatever else runs on the device meanwhile
  const scoped = <T>(f: () => T): [T, Promise<GPUError | null>] => {
    device.pushErrorScope('validation');
    try {
      return [f(), device.popErrorScope()];
    } catch (e) {
      void device.popErrorScope();
      throw e;
    }
  };
  try {
    const [module, moduleErr] = scoped(() => device.createShaderModule({ code: edit(l.code()), label: 'wt f16 probe' }));
    const info = await module.getCompilationInfo?.();
    const errors = info?.messages.filter((m) => m.type === 'error') ?? [];
    const err = await moduleErr;
    if (errors.length || err) return `the shader does not compile: ${errors[0]?.message ?? err!.message}`;
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const [rb, runErr] = scoped(() => {
      const uniforms = new Uint32Array(Math.ceil(l.uniforms.length / 4) * 4);
      uniforms.set(l.uniforms);
      const STORAGE = 0x80, COPY_SRC = 0x4, COPY_DST = 0x8, UNIFORM = 0x40, MAP_READ = 0x1;
      const ub = buffer(uniforms.byteLength, UNIFORM | COPY_DST, uniforms);
      const ab = buffer(a.byteLength, STORAGE | COPY_DST, a), bb = buffer(b.byteLength, STORAGE | COPY_DST, b);
      const cb = buffer(want.byteLength, STORAGE | COPY_SRC), out = buffer(want.byteLength, MAP_READ | COPY_DST);
      const group = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [ub, ab, bb, cb].map((buf, binding) => ({ binding, resource: { buffer: buf } })),
      });
      const enc = device.createCommandEncoder({ label: 'wt f16 probe' });
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(...l.workgroups);
      pass.end();
      enc.copyBufferToBuffer(cb, 0, out, 0, want.byteLength);
      device.queue.submit([enc.finish()]);
      return out;
    });
    const e = await runErr;
    if (e) return `a validation error: ${e.message}`;
    await rb.mapAsync(0x1 /* GPUMapMode.READ */);
    const got = new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    const bad = want.findIndex((w, i) => got[i] !== w);
    return bad >= 0 ? `wrong result: element ${bad} is ${got[bad]}, expected ${want[bad]}` : null;
  } catch (e) {
    return `it failed: ${(e as Error).message}`;
  } finally {
    made.forEach((buf) => buf.destroy());
  }
}
