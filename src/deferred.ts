/**
 * Checks on a device's values that must not stall it, reported by the reads that depend on them.
 *
 * On a backend without synchronous reads (WebGPU; the CPU while `wt.compile` records a step) an op
 * queues a small reduction of what it wants checked into an int32 slot of a flag buffer, plus a
 * rule that turns the flags into an error: a Check. The check is attached to the results it
 * vouches for, and every op passes the checks of its inputs on to its outputs (src/ops/run.ts:
 * elementwise kernels, pending fused results, reductions, routines, writes into views and
 * in-place updates; views share their storage's), so a result carries the checks of everything
 * it was computed from. A read (`data()`, `item()`, ...) reads the queued flags with the values,
 * in the same round trip, and resolves every queued check; if one the read tensor carries failed,
 * the read throws its error (naming the op that queued it) instead of returning the values. A
 * failed check stays with the results that carry it: each later read of them, and of anything
 * computed from them, throws it again. Reads of results that do not depend on it succeed.
 *
 * A check may be carried without failing reads of the storage itself: an index tensor checked by
 * gather carries the check to what is computed from it (the gather's output, the gradient kernels
 * that read the saved index) but reading the index itself is fine. A write that overwrites a
 * storage entirely with values that do not read it (`copy_`, `fill_`) replaces its checks.
 *
 * Users: index ranges (gather, indexSelect, embedding, scatterAdd, oneHot, crossEntropy and
 * nllLoss targets; ops/indexing.ts) and debug mode's NaN/Infinity checks (debug.ts). Compiled
 * steps (src/compile.ts) queue their checks again on each replay and attach them to what the
 * recorded run attached them to (the step's outputs, and parameters or state it updated).
 *
 * @example
 * const slot = flagSlot(backend, index._view(), outOfRange, [size]);
 * const check = deferCheck(backend, [slot], ([bad]) => (bad ? new ArgumentError('gather: index out of range') : null));
 * carry(index._store, check); // results computed from index fail to read if it failed
 */
import type { Backend, BackendBuffer, View } from './backend/backend.js';
import type { Storage } from './storage.js';
import { allocBuffer, dispatch, readBuffer } from './record.js';
import type { Expr } from './kernel/ir.js';

const CHUNK = 1024;

type Rule = (flags: number[]) => Error | null;

/** A queued check: flag slots on the device and the rule that judges them once they are read. */
export class Check {
  private ruled: Error | false | null = null;
  /**
   * A fold of checks (see `put`): its verdict is its parts' — the first error among them, false
   * once every part passed, null while one before any error is unjudged. Otherwise null.
   */
  parts: Check[] | null = null;
  /** null until read; then the rule's error, or false when it passed */
  get verdict(): Error | false | null {
    if (this.ruled !== null || !this.parts) return this.ruled;
    for (const p of this.parts) {
      const v = p.verdict;
      if (v === null) return null;
      if (v) return (this.ruled = v);
    }
    return (this.ruled = false);
  }
  set verdict(v: Error | false | null) {
    this.ruled = v;
  }
  /**
   * While a step is being recorded: the storages the check was attached to (and whether reads of
   * them throw it: Carried.self), so that each replay's copy is attached to the same ones.
   */
  reached: Map<Storage, boolean> | null = null;
  constructor(readonly slots: readonly number[], readonly rule: Rule) {}
}

/** A check on a storage; `self` false: it is only passed on to results computed from the storage. */
export interface Carried {
  readonly check: Check;
  readonly self: boolean;
}

interface Queue {
  bufs: BackendBuffer[];
  used: number;
  checks: Check[];
  /** a recording's queue: its checks note what they reach */
  recording: boolean;
}

// weak: a lost or replaced backend's queue goes with it
const queues = new WeakMap<Backend, Queue>();

function queueOf(backend: Backend): Queue {
  let q = queues.get(backend);
  if (!q) queues.set(backend, (q = { bufs: [], used: 0, checks: [], recording: false }));
  return q;
}

function slotOf(backend: Backend, q: Queue): number {
  const i = q.used++;
  if (i >= q.bufs.length * CHUNK) q.bufs.push(allocBuffer(backend, CHUNK, 'int32'));
  return i;
}

/**
 * Queues a max-reduction of `code` (an int32 expression of the view's elements, read as input
 * 0, with `scalars` as its scalar parameters) over every element of `view`; returns its slot.
 */
export function flagSlot(backend: Backend, view: View, code: Expr, scalars: readonly number[] = []): number {
  const q = queueOf(backend);
  const i = slotOf(backend, q);
  // a 0-d view reads as one element
  const shape = view.shape.length ? view.shape : [1];
  const strides = view.shape.length ? view.strides : [1];
  const exe = backend.prepare({ kind: 'reduce', op: 'max', expr: code, ndim: shape.length, nReduce: shape.length });
  const out: View = { buf: q.bufs[Math.floor(i / CHUNK)], dtype: 'int32', shape: [], strides: [], offset: i % CHUNK };
  dispatch(backend, exe, [{ ...view, shape, strides }], [out], scalars);
  return i;
}

/** Queues a rule over slots from `flagSlot`; it is judged at the next read on `backend`. Attach it where it belongs. */
export function deferCheck(backend: Backend, slots: number[], rule: Rule): Check {
  const q = queueOf(backend);
  const c = new Check(slots, rule);
  if (q.recording) c.reached = new Map();
  q.checks.push(c);
  return c;
}

// ---- what carries which check ------------------------------------------------------------------

function add(list: Carried[], c: Check, self: boolean): void {
  if (c.verdict === false) return;
  const k = list.findIndex((e) => e.check === c);
  if (k < 0) list.push({ check: c, self });
  else if (self && !list[k].self) list[k] = { check: c, self };
}

/**
 * Most unjudged checks a storage carries before they are folded into one. Every step of a loop
 * that reads its results only now and then queues new checks (index ranges) that reach the
 * parameters it updates; unfolded, a parameter would carry one per unread step and every op
 * reading it would copy that growing list.
 */
const FOLD_AT = 8;

function put(s: Storage, list: Carried[]): void {
  if (list.length > FOLD_AT) list = fold(list);
  s.checks = list.length ? list : null;
  for (const e of list) if (e.check.reached && !e.check.reached.get(s)) e.check.reached.set(s, e.self);
}

/**
 * The list with its unjudged checks folded into one check per `self` value (a fold's parts are
 * flattened into the new fold). Checks of a step being recorded (`reached` set) stay apart: a
 * replay attaches each where the recording run attached it.
 */
function fold(list: Carried[]): Carried[] {
  const out: Carried[] = [];
  const parts: [Set<Check>, Set<Check>] = [new Set(), new Set()];
  for (const e of list) {
    if (e.check.reached || e.check.verdict !== null) out.push(e);
    else for (const c of e.check.parts ?? [e.check]) parts[e.self ? 1 : 0].add(c);
  }
  // a check carried both ways is carried as self (the stronger)
  for (const c of parts[1]) parts[0].delete(c);
  parts.forEach((ps, self) => {
    if (ps.size === 0) return;
    if (ps.size === 1) return out.push({ check: [...ps][0], self: self === 1 });
    const f = new Check([], () => null);
    f.parts = [...ps];
    out.push({ check: f, self: self === 1 });
  });
  return out;
}

/** Reads of `s` throw if `c` fails, and results computed from `s` carry it. */
export function attach(s: Storage, c: Check): void {
  const list = s.checks ? s.checks.filter((e) => e.check.verdict !== false) : [];
  add(list, c, true);
  put(s, list);
}

/** Results computed from `s` carry `c` (reads of `s` itself do not throw it). */
export function carry(s: Storage, c: Check): void {
  const list = s.checks ? s.checks.filter((e) => e.check.verdict !== false) : [];
  add(list, c, false);
  put(s, list);
}

/**
 * `out` now holds values computed from `from`: it carries their checks, added to its own or, when
 * `replace` (every element was overwritten), instead of them.
 */
export function inherit(out: Storage, from: Iterable<Storage>, replace = false): void {
  let list: Carried[] | null = null;
  for (const s of from) {
    if (!s.checks || s === out) continue;
    list ??= replace || !out.checks ? [] : out.checks.filter((e) => e.check.verdict !== false);
    for (const e of s.checks) add(list, e.check, true);
  }
  if (list) put(out, list);
  else if (replace && out.checks) out.checks = null;
}

/** The error of the first failed check that reads of `s` must throw, or null. */
export function failure(s: Storage): Error | null {
  if (!s.checks) return null;
  for (const e of s.checks) if (e.self && e.check.verdict) return e.check.verdict;
  return null;
}

// ---- reads --------------------------------------------------------------------------------------

/** Whether reads on `backend` must read the queued flags first. */
export function hasDeferred(backend: Backend): boolean {
  return (queues.get(backend)?.checks.length ?? 0) > 0;
}

/** Judgments in flight per backend: a read that starts meanwhile waits for those it depends on. */
const judging = new WeakMap<Backend, Set<Promise<void>>>();

/**
 * Reads the flags of `backend` and judges every queued check (the queue starts over); it throws
 * only if the flags cannot be read. Reads then throw the failures they carry (`failure`).
 */
export function runDeferred(backend: Backend): Promise<void> {
  const q = queues.get(backend);
  if (!q || q.checks.length === 0) return Promise.resolve();
  const { checks, used } = q;
  q.checks = [];
  q.used = 0;
  const judge = async (): Promise<void> => {
    const flags = new Int32Array(used);
    for (let k = 0; k * CHUNK < used; k++) {
      const n = Math.min(CHUNK, used - k * CHUNK);
      flags.set(await readBuffer(backend, q.bufs[k], 'int32', 0, n), k * CHUNK);
    }
    for (const c of checks) c.verdict = c.rule(c.slots.map((s) => flags[s])) ?? false;
  };
  let set = judging.get(backend);
  if (!set) judging.set(backend, (set = new Set()));
  const p = judge();
  const tracked = p.finally(() => set.delete(tracked));
  tracked.catch(() => {}); // the caller reports the error; the set only needs to settle
  set.add(tracked);
  return p;
}

/**
 * Waits until every check `s` carries has its verdict: another read may be judging them (two
 * reads in flight at once: the first took the queue). Errors are the judging read's to report.
 */
export async function judged(s: Storage): Promise<void> {
  while (s.checks?.some((e) => e.check.verdict === null)) {
    const inflight = judging.get(s.backend);
    if (!inflight?.size) return;
    await Promise.allSettled([...inflight]);
  }
}

// ---- recorded steps (src/compile.ts) -----------------------------------------------------------

/** The checks one recorded run of a compiled step queued, in flag buffers of their own. */
export interface RecordedChecks {
  readonly bufs: BackendBuffer[];
  readonly used: number;
  readonly checks: readonly Check[];
  /** storages the run computed from, and storages it wrote (temporaries included: filter by refs) */
  readonly reads: ReadonlySet<Storage>;
  readonly writes: ReadonlySet<Storage>;
}

const saved = new WeakMap<Backend, Queue | undefined>();

/** While a step is recorded: what its ops computed from and wrote (noteFlow). */
let flows: { reads: Set<Storage>; writes: Set<Storage> } | null = null;

/** Records, while a step is being recorded, that `out` was computed from `from` (src/ops/run.ts). */
export function noteFlow(out: Storage, from: readonly { readonly _store: Storage }[]): void {
  if (!flows) return;
  flows.writes.add(out);
  for (const t of from) flows.reads.add(t._store);
}

/**
 * Starts queueing the checks of a step being recorded into flag buffers of its own, so that its
 * replays write the same slots whatever else is queued, and noting what its ops read and write;
 * `endRecordingChecks` restores the queue.
 */
export function beginRecordingChecks(backend: Backend): void {
  saved.set(backend, queues.get(backend));
  queues.set(backend, { bufs: [], used: 0, checks: [], recording: true });
  flows = { reads: new Set(), writes: new Set() };
}

/** Ends the recording's checks (see beginRecordingChecks); its flag buffers are the caller's. */
export function endRecordingChecks(backend: Backend): RecordedChecks {
  const q = queues.get(backend)!;
  const prev = saved.get(backend);
  saved.delete(backend);
  if (prev) queues.set(backend, prev);
  else queues.delete(backend);
  const f = flows!;
  flows = null;
  return { bufs: q.bufs, used: q.used, checks: q.checks, reads: f.reads, writes: f.writes };
}

/**
 * A replay bypasses the ops that pass checks on: its results (`outputs`, and the live storages
 * the step writes) take the checks of every live storage the step computes from (its inputs'
 * private copies, parameters, state). Coarser than op by op, never looser.
 */
export function replayFlows(c: RecordedChecks, outputs: ReadonlyMap<Storage, Storage>): void {
  const from = [...c.reads].filter((s) => s.refs > 0 && s.checks && !outputs.has(s));
  if (from.length === 0) return;
  for (const s of c.writes) if (s.refs > 0 && !outputs.has(s)) inherit(s, from);
  for (const s of outputs.values()) inherit(s, from);
}

/**
 * Queues the recorded checks again, as if the step had just queued them: each flag gets a slot of
 * the current queue and `copy` is told to copy it there (after the step's work), so the next read
 * judges this run's values. Each copy is attached where the recorded check was (storages still
 * alive) and, for the step's outputs, to the fresh tensors a call returns (`outputs`: recorded
 * output storage → the call's); with `replace`, the copy replaces the recorded check there (the
 * recording run itself, whose checks live in the recording's own flag buffers).
 */
export function requeueChecks(backend: Backend, c: RecordedChecks, copy: (src: BackendBuffer, srcSlot: number, dst: BackendBuffer, dstSlot: number) => void, outputs: ReadonlyMap<Storage, Storage>, replace = false): void {
  if (c.checks.length === 0) return;
  const q = queueOf(backend);
  const base = q.used;
  for (let s = 0; s < c.used; s++) {
    const i = slotOf(backend, q);
    copy(c.bufs[Math.floor(s / CHUNK)], s % CHUNK, q.bufs[Math.floor(i / CHUNK)], i % CHUNK);
  }
  for (const r of c.checks) {
    // a copy per replay: its outputs carry their own run's check only (a bad run among unread
    // ones fails its results, not a good run's); the parameters and state every replay updates
    // carry them all, folded (`put`) while unjudged
    const now = new Check(r.slots.map((s) => s + base), r.rule);
    q.checks.push(now);
    for (const [s, self] of r.reached ?? []) {
      if (replace) {
        if (s.checks) s.checks = s.checks.map((x) => (x.check === r ? { check: now, self: x.self } : x));
      } else if (s.refs > 0 && !outputs.has(s)) (self ? attach : carry)(s, now);
      const fresh = outputs.get(s);
      if (fresh) attach(fresh, now);
    }
  }
}
