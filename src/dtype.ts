/**
 * Data types. Every dtype is stored as 32-bit elements on every backend (bool as 0/1 in 32 bits),
 * so one kernel indexes all of them the same way; `data()` hands bool back as a Uint8Array.
 */
export type DType = 'float32' | 'int32' | 'bool';

/** What `await t.data()` returns for each dtype. */
export type DataArray = Float32Array | Int32Array | Uint8Array;

/** Storage arrays a backend may hold (the float64 CPU backend stores float32 tensors as float64). */
export type StorageArray = Float32Array | Float64Array | Int32Array;

export const BYTES_PER_ELEMENT = 4;

/** The smallest and largest int32. */
export const INT32_MIN = -(2 ** 31), INT32_MAX = 2 ** 31 - 1;

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'int32' || x === 'bool';
}

/** Converts storage values to the user-facing array for a dtype. */
export function toDataArray(src: ArrayLike<number>, dtype: DType): DataArray {
  if (dtype === 'float32') return src instanceof Float32Array ? src : Float32Array.from(src);
  if (dtype === 'int32') return src instanceof Int32Array ? src : Int32Array.from(src);
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] ? 1 : 0;
  return out;
}
