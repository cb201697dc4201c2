/**
 * Runs single launches on a device apart from the dispatcher, for the checks and measurements
 * the backend makes of a device before relying on a kernel variant (probe.ts: the half-precision
 * GEMM tiles compute right; tune.ts: which GEMM tile is faster). Its own buffers, pipelines and
 * error scopes, so that a failure reaches no one else's error state; `destroy()` frees the buffers.
 */
import type { GpuLaunch } from './launch.js';
import { USAGE } from './pool.js';

export class Standalone {
  private readonly made: GPUBuffer[] = [];

  constructor(readonly device: GPUDevice, readonly label: string) {}

  /** A buffer of at least `size` bytes (rounded up to 16), with `data` written into it. */
  buffer(size: number, usage: number, data?: Float32Array | Uint32Array): GPUBuffer {
    const buf = this.device.createBuffer({ size: Math.ceil(Math.max(size, 16) / 16) * 16, usage, label: this.label });
    this.made.push(buf);
    if (data) this.device.queue.writeBuffer(buf, 0, data);
    return buf;
  }

  /**
   * Runs `f` inside a validation error scope. Scopes only ever wrap synchronous calls: one left
   * open across an await would also catch the errors of whatever else runs on the device meanwhile.
   */
  scoped<T>(f: () => T): [T, Promise<GPUError | null>] {
    this.device.pushErrorScope('validation');
    try {
      return [f(), this.device.popErrorScope()];
    } catch (e) {
      void this.device.popErrorScope();
      throw e;
    }
  }

  /** The pipeline of `code`, or why it could not be made (the compiler's first error). */
  async pipeline(code: string): Promise<GPUComputePipeline | string> {
    const [module, moduleErr] = this.scoped(() => this.device.createShaderModule({ code, label: this.label }));
    const info = await module.getCompilationInfo?.();
    const errors = info?.messages.filter((m) => m.type === 'error') ?? [];
    const err = await moduleErr;
    if (errors.length || err) return `the shader does not compile: ${errors[0]?.message ?? err!.message}`;
    try {
      return await this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: this.label });
    } catch (e) {
      return `the pipeline failed: ${(e as Error).message}`;
    }
  }

  /** The bind group of a launch: its uniforms (binding 0), then `storage` in binding order. */
  bindGroup(pipeline: GPUComputePipeline, launch: GpuLaunch, storage: readonly GPUBuffer[]): GPUBindGroup {
    const uniforms = new Uint32Array(Math.ceil(launch.uniforms.length / 4) * 4);
    uniforms.set(launch.uniforms);
    const ub = this.buffer(uniforms.byteLength, USAGE.UNIFORM | USAGE.COPY_DST, uniforms);
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [ub, ...storage].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /**
   * Encodes the launch `times` times in one compute pass (then `after`, e.g. a copy out) and
   * submits it, inside an error scope; resolves to the validation error, if any.
   */
  submit(pipeline: GPUComputePipeline, group: GPUBindGroup, workgroups: readonly [number, number, number], times = 1, after?: (enc: GPUCommandEncoder) => void): Promise<GPUError | null> {
    return this.scoped(() => {
      const enc = this.device.createCommandEncoder({ label: this.label });
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      for (let i = 0; i < times; i++) pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
      pass.end();
      after?.(enc);
      this.device.queue.submit([enc.finish()]);
    })[1];
  }

  destroy(): void {
    this.made.forEach((buf) => buf.destroy());
    this.made.length = 0;
  }
}
