/**
 * Compiled steps: `wt.compile(fn)` runs a step function (forward, backward, optimizer update) a
 * few times the ordinary way while the recorder (src/record.ts) writes down the commands the front
 * end gives the backend, then replays that recording — every kernel with its recorded buffers and
 * uniforms; on WebGPU one baked command buffer — instead of running the JavaScript front end again. Shapes are static: each distinct set of input shapes
 * gets its own recording.
 *
 * How a function becomes a replay (on any backend that can copy buffers; the recorder is the
 * front end's, src/record.ts):
 * 1. `warmup` calls (default 1) run eagerly: lazily made state (optimizer moments, cached
 *    masks, compiled pipelines) exists afterwards.
 * 2. The next call runs on private copies of its inputs while the recorder writes down every
 *    command it gives the backend; so does the one after. Their commands, with buffers named by
 *    role, must be equal: that shows that the step issues the same work each time. Then the
 *    second recording is kept (and baked by the backend where it can); if they differ the
 *    function is recorded again, and after repeated differences it runs eagerly for good
 *    (`reason` says what changed).
 * 3. Later calls copy the inputs into the private copies, run the optimizers' replay hooks
 *    (step counts advance; learning rates and bias corrections are recomputed into the recorded
 *    uniforms, so LR schedulers keep working), replay, copy the outputs into fresh tensors, and
 *    queue the step's index checks again, attached where the recorded run's were (the outputs,
 *    and parameters or state the step updated from them): reads of those throw, as eagerly.
 *
 * A replay is valid while the tensors it shares with the program (parameters, gradients,
 * optimizer state) are alive: when one was disposed the next call records again. What a replay
 * cannot see: a change to JavaScript state the step reads other than the optimizers' (train/eval
 * mode, the model's structure) — call `reset()` after such a change. Random ops (dropout) drawing
 * from the global generator get fresh streams on each replay, the ones an eager call would have
 * drawn (record.ts dynamicOf), so a compiled step gives the same numbers as eager steps; explicit
 * seeds stay as recorded. Steps that read values back run eagerly (`await` inside is impossible;
 * `data()` called without awaiting spoils it), as do steps whose scalars change each call.
 *
 * @example
 * const step = wt.compile((x, y) => {
 *   opt.zeroGrad();
 *   const loss = F.crossEntropy(model.forward(x), y);
 *   loss.backward();
 *   opt.step();
 *   return loss;
 * });
 * for (const [x, y] of batches) losses.push(step(x, y)); // from the third call on, one replay each
 */
import type { Backend, BufferCopy } from './backend/backend.js';
import { engine } from './engine.js';
import { materializeAll, type Storage } from './storage.js';
import { beginRecording, copyBuffer, endRecording, freeBuffer, type Recording } from './record.js';
import { beginRecordingChecks, endRecordingChecks, inherit, replayFlows, requeueChecks, type RecordedChecks } from './deferred.js';
import { ArgumentError } from './errors.js';
import { keep, tidy } from './memory.js';
import { empty } from './ops/run.js';
import { Tensor } from './tensor.js';
import { checkOptions, describeValue } from './validate.js';

export interface CompileOptions {
  /** eager calls before the first recording (default 1) */
  warmup?: number;
}

export interface CompileStats {
  /** calls that ran the function eagerly without recording */
  eager: number;
  /** calls that ran it eagerly while recording */
  recorded: number;
  /** calls that replayed a recording */
  replayed: number;
  /** kernel dispatches per replay of the latest recording (0 until one is kept) */
  dispatches: number;
  /** tensors the compiled function holds (input copies and recorded outputs; wt.memory counts them) */
  tensors: number;
}

export interface Compiled<A extends Tensor[], R> {
  (...args: A): R;
  /** why the latest call did not replay (warming up, recording, a reason to run eagerly), or null */
  readonly reason: string | null;
  readonly stats: Readonly<CompileStats>;
  /** Forgets the recordings: the next calls warm up and record again. */
  reset(): void;
  /** Forgets the recordings and frees what they hold. */
  dispose(): void;
}

type Shape = 'none' | 'one' | 'list';

/** A recording kept to replay (or the latest, to compare with the next), with what compile adds. */
interface Kept {
  rec: Recording;
  /** the step's outputs, contiguous, kept alive: each replay rewrites them */
  outs: Tensor[];
  shape: Shape;
  checks: RecordedChecks;
}

interface Entry {
  calls: number;
  /** private copies of the inputs that recordings and replays read */
  own: Tensor[] | null;
  /** the lines of the latest recording, waiting to be compared with the next */
  prev: readonly string[] | null;
  /** the recording replayed */
  step: Kept | null;
  mismatches: number;
  failed: string | null;
}

/** Recordings that differ this many times in a row: the function runs eagerly from then on. */
const MAX_MISMATCHES = 2;
/** Most input signatures (shape sets) recorded at once per compiled function (least recently used go first). */
const MAX_ENTRIES = 8;

/**
 * Compiles a step function for replay (see the module notes). `fn` takes tensors and returns a
 * tensor, an array of tensors or nothing; the compiled function returns fresh tensors with the
 * same values each call.
 */
export function compile<A extends Tensor[], R extends Tensor | Tensor[] | void>(fn: (...args: A) => R, opts: CompileOptions = {}): Compiled<A, R> {
  if (typeof fn !== 'function') throw new ArgumentError(`compile: expected a function, got ${describeValue(fn)}`);
  checkOptions('compile', opts, ['warmup']);
  const warmup = opts.warmup ?? 1;
  if (!Number.isInteger(warmup) || warmup < 0) throw new ArgumentError(`compile: warmup must be an integer >= 0, got ${describeValue(warmup)}`);
  const step = new Step(fn as (...args: Tensor[]) => unknown, warmup);
  const compiled = ((...args: A): R => step.call(args) as R) as Compiled<A, R>;
  Object.defineProperties(compiled, {
    reason: { get: () => step.reason },
    stats: { get: () => step.currentStats() },
  });
  (compiled as { reset: () => void }).reset = () => step.reset();
  (compiled as { dispose: () => void }).dispose = () => step.dispose();
  return compiled;
}

/** A compiled function's state: a recording per input signature, and what its calls did. */
class Step {
  private readonly entries = new Map<string, Entry>();
  /** the backend the recordings are on (a new one forgets them) */
  private owner: Backend | null = null;
  reason: string | null = null;
  private readonly stats: CompileStats = { eager: 0, recorded: 0, replayed: 0, dispatches: 0, tensors: 0 };

  constructor(private readonly fn: (...args: Tensor[]) => unknown, private readonly warmup: number) {}

  /** One call: replay the recording of these input shapes if valid, else run eagerly or record. */
  call(args: Tensor[]): unknown {
    const backend = this.backendFor(args);
    if (!backend) return this.eager(args);
    const e = this.entryFor(args);
    const again = this.stillValid(e);
    if (again === null) return this.replay(backend, e.step!, e.own!, args);
    if (e.failed) {
      this.reason = e.failed;
      return this.eager(args);
    }
    if (e.calls < this.warmup) {
      e.calls++;
      this.reason = `warming up${again}`;
      return this.eager(args);
    }
    return this.record(backend, e, args);
  }

  currentStats(): CompileStats {
    let n = 0;
    for (const e of this.entries.values()) n += (e.own?.length ?? 0) + (e.step?.outs.length ?? 0);
    return { ...this.stats, tensors: n };
  }

  reset(): void {
    this.forget();
    this.reason = null;
  }

  dispose(): void {
    this.forget();
    this.owner = null;
  }

  /** The backend the call can replay on, or null (with the reason) when it must run eagerly. */
  private backendFor(args: readonly Tensor[]): Backend | null {
    args.forEach((a, i) => {
      if (!(a instanceof Tensor)) throw new ArgumentError(`compile: argument ${i} must be a Tensor, got ${describeValue(a)} (pass other values through the closure)`);
      a._check('compile');
    });
    const backend = engine.requireBackend();
    if (!backend.copyBuffer) {
      this.reason = `the ${backend.name} backend cannot copy buffers, which replays need: it runs eagerly`;
      return null;
    }
    if (engine.debug) {
      this.reason = 'debug mode checks every op: steps run eagerly';
      return null;
    }
    if (args.some((a) => a.backend !== backend)) throw new ArgumentError('compile: every argument must live on the current backend');
    if (backend !== this.owner) {
      this.forget();
      this.owner = backend;
    }
    return backend;
  }

  /** The entry of the arguments' shapes and dtypes, made (evicting the least recently used) if new. */
  private entryFor(args: readonly Tensor[]): Entry {
    const sig = args.map((a) => `${a.dtype}[${a.shape.join(',')}]`).join(';');
    let e = this.entries.get(sig);
    if (e) {
      // most recently used last: the entry evicted first is the one unused the longest
      this.entries.delete(sig);
      this.entries.set(sig, e);
      return e;
    }
    if (this.entries.size >= MAX_ENTRIES) {
      const [k, old] = this.entries.entries().next().value!;
      this.dropEntry(old);
      this.entries.delete(k);
    }
    this.entries.set(sig, (e = { calls: 0, own: null, prev: null, step: null, mismatches: 0, failed: null }));
    return e;
  }

  /**
   * null when the entry's recording can replay; else '' (none yet), or why the one it had is
   * dropped (a buffer it shares died), to add to the reason: the entry warms up again.
   */
  private stillValid(e: Entry): string | null {
    if (!e.step) return '';
    const why = e.step.rec.invalid();
    if (!why) return null;
    this.drop(e.step);
    e.step = null;
    e.calls = 0;
    e.mismatches = 0;
    return ` (recording again: ${why})`;
  }

  private eager(args: Tensor[]): unknown {
    this.stats.eager++;
    const r = tidy(() => this.fn(...args) as Tensor | Tensor[] | void);
    shapeOf(r);
    return r;
  }

  /** Runs the step while recording it, keeps the recording if it matches the one before, returns copies. */
  private record(backend: Backend, e: Entry, args: readonly Tensor[]): unknown {
    const k = this.recordRun(backend, e, args);
    this.stats.recorded++;
    // one kept for replay holds its buffers (prepare) before this call's outputs are allocated
    // below, which could otherwise draw one the replays write
    const kept = this.judge(e, k);
    const fresh = k.outs.map((t) => empty(t.shape, t.dtype, backend, 'compile'));
    outputCopies(k, fresh).forEach((c) => copyBuffer(backend, c));
    // the recorded run's checks live in the recording's flag buffers: copies in the queue replace them
    requeueChecks(backend, k.checks, (src, s, dst, d) => copyBuffer(backend, { src, srcOffset: s, dst, dstOffset: d, numel: 1 }), outputMap(k, fresh), true);
    // the outputs' own checks (the arguments', the parameters') passed on as the run computed them
    fresh.forEach((t, i) => inherit(t._store, [k.outs[i]._store]));
    if (!kept) this.drop(k);
    this.reason = e.failed ?? (e.step ? 'recorded' : 'recording');
    return result(k.shape, fresh);
  }

  /** One run of the step on the private input copies, inside a recording; its outputs dense and kept. */
  private recordRun(backend: Backend, e: Entry, args: readonly Tensor[]): Kept {
    e.own ??= args.map((a) => keep(empty(a.shape, a.dtype, backend, 'compile')));
    const own = e.own;
    const temps: Tensor[] = [];
    for (const c of inputCopies(args, own, temps)) copyBuffer(backend, c);
    temps.forEach((t) => t.dispose());
    ownChecks(args, own);
    // work issued before the step is not part of it
    materializeAll(backend);
    beginRecording(backend);
    beginRecordingChecks(backend);
    let outs: Tensor[] = [], shape: Shape = 'none';
    let failure: unknown = null;
    try {
      outs = tidy(() => {
        const r = this.fn(...own);
        shape = shapeOf(r);
        const list = shape === 'none' ? [] : shape === 'one' ? [r as Tensor] : (r as Tensor[]);
        // each output as one dense range of its buffer, computed now (inside the recording)
        return list.map((t) => {
          const c = t.isContiguous() ? t : t.contiguous();
          void c._view();
          return c;
        });
      });
      outs.forEach((t) => keep(t));
      // pending results the step made (gradients, updates) are computed inside the recording
      materializeAll(backend);
    } catch (err) {
      failure = err;
    }
    const k: Kept = { rec: endRecording(), outs, shape, checks: endRecordingChecks(backend) };
    if (failure) {
      this.drop(k);
      throw failure;
    }
    return k;
  }

  /**
   * Keeps a recording to replay when it equals the one before (and can hold its buffers);
   * otherwise remembers its lines for the next, or gives up after repeated differences.
   */
  private judge(e: Entry, k: Kept): boolean {
    if (k.rec.spoiled) {
      e.failed = k.rec.spoiled;
      return false;
    }
    if (e.prev && sameLines(e.prev, k.rec.lines)) {
      e.prev = null;
      const why = k.rec.prepare();
      if (why) {
        e.failed = why;
        return false;
      }
      e.step = k;
      this.stats.dispatches = k.rec.dispatches;
      return true;
    }
    if (e.prev) {
      e.mismatches++;
      const diff = explain(e.prev, k.rec.lines);
      e.prev = null;
      if (e.mismatches >= MAX_MISMATCHES) e.failed = `the step issues different work each call (${diff}), so it runs eagerly`;
    }
    // only its lines are needed to compare with the next recording
    if (!e.failed) e.prev = k.rec.lines;
    return false;
  }

  private replay(backend: Backend, k: Kept, own: Tensor[], args: readonly Tensor[]): unknown {
    // pending results that read what the replay overwrites are computed first
    materializeAll(backend);
    const temps: Tensor[] = [];
    const before = inputCopies(args, own, temps);
    ownChecks(args, own);
    const fresh = k.outs.map((t) => empty(t.shape, t.dtype, backend, 'compile'));
    const after = outputCopies(k, fresh);
    const outputs = outputMap(k, fresh);
    requeueChecks(backend, k.checks, (src, s, dst, d) => after.push({ src, srcOffset: s, dst, dstOffset: d, numel: 1 }), outputs);
    replayFlows(k.checks, outputs);
    k.rec.replay(before, after);
    temps.forEach((t) => t.dispose());
    this.stats.replayed++;
    this.reason = null;
    return result(k.shape, fresh);
  }

  private drop(k: Kept | null): void {
    if (!k) return;
    k.rec.dispose();
    k.outs.forEach((t) => t.dispose());
    if (this.owner) for (const b of k.checks.bufs) freeBuffer(this.owner, b);
  }

  private dropEntry(e: Entry): void {
    e.prev = null;
    this.drop(e.step);
    e.own?.forEach((t) => t.dispose());
  }

  private forget(): void {
    for (const e of this.entries.values()) this.dropEntry(e);
    this.entries.clear();
  }
}

function shapeOf(r: unknown): Shape {
  if (r === undefined) return 'none';
  if (r instanceof Tensor) return 'one';
  if (Array.isArray(r) && r.every((t) => t instanceof Tensor)) return 'list';
  throw new ArgumentError(`compile: the function must return a Tensor, an array of Tensors or nothing, got ${describeValue(r)}`);
}

function result(shape: Shape, fresh: Tensor[]): Tensor | Tensor[] | undefined {
  return shape === 'none' ? undefined : shape === 'one' ? fresh[0] : fresh;
}

/** Copies of the arguments into the private inputs (a strided argument through a dense temporary). */
function inputCopies(args: readonly Tensor[], own: readonly Tensor[], temps: Tensor[]): BufferCopy[] {
  return args.map((a, i) => {
    let src = a;
    if (!a.isContiguous()) temps.push((src = a.contiguous()));
    const v = src._view();
    return { src: v.buf, srcOffset: v.offset, dst: own[i]._view().buf, dstOffset: 0, numel: a.numel() };
  });
}

/** The private input copies take the arguments' deferred checks (src/deferred.ts), as a copy would. */
function ownChecks(args: readonly Tensor[], own: readonly Tensor[]): void {
  own.forEach((o, i) => inherit(o._store, [args[i]._store], true));
}

/** Each recorded output's storage → the storage of the fresh tensor a call returns for it. */
function outputMap(r: Kept, fresh: readonly Tensor[]): Map<Storage, Storage> {
  return new Map(r.outs.map((t, i) => [t._store, fresh[i]._store]));
}

function outputCopies(r: Kept, fresh: readonly Tensor[]): BufferCopy[] {
  return r.outs.map((t, i) => {
    const v = t._view();
    return { src: v.buf, srcOffset: v.offset, dst: fresh[i]._view().buf, dstOffset: 0, numel: t.numel() };
  });
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((l, i) => l === b[i]);
}

/** The first difference between two recordings, in words. */
function explain(a: readonly string[], b: readonly string[]): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      const what = (l: string) => (l.startsWith('run ') ? `kernel ${l.split(' ', 2)[1].slice(0, 80)}` : l.split(' ', 1)[0]);
      const [ka, kb] = [a[i].split(' ', 2)[1], b[i].split(' ', 2)[1]];
      const part = ka !== kb ? 'a different kernel' : / u=/.test(a[i]) && a[i].split(' u=')[1].split(' ')[0] !== b[i].split(' u=')[1].split(' ')[0] ? 'different scalars' : 'different buffers';
      return `command ${i} of ${a.length}, ${what(a[i])}: ${part}`;
    }
  }
  return `${a.length} commands, then ${b.length}`;
}
