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

/**
 * dst[dOff + i] = src[offset of the view's row-major position i] for every element: a strided
 * copy (a transpose, a slice made contiguous) a row at a time, after merging the dims that are
 * contiguous with each other, so a contiguous run is one typed-array copy and the rest a tight
 * loop instead of per-element offsets. src and dst must not share memory.
 */
export function copyToDense(src: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, shape: readonly number[], strides: readonly number[], base: number, dst: { set(a: ArrayLike<number>, o: number): void; [i: number]: number }, dOff: number): void {
  const sh: number[] = [], st: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const k = sh.length - 1;
    if (k >= 0 && st[k] === strides[d] * shape[d]) {
      sh[k] *= shape[d];
      st[k] = strides[d];
    } else {
      sh.push(shape[d]);
      st.push(strides[d]);
    }
  }
  if (sh.length === 0) {
    if (shape.every((s) => s === 1)) dst[dOff] = src[base];
    return;
  }
  const nd = sh.length, last = sh[nd - 1], ls = st[nd - 1];
  let rows = 1;
  for (let d = 0; d < nd - 1; d++) rows *= sh[d];
  const idx = new Array<number>(nd).fill(0);
  let off = base, o = dOff;
  for (let r = 0; r < rows; r++) {
    if (ls === 1 && last >= 32) dst.set(src.subarray(off, off + last), o);
    else for (let k = 0, a = off; k < last; k++, a += ls) dst[o + k] = src[a];
    o += last;
    for (let d = nd - 2; d >= 0; d--) {
      off += st[d];
      if (++idx[d] < sh[d]) break;
      off -= sh[d] * st[d];
      idx[d] = 0;
    }
  }
}
