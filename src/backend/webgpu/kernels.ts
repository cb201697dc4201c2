/**
 * Expression kernels on WebGPU: turns (kernel, views, scalars) into a Launch for the dispatcher
 * (the backend labels it).
 *
 * Per dispatch: dims that are contiguous in every view are merged and size-1 dims dropped (so a
 * dense op becomes 1-D whatever its rank, and the pipeline is keyed by the merged rank); each
 * distinct buffer is bound once, the output read-write, and an input that is exactly the output
 * view (in-place `x.add_(y)`) is read through the output's binding, since WebGPU forbids binding
 * one buffer as read-only and writable in one dispatch; the variant is picked (vec4 when every
 * view is dense and aligned); and shapes, strides, offsets and scalars are packed into uniforms.
 */
import type { View } from '../backend.js';
import { BackendError } from '../../errors.js';
import { sameLayout } from '../../shape.js';
import type { ReduceKernel } from '../../kernel/kernel.js';
import { exprKernelKey, exprKernelWgsl, exprLayout, segmentLayout, type ExprInfo, type ExprKernelSpec } from '../../kernel/wgsl.js';
import type { GpuBuffer, Launch as LabeledLaunch } from './dispatcher.js';
import type { GpuContext } from './launch.js';

/** A launch before the backend names it for profiles. */
export type Launch = Omit<LabeledLaunch, 'label'>;

/** Gives a launch the way to pack other scalars into its uniforms (a baked step's replays, bake.ts). */
function withPack(l: Launch, info: ExprInfo, slot: (k: number) => number): Launch {
  l.pack = (u, sc) => packSlots(info, sc, u, slot);
  return l;
}

const EW_WORKGROUP = 256;

/**
 * Merges adjacent dims that are contiguous in every stride list (outer stride = inner stride ×
 * inner size) and drops size-1 dims; the row-major element order is unchanged.
 *
 * @example coalesce([2, 3], [[3, 1]]) → { shape: [6], strides: [[1]] }
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides = strides.map(() => [] as number[]);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, v) => outStrides[v][last] === s[d] * n)) {
      outShape[last] *= n;
      outStrides.forEach((s, v) => (s[last] = strides[v][d]));
      continue;
    }
    outShape.push(n);
    outStrides.forEach((s, v) => s.push(strides[v][d]));
  }
  return { shape: outShape, strides: outStrides };
}

/** Workgroup counts for `n` workgroups: a 2-D grid beyond the per-dimension limit. */
export function grid(n: number, maxPerDim: number): [number, number, number] {
  if (n <= maxPerDim) return [n, 1, 1];
  const y = Math.ceil(n / maxPerDim);
  if (y > maxPerDim) throw new BackendError(`webgpu: ${n} workgroups exceed the device's ${maxPerDim}x${maxPerDim} grid`);
  return [Math.ceil(n / y), y, 1];
}

/** Hooks the launch builder needs from the backend. */
interface BindingPlan {
  buffers: GpuBuffer[];
  nRead: number;
  inputBinding: number[];
  outputBinding: number[];
}

const sameView = (a: View, b: View): boolean => a.buf === b.buf && sameLayout(a, b);

/**
 * Binds each distinct buffer once: the outputs' buffers read-write (after the read-only ones).
 * An input that is exactly an output view is read through that output's binding (each thread
 * reads its element before writing it); one that reads an output's buffer anywhere else (an
 * overlapping copy) reads a snapshot, so the result does not depend on the order threads run in.
 */
function planBindings(ins: readonly View[], outs: readonly View[], ctx: GpuContext): BindingPlan {
  const writes: GpuBuffer[] = [];
  const outSlot = outs.map((o) => {
    const b = o.buf as GpuBuffer;
    const k = writes.indexOf(b);
    return k < 0 ? writes.push(b) - 1 : k;
  });
  const reads: GpuBuffer[] = [];
  const snapshots = new Map<GpuBuffer, GpuBuffer>();
  const inSlot = ins.map((v) => {
    let b = v.buf as GpuBuffer;
    const alias = outs.findIndex((o) => sameView(v, o));
    if (alias >= 0) return { write: outSlot[alias] };
    if (writes.includes(b)) {
      let s = snapshots.get(b);
      if (!s) snapshots.set(b, (s = ctx.snapshot(b)));
      b = s;
    }
    const k = reads.indexOf(b);
    return { read: k < 0 ? reads.push(b) - 1 : k };
  });
  const max = ctx.limits.maxStorageBuffersPerShaderStage;
  if (reads.length + writes.length > max) {
    throw new BackendError(`webgpu: an expression kernel reads ${reads.length} buffers and writes ${writes.length}, over the device limit of ${max} storage buffers per stage`);
  }
  const nRead = reads.length;
  return {
    buffers: [...reads, ...writes],
    nRead,
    inputBinding: inSlot.map((s) => (s.write !== undefined ? nRead + s.write + 1 : s.read! + 1)),
    outputBinding: outSlot.map((k) => nRead + k + 1),
  };
}

/** The Launch of an expression kernel: its spec completed with the binding plan, `groups` workgroups. */
function exprLaunch(fields: Omit<ExprKernelSpec, 'bindings' | 'inputBinding' | 'outputBinding'>, plan: BindingPlan, uniforms: Uint32Array, groups: number, ctx: GpuContext): Launch {
  const spec: ExprKernelSpec = {
    ...fields,
    bindings: plan.buffers.map((_, i) => (i < plan.nRead ? 'read' : 'read_write')),
    inputBinding: plan.inputBinding, outputBinding: plan.outputBinding,
  };
  return {
    key: exprKernelKey(spec),
    code: () => exprKernelWgsl(spec),
    buffers: plan.buffers,
    nRead: plan.nRead,
    uniforms,
    workgroups: grid(groups, ctx.limits.maxComputeWorkgroupsPerDimension),
  };
}

const f32 = new Float32Array(1), f32bits = new Uint32Array(f32.buffer);

/** Packs header, shape, view offsets/strides and scalar slots as exprLayout describes. */
function packUniforms(info: ExprInfo, header: [number, number, number], shape: readonly number[], views: { offset: number; strides: readonly number[] }[], scalars: readonly number[]): Uint32Array {
  const L = exprLayout(shape.length, views.length, info.slots.length);
  const u = new Uint32Array(L.words);
  u.set(header);
  shape.forEach((n, d) => (u[L.shape(d)] = n));
  views.forEach((v, i) => {
    u[L.offset(i)] = v.offset | 0;
    v.strides.forEach((s, d) => (u[L.stride(i, d)] = s | 0));
  });
  packSlots(info, scalars, u, L.slot);
  return u;
}

/** Writes the kernel's scalar slots into `u` at `slot(k)`, each in its slot's kind. */
function packSlots(info: ExprInfo, scalars: readonly number[], u: Uint32Array, slot: (k: number) => number): void {
  info.slots.forEach((s, k) => {
    const x = scalars[s.index] ?? 0;
    if (s.kind === 'f32') {
      f32[0] = x;
      u[slot(k)] = f32bits[0];
    } else u[slot(k)] = s.kind === 'bool' ? (x ? 1 : 0) : s.kind === 'u32' ? x >>> 0 : x | 0;
  });
}

/**
 * The launch of an elementwise kernel over the outputs' (common) shape; output k gets
 * `info.exprs[k]`.
 */
export function elementwiseLaunch(info: ExprInfo, inputs: readonly View[], outs: readonly View[], scalars: readonly number[], ctx: GpuContext, repack = false): Launch | null {
  const shape = outs[0].shape;
  const total = shape.reduce((a, b) => a * b, 1);
  if (total === 0) return null;
  const ins = info.loads.map((i) => inputs[i]);
  const nOut = outs.length;
  const c = coalesce(shape, [...outs.map((o) => o.strides), ...ins.map((v) => v.strides)]);
  const plan = planBindings(ins, outs, ctx);
  const offsets = [...outs.map((o) => o.offset), ...ins.map((v) => v.offset)];
  // vec4: 1-D after merging, every view dense (or, for inputs, one broadcast element) and 16-byte aligned
  const nd = c.shape.length;
  const dense = (k: number) => nd === 1 && c.strides[k][0] === 1 && offsets[k] % 4 === 0;
  const splat = ins.map((_, j) => nd === 0 || c.strides[nOut + j][0] === 0);
  const vec4 = nd === 1 && total % 4 === 0 && outs.every((_, k) => dense(k)) && ins.every((_, j) => splat[j] || dense(nOut + j));
  const views = offsets.map((offset, k) => ({ offset, strides: c.strides[k] }));
  const threads = vec4 ? total / 4 : total;
  const l = exprLaunch({ info, variant: vec4 ? 'vec4' : 'strided', ndim: nd, nReduce: 0, workgroupSize: EW_WORKGROUP, splat: vec4 ? splat : undefined },
    plan, packUniforms(info, [total, 0, total / 4], c.shape, views, scalars), Math.ceil(threads / EW_WORKGROUP), ctx);
  return repack ? withPack(l, info, exprLayout(nd, views.length, info.slots.length).slot) : l;
}

/**
 * The launch of a multi-segment elementwise kernel (ElementwiseKernel.segments): S independent
 * 1-D contiguous segments, views given segment-major, each segment its own range of workgroups;
 * a segment runs four elements per thread when its length and every view offset are multiples
 * of 4 and none of its buffers is also used by a segment that cannot.
 */
export function segmentsLaunch(info: ExprInfo, S: number, inputs: readonly View[], outs: readonly View[], scalars: readonly number[], ctx: GpuContext, repack = false): Launch | null {
  const nIn = inputs.length / S, nOut = outs.length / S, nL = info.loads.length;
  const ins = Array.from({ length: S }, (_, g) => info.loads.map((i) => inputs[g * nIn + i])).flat();
  const segViews = (g: number) => [...outs.slice(g * nOut, (g + 1) * nOut), ...ins.slice(g * nL, (g + 1) * nL)];
  const lengths = Array.from({ length: S }, (_, g) => outs[g * nOut].shape.reduce((a, b) => a * b, 1));
  if (lengths.every((n) => n === 0)) return null;
  const plan = planBindings(ins, outs, ctx);
  const bindingsOf = (g: number) => [...plan.outputBinding.slice(g * nOut, (g + 1) * nOut), ...plan.inputBinding.slice(g * nL, (g + 1) * nL)];
  const vec = lengths.map((n, g) => n % 4 === 0 && segViews(g).every((v) => v.offset % 4 === 0));
  // a buffer bound once but used by a vec4 and a scalar segment: both read it as scalars
  for (let changed = true; changed;) {
    changed = false;
    const scalarBindings = new Set(lengths.flatMap((_, g) => (vec[g] ? [] : bindingsOf(g))));
    lengths.forEach((_, g) => {
      if (vec[g] && bindingsOf(g).some((b) => scalarBindings.has(b))) {
        vec[g] = false;
        changed = true;
      }
    });
  }
  const L = segmentLayout(S, nOut + nL, info.slots.length);
  const u = new Uint32Array(L.words);
  packSlots(info, scalars, u, L.slot);
  let end = 0;
  for (let g = 0; g < S; g++) {
    const unit = vec[g] ? 4 : 1, len = lengths[g] / unit;
    u[L.end(g)] = end += Math.ceil(len / EW_WORKGROUP);
    u[L.len(g)] = len;
    segViews(g).forEach((v, k) => (u[L.segOffset(g, k)] = v.offset / unit));
  }
  const l = exprLaunch({ info, variant: 'segments', ndim: 1, nReduce: 0, segments: S, segmentVec4: vec, workgroupSize: EW_WORKGROUP }, plan, u, end, ctx);
  return repack ? withPack(l, info, L.slot) : l;
}

/** Longest reduction that runs one thread per output on a CPU-emulated adapter. */
export const ROW_REDUCE_MAX_SOFTWARE = 1024;

/**
 * The launch of a reduce kernel. Input views span [outer..., reduced...]; the output view spans
 * the outer dims. Outer and reduced dims are merged separately so the boundary stays put.
 */
export function reduceLaunch(k: ReduceKernel, info: ExprInfo, inputs: readonly View[], out: View, scalars: readonly number[], ctx: GpuContext): Launch | null {
  const full = inputs.length ? inputs[0].shape : [...out.shape, ...new Array<number>(k.nReduce).fill(1)];
  const nOuter = full.length - k.nReduce;
  const O = full.slice(0, nOuter).reduce((a, b) => a * b, 1);
  const R = full.slice(nOuter).reduce((a, b) => a * b, 1);
  if (O === 0) return null;
  const ins = info.loads.map((i) => inputs[i]);
  const outer = coalesce(full.slice(0, nOuter), [out.strides.slice(0, nOuter), ...ins.map((v) => v.strides.slice(0, nOuter))]);
  const red = coalesce(full.slice(nOuter), ins.map((v) => v.strides.slice(nOuter)));
  const shape = [...outer.shape, ...red.shape];
  const zeros = red.shape.map(() => 0);
  const views = [
    { offset: out.offset, strides: [...outer.strides[0], ...zeros] },
    ...ins.map((v, j) => ({ offset: v.offset, strides: [...outer.strides[j + 1], ...red.strides[j]] })),
  ];
  const plan = planBindings(ins, [out], ctx);
  // short rows: one thread per output; long rows: one workgroup per output, tree in shared memory.
  // CPU-emulated adapters take one thread per output up to ROW_REDUCE_MAX_SOFTWARE terms: a
  // barrier costs per thread there, so e.g. a bias gradient's column sums over 128 rows ran
  // 4.6 ms as trees (bench/RESULTS.md, issue 7); 16-thread groups while there are few
  // outputs, so that every CPU thread gets some.
  const row = R <= 32 || (ctx.software === true && R <= ROW_REDUCE_MAX_SOFTWARE);
  const wg = row ? (ctx.software && O < 256 ? 16 : 64) : R >= 4096 ? 256 : 64;
  // a tree whose workgroup is whole subgroups finishes each subgroup with shuffles: one barrier
  const sg = !row && ctx.subgroupSize && wg % ctx.subgroupSize === 0 && wg / ctx.subgroupSize > 1 ? ctx.subgroupSize : undefined;
  return exprLaunch({ info, variant: row ? 'row' : 'tree', ndim: shape.length, nReduce: red.shape.length, op: k.op, workgroupSize: wg, subgroupSize: sg },
    plan, packUniforms(info, [O, R, 0], shape, views, scalars), row ? Math.ceil(O / wg) : O, ctx);
}
