/**
 * The messages between a page's `TrainingWorker` and the Worker's `serveTraining` (structured
 * clones: plain objects, strings, numbers, typed arrays, Blobs and Files).
 */

/** A message port: a Worker, `self` inside one, a MessagePort, or Node's worker_threads Worker / parentPort. */
export interface Endpoint {
  postMessage(message: unknown): void;
  addEventListener?(type: 'message', listener: (ev: { data: unknown }) => void): void;
  removeEventListener?(type: 'message', listener: (ev: { data: unknown }) => void): void;
  on?(type: 'message', listener: (data: unknown) => void): unknown;
  off?(type: 'message', listener: (data: unknown) => void): unknown;
  start?(): void;
}

/** How the training loop runs (`start`). */
export interface LoopOptions {
  /** post a sample every this many steps (0: never; default 0) */
  sampleEvery?: number;
  /** write a checkpoint every this many steps (0: never; default 0); needs a checkpoint name at `open` */
  checkpointEvery?: number;
  /** stop (as pause) once the step count reaches this (default: train until paused) */
  maxSteps?: number;
}

/** A step's numbers as the worker posts them. */
export interface Metrics {
  step: number;
  loss: number;
  /** tokens (or examples) trained on per second in this step */
  tokensPerSecond?: number;
  /** the step's wall time in the worker */
  ms?: number;
  [extra: string]: unknown;
}

/** What `checkpointInfo` reads: manifest.json of a checkpoint. */
export interface CheckpointManifest {
  /** the task that wrote it */
  task: string;
  step: number;
  /** Date.now() when it was written */
  time: number;
  files: string[];
  /** the `open` config, where it could be stored as JSON (Files and Blobs become null) */
  config: unknown;
  /** where it is: "opfs:webtensor-checkpoints/<name>" or a Node folder */
  where: string;
}

/** Events the worker posts, by type. */
export interface TrainingEvents {
  metrics: Metrics;
  /** a task's sample (the LoRA task: { step, prompt, text, ids }) */
  sample: { step: number; [k: string]: unknown };
  checkpoint: CheckpointManifest;
  /** the loop started or stopped */
  state: { running: boolean; step: number };
  /** progress of `open` (the LoRA task: model download) */
  progress: { [k: string]: unknown };
  /** the loop stopped on an error */
  error: { name: string; message: string };
}
export type TrainingEventType = keyof TrainingEvents;
export type TrainingEvent = { [K in TrainingEventType]: { type: K; data: TrainingEvents[K] } }[TrainingEventType];

/** page → worker */
export type Request =
  | { id: number; kind: 'init'; backend: 'auto' | 'webgpu' | 'cpu' }
  | { id: number; kind: 'open'; task: string; config: unknown; checkpoint: string | null; resume: boolean }
  | { id: number; kind: 'start'; config: unknown; loop: LoopOptions }
  | { id: number; kind: 'pause' }
  | { id: number; kind: 'checkpoint' }
  | { id: number; kind: 'checkpointInfo'; name: string }
  | { id: number; kind: 'clearCheckpoint'; name: string }
  | { id: number; kind: 'call'; method: string; args: unknown[] }
  | { id: number; kind: 'close' };

/** worker → page */
export type Reply =
  | { wt: 'reply'; id: number; ok: true; value: unknown }
  | { wt: 'reply'; id: number; ok: false; error: { name: string; message: string } }
  | { wt: 'event'; event: TrainingEvent };

/** A JSON-storable copy of a config: Blobs, Files and functions become null. */
export function jsonable(x: unknown): unknown {
  if (x === null || typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') return x;
  if (Array.isArray(x)) return x.map(jsonable);
  if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) return Object.fromEntries(Object.entries(x as object).map(([k, v]) => [k, jsonable(v)]));
  return null;
}
