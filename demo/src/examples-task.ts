/**
 * The examples page's training side (demo/src/examples.ts) as a `webtensor/worker` task: one of
 * demo/src/examples-list.ts's examples, run as the command line runs it (`--quick`, optionally
 * `--steps N`), on the backend the worker already started. The example's own loop drives the
 * training; its hooks (onStep, onImage, onPoint, log) fill a queue, and each of the host's
 * "steps" hands the page the next training step with whatever pictures, chart points and log
 * lines came before it. onStep's promise settles only when the host takes that step, so the
 * examples' hand-written loops (vae, distill, prune) wait while the page is paused; fit()-based
 * ones run ahead and their steps queue up. The last frame carries the example's result.
 */
import type { TaskFactory, TrainingTask } from '../../src/worker/index.js';
import type { GrayImage } from '../../examples/toolkit.js';
import { DEMO_EXAMPLES } from './examples-list.js';

export interface ExamplesConfig {
  /** an entry of DEMO_EXAMPLES */
  name: string;
  /** the folder of the MNIST IDX files (an absolute address) */
  dataUrl: string;
  /** caps the example's steps (each phase's) */
  steps?: number;
}

export interface ExampleFrame {
  step: number;
  /** the step's loss (NaN in the final frame) */
  loss: number;
  /** the step's losses by name (a phase, or the parts of a loss) */
  parts?: Record<string, number>;
  images: { name: string; image: GrayImage }[];
  points: { chart: string; series: string; x: number; y: number }[];
  logs: string[];
  /** the final frame: the example's metrics and its time in seconds */
  done?: { metrics: Record<string, number>; seconds: number };
  /** the example failed */
  error?: string;
}

export const examplesTask: TaskFactory = async (config): Promise<TrainingTask> => {
  const c = config as ExamplesConfig;
  const entry = DEMO_EXAMPLES.find((e) => e.name === c.name);
  if (!entry) throw new Error(`examples page: no example named ${JSON.stringify(c.name)} (${DEMO_EXAMPLES.map((e) => e.name).join(', ')})`);
  const example = await entry.load();

  // what came since the last frame, and the steps waiting for the host (each with its release)
  let images: ExampleFrame['images'] = [], points: ExampleFrame['points'] = [], logs: string[] = [];
  const steps: { frame: ExampleFrame; release: () => void }[] = [];
  let finished: ExampleFrame | null = null, closed = false, step = 0;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const take = () => {
    const t = { images, points, logs };
    images = [];
    points = [];
    logs = [];
    return t;
  };

  const run = example.run({
    quick: true, keepBackend: true, verbose: 0, dataDir: c.dataUrl, ...(c.steps ? { steps: c.steps } : {}),
    log: (s) => logs.push(s),
    onImage: (name, image) => images.push({ name, image }),
    onPoint: (chart, series, x, y) => points.push({ chart, series, x, y }),
    onStep: (s, loss, parts) => new Promise<void>((release, reject) => {
      if (closed) return reject(new Error('closed'));
      steps.push({ frame: { step: s, loss, parts, ...take() }, release });
      notify();
    }),
  });
  run.then((r) => {
    finished = { step, loss: NaN, ...take(), done: { metrics: r.metrics, seconds: r.seconds } };
  }, (e: Error) => {
    finished = { step, loss: NaN, ...take(), error: closed ? undefined : e.message };
  }).finally(notify);

  return {
    get step() {
      return step;
    },
    info: () => ({ name: entry.name, title: entry.title }),
    /** Start: the run's settings were fixed at open */
    async configure() {},
    async trainStep(): Promise<ExampleFrame> {
      while (!steps.length && !finished) await new Promise<void>((r) => (wake = r));
      const next = steps.shift();
      if (next) {
        step = next.frame.step;
        next.release();
        return next.frame;
      }
      // after the end the page pauses; until then, a frame a while with nothing new
      const f = finished!;
      finished = { step, loss: NaN, images: [], points: [], logs: [] };
      if (!f.done && !f.error) await new Promise((r) => setTimeout(r, 100));
      return f;
    },
    dispose() {
      // an example cut short stops at its next step (its tensors are not freed)
      closed = true;
      for (const s of steps.splice(0)) s.release();
      notify();
    },
  };
};
