/**
 * Compiled training steps (`wt.compile`) on WebGPU (Dawn, in Node) and on the CPU backend: what a
 * replay costs. Per workload and backend, after an eager call and the two recordings, `runs`
 * replays are timed three ways: the JavaScript time of the call alone (issuing the replay: what
 * compile removes from the front end), its process CPU time, and the wall time of the call plus
 * a read of the loss. The eager step (`webtensor (eager)`) is timed the same way for reference.
 * Through the public API only, so one script times two builds for a before/after comparison
 * (bundle it against each tree and run them alternately: this VM's speed drifts from run to run).
 *
 * Run: npm run bench:compiled [-- --only TEXT] [--runs N] [--backend cpu|webgpu]
 */
import { parseArgs } from 'node:util';
import * as wt from '../src/index.js';
import { MnistCNN, MnistMLP } from '../examples/mnist.js';
import { CharGPT } from '../examples/gpt-model.js';
import { installNodeWebGPU } from './lib/dawn.js';

interface Workload {
  name: string;
  make(): { model: wt.nn.Module; x: wt.Tensor; y: wt.Tensor; loss: (x: wt.Tensor, y: wt.Tensor) => wt.Tensor };
}

const WORKLOADS: Workload[] = [
  {
    name: 'mnist-mlp b32 (Adam)',
    make: () => {
      const model = new MnistMLP();
      return { model, x: wt.randn([32, 1, 28, 28], { seed: 1 }), y: wt.randint(0, 10, [32], { seed: 2 }), loss: (x, y) => wt.F.crossEntropy(model.forward(x), y) };
    },
  },
  {
    name: 'mnist-cnn b8 (Adam)',
    make: () => {
      const model = new MnistCNN();
      return { model, x: wt.randn([8, 1, 28, 28], { seed: 3 }), y: wt.randint(0, 10, [8], { seed: 4 }), loss: (x, y) => wt.F.crossEntropy(model.forward(x), y) };
    },
  },
  {
    name: 'char-gpt b4 t32 c32×1 (AdamW)',
    make: () => {
      const model = new CharGPT({ vocabSize: 65, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32, dropout: 0 });
      return { model, x: wt.randint(0, 65, [4, 32], { seed: 5 }), y: wt.randint(0, 65, [4, 32], { seed: 6 }), loss: (x, y) => model.loss(x, y) };
    },
  },
];

interface Row { call: number[]; cpu: number[]; wall: number[] }

async function time(step: (x: wt.Tensor, y: wt.Tensor) => wt.Tensor, x: wt.Tensor, y: wt.Tensor, runs: number): Promise<Row> {
  const r: Row = { call: [], cpu: [], wall: [] };
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    const l = step(x, y);
    const t1 = performance.now();
    await l.item();
    const c1 = process.cpuUsage(c0);
    r.wall.push(performance.now() - t0);
    r.call.push(t1 - t0);
    r.cpu.push((c1.user + c1.system) / 1000);
    l.dispose();
  }
  return r;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: { only: { type: 'string' }, runs: { type: 'string', default: '30' }, backend: { type: 'string' } } });
  const runs = Number(a.runs);
  installNodeWebGPU();
  console.log('| backend | workload | variant | call ms (median) | CPU ms (median) | wall ms (median) | wall ms (min) |');
  console.log('|---|---|---|---:|---:|---:|---:|');
  for (const backend of ['webgpu', 'cpu'] as const) {
    if (a.backend && a.backend !== backend) continue;
    const be = await wt.init({ backend });
    for (const w of WORKLOADS.filter((x) => !a.only || x.name.includes(a.only))) {
      for (const compiled of [true, false]) {
        wt.manualSeed(0);
        const { model, x, y, loss } = w.make();
        const opt = model instanceof CharGPT ? new wt.optim.AdamW(model.parameters(), { lr: 1e-3 }) : new wt.optim.Adam(model.parameters(), { lr: 1e-3 });
        const body = (xb: wt.Tensor, yb: wt.Tensor) => {
          opt.zeroGrad();
          const l = loss(xb, yb);
          l.backward();
          opt.step();
          return l;
        };
        const step = compiled ? wt.compile(body) : (xb: wt.Tensor, yb: wt.Tensor) => wt.tidy(() => body(xb, yb));
        await time(step, x, y, 5); // eager, two recordings, then warm replays (kernels compiled)
        const r = await time(step, x, y, runs);
        if (compiled && (step as wt.Compiled<wt.Tensor[], wt.Tensor>).stats.replayed < runs) throw new Error(`${w.name}: the compiled step did not replay (${(step as wt.Compiled<wt.Tensor[], wt.Tensor>).reason})`);
        console.log(`| ${backend} | ${w.name} | ${compiled ? 'compiled' : 'eager'} | ${median(r.call).toFixed(2)} | ${median(r.cpu).toFixed(2)} | ${median(r.wall).toFixed(2)} | ${Math.min(...r.wall).toFixed(2)} |`);
        if (compiled) (step as wt.Compiled<wt.Tensor[], wt.Tensor>).dispose();
        opt.dispose();
        model.dispose();
        wt.dispose([x, y]);
      }
    }
    be.destroy();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
