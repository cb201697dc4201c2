/**
 * Step capture on WebGPU: the commands the dispatcher recorded during one run of a step, turned
 * into something that replays them without the front end (`wt.compile`, src/compile.ts).
 *
 * A recording names buffers through their GpuBuffer wrappers. Those made before the recording
 * started are *external* (parameters, optimizer state, the compiled function's input copies):
 * a replay reads and writes them in place, so it is valid only while they are alive. Those made
 * during it are *internal*: the ones freed by the end (intermediates, snapshots) are taken out of
 * the pool and kept for the replays; the ones still alive (gradients, outputs, check flags) are
 * held: their tensors may be disposed (a zeroGrad outside the step) without the buffer going back
 * to the pool before the capture is disposed. `lines` names external
 * buffers by their serial and internal ones by order of first use, so two runs of a static step
 * record equal lines whatever buffers the pool handed out.
 *
 * A replay is one command buffer: the input copies, every recorded dispatch with its recorded
 * pipeline and a bind group made once over the capture's own uniform buffer (dynamic scalars
 * repacked first), recorded copies, recorded writes (as copies from a buffer of their data), then
 * the output copies. It is valid while every buffer it shares with tensors is alive and unchanged.
 */
import { contentHash, type BufferCopy, type CapturedStep } from '../backend.js';
import { type Dispatcher, type GpuBuffer, type LaunchDynamic, type Recorded } from './dispatcher.js';
import { USAGE } from './pool.js';
import { BackendError } from '../../errors.js';

type Step =
  | { kind: 'run'; pipeline: GPUComputePipeline; group: GPUBindGroup; offset: number; workgroups: readonly [number, number, number] }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number };


export class GpuCapture implements CapturedStep {
  readonly lines: string[] = [];
  readonly dispatches: number;
  private readonly keys: string[] = [];
  /** buffers shared with tensors: replays need each alive, on the same GPUBuffer */
  private readonly guards: { w: GpuBuffer; gpu: GPUBuffer }[] = [];
  /** buffers only the replays use, out of the pool until dispose */
  private readonly pinned: GPUBuffer[] = [];
  /** internal buffers of live tensors (GpuBuffer.holds counts this capture) */
  private readonly held: GpuBuffer[] = [];
  private readonly steps: Step[] = [];
  private readonly dynamics: { dyn: LaunchDynamic; words: Uint32Array; byte: number }[] = [];
  private uniforms: GPUBuffer | null = null;
  private shadow: Uint8Array | null = null;
  private consts: GPUBuffer | null = null;
  private prepared = false;
  private disposed = false;

  constructor(
    private readonly d: Dispatcher,
    private readonly cmds: Recorded[],
    readonly spoiled: string | null,
    private readonly start: number,
    private readonly live: ReadonlySet<GpuBuffer>,
  ) {
    const internal = new Map<GpuBuffer, number>();
    const name = (b: GpuBuffer) => {
      if (b.serial < start) return `e${b.serial}:${b.gpu.size}`;
      let k = internal.get(b);
      if (k === undefined) internal.set(b, (k = internal.size));
      return `i${k}:${b.gpu.size}`;
    };
    let n = 0;
    for (const c of cmds) {
      if (c.kind === 'run') {
        n++;
        const l = c.launch;
        this.keys.push(l.key);
        // dynamic scalars are left out: they change between runs by design
        let u = c.uniforms;
        if (l.dynamic) {
          u = u.slice();
          const sc = l.dynamic.scalars.slice();
          for (const r of l.dynamic.ranges) sc.fill(0, r.at, r.at + r.n);
          l.dynamic.pack(u, sc);
        }
        this.lines.push(`run ${l.key} [${l.workgroups.join(',')}] u=${u.join(',')} ${l.buffers.map(name).join(' ')}${l.dynamic ? ` dynamic=${l.dynamic.ranges.map((r) => `${r.at}+${r.n}`).join(',')}` : ''}`);
      } else if (c.kind === 'copy') {
        this.lines.push(`copy ${name(c.src)}@${c.srcOffset} -> ${name(c.dst)}@${c.dstOffset} ${c.bytes}`);
      } else {
        this.lines.push(`write ${name(c.buf)}@${c.byteOffset} ${c.data.length} #${contentHash(c.data)}`);
      }
    }
    this.dispatches = n;
  }

  prepare(): string | null {
    if (this.spoiled) return this.spoiled;
    const d = this.d;
    // released buffers the open batch still names go back to the pool first
    d.submit();
    const owner = new Map<GPUBuffer, GpuBuffer>();
    for (const w of this.live) owner.set(w.gpu, w);
    const seen = new Set<GPUBuffer>();
    const wrappers = new Set<GpuBuffer>();
    for (const c of this.cmds) {
      const bufs = c.kind === 'run' ? c.launch.buffers : c.kind === 'copy' ? [c.src, c.dst] : [c.buf];
      for (const b of bufs) wrappers.add(b);
    }
    const hold = (w: GpuBuffer) => {
      w.holds++;
      this.held.push(w);
      seen.add(w.gpu);
    };
    for (const w of wrappers) {
      if (w.serial < this.start) {
        if (w.freed) return `the step frees a tensor it uses that was made before it (a buffer of ${w.numel} ${w.dtype}); the next run would not find it`;
        this.guards.push({ w, gpu: w.gpu });
        seen.add(w.gpu);
      } else if (this.live.has(w)) hold(w);
    }
    for (const w of wrappers) {
      if (seen.has(w.gpu)) continue;
      seen.add(w.gpu);
      const o = owner.get(w.gpu);
      // made during the step (the pool handed the buffer out again)
      if (o && o.serial >= this.start) hold(o);
      else if (o) this.guards.push({ w: o, gpu: o.gpu });
      else if (d.pool.take(w.gpu)) this.pinned.push(w.gpu);
      else {
        this.release();
        return 'a buffer the step used was destroyed (the pool was trimmed) before the step ended';
      }
    }
    const dev = d.gpuDevice;
    const align = dev.limits.minUniformBufferOffsetAlignment;
    let ubytes = 0, cbytes = 0;
    for (const c of this.cmds) {
      if (c.kind === 'run') ubytes = Math.ceil(ubytes / align) * align + c.bytes;
      else if (c.kind === 'write') cbytes += Math.ceil(c.data.length / 4) * 4;
    }
    if (ubytes) {
      this.uniforms = dev.createBuffer({ size: Math.ceil(ubytes / 16) * 16, usage: USAGE.UNIFORM | USAGE.COPY_DST, label: 'wt compiled uniforms' });
      this.shadow = new Uint8Array(this.uniforms.size);
    }
    if (cbytes) this.consts = dev.createBuffer({ size: cbytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST, label: 'wt compiled writes' });
    const groups = new Map<string, GPUBindGroup>();
    let u = 0, k = 0;
    for (const c of this.cmds) {
      if (c.kind === 'run') {
        const l = c.launch;
        u = Math.ceil(u / align) * align;
        this.shadow!.set(new Uint8Array(c.uniforms.buffer, c.uniforms.byteOffset, c.uniforms.byteLength), u);
        if (l.dynamic) this.dynamics.push({ dyn: l.dynamic, words: new Uint32Array(this.shadow!.buffer, u, c.uniforms.length), byte: u });
        const key = d.groupKey(`${l.nRead},${l.buffers.length - l.nRead}`, c.bytes, l.buffers);
        let group = groups.get(key);
        if (!group) groups.set(key, (group = d.createGroup(c.entry.layout, this.uniforms!, c.bytes, l.buffers)));
        this.steps.push({ kind: 'run', pipeline: c.entry.pipeline, group, offset: u, workgroups: l.workgroups });
        u += c.bytes;
      } else if (c.kind === 'copy') {
        this.steps.push({ kind: 'copy', src: c.src.gpu, srcOffset: c.srcOffset, dst: c.dst.gpu, dstOffset: c.dstOffset, bytes: c.bytes });
      } else {
        dev.queue.writeBuffer(this.consts!, k, c.data.buffer, c.data.byteOffset, c.data.length);
        this.steps.push({ kind: 'copy', src: this.consts!, srcOffset: k, dst: c.buf.gpu, dstOffset: c.byteOffset, bytes: c.data.length });
        k += Math.ceil(c.data.length / 4) * 4;
      }
    }
    if (this.uniforms) dev.queue.writeBuffer(this.uniforms, 0, this.shadow!.buffer, 0, this.shadow!.length);
    this.cmds.length = 0;
    this.prepared = true;
    return null;
  }

  invalid(): string | null {
    if (this.disposed) return 'it was disposed';
    for (const g of this.guards) {
      if (g.w.freed) return `a tensor the step uses was disposed (a buffer of ${g.w.numel} ${g.w.dtype})`;
      if (g.w.gpu !== g.gpu) return 'a buffer the step uses was replaced';
    }
    return null;
  }

  replay(before: readonly BufferCopy[], after: readonly BufferCopy[]): void {
    if (!this.prepared) throw new BackendError('webgpu: replay of a capture that was not prepared');
    const dev = this.d.gpuDevice;
    if (this.dynamics.length) {
      let lo = Infinity, hi = 0;
      for (const { dyn, words, byte } of this.dynamics) {
        const sc = dyn.scalars.slice();
        for (const r of dyn.ranges) {
          const v = r.values();
          for (let i = 0; i < r.n; i++) sc[r.at + i] = v[i];
        }
        dyn.pack(words, sc);
        lo = Math.min(lo, byte);
        hi = Math.max(hi, byte + words.byteLength);
      }
      dev.queue.writeBuffer(this.uniforms!, lo, this.shadow!.buffer, lo, hi - lo);
    }
    const enc = dev.createCommandEncoder({ label: 'wt compiled step' });
    const copy = (c: BufferCopy) => enc.copyBufferToBuffer((c.src as GpuBuffer).gpu, c.srcOffset * 4, (c.dst as GpuBuffer).gpu, c.dstOffset * 4, c.numel * 4);
    before.forEach(copy);
    let pass: GPUComputePassEncoder | null = null;
    for (const s of this.steps) {
      if (s.kind === 'run') {
        pass ??= enc.beginComputePass();
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.group, [s.offset]);
        pass.dispatchWorkgroups(s.workgroups[0], s.workgroups[1], s.workgroups[2]);
      } else {
        pass?.end();
        pass = null;
        enc.copyBufferToBuffer(s.src, s.srcOffset, s.dst, s.dstOffset, s.bytes);
      }
    }
    pass?.end();
    after.forEach(copy);
    this.d.submitCommands(enc.finish(), this.keys);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.release();
    // destroyed once the submitted replays that use them are done
    const own = [this.uniforms, this.consts].filter((b): b is GPUBuffer => b !== null);
    if (own.length) {
      const go = () => own.forEach((b) => b.destroy());
      this.d.gpuDevice.queue.onSubmittedWorkDone().then(go, go);
    }
    this.steps.length = 0;
    this.dynamics.length = 0;
  }

  private release(): void {
    // replays already submitted name them; later work is queued after those
    for (const b of this.pinned) this.d.pool.release(b);
    for (const w of this.held) if (--w.holds === 0 && w.freed) this.d.release(w);
    this.pinned.length = 0;
    this.held.length = 0;
    this.guards.length = 0;
  }
}
