/**
 * The recorder: every command the front end gives a backend passes through the funnels here
 * (allocBuffer, freeBuffer, dispatch, copyBuffer, writeBuffer, readBuffer), and while a step is
 * being recorded (`wt.compile`, src/compile.ts) they also write it down. A recording replays by
 * giving the backend the same commands again — or, where the backend offers `bake`, by running
 * what it made of them once (WebGPU: pipelines and bind groups resolved once, one command buffer)
 * — without the front end (ops, autograd, fusion, allocation).
 *
 * Buffers are named by role. Those allocated before the recording started are *external*
 * (parameters, optimizer state, the compiled function's input copies): a replay reads and writes
 * them in place, so it is valid only while none of them was freed. Those allocated during it are
 * *internal*. An internal buffer freed during the recording (an intermediate) goes to the
 * recording's spares, not back to the backend: a later allocation of the same size in the same
 * recording takes it again (as the backend's pool would), and a prepared recording keeps them all
 * for its replays. An internal buffer still alive at the end (a gradient, an output, lazily made
 * optimizer state) is *held*: when its tensor goes (a zeroGrad outside the step), the buffer is
 * freed only once no prepared recording replays into it. `lines` name external buffers by a stable
 * id and internal ones by order of first use, so two runs of a static step record equal lines
 * whatever buffers the backend handed out.
 *
 * The backend below knows nothing of this: it sees allocations, frees and dispatches, and at most
 * one `bake` call per kept recording.
 */
import type { Backend, BackendBuffer, BakedStep, BufferCopy, Executable, StepCommand, View } from './backend/backend.js';
import type { DType, StorageArray } from './dtype.js';
import { engine } from './engine.js';
import { ArgumentError } from './errors.js';
import { kernelKey } from './kernel/kernel.js';
import type { Expr } from './kernel/ir.js';
import { seedToKey } from './kernel/philox.js';

/**
 * Scalars of a dispatch that change from step to step without changing the kernel (an optimizer's
 * learning rate and bias corrections, a random op's generator key and stream): a replay recomputes
 * the `n` scalars from `at` (default 0) with `values()`.
 */
export interface DynamicScalars {
  n: number;
  values: () => readonly number[];
  at?: number;
}

/** A recorded command: a StepCommand, runs with the scalars a replay recomputes. */
type Command = StepCommand & { dynamic?: readonly DynamicScalars[] };

interface Active {
  backend: Backend;
  cmds: Command[];
  spoiled: string | null;
  /** buffers allocated during the recording, and whether each is free (a spare) */
  internal: Map<BackendBuffer, boolean>;
  /** free internal buffers by dtype and size, handed out again within the recording */
  spares: Map<string, BackendBuffer[]>;
  /** the spare key of each internal buffer */
  kinds: Map<BackendBuffer, string>;
  hooks: (() => void)[];
  /** the generator's stream count when the step began; a replay's, from where its streams go on */
  rng: { start: number; base: number };
}

let active: Active | null = null;
/** Recordings started so far (tests count them). */
let started = 0;

/** How many recordings have been started (compiled steps record twice per input signature). @internal */
export function recordingCount(): number {
  return started;
}

/** Buffers prepared recordings replay into, with how many do. */
const holds = new Map<BackendBuffer, number>();
/** Held buffers whose tensors are gone: freed when the last hold is. */
const orphans = new Set<BackendBuffer>();
/** Buffers freed so far (a recording that uses one made before it is invalid). */
const freed = new WeakSet<BackendBuffer>();

const spareKey = (numel: number, dtype: DType) => `${dtype}:${numel}`;

// ---- the funnels ------------------------------------------------------------------------------

/** A new buffer of `numel` elements (contents undefined). */
export function allocBuffer(backend: Backend, numel: number, dtype: DType): BackendBuffer {
  const a = active;
  if (a?.backend !== backend) return backend.alloc(numel, dtype);
  const key = spareKey(numel, dtype);
  const spare = a.spares.get(key)?.pop();
  if (spare) {
    a.internal.set(spare, false);
    return spare;
  }
  const b = backend.alloc(numel, dtype);
  a.internal.set(b, false);
  a.kinds.set(b, key);
  return b;
}

/** Arena slots (Backend.slice, src/arena.ts) and what freeing each does instead of freeing it. */
const slotFrees = new WeakMap<BackendBuffer, () => void>();

/**
 * Marks `buf` as an arena slot: freeing it calls `onFree` (the arena's count) and nothing else,
 * so it never goes to a recording's spares or counts as freed (a compiled step keeps writing it).
 */
export function registerSlot(buf: BackendBuffer, onFree: () => void): void {
  slotFrees.set(buf, onFree);
}

/**
 * Whether a prepared recording replays into `buf` (a gradient or state a compiled step made):
 * its tensor must keep it, not move to another buffer, or the next replay writes where no tensor
 * reads (src/arena.ts place).
 */
export function isHeld(buf: BackendBuffer): boolean {
  return holds.has(buf);
}

/** Frees a buffer no tensor uses any more (it stays with recordings that replay into it). */
export function freeBuffer(backend: Backend, buf: BackendBuffer): void {
  const slot = slotFrees.get(buf);
  if (slot) return slot();
  const a = active;
  if (a?.internal.has(buf)) {
    a.internal.set(buf, true);
    const k = a.kinds.get(buf)!;
    const list = a.spares.get(k);
    if (list) list.push(buf);
    else a.spares.set(k, [buf]);
    return;
  }
  if (holds.has(buf)) {
    orphans.add(buf);
    return;
  }
  freed.add(buf);
  backend.free(buf);
}

/** Queues one run of a prepared kernel (recorded, with the scalars a replay recomputes). */
export function dispatch(backend: Backend, exe: Executable, inputs: readonly View[], outputs: readonly View[], scalars: readonly number[] = [], dynamic?: readonly DynamicScalars[]): void {
  if (active?.backend === backend) active.cmds.push({ kind: 'run', exe, inputs: inputs.slice(), outputs: outputs.slice(), scalars: scalars.slice(), dynamic });
  backend.dispatch(exe, inputs, outputs, scalars);
}

/** Copies elements between buffers, in order with the dispatches. */
export function copyBuffer(backend: Backend, c: BufferCopy): void {
  if (!backend.copyBuffer) throw new ArgumentError(`the ${backend.name} backend cannot copy buffers`);
  if (active?.backend === backend) active.cmds.push({ kind: 'copy', copy: { ...c } });
  backend.copyBuffer(c);
}

/** Writes host values into a buffer from element `offset` (a replay writes the same values). */
export function writeBuffer(backend: Backend, buf: BackendBuffer, data: ArrayLike<number>, offset = 0): void {
  if (active?.backend === backend) {
    const copy = data instanceof Float32Array || data instanceof Int32Array || data instanceof Float64Array ? data.slice() : Float64Array.from(data);
    active.cmds.push({ kind: 'write', buf, offset, data: copy });
  }
  backend.write(buf, data, offset);
}

/** Reads values back (after every command queued before): a step that reads cannot be replayed. */
export function readBuffer(backend: Backend, buf: BackendBuffer, dtype: DType, offset?: number, numel?: number): Promise<StorageArray> {
  noteRead(backend);
  return backend.read(buf, dtype, offset, numel);
}

/** A synchronous read, where the backend offers one (CPU), else undefined. */
export function readBufferSync(backend: Backend, buf: BackendBuffer, dtype: DType, offset?: number, numel?: number): StorageArray | undefined {
  if (!backend.readSync) return undefined;
  noteRead(backend);
  return backend.readSync(buf, dtype, offset, numel);
}

function noteRead(backend: Backend): void {
  if (active?.backend === backend) active.spoiled ??= 'the step reads values back (data(), item(), toString(), a check): a replay cannot return them';
}

// ---- what ops ask while a step is recorded ---------------------------------------------------

/** Whether a step is being recorded (optimizers then mark their per-step scalars as dynamic). */
export function isRecording(): boolean {
  return active !== null;
}

/** Registers JavaScript work that each replay of the step being recorded must repeat (no-op otherwise). */
export function onReplay(hook: () => void): void {
  active?.hooks.push(hook);
}

/**
 * The scalars of a dispatch that a replay of the step being recorded must recompute: `own` (an
 * optimizer's hyperparameters), and the key and stream of each random leaf of `exprs` whose stream
 * was drawn from the global generator during the step. A replay draws its streams afresh, as an
 * eager call would: the k-th stream of the step becomes the k-th after the generator's count at
 * the replay, under the current seed's key. Streams drawn before the step (a pending random
 * tensor made earlier) and explicit seeds (stream 0) stay as recorded.
 */
export function dynamicOf(exprs: readonly Expr[], scalars: readonly number[], own?: readonly DynamicScalars[]): readonly DynamicScalars[] | undefined {
  const rng = active?.rng;
  if (!rng) return own?.length ? own : undefined;
  const out: DynamicScalars[] = own ? [...own] : [];
  const seen = new Set<Expr>(), bases = new Set<number>();
  const walk = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.op === 'rand') {
      // scalars at e.value: the key's two words, then the stream (src/kernel/philox.ts)
      const at = e.value!, stream = scalars[at + 2];
      if (!bases.has(at) && stream > rng.start) {
        bases.add(at);
        out.push({ at, n: 3, values: () => [...seedToKey(engine.rngSeed), stream - rng.start + rng.base] });
      }
    }
    e.args.forEach(walk);
  };
  exprs.forEach(walk);
  return out.length ? out : undefined;
}

/**
 * A dispatch's per-replay scalars (DynamicScalars) moved to their canonical
 * places: each run of scalars that stayed consecutive becomes one range (its values a slice of
 * the original's); scalars the kernel does not read are dropped.
 */
export function remapDynamic(d: DynamicScalars, at: readonly (number | undefined)[]): DynamicScalars[] {
  const base = d.at ?? 0;
  const out: DynamicScalars[] = [];
  let from = -1, to = -1, len = 0;
  const flush = () => {
    if (len === 0) return;
    const j0 = from, n = len;
    out.push({ at: to - n + 1, n, values: n === d.n ? d.values : () => d.values().slice(j0, j0 + n) });
    len = 0;
  };
  for (let j = 0; j < d.n; j++) {
    const p = at[base + j];
    if (p === undefined) {
      flush();
      continue;
    }
    if (len > 0 && p === to + 1) {
      to = p;
      len++;
    } else {
      flush();
      from = j;
      to = p;
      len = 1;
    }
  }
  flush();
  return out;
}

// ---- recordings -------------------------------------------------------------------------------

/** Starts recording the commands given to `backend`. */
export function beginRecording(backend: Backend): void {
  if (active) throw new ArgumentError('compile: a step is already being recorded (compiled functions cannot nest)');
  started++;
  active = { backend, cmds: [], spoiled: null, internal: new Map(), spares: new Map(), kinds: new Map(), hooks: [], rng: { start: engine.rngStream, base: 0 } };
}

/** Ends the recording; the caller prepares it (to replay) or disposes it. */
export function endRecording(): Recording {
  const a = active;
  if (!a) throw new ArgumentError('compile: no step is being recorded');
  active = null;
  const used = engine.rngStream - a.rng.start;
  // first of the replay's hooks: the streams it uses, and the generator advanced past them
  if (used) {
    a.hooks.unshift(() => {
      a.rng.base = engine.rngStream;
      engine.rngStream += used;
    });
  }
  return new Recording(a);
}

/** Stable names of buffers made before a recording (external), across recordings. */
const externalIds = new WeakMap<BackendBuffer, number>();
let nextExternal = 0;
/** Kernel keys by executable (one recording names a kernel many times). */
const keys = new WeakMap<Executable, string>();

/** One recorded run of a step. */
export class Recording {
  /** one line per command; two recordings of a static step have equal lines */
  readonly lines: string[] = [];
  readonly spoiled: string | null;
  /** kernel dispatches per replay */
  readonly dispatches: number;
  private readonly backend: Backend;
  private cmds: Command[];
  private readonly hooks: (() => void)[];
  /** internal buffers and whether each was freed during the recording (spares) */
  private internal: Map<BackendBuffer, boolean>;
  /** external buffers the commands name: a replay needs each alive */
  private guards: BackendBuffer[] = [];
  /** internal buffers alive when prepared: held until dispose */
  private held: BackendBuffer[] = [];
  private baked: BakedStep | null = null;
  /** the indices of the runs whose scalars a replay recomputes */
  private readonly dynamicRuns: number[] = [];
  /** their scalars, rewritten in place by each replay */
  private readonly scalars = new Map<number, number[]>();
  private prepared = false;
  private disposed = false;

  constructor(a: Active) {
    this.backend = a.backend;
    this.cmds = a.cmds;
    this.hooks = a.hooks;
    this.internal = a.internal;
    this.spoiled = a.spoiled;
    const order = new Map<BackendBuffer, number>();
    const name = (b: BackendBuffer): string => {
      if (!this.internal.has(b)) {
        let id = externalIds.get(b);
        if (id === undefined) externalIds.set(b, (id = nextExternal++));
        return `e${id}:${b.numel}`;
      }
      let k = order.get(b);
      if (k === undefined) order.set(b, (k = order.size));
      return `i${k}:${b.numel}`;
    };
    const view = (v: View) => `${name(v.buf)}@${v.offset}[${v.shape.join(',')}]/[${v.strides.join(',')}]`;
    let n = 0;
    this.cmds.forEach((c, i) => {
      if (c.kind === 'run') {
        n++;
        let key = keys.get(c.exe);
        if (key === undefined) keys.set(c.exe, (key = kernelKey(c.exe.kernel)));
        // dynamic scalars are left out: they change between runs by design
        let u = c.scalars;
        if (c.dynamic) {
          this.dynamicRuns.push(i);
          const z = u.slice();
          for (const d of c.dynamic) z.fill(0, d.at ?? 0, (d.at ?? 0) + d.n);
          u = z;
        }
        const dyn = c.dynamic ? ` dynamic=${c.dynamic.map((d) => `${d.at ?? 0}+${d.n}`).join(',')}` : '';
        this.lines.push(`run ${key} u=${u.join(',')} ${c.inputs.map(view).join(' ')} -> ${c.outputs.map(view).join(' ')}${dyn}`);
      } else if (c.kind === 'copy') {
        const x = c.copy;
        this.lines.push(`copy ${name(x.src)}@${x.srcOffset} -> ${name(x.dst)}@${x.dstOffset} ${x.numel}`);
      } else {
        this.lines.push(`write ${name(c.buf)}@${c.offset} ${c.data.length} #${contentHash(c.data)}`);
      }
    });
    this.dispatches = n;
  }

  /**
   * Makes it replayable: holds the internal buffers the commands name and has the backend bake
   * them where it can. Returns why it cannot be replayed, else null.
   */
  prepare(): string | null {
    if (this.spoiled) return this.spoiled;
    const named = new Set<BackendBuffer>();
    for (const c of this.cmds) {
      if (c.kind === 'run') {
        for (const v of c.inputs) named.add(v.buf);
        for (const v of c.outputs) named.add(v.buf);
      } else if (c.kind === 'copy') {
        named.add(c.copy.src);
        named.add(c.copy.dst);
      } else named.add(c.buf);
    }
    for (const b of named) {
      const spare = this.internal.get(b);
      if (spare === undefined) {
        if (freed.has(b)) return `the step frees a tensor it uses that was made before it (a buffer of ${b.numel}); the next run would not find it`;
        this.guards.push(b);
      } else if (!spare) {
        holds.set(b, (holds.get(b) ?? 0) + 1);
        this.held.push(b);
      }
    }
    // spares the commands never name (made and freed without a command naming them) go back now
    for (const [b, spare] of this.internal) {
      if (spare && !named.has(b)) {
        this.internal.delete(b);
        freed.add(b);
        this.backend.free(b);
      }
    }
    const dynamic = new Set(this.dynamicRuns);
    try {
      this.baked = this.backend.bake?.(this.cmds, dynamic) ?? null;
    } catch {
      // a backend that cannot bake these commands replays them one by one
      this.baked = null;
    }
    this.prepared = true;
    return null;
  }

  /** Null while every buffer it shares with tensors is alive, else why it cannot replay. */
  invalid(): string | null {
    if (this.disposed) return 'it was disposed';
    for (const g of this.guards) if (freed.has(g)) return `a tensor the step uses was disposed (a buffer of ${g.numel})`;
    return null;
  }

  /** Runs the replay hooks, `before`, the recorded commands (dynamic scalars recomputed), then `after`. */
  replay(before: readonly BufferCopy[], after: readonly BufferCopy[]): void {
    if (!this.prepared) throw new ArgumentError('compile: replay of a recording that was not prepared');
    for (const h of this.hooks) h();
    const scalars = this.scalars;
    for (const i of this.dynamicRuns) {
      const c = this.cmds[i] as Extract<Command, { kind: 'run' }>;
      let sc = scalars.get(i);
      if (!sc) scalars.set(i, (sc = c.scalars.slice()));
      for (const d of c.dynamic!) {
        const v = d.values(), at = d.at ?? 0;
        for (let j = 0; j < d.n; j++) sc[at + j] = v[j];
      }
    }
    if (this.baked) return this.baked.run(before, after, scalars);
    const be = this.backend;
    for (const c of before) be.copyBuffer!(c);
    this.cmds.forEach((c, i) => {
      if (c.kind === 'run') be.dispatch(c.exe, c.inputs, c.outputs, scalars.get(i) ?? c.scalars);
      else if (c.kind === 'copy') be.copyBuffer!(c.copy);
      else be.write(c.buf, c.data, c.offset);
    });
    for (const c of after) be.copyBuffer!(c);
  }

  /** Gives its buffers back (the held ones once no other recording holds them). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.baked?.dispose();
    this.baked = null;
    for (const b of this.held) {
      const n = holds.get(b)! - 1;
      if (n > 0) holds.set(b, n);
      else {
        holds.delete(b);
        if (orphans.delete(b)) {
          freed.add(b);
          this.backend.free(b);
        }
      }
    }
    for (const [b, spare] of this.internal) {
      if (spare) {
        freed.add(b);
        this.backend.free(b);
      }
    }
    this.held = [];
    this.guards = [];
    this.internal = new Map();
    this.cmds = [];
  }
}

/** FNV-1a over the bytes of `data`: recorded writes are compared by their contents. */
function contentHash(data: ArrayBufferView): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16);
}
