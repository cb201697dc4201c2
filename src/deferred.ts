/**
 * Checks on a device's values that must not stall it. On a backend without synchronous reads
 * (WebGPU) an op queues a small reduction of what it wants checked into one int32 slot of a flag
 * buffer, plus a rule that turns the flags into an error; the next read (`data()`, `item()`, ...)
 * reads the flags first and throws the first error, naming the op that queued it. The queue runs
 * in order, so the flags describe the values the op saw.
 *
 * Users: index ranges (gather, indexSelect, embedding, scatterAdd, crossEntropy targets; see
 * ops/indexing.ts) and debug mode's NaN/Infinity checks (debug.ts).
 *
 * @example
 * const slot = flagSlot(backend, index._view(), outOfRange, [size]);
 * deferCheck(backend, [slot], ([bad]) => (bad ? new ArgumentError('gather: index out of range') : null));
 */
import type { Backend, BackendBuffer, View } from './backend/backend.js';
import type { Expr } from './kernel/ir.js';

const CHUNK = 1024;

interface Rule {
  slots: number[];
  error: (flags: number[]) => Error | null;
}

interface Queue {
  bufs: BackendBuffer[];
  used: number;
  rules: Rule[];
}

// weak: a lost or replaced backend's queue goes with it
const queues = new WeakMap<Backend, Queue>();

/**
 * Queues a max-reduction of `code` (an int32 expression of the view's elements, read as input
 * 0, with `scalars` as its scalar parameters) over every element of `view`; returns its slot.
 */
export function flagSlot(backend: Backend, view: View, code: Expr, scalars: readonly number[] = []): number {
  let q = queues.get(backend);
  if (!q) queues.set(backend, (q = { bufs: [], used: 0, rules: [] }));
  const i = q.used++;
  if (i >= q.bufs.length * CHUNK) q.bufs.push(backend.alloc(CHUNK, 'int32'));
  // a 0-d view reads as one element
  const shape = view.shape.length ? view.shape : [1];
  const strides = view.shape.length ? view.strides : [1];
  const exe = backend.prepare({ kind: 'reduce', op: 'max', expr: code, ndim: shape.length, nReduce: shape.length });
  const out: View = { buf: q.bufs[Math.floor(i / CHUNK)], dtype: 'int32', shape: [], strides: [], offset: i % CHUNK };
  backend.dispatch(exe, [{ ...view, shape, strides }], [out], scalars);
  return i;
}

/** Queues a rule over slots from `flagSlot`; it runs at the next read on `backend`. */
export function deferCheck(backend: Backend, slots: number[], error: Rule['error']): void {
  queues.get(backend)?.rules.push({ slots, error });
}

/** Whether reads on `backend` must run the queued checks first. */
export function hasDeferred(backend: Backend): boolean {
  return (queues.get(backend)?.rules.length ?? 0) > 0;
}

/** Reads the flags of `backend` and throws the first rule's error; the queue starts over. */
export async function runDeferred(backend: Backend): Promise<void> {
  const q = queues.get(backend);
  if (!q || q.rules.length === 0) return;
  const { rules, used } = q;
  q.rules = [];
  q.used = 0;
  const flags = new Int32Array(used);
  for (let k = 0; k * CHUNK < used; k++) {
    const n = Math.min(CHUNK, used - k * CHUNK);
    flags.set(await backend.read(q.bufs[k], 'int32', 0, n), k * CHUNK);
  }
  for (const r of rules) {
    const e = r.error(r.slots.map((s) => flags[s]));
    if (e) throw e;
  }
}

// ---- step capture (src/compile.ts) --------------------------------------------------------------

/** The checks one recorded run of a compiled step queued, in flag buffers of their own. */
export interface CapturedChecks {
  readonly bufs: BackendBuffer[];
  readonly used: number;
  readonly rules: Rule[];
}

const saved = new WeakMap<Backend, Queue | undefined>();

/**
 * Starts queueing the checks of a step being recorded into flag buffers of its own, so that its
 * replays write the same slots whatever else is queued; `endCaptureChecks` restores the queue.
 */
export function beginCaptureChecks(backend: Backend): void {
  saved.set(backend, queues.get(backend));
  queues.set(backend, { bufs: [], used: 0, rules: [] });
}

/** Ends the recording's checks (see beginCaptureChecks); its flag buffers are the caller's. */
export function endCaptureChecks(backend: Backend): CapturedChecks {
  const q = queues.get(backend)!;
  const prev = saved.get(backend);
  saved.delete(backend);
  if (prev) queues.set(backend, prev);
  else queues.delete(backend);
  return q;
}

/**
 * Queues the captured checks again, as if the step had just queued them: each flag gets a slot of
 * the current queue and `copy` is told to copy it there (after the step's work), so the next read
 * checks this run's values.
 */
export function requeueChecks(backend: Backend, c: CapturedChecks, copy: (src: BackendBuffer, srcSlot: number, dst: BackendBuffer, dstSlot: number) => void): void {
  if (c.rules.length === 0) return;
  let q = queues.get(backend);
  if (!q) queues.set(backend, (q = { bufs: [], used: 0, rules: [] }));
  const base = q.used;
  for (let s = 0; s < c.used; s++) {
    const i = q.used++;
    if (i >= q.bufs.length * CHUNK) q.bufs.push(backend.alloc(CHUNK, 'int32'));
    copy(c.bufs[Math.floor(s / CHUNK)], s % CHUNK, q.bufs[Math.floor(i / CHUNK)], i % CHUNK);
  }
  for (const r of c.rules) q.rules.push({ slots: r.slots.map((s) => s + base), error: r.error });
}
