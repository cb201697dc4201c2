/**
 * Gradients of strided sub-views (slice, narrow, select, chunk, split) kept *padded lazily*: the
 * gradient of x[region] is a tensor of x's shape that is zero outside the region, but it is made
 * only when its values are needed. Until then it is a pending zero tensor (no buffer yet) plus a
 * list of regions, each holding the smaller gradient that belongs there.
 *
 * Why: the gradients of several slices of one tensor (attention's q, k, v cut from one packed
 * projection; an LSTM's four gates) meet in the backward pass, where each used to be a full
 * zero-padded tensor (a fill and a copy) and then all were summed (one more pass over all of
 * them). Merged lazily, they become one zero fill and one copy or add per slice, with no
 * full-size temporaries.
 *
 * The backward pass (backward.ts) merges two padded gradients of the same input (`merge`) and
 * `realize`s one anywhere its values are read: before a gradient rule runs on it, before it is
 * added to a plain gradient, before it becomes a leaf's `.grad`.
 */
import type { Tensor } from '../tensor.js';
import { copyInto, pendingFill, runElementwise } from '../ops/run.js';
import { IR } from '../kernel/ir.js';

interface Region {
  /** the gradient of the region (a reference of its own) */
  g: Tensor;
  starts: readonly number[];
  steps: readonly number[];
}

const regions = new WeakMap<Tensor, Region[]>();

/** The gradient of x (of `shape`) for the view x[starts :: steps] whose gradient is `g`. */
export function padded(shape: readonly number[], g: Tensor, starts: readonly number[], steps: readonly number[]): Tensor {
  const z = pendingFill('zeros', shape, 0, 'float32', g.backend); // no buffer, no kernel yet
  regions.set(z, [{ g: g._alias(), starts, steps }]);
  return z;
}

/** Whether `t` is a lazily padded gradient. */
export function isPadded(t: Tensor): boolean {
  return regions.has(t);
}

/** The sum of two padded gradients of one shape (a's tensor, b's regions moved over; b is disposed). */
export function merge(a: Tensor, b: Tensor): Tensor {
  regions.get(a)!.push(...regions.get(b)!);
  regions.delete(b);
  b.dispose();
  return a;
}

/** A plain tensor with the values of `t` (a padded gradient's regions written into its zeros). */
export function realize(t: Tensor): Tensor {
  const rs = regions.get(t);
  if (!rs) return t;
  regions.delete(t);
  // regions that tile the tensor exactly (chunk, split) are copied in with no zero fill first
  const tiled = tiles(t.shape, rs);
  const whole = tiled ? coalesced(t, rs) : null;
  if (whole) {
    rs.forEach((r) => r.g.dispose());
    t.dispose();
    return whole;
  }
  if (tiled) t._store.discardPending();
  const zv = t._view(); // computes the zeros (unless tiled)
  rs.forEach((r, k) => {
    if (r.g.numel() > 0) {
      let offset = zv.offset;
      r.starts.forEach((s, i) => (offset += s * zv.strides[i]));
      const strides = r.steps.map((s, i) => s * zv.strides[i]);
      const into = { ...zv, shape: r.g.shape, strides, offset };
      if (k === 0 || tiled) {
        copyInto(r.g, into); // the region still holds zeros, or nothing else writes it
      } else {
        // regions may overlap (two slices of the same elements): add
        const cur = t._viewAs(r.g.shape, strides, offset);
        runElementwise('add', IR.binary('add', IR.load(0, 'float32'), IR.load(1, 'float32')), [cur, r.g], r.g.shape, [], into);
        cur.dispose();
      }
    }
    r.g.dispose();
  });
  return t;
}

/**
 * When the regions' gradients are views of one buffer that already lie as the regions of one
 * contiguous tensor of t's shape (a kernel wrote them side by side: the short attention
 * backward's gq, gk, gv in the layout of the packed q/k/v projection they were cut from), that
 * tensor, a view: no copies. Else null.
 */
function coalesced(t: Tensor, rs: readonly Region[]): Tensor | null {
  const g0 = rs[0].g, store = g0._store;
  const cs: number[] = [];
  for (let i = t.ndim - 1, s = 1; i >= 0; s *= t.shape[i], i--) cs[i] = s;
  const at = (r: Region) => r.starts.reduce((a, s, i) => a + s * cs[i], 0);
  const base = g0.offset - at(rs[0]);
  if (base < 0) return null;
  for (const r of rs) {
    if (r.g._store !== store || r.g.dtype !== t.dtype || r.g.offset !== base + at(r)) return null;
    if (r.g.shape.some((d, i) => d > 1 && r.g.strides[i] !== r.steps[i] * cs[i])) return null;
  }
  return g0._viewAs(t.shape, cs, base);
}

/** Whether step-1 regions are disjoint boxes that cover all of `shape`. */
function tiles(shape: readonly number[], rs: readonly Region[]): boolean {
  if (rs.some((r) => r.steps.some((s, i) => s !== 1 && r.g.shape[i] > 1))) return false;
  let covered = 0;
  for (let i = 0; i < rs.length; i++) {
    covered += rs[i].g.numel();
    for (let j = 0; j < i; j++) {
      // two boxes overlap when their intervals overlap in every dim
      const a = rs[i], b = rs[j];
      if (shape.every((_, d) => a.starts[d] < b.starts[d] + b.g.shape[d] && b.starts[d] < a.starts[d] + a.g.shape[d])) return false;
    }
  }
  return covered === shape.reduce((x, y) => x * y, 1);
}

/** Disposes a gradient, padded or not. */
export function disposeGrad(t: Tensor): void {
  for (const r of regions.get(t) ?? []) r.g.dispose();
  regions.delete(t);
  t.dispose();
}
