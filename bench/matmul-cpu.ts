/**
 * CPU matmul benchmark: webtensor's CPU backend against TF.js's pure-JS CPU backend and
 * jax-js's wasm backend, in one process, on square float32 products (256³ and 512³).
 *
 * Each library multiplies the same two random matrices; a run is the product plus reading the
 * result back into JS (so lazy or asynchronous backends are timed to completion). Reported:
 * GFLOP/s = 2·n³ / median run time, after warm-up runs.
 *
 * Run: npm run bench:cpu   (esbuild bundles this file, then node runs it)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as jax from '@jax-js/jax';
import * as os from 'node:os';
import * as wt from '../src/index.js';

const SIZES = [256, 512];
const WARMUP = 3;
const WARMUP_MS = 500;
const RUNS: Record<number, number> = { 256: 9, 512: 5 };

type Run = () => Promise<void>;
interface Lib {
  name: string;
  /** prepares the operands for size n and returns one timed run and a cleanup */
  setup(n: number, a: Float32Array, b: Float32Array): Promise<{ run: Run; done: () => void }>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randomMatrix(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n * n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  });
}

const libs: Lib[] = [
  {
    name: 'webtensor cpu',
    async setup(n, av, bv) {
      await wt.init({ backend: 'cpu' });
      const a = wt.tensor(av, { shape: [n, n] }), b = wt.tensor(bv, { shape: [n, n] });
      return {
        run: async () => {
          const c = wt.matmul(a, b);
          await c.data();
          c.dispose();
        },
        done: () => { a.dispose(); b.dispose(); },
      };
    },
  },
  {
    name: 'webtensor cpu (a @ bᵀ view)',
    async setup(n, av, bv) {
      await wt.init({ backend: 'cpu' });
      const a = wt.tensor(av, { shape: [n, n] }), b = wt.tensor(bv, { shape: [n, n] });
      const bt = b.T;
      return {
        run: async () => {
          const c = wt.matmul(a, bt);
          await c.data();
          c.dispose();
        },
        done: () => { a.dispose(); b.dispose(); bt.dispose(); },
      };
    },
  },
  {
    name: 'tfjs cpu',
    async setup(n, av, bv) {
      await tf.setBackend('cpu');
      const a = tf.tensor2d(av, [n, n]), b = tf.tensor2d(bv, [n, n]);
      return {
        run: async () => {
          const c = tf.matMul(a, b);
          await c.data();
          c.dispose();
        },
        done: () => { a.dispose(); b.dispose(); },
      };
    },
  },
  {
    name: 'jax-js wasm',
    async setup(n, av, bv) {
      await jax.init('wasm');
      jax.defaultDevice('wasm');
      const a = jax.numpy.array(av as Float32Array<ArrayBuffer>).reshape([n, n]), b = jax.numpy.array(bv as Float32Array<ArrayBuffer>).reshape([n, n]);
      return {
        // jax-js arrays are reference-counted: `.ref` keeps a and b alive across runs
        run: async () => { await jax.numpy.matmul(a.ref, b.ref).data(); },
        done: () => { a.dispose(); b.dispose(); },
      };
    },
  },
];

async function main(): Promise<void> {
  // TF.js's CPU backend warns about tfjs-node on its first write; keep the table clean
  const warn = console.warn;
  console.warn = () => {};
  try {
    await tf.setBackend('cpu');
    tf.tensor([0]).dispose();
  } finally {
    console.warn = warn;
  }
  const results: Record<string, Record<number, number>> = {};
  // one library at a time (jax-js last), so nothing a library leaves running in the background
  // competes with the next one on this 2-core machine
  for (const lib of libs) {
    for (const n of SIZES) {
      const { run, done } = await lib.setup(n, randomMatrix(n, 1), randomMatrix(n, 2));
      // warm up by count and by time, so the JIT has settled on the hot loops
      const t0 = performance.now();
      for (let i = 0; i < WARMUP || performance.now() - t0 < WARMUP_MS; i++) await run();
      const times: number[] = [];
      for (let i = 0; i < RUNS[n]; i++) {
        const t = performance.now();
        await run();
        times.push(performance.now() - t);
      }
      done();
      (results[lib.name] ??= {})[n] = (2 * n ** 3) / (median(times) * 1e6);
    }
  }
  const ref = results['tfjs cpu'];
  const head = ['library', ...SIZES.map((n) => `${n}³ GFLOP/s`), ...SIZES.map((n) => `${n}³ vs tfjs`)];
  const rows = Object.entries(results).map(([name, r]) => [name, ...SIZES.map((n) => r[n].toFixed(2)), ...SIZES.map((n) => `${(r[n] / ref[n]).toFixed(1)}x`)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(`CPU matmul, float32, median of ${SIZES.map((n) => RUNS[n]).join('/')} runs after ≥${WARMUP} warm-up runs / ${WARMUP_MS} ms (Node ${process.version}, ${process.arch}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'})`);
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
