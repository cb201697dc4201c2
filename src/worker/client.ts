/**
 * The page's side of off-main-thread training: `TrainingWorker` drives a Worker that runs
 * `serveTraining` (the WebGPU device, the model and the training loop all live there, so the
 * page stays responsive). Requests are promises; metrics, samples, checkpoints and state
 * changes arrive as events (`on(type, fn)`, or `for await (const m of tw.metrics())`).
 *
 * This file imports no part of the library's core: a page that only drives a worker stays small.
 *
 * @example
 * const tw = new TrainingWorker(new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module' }));
 * await tw.init();                                             // WebGPU in the worker (else the CPU backend)
 * await tw.open('lora-finetune', { model: 'https://huggingface.co/gpt2/resolve/main/' }, { checkpoint: 'my-run', resume: true });
 * tw.on('metrics', (m) => chart.push('loss', m.step, m.loss));
 * await tw.start({ text, lr: 1e-3 }, { sampleEvery: 20, checkpointEvery: 50 });
 * await tw.pause();
 * const files = await tw.call('adapterFiles');                 // adapter_model.safetensors, adapter_config.json
 */
import { ArgumentError, BackendError, DeviceLostError, FormatError, OutOfMemoryError, ShapeError, WebtensorError } from '../errors.js';
import { describe as describeValue, listen } from './listen.js';
import type { CheckpointManifest, Endpoint, LoopOptions, Metrics, Reply, Request, TrainingEvent, TrainingEventType, TrainingEvents } from './protocol.js';

/** What `init` answers: the backend the worker trains on. */
export interface WorkerBackend {
  name: string;
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  features: string[];
  /** why WebGPU did not start (then the CPU backend runs), or null */
  fallbackReason: string | null;
}

/** What `open` answers. */
export interface OpenResult<I = unknown> {
  step: number;
  /** the task resumed from a checkpoint */
  resumed: boolean;
  /** the task's own description (the LoRA task: LoraTaskInfo) */
  info: I;
}

const ERRORS: Record<string, new (m: string) => Error> = { ArgumentError, ShapeError, FormatError, BackendError, DeviceLostError, OutOfMemoryError, WebtensorError };
const EVENT_TYPES: readonly TrainingEventType[] = ['metrics', 'sample', 'checkpoint', 'state', 'progress', 'error'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/**
 * A handle on a training Worker (a `Worker` running `serveTraining`, or a MessagePort / Node
 * worker_threads port to one). See the file comment for an example.
 */
export class TrainingWorker {
  private readonly port: Endpoint;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<TrainingEventType, Set<(data: never) => void>>();
  private readonly unlisten: () => void;
  private nextId = 1;
  private closed = false;
  private _running = false;
  private _step = 0;

  constructor(worker: Endpoint) {
    this.port = worker;
    this.unlisten = listen('TrainingWorker', worker, (data) => this.receive(data));
  }

  /** true while the worker's training loop runs */
  get running(): boolean {
    return this._running;
  }

  /** the step count the worker last reported */
  get step(): number {
    return this._step;
  }

  private receive(data: unknown): void {
    const m = data as Reply;
    if (!m || typeof m !== 'object') return;
    if (m.wt === 'reply') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else {
        const E = ERRORS[m.error.name];
        const e = E ? new E(m.error.message) : new Error(m.error.message);
        if (!E) e.name = m.error.name;
        p.reject(e);
      }
    } else if (m.wt === 'event') {
      const { type, data: d } = m.event;
      if (type === 'state') this._running = (d as TrainingEvents['state']).running;
      if (type === 'state' || type === 'metrics') this._step = (d as { step: number }).step;
      for (const fn of this.listeners.get(type) ?? []) (fn as (x: unknown) => void)(d);
    }
  }

  private request<T>(op: string, r: DistributiveOmit<Request, 'id'>): Promise<T> {
    if (this.closed) return Promise.reject(new ArgumentError(`TrainingWorker.${op}: the worker was terminated`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.port.postMessage({ ...r, id });
      } catch (e) {
        this.pending.delete(id);
        // a value that cannot be cloned (a function, a Tensor's device buffer)
        reject(new ArgumentError(`TrainingWorker.${op}: the arguments cannot be sent to the worker (${(e as Error).message})`));
      }
    });
  }

  /** Starts the worker's backend: 'auto' (default) tries WebGPU, then the CPU backend. */
  init(opts: { backend?: 'auto' | 'webgpu' | 'cpu' } = {}): Promise<WorkerBackend> {
    const op = 'init';
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) return reject(op, `options must be an object, got ${describeValue(opts)}`);
    const bad = Object.keys(opts).find((k) => k !== 'backend');
    if (bad) return reject(op, `unknown option '${bad}' (backend)`);
    const backend = opts.backend ?? 'auto';
    if (!['auto', 'webgpu', 'cpu'].includes(backend as string)) return reject(op, `backend must be 'auto', 'webgpu' or 'cpu', got ${describeValue(backend)}`);
    return this.request(op, { kind: 'init', backend });
  }

  /**
   * Opens task `task` (by the name `serveTraining` gave it) with its config. With `checkpoint`
   * (an OPFS folder name; Node: a folder path), checkpoints go there; with `resume`, a checkpoint
   * found there is loaded and training continues from it.
   */
  open<I = unknown>(task: string, config: unknown, opts: { checkpoint?: string; resume?: boolean } = {}): Promise<OpenResult<I>> {
    const op = 'open';
    if (typeof task !== 'string' || !task) return reject(op, `task must be a task's name (a non-empty string), got ${describeValue(task)}`);
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) return reject(op, `options must be an object, got ${describeValue(opts)}`);
    const bad = Object.keys(opts).find((k) => k !== 'checkpoint' && k !== 'resume');
    if (bad) return reject(op, `unknown option '${bad}' (checkpoint, resume)`);
    if (opts.checkpoint !== undefined && (typeof opts.checkpoint !== 'string' || !opts.checkpoint)) return reject(op, `checkpoint must be a non-empty name, got ${describeValue(opts.checkpoint)}`);
    if (opts.resume !== undefined && typeof opts.resume !== 'boolean') return reject(op, `resume must be a boolean, got ${describeValue(opts.resume)}`);
    return this.request(op, { kind: 'open', task, config, checkpoint: opts.checkpoint ?? null, resume: opts.resume ?? false });
  }

  /**
   * Starts (or resumes) the training loop; resolves once it runs. `config` goes to the task
   * first (the LoRA task: the text and hyperparameters, taken the first time).
   */
  start(config?: unknown, loop: LoopOptions = {}): Promise<{ step: number }> {
    return this.run('start', config, loop);
  }

  private run(op: string, config: unknown, loop: LoopOptions): Promise<{ step: number }> {
    if (loop === null || typeof loop !== 'object' || Array.isArray(loop)) return reject(op, `loop options must be an object ({ sampleEvery, checkpointEvery, maxSteps }), got ${describeValue(loop)}`);
    for (const [k, v] of Object.entries(loop)) {
      if (!['sampleEvery', 'checkpointEvery', 'maxSteps'].includes(k)) return reject(op, `unknown loop option '${k}' (sampleEvery, checkpointEvery, maxSteps)`);
      if (v !== undefined && (typeof v !== 'number' || !(Number.isInteger(v) || v === Infinity) || v < 0)) return reject(op, `${k} must be an integer >= 0, got ${describeValue(v)}`);
    }
    return this.request(op, { kind: 'start', config, loop });
  }

  /** The same as start() without a config: continues after pause. */
  resume(loop: LoopOptions = {}): Promise<{ step: number }> {
    return this.run('resume', undefined, loop);
  }

  /** Stops the loop after its current step; resolves once it has stopped. */
  pause(): Promise<{ step: number }> {
    return this.request('pause', { kind: 'pause' });
  }

  /** Writes a checkpoint now (to the store named at open); resolves with its manifest. */
  checkpoint(): Promise<CheckpointManifest> {
    return this.request('checkpoint', { kind: 'checkpoint' });
  }

  /** The manifest of checkpoint `name` (step, files, the open config), or null when there is none. */
  checkpointInfo(name: string): Promise<CheckpointManifest | null> {
    if (typeof name !== 'string' || !name) return reject('checkpointInfo', `name must be a non-empty string, got ${describeValue(name)}`);
    return this.request('checkpointInfo', { kind: 'checkpointInfo', name });
  }

  /** Deletes checkpoint `name`. */
  clearCheckpoint(name: string): Promise<void> {
    if (typeof name !== 'string' || !name) return reject('clearCheckpoint', `name must be a non-empty string, got ${describeValue(name)}`);
    return this.request('clearCheckpoint', { kind: 'clearCheckpoint', name });
  }

  /** Calls the open task's method `method` (the LoRA task: sample, adapterFiles, loadAdapter, history, reset). */
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    if (typeof method !== 'string' || !method) return reject('call', `method must be a method's name, got ${describeValue(method)}`);
    return this.request('call', { kind: 'call', method, args });
  }

  /** Listens to events of `type` (metrics, sample, checkpoint, state, progress, error); returns the unsubscriber. */
  on<K extends TrainingEventType>(type: K, fn: (data: TrainingEvents[K]) => void): () => void {
    if (!EVENT_TYPES.includes(type)) throw new ArgumentError(`TrainingWorker.on: type must be one of ${EVENT_TYPES.join(', ')}, got ${describeValue(type)}`);
    if (typeof fn !== 'function') throw new ArgumentError(`TrainingWorker.on: fn must be a function, got ${describeValue(fn)}`);
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn as (data: never) => void);
    return () => void set.delete(fn as (data: never) => void);
  }

  /**
   * Every event from now on, in order, as an async iterator (break out of the loop to stop
   * listening). With `until`, it ends after the first event for which until(event) is true.
   */
  events(until?: (e: TrainingEvent) => boolean): AsyncGenerator<TrainingEvent, void, undefined> {
    if (until !== undefined && typeof until !== 'function') throw new ArgumentError(`TrainingWorker.events: until must be a function, got ${describeValue(until)}`);
    return this.stream(until);
  }

  private async *stream(until?: (e: TrainingEvent) => boolean): AsyncGenerator<TrainingEvent, void, undefined> {
    const queue: TrainingEvent[] = [];
    let wake: (() => void) | null = null;
    const offs = EVENT_TYPES.map((type) => this.on(type, (data) => {
      queue.push({ type, data } as TrainingEvent);
      wake?.();
    }));
    try {
      for (;;) {
        while (queue.length) {
          const e = queue.shift()!;
          yield e;
          if (until?.(e)) return;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      offs.forEach((off) => off());
    }
  }

  /** The metrics of each step from now on, ending when the loop stops. */
  async *metrics(): AsyncGenerator<Metrics, void, undefined> {
    for await (const e of this.events((e) => e.type === 'state' && !e.data.running)) if (e.type === 'metrics') yield e.data;
  }

  /** Stops training and frees the task's model and state in the worker (the worker keeps running). */
  close(): Promise<void> {
    return this.request('close', { kind: 'close' });
  }

  /** Ends the worker (a Worker's terminate()) and rejects pending requests. */
  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    (this.port as { terminate?: () => void }).terminate?.();
    (this.port as { close?: () => void }).close?.();
    for (const p of this.pending.values()) p.reject(new ArgumentError('TrainingWorker: the worker was terminated'));
    this.pending.clear();
  }
}

function reject<T>(op: string, msg: string): Promise<T> {
  return Promise.reject(new ArgumentError(`TrainingWorker.${op}: ${msg}`));
}
