/**
 * Gives an error class its name from a string literal, on the prototype (non-enumerable, as
 * Error.prototype.name): `constructor.name` does not survive a minifier, which renames classes,
 * so a minified app would print `X: matmul: ...` instead of `ShapeError: matmul: ...`.
 */
function named(cls: { prototype: Error }, name: string): void {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true, enumerable: false });
}

/**
 * The error hierarchy. Every message names the op, the argument and the shapes or dtypes involved,
 * e.g. `matmul: inner dimensions differ: a is [2,3], b is [4,5] (3 != 4)`.
 */
export class WebtensorError extends Error {
  static {
    named(this, 'WebtensorError');
  }
}
/** Shapes that do not fit together: broadcasting, matmul inner dims, reshape sizes, bad axes. */
export class ShapeError extends WebtensorError {
  static {
    named(this, 'ShapeError');
  }
}
/** A dtype an op does not accept, or two dtypes that cannot be mixed. */
export class DTypeError extends WebtensorError {
  static {
    named(this, 'DTypeError');
  }
}
/** A tensor was used after `dispose()` (or after the scope that owned it ended). */
export class DisposedError extends WebtensorError {
  static {
    named(this, 'DisposedError');
  }
}
/** The backend failed, is not initialised, or two tensors live on different backends. */
export class BackendError extends WebtensorError {
  static {
    named(this, 'BackendError');
  }
}
/** The GPU device was lost; call `init()` again to recover. */
export class DeviceLostError extends BackendError {
  static {
    named(this, 'DeviceLostError');
  }
}
/** An allocation failed even after the buffer pool was emptied. */
export class OutOfMemoryError extends BackendError {
  static {
    named(this, 'OutOfMemoryError');
  }
}
/** An argument of the wrong type or out of range (not a shape or dtype problem). */
export class ArgumentError extends WebtensorError {
  static {
    named(this, 'ArgumentError');
  }
}
/** A WGSL shader did not compile: carries the compiler's messages and the source. */
export class ShaderCompileError extends BackendError {
  static {
    named(this, 'ShaderCompileError');
  }
}
/** A malformed model file: truncated, a bad header, bad offsets, an unknown dtype (wt.load). */
export class FormatError extends WebtensorError {
  static {
    named(this, 'FormatError');
  }
}
/** Debug mode (`wt.setDebug(true)`) found NaN or Infinity in an op's output; names the op. */
export class NonFiniteError extends WebtensorError {
  static {
    named(this, 'NonFiniteError');
  }
}

/** Formats a shape for messages: [2,3] (anything else as its string, so a message never throws). */
export function fmt(shape: readonly number[]): string {
  return Array.isArray(shape) ? `[${shape.join(',')}]` : String(shape);
}
