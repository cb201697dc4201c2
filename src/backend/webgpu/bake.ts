/**
 * A compiled step's commands made ready to run as one command buffer (Backend.bake; the recorder
 * and every question of which buffers live how long are the front end's, src/record.ts): each
 * dispatch planned once into launches with their pipelines, and bind groups over the step's own
 * uniform buffer; copies stay copies; writes become copies from a buffer of their values; a
 * buffer a launch both reads and writes is read through a snapshot buffer of the step's own,
 * refreshed by a copy just before. A run repacks the uniforms of the dispatches whose scalars
 * changed (learning rates, random streams), writes them, and submits the input copies, the
 * step and the output copies together.
 */
import type { BakedStep, BufferCopy, Executable, StepCommand, View } from '../backend.js';
import { type Dispatcher, GpuBuffer, type Launch } from './dispatcher.js';
import { USAGE } from './pool.js';
import { BackendError } from '../../errors.js';

type Step =
  | { kind: 'run'; pipeline: GPUComputePipeline; group: GPUBindGroup; offset: number; workgroups: readonly [number, number, number] }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number };

/** Plans one dispatch's launches, in order; `snapshot` gives the copy a launch reads where it also writes. */
export type Planner = (exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars: readonly number[], snapshot: (b: GpuBuffer) => GpuBuffer, repack: boolean) => Iterable<Launch>;

const uniformBytes = (l: Launch) => Math.ceil(Math.max(l.uniforms.byteLength, 16) / 16) * 16;

/** Bakes `commands` (see the file comment); `dynamic`: the runs whose scalars a run may replace. */
export function bake(d: Dispatcher, commands: readonly StepCommand[], dynamic: ReadonlySet<number>, plan: Planner): BakedStep {
  const dev = d.gpuDevice;
  const align = dev.limits.minUniformBufferOffsetAlignment;
  const snapshots: GpuBuffer[] = [];
  // what each command becomes: launches to place in the uniform buffer, copies, writes
  type Item = { kind: 'launch'; l: Launch; cmd: number } | { kind: 'copy'; src: GpuBuffer; srcOffset: number; dst: GpuBuffer; dstOffset: number; bytes: number } | { kind: 'write'; buf: GpuBuffer; bytes: Uint8Array; offset: number };
  const items: Item[] = [];
  commands.forEach((c, i) => {
    if (c.kind === 'run') {
      const snapshot = (b: GpuBuffer) => {
        const s = new GpuBuffer(d.pool.acquire(b.span), b.numel, b.dtype);
        snapshots.push(s);
        items.push({ kind: 'copy', src: b, srcOffset: 0, dst: s, dstOffset: 0, bytes: b.span });
        return s;
      };
      for (const l of plan(c.exe, c.inputs, c.outputs, c.scalars, snapshot, dynamic.has(i))) {
        if (l.workgroups.every((n) => n > 0)) items.push({ kind: 'launch', l, cmd: i });
      }
    } else if (c.kind === 'copy') {
      const x: BufferCopy = c.copy;
      items.push({ kind: 'copy', src: x.src as GpuBuffer, srcOffset: x.srcOffset * 4, dst: x.dst as GpuBuffer, dstOffset: x.dstOffset * 4, bytes: x.numel * 4 });
    } else {
      const b = c.buf as GpuBuffer;
      const typed = b.dtype === 'float32' ? Float32Array.from(c.data) : Int32Array.from(c.data);
      items.push({ kind: 'write', buf: b, bytes: new Uint8Array(typed.buffer), offset: c.offset * 4 });
    }
  });
  let ubytes = 0, cbytes = 0;
  for (const it of items) {
    if (it.kind === 'launch') ubytes = Math.ceil(ubytes / align) * align + uniformBytes(it.l);
    else if (it.kind === 'write') cbytes += Math.ceil(it.bytes.length / 4) * 4;
  }
  const uniforms = ubytes ? dev.createBuffer({ size: Math.ceil(ubytes / 16) * 16, usage: USAGE.UNIFORM | USAGE.COPY_DST, label: 'wt compiled uniforms' }) : null;
  const shadow = new Uint8Array(uniforms?.size ?? 0);
  const consts = cbytes ? dev.createBuffer({ size: cbytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST, label: 'wt compiled writes' }) : null;
  const steps: Step[] = [];
  const labels: string[] = [];
  /** launches whose scalars a run may replace: where their words are and how to pack them */
  const repacks = new Map<number, { l: Launch; words: Uint32Array; byte: number }[]>();
  const groups = new Map<string, GPUBindGroup>();
  let u = 0, k = 0;
  for (const it of items) {
    if (it.kind === 'launch') {
      const l = it.l, bytes = uniformBytes(l), nWrite = l.buffers.length - l.nRead;
      const entry = d.pipelines.get(l.key, l.code, l.nRead, nWrite);
      u = Math.ceil(u / align) * align;
      shadow.set(new Uint8Array(l.uniforms.buffer, l.uniforms.byteOffset, l.uniforms.byteLength), u);
      if (l.pack && dynamic.has(it.cmd)) {
        const list = repacks.get(it.cmd) ?? [];
        list.push({ l, words: new Uint32Array(shadow.buffer, u, l.uniforms.length), byte: u });
        repacks.set(it.cmd, list);
      }
      const key = d.groupKey(`${l.nRead},${nWrite}`, bytes, l.buffers);
      let group = groups.get(key);
      if (!group) groups.set(key, (group = d.createGroup(entry.layout, uniforms!, bytes, l.buffers)));
      steps.push({ kind: 'run', pipeline: entry.pipeline, group, offset: u, workgroups: l.workgroups });
      labels.push(l.label);
      for (const b of l.buffers) b.touched = true;
      u += bytes;
    } else if (it.kind === 'copy') {
      steps.push({ kind: 'copy', src: it.src.gpu, srcOffset: it.src.byteOffset + it.srcOffset, dst: it.dst.gpu, dstOffset: it.dst.byteOffset + it.dstOffset, bytes: it.bytes });
    } else {
      dev.queue.writeBuffer(consts!, k, it.bytes.buffer, it.bytes.byteOffset, it.bytes.length);
      steps.push({ kind: 'copy', src: consts!, srcOffset: k, dst: it.buf.gpu, dstOffset: it.buf.byteOffset + it.offset, bytes: it.bytes.length });
      k += Math.ceil(it.bytes.length / 4) * 4;
    }
  }
  if (uniforms) dev.queue.writeBuffer(uniforms, 0, shadow.buffer, 0, shadow.length);
  let disposed = false;

  return {
    run(before, after, scalars) {
      if (disposed) throw new BackendError('webgpu: run of a disposed baked step');
      let lo = Infinity, hi = 0;
      for (const [cmd, sc] of scalars) {
        for (const r of repacks.get(cmd) ?? []) {
          r.l.pack!(r.words, sc);
          lo = Math.min(lo, r.byte);
          hi = Math.max(hi, r.byte + r.words.byteLength);
        }
      }
      if (hi > lo) dev.queue.writeBuffer(uniforms!, lo, shadow.buffer, lo, hi - lo);
      const enc = dev.createCommandEncoder({ label: 'wt compiled step' });
      const copy = (c: BufferCopy) => {
        const src = c.src as GpuBuffer, dst = c.dst as GpuBuffer;
        enc.copyBufferToBuffer(src.gpu, src.byteOffset + c.srcOffset * 4, dst.gpu, dst.byteOffset + c.dstOffset * 4, c.numel * 4);
      };
      before.forEach(copy);
      let pass: GPUComputePassEncoder | null = null;
      for (const s of steps) {
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
      d.submitCommands(enc.finish(), labels);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      // replays already submitted name them; later work is queued after those
      for (const s of snapshots) d.pool.release(s.gpu);
      const own = [uniforms, consts].filter((b): b is GPUBuffer => b !== null);
      if (own.length) {
        const go = () => own.forEach((b) => b.destroy());
        dev.queue.onSubmittedWorkDone().then(go, go);
      }
      steps.length = 0;
      repacks.clear();
    },
  };
}
