/** Strided index helpers for the CPU backend. */

/**
 * Writes into out[0..n) the element offsets of the row-major positions start..start+n of a
 * view with this shape, strides and base offset.
 */
export function fillOffsets(shape: readonly number[], strides: readonly number[], base: number, start: number, n: number, out: Int32Array): void {
  const nd = shape.length;
  if (nd === 0) {
    out.fill(base, 0, n);
    return;
  }
  const idx = new Array<number>(nd);
  let rem = start, off = base;
  for (let d = nd - 1; d >= 0; d--) {
    const s = shape[d];
    idx[d] = rem % s;
    rem = Math.floor(rem / s);
    off += idx[d] * strides[d];
  }
  const last = shape[nd - 1], ls = strides[nd - 1];
  let j = 0;
  while (j < n) {
    const i = idx[nd - 1];
    const run = Math.min(last - i, n - j);
    for (let r = 0; r < run; r++) out[j++] = off + r * ls;
    off += run * ls;
    idx[nd - 1] = i + run;
    if (idx[nd - 1] === last) {
      off -= last * ls;
      idx[nd - 1] = 0;
      for (let d = nd - 2; d >= 0; d--) {
        idx[d]++;
        off += strides[d];
        if (idx[d] < shape[d]) break;
        off -= shape[d] * strides[d];
        idx[d] = 0;
      }
    }
  }
}

/** True when a view reads its elements in row-major order from `offset` (offset + i). */
export function isDense(shape: readonly number[], strides: readonly number[]): boolean {
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== acc) return false;
    acc *= shape[i];
  }
  return true;
}
