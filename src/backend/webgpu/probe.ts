/**
 * A self-check of the half-precision GEMM tiles (shaders/gemm.wgsl HALF) on the device at hand,
 * run once before 'medium' matmul precision uses them: the f16 variant has only been checked
 * where it could run, so a driver that rejects `enable f16`, fails to build the pipeline or
 * computes the product wrongly leaves matmuls in float32 instead of breaking them.
 *
 * The check is one tiled matmul, 64 x 64 x 48 (three k-slices), of small integers: every product
 * and partial sum is exact in f16, so the result must equal the integer product exactly. It uses
 * its own buffers and pipeline, away from the dispatcher (standalone.ts), so a failure reaches no
 * one else's error state.
 */
import type { View } from '../backend.js';
import type { GpuContext } from './launch.js';
import { matmulLaunches, type GemmHalf } from './routines/matmul.js';
import { USAGE } from './pool.js';
import { Standalone } from './standalone.js';

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
  const [l] = matmulLaunches({ bias: false }, [view([M, K]), view([K, N])], [view([M, N])], { ...ctx, gemmHalf: half }, { kernel: 'tiled' });
  const run = new Standalone(device, 'wt f16 probe');
  try {
    const pipeline = await run.pipeline(edit(l.code()));
    if (typeof pipeline === 'string') return pipeline;
    const { STORAGE, COPY_SRC, COPY_DST, MAP_READ } = USAGE;
    const [{ group, cb, rb }, setupErr] = run.scoped(() => {
      const ab = run.buffer(a.byteLength, STORAGE | COPY_DST, a), bb = run.buffer(b.byteLength, STORAGE | COPY_DST, b);
      const cb = run.buffer(want.byteLength, STORAGE | COPY_SRC), rb = run.buffer(want.byteLength, MAP_READ | COPY_DST);
      return { group: run.bindGroup(pipeline, l, [ab, bb, cb]), cb, rb };
    });
    const e = (await setupErr) ?? (await run.submit(pipeline, group, l.workgroups, 1, (enc) => enc.copyBufferToBuffer(cb, 0, rb, 0, want.byteLength)));
    if (e) return `a validation error: ${e.message}`;
    await rb.mapAsync(0x1 /* GPUMapMode.READ */);
    const got = new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    const bad = want.findIndex((w, i) => got[i] !== w);
    return bad >= 0 ? `wrong result: element ${bad} is ${got[bad]}, expected ${want[bad]}` : null;
  } catch (e) {
    return `it failed: ${(e as Error).message}`;
  } finally {
    run.destroy();
  }
}
