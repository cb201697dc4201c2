/**
 * WebGPU kernel benchmark (issue 3): webtensor's WebGPU backend against TF.js's WebGPU backend and
 * jax-js's WebGPU device, in one process, on the same Dawn adapter (each library opens its own
 * GPUDevice on it).
 *
 * Workloads (float32; shape legend: M×K · K×N matmul; N = batch, C→O channels, H×W, KH×KW
 * kernel for conv; R rows of D for the row-wise ops):
 *   matmul 256³, 512³, 1024³              GFLOP/s = 2·M·N·K / t
 *   conv2d N=8, C=16→O=32, 32×32, 3×3, pad 1   GFLOP/s = 2·N·O·Ho·Wo·C·KH·KW / t
 *   softmax over the rows of [1024, 1024]  GB/s = 2·R·D·4 / t        (read x, write y)
 *   layerNorm over [1024, 1024], affine    GB/s = (2·R·D + 2·D)·4 / t (… plus weight, bias)
 *
 * One timed run = the op, a sync that waits for the GPU to finish it (webtensor and TF.js read
 * one element of the result; jax-js `blockUntilReady()`, a zero-byte read after its submit), and
 * disposing the result. Every case is first run once untimed with its whole output read back and
 * checked against a float64 reference of its first row / plane (the `check` column), which also
 * warms up shader compiles. A library routine that is missing (webtensor BackendError "routine …
 * is not implemented") is reported as "n/a (not implemented)"; any other failure as "error",
 * with its message in the notes.
 *
 * Run: npm run bench:webgpu [-- --quick] [-- --json FILE] [-- --no-write] [-- --native]
 *   --quick     fewer runs (1 warm-up, ≤3 timed, ≤4 s per case)
 *   --json F    also write every figure to F
 *   --no-write  do not update bench/RESULTS.md
 *   --native    use the system's Vulkan driver instead of defaulting VK_ICD_FILENAMES to SwiftShader
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import * as wt from '../src/index.js';
import { adapterLabel, describeAdapter, installNodeWebGPU, isSoftwareAdapter, type AdapterDescription } from './lib/dawn.js';
import { conv2dFlops, convOut, gbps, gflops, layerNormBytes, matmulFlops, softmaxBytes, type Conv2dShape } from './lib/napkin.js';
import { fmt, table, today, upsertSection, writeJson } from './lib/report.js';
import { measure, type Timing } from './lib/timing.js';

type TF = typeof import('@tensorflow/tfjs-core');
type Jax = typeof import('@jax-js/jax');
type JaxArray = import('@jax-js/jax').Array;

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** bench/RESULTS.md of the package this file belongs to (it runs bundled, from node_modules/.cache). */
function resultsPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'bench', 'RESULTS.md');
}

// ---- workloads ---------------------------------------------------------------------------------

type Spec =
  | { kind: 'matmul'; m: number; n: number; k: number }
  | { kind: 'conv2d'; s: Conv2dShape }
  | { kind: 'softmax'; rows: number; d: number }
  | { kind: 'layerNorm'; rows: number; d: number; eps: number };

interface Workload {
  name: string;
  spec: Spec;
  unit: 'GFLOP/s' | 'GB/s';
  /** FLOPs or bytes of one call (napkin math, lib/napkin.ts) */
  work: number;
  /** inputs, row-major in webtensor's layout (NCHW, OIHW for conv) */
  inputs: Float32Array<ArrayBuffer>[];
  /** float64 reference of the first row (matmul, softmax, layerNorm) or plane y[0,0] (conv2d) */
  reference: Float64Array;
}

/** Deterministic uniform values in [-scale, scale) (an LCG: same data for every library). */
function uniform(len: number, seed: number, scale = 1): Float32Array<ArrayBuffer> {
  let s = seed >>> 0;
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

function matmulWorkload(n: number): Workload {
  const a = uniform(n * n, 1), b = uniform(n * n, 2);
  const ref = new Float64Array(n);
  for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) ref[j] += a[k] * b[k * n + j];
  return { name: `matmul ${n}³`, spec: { kind: 'matmul', m: n, n, k: n }, unit: 'GFLOP/s', work: matmulFlops(n, n, n), inputs: [a, b], reference: ref };
}

function conv2dWorkload(s: Conv2dShape): Workload {
  const x = uniform(s.N * s.C * s.H * s.W, 3), w = uniform(s.O * s.C * s.KH * s.KW, 4, 0.25);
  const ho = convOut(s.H, s.KH, s.stride, s.pad), wo = convOut(s.W, s.KW, s.stride, s.pad);
  // y[0, 0, :, :]
  const ref = new Float64Array(ho * wo);
  for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
    let acc = 0;
    for (let c = 0; c < s.C; c++) for (let i = 0; i < s.KH; i++) for (let j = 0; j < s.KW; j++) {
      const h = oh * s.stride + i - s.pad, v = ow * s.stride + j - s.pad;
      if (h >= 0 && h < s.H && v >= 0 && v < s.W) acc += x[(c * s.H + h) * s.W + v] * w[(c * s.KH + i) * s.KW + j];
    }
    ref[oh * wo + ow] = acc;
  }
  return { name: `conv2d ${s.N}×${s.C}→${s.O} ${s.H}×${s.W} k${s.KH}`, spec: { kind: 'conv2d', s }, unit: 'GFLOP/s', work: conv2dFlops(s), inputs: [x, w], reference: ref };
}

function softmaxWorkload(rows: number, d: number): Workload {
  const x = uniform(rows * d, 5, 4);
  const ref = new Float64Array(d);
  let mx = -Infinity, sum = 0;
  for (let j = 0; j < d; j++) mx = Math.max(mx, x[j]);
  for (let j = 0; j < d; j++) sum += (ref[j] = Math.exp(x[j] - mx));
  for (let j = 0; j < d; j++) ref[j] /= sum;
  return { name: `softmax ${rows}×${d}`, spec: { kind: 'softmax', rows, d }, unit: 'GB/s', work: softmaxBytes(rows, d), inputs: [x], reference: ref };
}

function layerNormWorkload(rows: number, d: number): Workload {
  const eps = 1e-5;
  const x = uniform(rows * d, 6, 2), g = uniform(d, 7), b = uniform(d, 8);
  let mean = 0, v = 0;
  for (let j = 0; j < d; j++) mean += x[j] / d;
  for (let j = 0; j < d; j++) v += (x[j] - mean) ** 2 / d;
  const ref = Float64Array.from({ length: d }, (_, j) => ((x[j] - mean) / Math.sqrt(v + eps)) * g[j] + b[j]);
  return { name: `layerNorm ${rows}×${d}`, spec: { kind: 'layerNorm', rows, d, eps }, unit: 'GB/s', work: layerNormBytes(rows, d), inputs: [x, g, b], reference: ref };
}

// ---- libraries ---------------------------------------------------------------------------------

/** One library on one workload: prepared inputs, a timed run and the untimed full read. */
interface Case {
  /** op + sync + dispose of the result */
  run(): Promise<void>;
  /** op, then the whole output in webtensor's layout (row-major, NCHW), result disposed */
  output(): Promise<Float32Array>;
  /** live tensors the library reports, to catch a run that leaks (undefined: no counter) */
  live(): number | undefined;
  done(): void;
}

interface Lib {
  name: string;
  /** throws when the library cannot start on WebGPU */
  init(): Promise<void>;
  setup(w: Workload): Case;
}

function webtensorLib(): Lib {
  return {
    name: 'webtensor',
    async init() {
      await wt.init({ backend: 'webgpu' });
    },
    setup(w) {
      const sp = w.spec;
      let inputs: wt.Tensor[];
      let op: () => wt.Tensor;
      if (sp.kind === 'matmul') {
        const [a, b] = inputs = [wt.tensor(w.inputs[0], { shape: [sp.m, sp.k] }), wt.tensor(w.inputs[1], { shape: [sp.k, sp.n] })];
        op = () => wt.matmul(a, b);
      } else if (sp.kind === 'conv2d') {
        const s = sp.s;
        const [x, k] = inputs = [wt.tensor(w.inputs[0], { shape: [s.N, s.C, s.H, s.W] }), wt.tensor(w.inputs[1], { shape: [s.O, s.C, s.KH, s.KW] })];
        op = () => wt.conv2d(x, k, null, { stride: s.stride, padding: s.pad });
      } else if (sp.kind === 'softmax') {
        const [x] = inputs = [wt.tensor(w.inputs[0], { shape: [sp.rows, sp.d] })];
        op = () => wt.softmax(x, -1);
      } else {
        const [x, g, b] = inputs = [wt.tensor(w.inputs[0], { shape: [sp.rows, sp.d] }), wt.tensor(w.inputs[1], { shape: [sp.d] }), wt.tensor(w.inputs[2], { shape: [sp.d] })];
        op = () => wt.layerNorm(x, [sp.d], g, b, sp.eps);
      }
      return {
        async run() {
          // one element of the result: the read waits for the whole op, the transfer is 4 bytes
          const first = wt.tidy(() => op().reshape([-1]).slice(0, 0, 1));
          await first.data();
          first.dispose();
        },
        async output() {
          const y = op();
          try {
            return Float32Array.from(await y.data() as Float32Array);
          } finally {
            y.dispose();
          }
        },
        live: () => wt.memory().tensors,
        done: () => inputs.forEach((t) => t.dispose()),
      };
    },
  };
}

function tfjsLib(): Lib {
  let tf: TF;
  return {
    name: 'TF.js',
    async init() {
      tf = await import('@tensorflow/tfjs-core');
      // registers the 'webgpu' backend only when navigator.gpu exists at import time
      await import('@tensorflow/tfjs-backend-webgpu');
      if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') returned false");
      await tf.ready();
    },
    setup(w) {
      const sp = w.spec;
      let inputs: import('@tensorflow/tfjs-core').Tensor[];
      let op: () => import('@tensorflow/tfjs-core').Tensor;
      /** to webtensor's layout (conv2d: NHWC → NCHW) before reading */
      let toRef: (y: import('@tensorflow/tfjs-core').Tensor) => import('@tensorflow/tfjs-core').Tensor = (y) => y;
      if (sp.kind === 'matmul') {
        const [a, b] = inputs = [tf.tensor2d(w.inputs[0], [sp.m, sp.k]), tf.tensor2d(w.inputs[1], [sp.k, sp.n])];
        op = () => tf.matMul(a, b);
      } else if (sp.kind === 'conv2d') {
        // TF.js's native layout: x NHWC, filter [KH, KW, C, O]; same FLOPs
        const s = sp.s;
        const [x, k] = inputs = tf.tidy(() => [
          tf.transpose(tf.tensor4d(w.inputs[0], [s.N, s.C, s.H, s.W]), [0, 2, 3, 1]),
          tf.transpose(tf.tensor4d(w.inputs[1], [s.O, s.C, s.KH, s.KW]), [2, 3, 1, 0]),
        ]);
        op = () => tf.conv2d(x as import('@tensorflow/tfjs-core').Tensor4D, k as import('@tensorflow/tfjs-core').Tensor4D, s.stride, s.pad);
        toRef = (y) => tf.transpose(y, [0, 3, 1, 2]);
      } else if (sp.kind === 'softmax') {
        const [x] = inputs = [tf.tensor2d(w.inputs[0], [sp.rows, sp.d])];
        op = () => tf.softmax(x, -1);
      } else {
        // TF.js has no layerNorm op: moments over the last axis, then the fused batchNorm kernel
        // (which wants mean, variance, offset and scale of equal rank: [R,1] and [1,D])
        const [x, g, b] = inputs = [tf.tensor2d(w.inputs[0], [sp.rows, sp.d]), tf.tensor2d(w.inputs[1], [1, sp.d]), tf.tensor2d(w.inputs[2], [1, sp.d])];
        op = () => tf.tidy(() => {
          const { mean, variance } = tf.moments(x, -1, true);
          return tf.batchNorm(x, mean, variance, b, g, sp.eps);
        });
      }
      return {
        async run() {
          const first = tf.tidy(() => tf.slice(tf.reshape(op(), [-1]), 0, 1));
          await first.data();
          tf.dispose(first);
        },
        async output() {
          const y = tf.tidy(() => toRef(op()));
          try {
            return Float32Array.from(await y.data() as Float32Array);
          } finally {
            tf.dispose(y);
          }
        },
        live: () => tf.memory().numTensors,
        done: () => tf.dispose(inputs),
      };
    },
  };
}

function jaxLib(): Lib {
  let jax: Jax;
  return {
    name: 'jax-js',
    async init() {
      jax = await import('@jax-js/jax');
      const devices = await jax.init('webgpu');
      if (!devices.includes('webgpu')) throw new Error(`jax.init('webgpu') started no WebGPU device (available: ${devices.join(', ')})`);
      jax.defaultDevice('webgpu');
    },
    setup(w) {
      const np = jax.numpy;
      const sp = w.spec;
      let inputs: JaxArray[];
      // jax-js arrays are reference-counted and every function consumes its arguments:
      // `.ref` (+1) keeps the inputs alive across runs; the result is disposed after each run
      let op: () => JaxArray;
      if (sp.kind === 'matmul') {
        const [a, b] = inputs = [np.array(w.inputs[0], { shape: [sp.m, sp.k] }), np.array(w.inputs[1], { shape: [sp.k, sp.n] })];
        op = () => np.matmul(a.ref, b.ref);
      } else if (sp.kind === 'conv2d') {
        const s = sp.s;
        const [x, k] = inputs = [np.array(w.inputs[0], { shape: [s.N, s.C, s.H, s.W] }), np.array(w.inputs[1], { shape: [s.O, s.C, s.KH, s.KW] })];
        op = () => jax.lax.conv(x.ref, k.ref, [s.stride, s.stride], [[s.pad, s.pad], [s.pad, s.pad]]);
      } else if (sp.kind === 'softmax') {
        const [x] = inputs = [np.array(w.inputs[0], { shape: [sp.rows, sp.d] })];
        op = () => jax.nn.softmax(x.ref, -1);
      } else {
        const [x, g, b] = inputs = [np.array(w.inputs[0], { shape: [sp.rows, sp.d] }), np.array(w.inputs[1]), np.array(w.inputs[2])];
        op = () => jax.nn.standardize(x.ref, -1, { epsilon: sp.eps }).mul(g.ref).add(b.ref);
      }
      return {
        async run() {
          // jax-js is lazy: reading one element could compute only that element, so wait on the
          // whole array instead (blockUntilReady submits its kernels and maps a 0-byte copy)
          const y = op();
          await y.blockUntilReady();
          y.dispose();
        },
        // data() consumes the array
        output: async () => Float32Array.from(await op().data() as Float32Array),
        live: () => undefined,
        done: () => inputs.forEach((a) => a.dispose()),
      };
    },
  };
}

// ---- running -----------------------------------------------------------------------------------

interface Row {
  workload: string;
  library: string;
  status: 'ok' | 'n/a' | 'error';
  unit: Workload['unit'];
  work: number;
  timing?: Timing;
  /** GFLOP/s or GB/s at the median */
  rate?: number;
  /** max |y - ref| / max |ref| over the checked row or plane */
  relErr?: number;
  leaked?: number;
  error?: string;
}

const NOT_IMPLEMENTED = /not implemented/i;

function describeError(lib: string, e: unknown): Pick<Row, 'status' | 'error'> {
  const msg = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
  if (lib === 'webtensor' && e instanceof wt.BackendError && NOT_IMPLEMENTED.test(e.message)) return { status: 'n/a', error: msg };
  return { status: 'error', error: msg.split('\n')[0].slice(0, 400) };
}

function relError(y: Float32Array, ref: Float64Array): number {
  if (y.length < ref.length) return Infinity;
  let err = 0, mag = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(y[i] - ref[i]));
    mag = Math.max(mag, Math.abs(ref[i]));
  }
  return Number.isNaN(err) ? NaN : err / Math.max(mag, 1e-30);
}

async function runCase(lib: Lib, w: Workload, opts: { warmup: number; reps: number; budgetMs: number }): Promise<Row> {
  const row: Row = { workload: w.name, library: lib.name, status: 'ok', unit: w.unit, work: w.work };
  let c: Case | undefined;
  try {
    c = lib.setup(w);
    // the untimed first run: compiles, then checks the whole output against the reference
    const t0 = performance.now();
    row.relErr = relError(await c.output(), w.reference);
    const firstMs = performance.now() - t0;
    const live0 = c.live();
    row.timing = { ...(await measure(c.run, { warmup: opts.warmup - 1, reps: opts.reps, budgetMs: opts.budgetMs })), firstMs };
    const live1 = c.live();
    if (live0 !== undefined && live1 !== undefined && live1 !== live0) row.leaked = live1 - live0;
    row.rate = w.unit === 'GFLOP/s' ? gflops(w.work, row.timing.median) : gbps(w.work, row.timing.median);
  } catch (e) {
    Object.assign(row, describeError(lib.name, e));
  } finally {
    try {
      c?.done();
    } catch {
      // a failed case may have left its inputs half made; nothing to report
    }
  }
  return row;
}

// ---- output ------------------------------------------------------------------------------------

const RATE_TOL = 1e-3;

function tableOf(rows: readonly Row[]): string {
  const ours = new Map(rows.filter((r) => r.library === 'webtensor').map((r) => [r.workload, r]));
  const head = ['workload', 'library', 'median ms', 'min–max ms', 'runs', 'rate', 'webtensor ÷ this', 'check (rel err)'];
  const body = rows.map((r) => {
    if (r.status !== 'ok' || !r.timing || r.rate === undefined) {
      const why = r.status === 'n/a' ? 'n/a (not implemented)' : 'error (see notes)';
      return [r.workload, r.library, why, '', '', '', '', ''];
    }
    const t = r.timing;
    const w = ours.get(r.workload);
    const ratio = r.library === 'webtensor' ? '—' : w?.rate !== undefined ? `${(w.rate / r.rate).toFixed(2)}x` : 'n/a';
    const check = r.relErr === undefined ? '' : `${r.relErr <= RATE_TOL ? 'ok' : 'FAIL'} ${r.relErr.toExponential(0)}`;
    return [r.workload, r.library, fmt(t.median), `${fmt(t.min)}–${fmt(t.max)}`, String(t.runs), `${fmt(r.rate)} ${r.unit}`, ratio, `${check}${r.leaked ? ` leak ${r.leaked}` : ''}`];
  });
  return table(head, body, [false, false, true, true, true, true, true, false]);
}

function notesOf(rows: readonly Row[]): string[] {
  const notes: string[] = [];
  for (const r of rows) {
    if (r.status === 'n/a') notes.push(`${r.library} · ${r.workload}: not implemented on WebGPU yet — \`${r.error}\``);
    else if (r.status === 'error') notes.push(`${r.library} · ${r.workload}: failed — \`${r.error}\``);
    else if (r.leaked) notes.push(`${r.library} · ${r.workload}: ${r.leaked} tensors more alive after the timed runs than before`);
  }
  return notes;
}

function sectionBody(rows: readonly Row[], adapter: AdapterDescription, quick: boolean, libErrors: string[], totalS: number): string {
  const software = isSoftwareAdapter(adapter);
  const cmd = `npm run bench:webgpu${quick ? ' -- --quick' : ''}`;
  const lines = [
    `${today()} · adapter: ${adapterLabel(adapter)} — vendor \`${adapter.vendor}\`, architecture \`${adapter.architecture}\`, device \`${adapter.device}\`, description \`${adapter.description}\` · Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'} · \`${cmd}\` (\`bench/webgpu.ts\`), ${totalS.toFixed(0)} s`,
    '',
  ];
  if (software) {
    lines.push(
      '**No real GPU was available for this run: the adapter is a software Vulkan (SwiftShader)',
      'that runs the shaders on the CPU. Absolute figures measure CPU emulation (orders of magnitude',
      'below any GPU); judge only the ratios between libraries, and even those only roughly: the',
      'emulated GPU shares the CPU cores with Node, so one case can vary by up to 2x from run to run',
      '(see the min–max column).**',
      '',
    );
  }
  lines.push(
    'All three libraries run in one process on the same Dawn adapter (each opens its own device), one',
    'case at a time. One timed run = the op + a sync + disposing the result: webtensor and TF.js read',
    'one element of the result, jax-js awaits `blockUntilReady()` (jax-js is lazy, so a one-element',
    'read could compute only that element). Median of the timed runs after a first run that compiles',
    'and checks the whole output against a float64 reference of its first row / plane (`check`: max',
    '|err| / max |ref|). Napkin math: matmul and conv2d GFLOP/s = 2·MACs / t; softmax GB/s =',
    '2·R·D·4 / t, layerNorm (2·R·D + 2·D)·4 / t. "webtensor ÷ this" > 1 means webtensor is faster.',
    'TF.js runs conv2d in its native NHWC layout and layerNorm as `moments` + fused `batchNorm` (it has',
    'no layerNorm op); jax-js layerNorm is `nn.standardize(x) * w + b`, eager (no `jit`).',
    '',
    tableOf(rows),
  );
  const notes = [...libErrors, ...notesOf(rows)];
  if (notes.length) lines.push('', 'Notes:', '', ...notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, json: { type: 'string' }, 'no-write': { type: 'boolean', default: false }, native: { type: 'boolean', default: false } },
  });
  const quick = args.quick ?? false;
  const opts = quick ? { warmup: 1, reps: 3, budgetMs: 4000 } : { warmup: 2, reps: 7, budgetMs: 15000 };
  // as the test suite does: a machine without a GPU driver runs WebGPU on SwiftShader
  if (!args.native && process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const t0 = performance.now();

  const gpu = installNodeWebGPU();
  const workloads = [
    matmulWorkload(256),
    matmulWorkload(512),
    matmulWorkload(1024),
    conv2dWorkload({ N: 8, C: 16, O: 32, H: 32, W: 32, KH: 3, KW: 3, stride: 1, pad: 1 }),
    softmaxWorkload(1024, 1024),
    layerNormWorkload(1024, 1024),
  ];
  const libs = [webtensorLib(), tfjsLib(), jaxLib()];
  const libErrors: string[] = [];
  const ready: Lib[] = [];
  for (const lib of libs) {
    try {
      await lib.init();
      ready.push(lib);
    } catch (e) {
      libErrors.push(`${lib.name} could not start on WebGPU under Dawn: \`${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}\``);
    }
  }
  let adapter: AdapterDescription | null = null;
  if (ready.some((l) => l.name === 'webtensor')) {
    const info = wt.backendInfo();
    if (info.name === 'webgpu') adapter = info.adapter;
  }
  adapter ??= await describeAdapter(gpu);
  if (!adapter) throw new Error('no WebGPU adapter: requestAdapter() returned null (set VK_ICD_FILENAMES to a Vulkan driver, e.g. SwiftShader)');
  console.log(`WebGPU kernels on ${adapterLabel(adapter)}${quick ? ' (--quick)' : ''}: ${ready.map((l) => l.name).join(', ')}`);
  for (const e of libErrors) console.log(`  ${e}`);

  const rows: Row[] = [];
  for (const w of workloads) {
    for (const lib of libs) {
      if (!ready.includes(lib)) {
        rows.push({ workload: w.name, library: lib.name, status: 'error', unit: w.unit, work: w.work, error: 'library did not start (see above)' });
        continue;
      }
      const row = await runCase(lib, w, opts);
      rows.push(row);
      const what = row.status === 'ok' ? `${fmt(row.timing!.median)} ms, ${fmt(row.rate!)} ${row.unit}` : row.status === 'n/a' ? 'n/a (not implemented)' : `error: ${row.error}`;
      console.log(`  ${w.name.padEnd(28)} ${lib.name.padEnd(10)} ${what}`);
    }
  }
  const totalS = (performance.now() - t0) / 1000;

  console.log(`\n${tableOf(rows)}`);
  const notes = notesOf(rows);
  if (notes.length) console.log(`\n${notes.join('\n')}`);
  console.log(`\ntotal ${totalS.toFixed(0)} s`);

  if (args.json) {
    writeJson(args.json, { date: today(), adapter, quick, node: process.version, cpus: os.cpus().length, libraryErrors: libErrors, rows });
    console.log(`wrote ${args.json}`);
  }
  if (!args['no-write']) {
    const heading = `WebGPU kernels (issue 3) — ${today()} — ${adapterLabel(adapter)}`;
    const path = resultsPath();
    const how = upsertSection(path, heading, sectionBody(rows, adapter, quick, libErrors, totalS));
    console.log(`${how} "## ${heading}" in ${path}`);
  }
}

main().then(
  // Dawn keeps the process alive while devices exist
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
