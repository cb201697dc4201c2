/**
 * Canonical numbering of an expression kernel, so that kernels of the same form share one
 * compiled pipeline.
 *
 * Fusion (src/fusion.ts) builds a kernel by folding pending results into each other; the numbers
 * of its loads and scalars record the order things were folded in (the biggest recipe keeps its
 * numbering, others are appended), so two kernels that compute the same expression over
 * different tensors, cut at different places of a chain, could number them differently and get
 * different keys: one pipeline compile each (hundreds of milliseconds on a software adapter).
 * Here loads and scalars are renumbered in the order one walk of the expressions first meets
 * them, unread views and scalars are dropped, and a view loaded under two numbers becomes one:
 * the key then depends only on the form of the expression.
 *
 * The same walk can replace whole subexpressions by loads of buffers that already hold their
 * values (`computed`): a pending result folded into another that has been computed since is read,
 * not computed again (src/storage.ts, Storage.materialize).
 *
 * @example
 * // add(load 3, scalar 5) over views [a, b, c, d] and scalars [..6 values]
 * canonical([IR.binary('add', IR.load(3, 'float32'), IR.scalar(5))], views, scalars);
 * // → add(load 0, scalar 0) over [d], scalars [scalars[5]]
 */
import type { View } from '../backend/backend.js';
import { IR, type Expr } from './ir.js';

/** An expression kernel's arguments: the expressions, the views they load and the scalars they read. */
export interface KernelArgs {
  readonly exprs: Expr[];
  readonly views: View[];
  readonly scalars: number[];
  /** the new index of each old scalar (undefined where it is not read) */
  readonly scalarAt: readonly (number | undefined)[];
}

const sameView = (a: View, b: View): boolean => {
  if (a.buf !== b.buf || a.offset !== b.offset || a.dtype !== b.dtype) return false;
  for (let d = 0; d < a.strides.length; d++) if (a.strides[d] !== b.strides[d]) return false;
  return true;
};

/**
 * `exprs` over `views` and `scalars`, renumbered canonically (see the module notes); a node found
 * in `computed` becomes a load of the view given for it there.
 */
export function canonical(exprs: readonly Expr[], views: readonly View[], scalars: readonly number[], computed?: ReadonlyMap<Expr, View>): KernelArgs {
  if (!computed && isCanonical(exprs, views.length, scalars.length)) return { exprs: exprs as Expr[], views: views as View[], scalars: scalars as number[], scalarAt: IDENTITY(scalars.length) };
  const outViews: View[] = [];
  const outScalars: number[] = [];
  const scalarAt: (number | undefined)[] = new Array<number | undefined>(scalars.length);
  const loadAt: (number | undefined)[] = [];
  const viewIndex = (v: View): number => {
    const k = outViews.findIndex((w) => sameView(v, w));
    return k >= 0 ? k : outViews.push(v) - 1;
  };
  // a rand leaf reads three consecutive scalars (key0, key1, stream): they move together
  const scalar = (i: number, n: number): number => {
    let k = scalarAt[i];
    if (k === undefined) {
      k = outScalars.length;
      for (let j = 0; j < n; j++) {
        scalarAt[i + j] = k + j;
        outScalars.push(scalars[i + j]);
      }
    }
    return k;
  };
  const memo = new Map<Expr, Expr>();
  const walk = (e: Expr): Expr => {
    let m = memo.get(e);
    if (m) return m;
    const done = computed?.get(e);
    if (done) m = IR.load(viewIndex(done), e.dtype);
    else {
      switch (e.op) {
        case 'load': {
          const k = (loadAt[e.value!] ??= viewIndex(views[e.value!]));
          m = k === e.value ? e : IR.load(k, e.dtype);
          break;
        }
        case 'scalar': {
          const k = scalar(e.value!, 1);
          m = k === e.value ? e : IR.scalar(k, e.dtype);
          break;
        }
        case 'rand': {
          const k = scalar(e.value!, 3);
          m = k === e.value ? e : IR.rand(k, e.lane ?? 0);
          break;
        }
        case 'const': case 'index': m = e; break;
        default: {
          const args = e.args.map(walk);
          m = args.every((a, i) => a === e.args[i]) ? e : { ...e, args };
        }
      }
    }
    memo.set(e, m);
    return m;
  };
  return { exprs: exprs.map(walk), views: outViews, scalars: outScalars, scalarAt };
}

const identities: number[][] = [];
/** [0, 1, ..., n-1], shared (callers only read it). */
const IDENTITY = (n: number): readonly number[] => (identities[n] ??= Array.from({ length: n }, (_, i) => i));

/**
 * Whether the numbering is canonical already (the common case: an op's own kernel, unfused), by a
 * walk without allocations: loads and scalars first met in increasing order, none unread. Views
 * are distinct as fusion builds them. Big trees (shared subtrees would be walked once per use)
 * take the full renumbering.
 */
function isCanonical(exprs: readonly Expr[], nViews: number, nScalars: number): boolean {
  let loads = 0, sc = 0, budget = 64;
  const walk = (e: Expr): boolean => {
    if (--budget < 0) return false;
    switch (e.op) {
      case 'load':
        if (e.value! === loads) loads++;
        return e.value! < loads;
      case 'scalar':
        if (e.value! === sc) sc++;
        return e.value! < sc;
      case 'rand':
        if (e.value! === sc) sc += 3;
        return e.value! < sc;
      default:
        for (const a of e.args) if (!walk(a)) return false;
        return true;
    }
  };
  for (const e of exprs) if (!walk(e)) return false;
  return loads === nViews && sc === nScalars;
}
