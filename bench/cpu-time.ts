/**
 * webtensor's CPU backend timed in CPU time (process.cpuUsage) instead of wall-clock time: the
 * bench section's CPU workloads — matmul, conv2d, attention and the demo models' training steps —
 * for before/after comparisons on a machine shared with other jobs, where wall-clock medians
 * move 2–4x with the load but the CPU time an op takes moves far less.
 *
 * Reported per workload: the best and the median CPU time of the timed runs (after 3 warm-up
 * runs) and the rate of the best. One library, one process, nothing else running in it.
 *
 * Run: npx esbuild bench/cpu-time.ts --bundle --platform=node --format=esm --packages=external \
 *        --loader:.wgsl=text --outfile=node_modules/.cache/webtensor-bench/cpu-time.mjs \
 *      && node node_modules/.cache/webtensor-bench/cpu-time.mjs
 */
import * as wt from '../src/index.js';
import { CharTransformer, MnistCNN, MnistMLP } from '../demo/src/models.js';
import { attentionFlops, conv2dFlops, matmulFlops } from './lib/napkin.js';

interface Work {
  name: string;
  run: () => Promise<void> | void;
  runs: number;
  /** work per run and its unit: FLOP (shown as GFLOP/s) or steps */
  work: number;
  unit: 'GFLOP/s' | 'steps/s';
}

let seed = 7;
function rand(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 4294967296 - 0.5;
}

function randomTensor(shape: number[]): wt.Tensor {
  return wt.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand), { shape });
}

/** One SGD step of a demo model, as bench/lib/webtensor.ts runs it. */
function trainStep(kind: 'mlp' | 'cnn' | 'gpt'): () => Promise<void> {
  let model: wt.nn.Module;
  let lossOf: () => wt.Tensor;
  if (kind === 'gpt') {
    const gpt = new CharTransformer({ vocabSize: 65, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64 });
    const tokens = Int32Array.from({ length: 16 * 64 + 1 }, () => Math.floor((rand() + 0.5) * 65));
    const x = wt.tensor(tokens.slice(0, 16 * 64), { shape: [16, 64] }), y = wt.tensor(tokens.slice(1), { shape: [16, 64] });
    model = gpt;
    lossOf = () => gpt.loss(x, y);
  } else {
    const batch = kind === 'mlp' ? 128 : 32;
    const net = kind === 'mlp' ? new MnistMLP() : new MnistCNN();
    const x = randomTensor([batch, 1, 28, 28]);
    const y = wt.tensor(Int32Array.from({ length: batch }, () => Math.floor((rand() + 0.5) * 10)));
    model = net;
    lossOf = () => wt.F.crossEntropy(net.forward(x), y);
  }
  const opt = new wt.optim.SGD(model.parameters(), { lr: 0.01 });
  return async () => {
    const loss = wt.tidy(() => {
      opt.zeroGrad();
      const l = lossOf();
      l.backward();
      opt.step();
      return l;
    });
    await loss.item();
    loss.dispose();
  };
}

function workloads(): Work[] {
  const out: Work[] = [];
  for (const n of [256, 512, 1024]) {
    const a = randomTensor([n, n]), b = randomTensor([n, n]);
    out.push({ name: `matmul ${n}³`, run: () => wt.matmul(a, b).dispose(), runs: n === 1024 ? 5 : 15, work: matmulFlops(n, n, n), unit: 'GFLOP/s' });
  }
  const s = { N: 8, C: 16, O: 32, H: 32, W: 32, KH: 3, KW: 3, stride: 1, pad: 1 };
  const x = randomTensor([s.N, s.C, s.H, s.W]), k = randomTensor([s.O, s.C, s.KH, s.KW]);
  out.push({ name: 'conv2d 8×16→32 32×32 k3', run: () => wt.conv2d(x, k, null, { stride: s.stride, padding: s.pad }).dispose(), runs: 15, work: conv2dFlops(s), unit: 'GFLOP/s' });
  const [q, kk, v] = [0, 1, 2].map(() => randomTensor([2, 4, 256, 64]));
  out.push({ name: 'attention 2×4×256×64', run: () => wt.nn.scaledDotProductAttention(q, kk, v, { isCausal: true }).dispose(), runs: 15, work: attentionFlops(2, 4, 256, 64), unit: 'GFLOP/s' });
  out.push({ name: 'train mnist-mlp b128', run: trainStep('mlp'), runs: 15, work: 1, unit: 'steps/s' });
  out.push({ name: 'train mnist-cnn b32', run: trainStep('cnn'), runs: 15, work: 1, unit: 'steps/s' });
  out.push({ name: 'train char-gpt b16 t64 c64×2', run: trainStep('gpt'), runs: 8, work: 1, unit: 'steps/s' });
  return out;
}

/** CPU milliseconds (user + system, all of the process's threads) of one call. */
async function cpuMs(run: () => Promise<void> | void): Promise<number> {
  const t = process.cpuUsage();
  await run();
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1000;
}

async function main(): Promise<void> {
  await wt.init({ backend: 'cpu' });
  console.log(`webtensor CPU backend, CPU time per run (Node ${process.version})`);
  console.log('| workload | best ms | median ms | rate (best) |');
  console.log('|---|---:|---:|---:|');
  for (const w of workloads()) {
    for (let i = 0; i < 3; i++) await w.run();
    const t: number[] = [];
    for (let i = 0; i < w.runs; i++) t.push(await cpuMs(w.run));
    t.sort((a, b) => a - b);
    const best = t[0], median = t[t.length >> 1];
    const rate = w.unit === 'GFLOP/s' ? (w.work / best / 1e6).toPrecision(3) : (1000 / best).toPrecision(3);
    console.log(`| ${w.name} | ${best.toPrecision(3)} | ${median.toPrecision(3)} | ${rate} ${w.unit} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
