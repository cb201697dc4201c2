/**
 * The Worker's side of off-main-thread training: `serveTraining(tasks)` answers a page's
 * `TrainingWorker` — it starts the backend (the WebGPU device lives in the Worker), opens a task
 * by name (a `TaskFactory`: the LoRA fine-tune, or a page's own training loop), runs its steps
 * in a loop that yields between steps so pause and other requests get through, posts metrics,
 * samples and checkpoint events, and writes checkpoints to OPFS (Node: a folder) and resumes
 * from them.
 *
 * @example
 * // train-worker.ts, bundled as its own entry and started with new Worker(url, { type: 'module' })
 * import { serveTraining, loraFineTuneTask } from 'webtensor/worker';
 * serveTraining({ 'lora-finetune': loraFineTuneTask });
 */
import * as wt from '../index.js';
import { ArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';
import { listen } from './listen.js';
import { openCheckpointStore, type CheckpointStore } from './store.js';
import { jsonable, type CheckpointManifest, type Endpoint, type LoopOptions, type Metrics, type Reply, type Request, type TrainingEvent, type TrainingEvents } from './protocol.js';

/** The files of a checkpoint, by name. */
export type TaskFiles = Record<string, Uint8Array | string>;

/** A training loop's body, as the host drives it. */
export interface TrainingTask {
  /** steps trained so far */
  readonly step: number;
  /** what `open` answers (sizes, the model's type, a resumed run's history; structured-cloneable) */
  info?(): unknown;
  /** takes `start`'s config (the first time: the training text, hyperparameters) */
  configure?(config: unknown): Promise<void>;
  /** one training step */
  trainStep(): Promise<Metrics | StepLike>;
  /** a sample to post every `sampleEvery` steps */
  sample?(): Promise<StepLike>;
  /** the files to resume from (written by `checkpoint` and every `checkpointEvery` steps) */
  checkpoint?(): Promise<TaskFiles>;
  /** further requests by name (`TrainingWorker.call(name, ...args)`) */
  calls?: Record<string, (...args: never[]) => unknown>;
  dispose?(): void;
}

/** An object with a step count (metrics, samples). */
export type StepLike = { step: number; loss?: number };

/** What a task factory gets besides its config. */
export interface TaskContext {
  /** the files of the checkpoint to resume from (`open` with resume and a checkpoint that exists), else null */
  checkpoint: TaskFiles | null;
  /** posts a 'progress' event (a model download) */
  progress(p: Record<string, unknown>): void;
}

/** Makes a task from `open`'s config. */
export type TaskFactory = (config: unknown, ctx: TaskContext) => Promise<TrainingTask>;

/** The worker's global scope (where `serveTraining` listens by default). */
const selfScope = (): Endpoint | null => {
  const g = globalThis as { postMessage?: unknown; addEventListener?: unknown; document?: unknown };
  return typeof g.postMessage === 'function' && typeof g.addEventListener === 'function' && g.document === undefined ? (g as unknown as Endpoint) : null;
};

const errorOf = (e: unknown) => ({ name: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e) });
/**
 * A macrotask, so that messages (pause, calls) get in between steps: setImmediate in Node, a
 * MessageChannel round trip elsewhere (setTimeout(0) is clamped to 4 ms once nested, a cost per step).
 */
const macrotask = (): Promise<void> => {
  const g = globalThis as { setImmediate?: (f: () => void) => void; MessageChannel?: typeof MessageChannel };
  if (typeof g.setImmediate === 'function') return new Promise((r) => g.setImmediate!(r));
  if (typeof g.MessageChannel === 'function') {
    return new Promise((r) => {
      const ch = new g.MessageChannel!();
      ch.port1.onmessage = () => {
        ch.port1.close();
        r();
      };
      ch.port2.postMessage(null);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
};

function loopOptions(op: string, o: unknown): Required<LoopOptions> {
  if (o === undefined || o === null) o = {};
  if (typeof o !== 'object' || Array.isArray(o)) throw new ArgumentError(`${op}: loop options must be an object ({ sampleEvery, checkpointEvery, maxSteps }), got ${describeValue(o)}`);
  const out = { sampleEvery: 0, checkpointEvery: 0, maxSteps: Infinity };
  for (const [k, v] of Object.entries(o as object)) {
    if (!(k in out)) throw new ArgumentError(`${op}: unknown loop option '${k}' (sampleEvery, checkpointEvery, maxSteps)`);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(Number.isInteger(v) || v === Infinity) || v < 0) throw new ArgumentError(`${op}: ${k} must be an integer >= 0, got ${describeValue(v)}`);
    (out as Record<string, number>)[k] = v;
  }
  return out;
}

/**
 * Serves `tasks` (by name) to the page's `TrainingWorker` on `port` (default: the Worker's own
 * scope, `self`; in Node pass worker_threads' parentPort or a MessagePort). Returns a function
 * that stops listening.
 */
export function serveTraining(tasks: Record<string, TaskFactory>, port?: Endpoint): () => void {
  const op = 'serveTraining';
  if (tasks === null || typeof tasks !== 'object' || Array.isArray(tasks) || !Object.keys(tasks).length || Object.values(tasks).some((f) => typeof f !== 'function')) {
    throw new ArgumentError(`${op}: tasks must be an object of task factories by name ({ 'lora-finetune': loraFineTuneTask }), got ${describeValue(tasks)}`);
  }
  const ep = port ?? selfScope();
  if (!ep) throw new ArgumentError(`${op}: no port given and this is not a Worker; pass a MessagePort (Node: worker_threads' parentPort)`);

  let task: TrainingTask | null = null, taskName = '', openConfig: unknown = null;
  let store: CheckpointStore | null = null;
  let running = false, loop: Promise<void> | null = null;
  // task work runs one piece at a time (a step, a sample, a checkpoint)
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T> | T): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => {});
    return p;
  };

  const emit = <K extends keyof TrainingEvents>(type: K, data: TrainingEvents[K]) => ep.postMessage({ wt: 'event', event: { type, data } as TrainingEvent } satisfies Reply);
  const need = (what: string): TrainingTask => {
    if (!task) throw new ArgumentError(`TrainingWorker.${what}: no task is open (call open first)`);
    return task;
  };

  const writeCheckpoint = async (): Promise<CheckpointManifest> => {
    const t = need('checkpoint');
    if (!store) throw new ArgumentError('TrainingWorker.checkpoint: open the task with a checkpoint name to write checkpoints');
    if (!t.checkpoint) throw new ArgumentError(`TrainingWorker.checkpoint: task '${taskName}' does not write checkpoints`);
    const files = await t.checkpoint();
    // manifest last: a checkpoint cut short is not read as whole
    for (const [n, b] of Object.entries(files)) await store.write(n, b);
    const manifest: CheckpointManifest = { task: taskName, step: t.step, time: Date.now(), files: Object.keys(files), config: jsonable(openConfig), where: store.where };
    await store.write('manifest.json', JSON.stringify(manifest));
    emit('checkpoint', manifest);
    return manifest;
  };

  const readManifest = async (s: CheckpointStore): Promise<CheckpointManifest | null> => {
    const raw = await s.read('manifest.json');
    if (!raw) return null;
    try {
      return JSON.parse(new TextDecoder().decode(raw)) as CheckpointManifest;
    } catch {
      return null;
    }
  };

  const runLoop = async (o: Required<LoopOptions>): Promise<void> => {
    const t = need('start');
    emit('state', { running: true, step: t.step });
    try {
      while (running && t.step < o.maxSteps) {
        const m = await exclusive(() => t.trainStep());
        emit('metrics', m as Metrics);
        if (o.sampleEvery && t.sample && m.step % o.sampleEvery === 0) emit('sample', (await exclusive(() => t.sample!())) as TrainingEvents['sample']);
        if (o.checkpointEvery && store && m.step % o.checkpointEvery === 0) await exclusive(writeCheckpoint);
        // let pause and other requests in between steps
        await macrotask();
      }
    } catch (e) {
      emit('error', errorOf(e));
    } finally {
      running = false;
      loop = null;
      emit('state', { running: false, step: t.step });
    }
  };

  const handle = async (r: Request): Promise<unknown> => {
    switch (r.kind) {
      case 'init': {
        let why = '';
        if (r.backend !== 'cpu') {
          try {
            await wt.init({ backend: 'webgpu' });
          } catch (e) {
            if (r.backend === 'webgpu') throw e;
            why = (e as Error).message;
          }
        }
        if (r.backend === 'cpu' || why) await wt.init({ backend: 'cpu' });
        const info = wt.backendInfo();
        return info.name === 'webgpu' ? { name: 'webgpu', adapter: { ...info.adapter }, features: [...info.features], fallbackReason: null } : { name: info.name, adapter: null, features: [], fallbackReason: why || null };
      }
      case 'open': {
        const factory = Object.prototype.hasOwnProperty.call(tasks, r.task) ? tasks[r.task] : undefined;
        if (!factory) throw new ArgumentError(`TrainingWorker.open: no task named ${describeValue(r.task)} (this worker serves ${Object.keys(tasks).join(', ')})`);
        if (running) throw new ArgumentError('TrainingWorker.open: training is running; pause it first');
        await exclusive(() => {
          task?.dispose?.();
          task = null;
        });
        store = r.checkpoint ? await openCheckpointStore(r.checkpoint) : null;
        let files: TaskFiles | null = null;
        if (store && r.resume) {
          const m = await readManifest(store);
          if (m && m.task === r.task) {
            files = {};
            for (const n of m.files) {
              const b = await store.read(n);
              if (b) files[n] = b;
            }
          }
        }
        const made = await factory(r.config, { checkpoint: files, progress: (p) => emit('progress', p) });
        if (!made || typeof made.trainStep !== 'function') throw new ArgumentError(`TrainingWorker.open: task '${r.task}''s factory did not return a task (an object with trainStep)`);
        task = made;
        taskName = r.task;
        openConfig = r.config;
        return { step: made.step, resumed: files !== null, info: made.info?.() ?? null };
      }
      case 'start': {
        const t = need('start');
        const o = loopOptions('TrainingWorker.start', r.loop);
        if (running || loop) throw new ArgumentError('TrainingWorker.start: training is already running');
        if (r.config !== undefined) {
          if (!t.configure) throw new ArgumentError(`TrainingWorker.start: task '${taskName}' takes no config at start`);
          await exclusive(() => t.configure!(r.config));
        }
        running = true;
        loop = runLoop(o);
        return { step: t.step };
      }
      case 'pause': {
        running = false;
        await loop;
        return { step: task?.step ?? 0 };
      }
      case 'checkpoint':
        return exclusive(writeCheckpoint);
      case 'checkpointInfo': {
        const s = await openCheckpointStore(r.name);
        return readManifest(s);
      }
      case 'clearCheckpoint': {
        const s = await openCheckpointStore(r.name);
        await s.clear();
        return null;
      }
      case 'call': {
        const t = need('call');
        const fn = t.calls && Object.prototype.hasOwnProperty.call(t.calls, r.method) ? t.calls[r.method] : undefined;
        if (typeof fn !== 'function') throw new ArgumentError(`TrainingWorker.call: task '${taskName}' has no method ${describeValue(r.method)} (it has ${Object.keys(t.calls ?? {}).join(', ') || 'none'})`);
        return exclusive(() => (fn as (...a: unknown[]) => unknown)(...r.args));
      }
      case 'close': {
        running = false;
        await loop;
        await exclusive(() => {
          task?.dispose?.();
          task = null;
        });
        return null;
      }
      default:
        throw new ArgumentError(`serveTraining: unknown request ${describeValue((r as { kind?: unknown }).kind)}`);
    }
  };

  return listen(op, ep, (data) => {
    const r = data as Request;
    if (!r || typeof r !== 'object' || typeof r.id !== 'number' || typeof r.kind !== 'string') return;
    handle(r).then(
      (value) => ep.postMessage({ wt: 'reply', id: r.id, ok: true, value } satisfies Reply),
      (e) => ep.postMessage({ wt: 'reply', id: r.id, ok: false, error: errorOf(e) } satisfies Reply),
    );
  });
}
