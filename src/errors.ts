/**
 * The error hierarchy. Every message names the op, the argument and the shapes or dtypes involved,
 * e.g. `matmul: inner dimensions differ: a is [2,3], b is [4,5] (3 != 4)`.
 */
export class WebtensorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** Shapes that do not fit together: broadcasting, matmul inner dims, reshape sizes, bad axes. */
export class ShapeError extends WebtensorError {}
/** A dtype an op does not accept, or two dtypes that cannot be mixed. */
export class DTypeError extends WebtensorError {}
/** A tensor was used after `dispose()` (or after the scope that owned it ended). */
export class DisposedError extends WebtensorError {}
/** The backend failed, is not initialised, or two tensors live on different backends. */
export class BackendError extends WebtensorError {}
/** The GPU device was lost; call `init()` again to recover. */
export class DeviceLostError extends BackendError {}
/** An allocation failed even after the buffer pool was emptied. */
export class OutOfMemoryError extends BackendError {}
/** An argument of the wrong type or out of range (not a shape or dtype problem). */
export class ArgumentError extends WebtensorError {}
/** A WGSL shader did not compile: carries the compiler's messages and the source. */
export class ShaderCompileError extends BackendError {}
/** A malformed model file: truncated, a bad header, bad offsets, an unknown dtype (wt.load). */
export class FormatError extends WebtensorError {}
/** Debug mode (`wt.setDebug(true)`) found NaN or Infinity in an op's output; names the op. */
export class NonFiniteError extends WebtensorError {}

/** Formats a shape for messages: [2,3] (anything else as its string, so a message never throws). */
export function fmt(shape: readonly number[]): string {
  return Array.isArray(shape) ? `[${shape.join(',')}]` : String(shape);
}
