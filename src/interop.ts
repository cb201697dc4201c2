/**
 * Embedding webtensor in an app that owns the GPU: wrap the host's GPUBuffers as tensors and
 * hand ours out, both without copies.
 *
 * Lifetime and ordering rules (WebGPU runs commands in queue-submission order):
 * - `t.gpuBuffer()` submits webtensor's queued work first, so commands the host submits
 *   afterwards see the tensor's values. The buffer stays valid until the tensor (and every view
 *   of it) is disposed; after that webtensor reuses it for other tensors. Treat it as read-only
 *   unless you own the tensor's values (in-place writes bypass autograd).
 * - `fromGPUBuffer` tensors read the host buffer when webtensor's work is submitted. If the host
 *   changes the buffer, call `wt.flush()` before it does so, so that ops already issued see the
 *   old contents. (Elementwise ops that read a host buffer are never left pending by fusion, see
 *   `wt.setFusion`, so this holds with fusion on.) The host keeps ownership: disposing the tensor never destroys the buffer.
 * - The buffer must live on the device webtensor uses: pass it with `wt.init({ device })`.
 *
 * @example
 * await wt.init({ device });                                   // the host's GPUDevice
 * const x = wt.fromGPUBuffer(hostBuffer, [256, 256]);          // no copy
 * const img = wt.tidy(() => x.sigmoid().mul(255));
 * const { buffer, byteOffset, byteLength } = img.gpuBuffer();  // bind it in a render pass
 */
import { isDType, type DType } from './dtype.js';
import { engine } from './engine.js';
import { Storage } from './storage.js';
import { ArgumentError, BackendError, DTypeError, fmt } from './errors.js';
import { checkShape, contiguousStrides, numel } from './shape.js';
import { Tensor } from './tensor.js';
import { checkOptions, describeValue } from './validate.js';

/** Where a tensor's values are on the GPU. Elements are 32-bit: f32, i32, or u32 0/1 for bool. */
export interface GPUBufferInfo {
  buffer: GPUBuffer;
  /** index of the first element (the tensor's offset into the buffer) */
  offset: number;
  /** offset * 4 */
  byteOffset: number;
  /** bytes of the tensor's values, numel * 4 */
  byteLength: number;
  shape: number[];
  dtype: DType;
}

function isGPUBufferLike(x: unknown): x is GPUBuffer {
  const b = x as GPUBuffer | null;
  return typeof b === 'object' && b !== null && typeof b.size === 'number' && typeof b.usage === 'number' && typeof b.mapState === 'string';
}

/**
 * A tensor viewing a GPUBuffer that the host app owns, without copying: `shape` elements of
 * `dtype` (32-bit each) starting at element `offset`. The buffer needs STORAGE usage (and
 * COPY_SRC for `data()`), and must come from the device passed to `wt.init({ device })`.
 *
 * @example
 * const buf = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
 * const t = wt.fromGPUBuffer(buf, [4, 4], 'float32');
 */
export function fromGPUBuffer(buffer: GPUBuffer, shape: readonly number[], dtype: DType = 'float32', opts: { offset?: number } = {}): Tensor {
  const op = 'fromGPUBuffer';
  const backend = engine.requireBackend();
  if (!backend.importBuffer) {
    throw new BackendError(`${op}: the current backend is '${backend.name}'; GPUBuffers need the WebGPU backend on the host's device: await wt.init({ device })`);
  }
  if (!isGPUBufferLike(buffer)) throw new ArgumentError(`${op}: expected a GPUBuffer, got ${describeValue(buffer)}`);
  checkShape(op, shape);
  if (!isDType(dtype)) throw new DTypeError(`${op}: unknown dtype ${describeValue(dtype)} (expected float32, int32 or bool)`);
  checkOptions(op, opts, ['offset']);
  const offset = opts.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ArgumentError(`${op}: offset must be a non-negative integer (elements), got ${describeValue(offset)}`);
  const n = numel(shape);
  if ((offset + n) * 4 > buffer.size) {
    throw new ArgumentError(`${op}: shape ${fmt(shape)} (${n} elements of 4 bytes) at element offset ${offset} needs ${(offset + n) * 4} bytes, but the buffer has ${buffer.size}`);
  }
  const buf = backend.importBuffer(buffer, offset + n, dtype);
  const storage = new Storage(backend, buf, dtype);
  storage.external = true;
  return Tensor._make(storage, shape, contiguousStrides(shape), offset, dtype);
}

/** Implements `t.gpuBuffer()` (see GPUBufferInfo and the rules above). */
export function exportGPUBuffer(t: Tensor): GPUBufferInfo {
  t._check('gpuBuffer');
  const backend = t.backend;
  if (!backend.exportBuffer) throw new BackendError(`gpuBuffer: the tensor lives on the '${backend.name}' backend, not on a GPU; use await t.data()`);
  if (!t.isContiguous()) {
    throw new ArgumentError(`gpuBuffer: the tensor of shape ${fmt(t.shape)} is a strided view (strides ${fmt(t.strides)}); call .contiguous() first`);
  }
  const buf = t._view().buf;
  const buffer = backend.exportBuffer(buf);
  // an arena slot (an optimizer's parameter or gradient) starts inside its arena's buffer
  const base = backend.bufferByteOffset?.(buf) ?? 0;
  return { buffer, offset: base / 4 + t.offset, byteOffset: base + t.offset * 4, byteLength: t.numel() * 4, shape: [...t.shape], dtype: t.dtype };
}

/**
 * Submits every queued GPU command now (webtensor otherwise submits in batches and on reads).
 * Call it before host code touches a buffer that webtensor's queued work uses. Throws errors the
 * device reported (e.g. a lost device).
 *
 * @example wt.flush(); device.queue.writeBuffer(hostBuffer, 0, data);
 */
export function flush(): void {
  engine.requireBackend().flush();
}
