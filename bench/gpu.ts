/**
 * The WebGPU benchmark as one file for a machine with a real GPU and no node_modules.
 * `npm run bench:gpu-build` bundles this entry with webtensor, TF.js and jax-js into
 * dist-gpu/bench-gpu.mjs; only Dawn's `webgpu` package (Node's WebGPU, over Vulkan) stays outside,
 * to be found by Node on the GPU machine (e.g. through NODE_PATH). There:
 *
 *   python3 bench/gpu-ceiling.py > $OUT/ceiling.json; node dist-gpu/bench-gpu.mjs --out $OUT
 *
 * It prints the adapter with its features and limits, runs the WebGPU section at full sizes plus
 * matmul 2048³ and 4096³ for webtensor (training steps compiled with wt.compile), webtensor's
 * training steps eager (no capture), webtensor with multi-segment optimizer kernels
 * (DispatcherOptions.segments), webtensor without the optimizers' parameter arenas (compiled and
 * eager: one update kernel per parameter), webtensor with subgroup operations (subgroupOps), webtensor with
 * 64x64 and with 128x128 matmul tiles forced (gemmTile; the plain rows take the tile tune.ts timed
 * faster on the device, printed with the adapter), webtensor with the fused attention kernels forced on and off
 * (attention 4×8×1024×64 is added at full sizes), webtensor
 * with medium matmul precision (f16 GEMM tiles; when the device has shader-f16), TF.js and
 * jax-js, and writes bench-gpu.json and bench-gpu.md to
 * the output folder (`--out`, else $OUT, else the current one); with the ceiling.json that
 * bench/gpu-ceiling.py wrote there, bench-gpu.md starts with each webtensor matmul as a fraction
 * of PyTorch's. `--quick` uses the quick sizes
 * (for a check on SwiftShader); `--only TEXT` filters workloads by name.
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeWebGPU } from './lib/adapter.js';
import { installNodeWebGPU } from './lib/dawn.js';
import { polyfillIteratorHelpers } from './lib/iterators.js';
import { jaxLib } from './lib/jax.js';
import { runSection, type Row } from './lib/runner.js';
import { resultsSection, summary } from './lib/results.js';
import { attentionVariants, runOptions, type BenchResult } from './lib/suite.js';
import { tfjsLib } from './lib/tfjs.js';
import { webtensorLib } from './lib/webtensor.js';
import { attentionWorkload, matmulWorkload, workloads } from './lib/workloads.js';

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } } });
  const quick = a.quick ?? false;
  const out = a.out ?? process.env.OUT ?? '.';
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();
  // before TF.js's WebGPU backend and jax-js are evaluated (both are imported lazily, in their
  // libs' init): TF.js registers its backend only if navigator.gpu exists then
  polyfillIteratorHelpers();
  installNodeWebGPU();

  // the adapter as webtensor sees it: features, raised limits, the f16 tiles' check, the GEMM tiles tune.ts chose
  const info = await describeWebGPU();
  info.lines.forEach((l) => console.log(l));
  const { f16Tiles, tunings, tuningText } = info;

  // long-sequence attention (2^25 scores: 'auto' takes the fused kernels there; the variants below force each way)
  const all = [...workloads(quick), ...(quick ? [] : [matmulWorkload(2048), matmulWorkload(4096), attentionWorkload(4, 8, 1024, 64)])].filter((w) => !a.only || w.name.includes(a.only));
  const libs = [
    webtensorLib('webgpu'), webtensorLib('webgpu', { compiled: false, trainingOnly: true, label: 'webtensor (eager)' }),
    webtensorLib('webgpu', { segments: true, label: 'webtensor (segments)' }),
    // issue 22: the optimizers' parameter arenas off (one update kernel per parameter), compiled and eager
    webtensorLib('webgpu', { arenas: false, trainingOnly: true, label: 'webtensor (no arenas)' }),
    webtensorLib('webgpu', { arenas: false, compiled: false, trainingOnly: true, label: 'webtensor (eager, no arenas)' }),
    webtensorLib('webgpu', { subgroupOps: true, label: 'webtensor (subgroups)' }),
    webtensorLib('webgpu', { gemmTile: 64, matmulOnly: true, label: 'webtensor (64×64 tiles)' }),
    webtensorLib('webgpu', { gemmTile: 128, matmulOnly: true, label: 'webtensor (128×128 tiles)' }),
    ...attentionVariants('webgpu'), tfjsLib('webgpu'), jaxLib(),
  ];
  // medium matmul precision: f16 GEMM tiles, only where the device has shader-f16
  if (info.features.includes('shader-f16')) {
    libs.splice(1, 0, webtensorLib('webgpu', { matmulPrecision: 'medium', label: 'webtensor (f16 matmul)' }),
      webtensorLib('webgpu', { matmulPrecision: 'medium', gemmTile: 64, matmulOnly: true, label: 'webtensor (f16 matmul, 64×64 tiles)' }),
      webtensorLib('webgpu', { matmulPrecision: 'medium', gemmTile: 128, matmulOnly: true, label: 'webtensor (f16 matmul, 128×128 tiles)' }));
  }
  const cfg = runOptions(quick);
  const r = await runSection('webgpu', libs, all, { ...cfg, log: (l) => console.log(l) });
  const result: BenchResult = { rows: r.rows, libErrors: r.libErrors, adapter: info.adapter, environment: `Node ${process.version} + Dawn` };
  const seconds = (performance.now() - t0) / 1000;
  const date = new Date().toISOString().slice(0, 10);
  const md = resultsSection(result, { date, command: `node dist-gpu/bench-gpu.mjs${quick ? ' --quick' : ''}`, where: result.environment, cpu: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}`, seconds });
  const ceiling = ceilingTable(r.rows, out);
  writeFileSync(join(out, 'bench-gpu.md'), `features: ${info.features.join(', ')}\n\nf16 GEMM tiles in use under medium precision: ${f16Tiles}\n\nGEMM tiles (tune.ts): ${tuningText}\n\n${ceiling}${md}\n`);
  writeFileSync(join(out, 'bench-gpu.json'), JSON.stringify({ date, seconds, features: info.features, limits: info.limits, f16Tiles, tunings, ...result }, null, 1));
  console.log(`\n${ceiling}${md}`);
  for (const s of summary(result.rows)) console.log(s);
  console.log(`wrote ${join(out, 'bench-gpu.md')} and bench-gpu.json (${seconds.toFixed(0)} s)`);
}

/**
 * Each webtensor matmul rate as a fraction of PyTorch's on the same GPU (the measure),
 * when `python3 bench/gpu-ceiling.py > $OUT/ceiling.json` ran first: float32 rows against fp32
 * with TF32 off, f16-tile rows against fp16. Markdown, or '' without a ceiling.
 */
function ceilingTable(rows: readonly Row[], out: string): string {
  const file = join(out, 'ceiling.json');
  if (!existsSync(file)) return '';
  const c = JSON.parse(readFileSync(file, 'utf8')) as { device?: string; error?: string; tflops?: Record<string, Record<string, number>> };
  if (!c.tflops) return `PyTorch ceiling: ${c.error ?? 'not measured'}\n\n`;
  const lines = [`Fraction of PyTorch's matmul on the same GPU (${c.device}; bench/gpu-ceiling.py):`, '', '| workload | library | GFLOP/s | PyTorch GFLOP/s | fraction |', '|---|---|---:|---:|---:|'];
  for (const r of rows) {
    const n = /^matmul (\d+)³$/.exec(r.workload)?.[1];
    if (!n || !r.rate || !r.library.startsWith('webtensor') || !c.tflops[n]) continue;
    const kind = r.library.includes('f16') ? 'fp16' : 'fp32 (tf32 off)';
    const ref = c.tflops[n][kind] * 1000;
    lines.push(`| matmul ${n}³ | ${r.library} | ${r.rate.toFixed(0)} | ${ref.toFixed(0)} (${kind}) | ${(r.rate / ref).toFixed(3)} |`);
  }
  return `${lines.join('\n')}\n\n`;
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
