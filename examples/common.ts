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
}

export interface ExampleResult {
  name: string;
  metrics: Record<string, number>;
  backend: string;
  device: string;
  seconds: number;
  /** sample output, e.g. generated text */
  sample?: string;
}

export interface Example {
  name: string;
  description: string;
  run(opts: ExampleOptions): Promise<ExampleResult>;
}

/** Initialises the backend and returns a description of the device. */
export async function setup(opts: ExampleOptions): Promise<string> {
  await wt.init({ backend: opts.backend ?? 'auto' });
  const info = wt.backendInfo();
  return info.name === 'webgpu' ? `${info.adapter.vendor} ${info.adapter.architecture} ${info.adapter.description}`.trim() || 'webgpu' : 'cpu';
}

/** Runs an example body with set-up and timing. */
export async function runExample(name: string, opts: ExampleOptions, body: (log: (s: string) => void) => Promise<{ metrics: Record<string, number>; sample?: string }>): Promise<ExampleResult> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const device = await setup(opts);
  const t0 = performance.now();
  const r = await body(log);
  return { name, backend: wt.getBackend().name, device, seconds: (performance.now() - t0) / 1000, ...r };
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
  }
  if (o.epochs !== undefined && !(Number.isInteger(o.epochs) && o.epochs > 0)) throw new Error(`--epochs must be a positive integer, got ${o.epochs}`);
  if (o.backend && !['auto', 'webgpu', 'cpu'].includes(o.backend)) throw new Error(`--backend must be auto, webgpu or cpu, got ${o.backend}`);
  return o;
}

/** Reads a file from examples/data, whether running from source or from the bundled CLI in dist/. */
export async function readDataFile(name: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const candidates = [new URL(`./data/${name}`, import.meta.url), new URL(`../examples/data/${name}`, import.meta.url)];
  for (const u of candidates) {
    try {
      return await readFile(u, 'utf8');
    } catch {
      // try the next location
    }
  }
  throw new Error(`examples: ${name} not found in examples/data`);
}
