/**
 * Kernel compile cost of a training step on WebGPU in Node (Dawn): how many pipelines the first
 * step of each workload compiles, the milliseconds spent compiling them, the WGSL bytes, the
 * first step's wall time, and the second step's (which should compile nothing), with eager fusion
 * on (the default) and off. Each workload runs on a fresh device, so nothing is cached before
 * its first step.
 *
 * Workloads: the 30-link chain of issue 19 (30 × (mul, add, tanh) on [64, 64], backward), the
 * examples' models at their small sizes (mnist-mlp and mnist-cnn at batch 128 with Adam, char-gpt's
 * quick preset with AdamW) on random data of the examples' shapes, and the first step of a
 * compiled function after 97 pending results were left over.
 *
 * Run: npm run bench:compile [-- --only TEXT] [--write]
 * (--write adds a dated section to bench/RESULTS.md, replacing one of the same day and adapter.)
 */
import { parseArgs } from 'node:util';
import * as wt from '../src/index.js';
import { MnistCNN, MnistMLP } from '../examples/mnist.js';
import { CharGPT } from '../examples/gpt-model.js';
import { installNodeWebGPU, describeAdapter, adapterLabel } from './lib/dawn.js';
import { fmt, table, today, upsertSection } from './lib/report.js';
import { classifierStep } from './lib/train-step.js';

interface Workload {
  name: string;
  /** builds the model and returns one training step (awaits its loss) and a cleanup */
  setup(): { step: () => Promise<void>; done: () => void };
}


const ce = (m: wt.nn.Module, x: wt.Tensor, y: wt.Tensor) => wt.F.crossEntropy(m.forward(x) as wt.Tensor, y);

const WORKLOADS: Workload[] = [
  {
    name: 'chain 30 × (mul, add, tanh) [64,64], backward',
    setup: () => {
      const x = wt.randn([64, 64], { seed: 1 }).requiresGrad_();
      return {
        step: async () => {
          wt.tidy(() => {
            let h = x;
            for (let i = 0; i < 30; i++) h = h.mul(1.01).add(0.1).tanh();
            h.sum().backward();
          });
          await x.grad!.data();
          x.zeroGrad();
        },
        done: () => x.dispose(),
      };
    },
  },
  {
    name: 'mnist-mlp, batch 128, Adam',
    setup: () => {
      const model = new MnistMLP();
      const x = wt.randn([128, 1, 28, 28], { seed: 2 }), y = wt.randint(0, 10, [128], { seed: 3 });
      return classifierStep(model, x, y, new wt.optim.Adam(model.parameters(), { lr: 1e-3 }), ce);
    },
  },
  {
    name: 'mnist-cnn, batch 128, Adam',
    setup: () => {
      const model = new MnistCNN();
      const x = wt.randn([128, 1, 28, 28], { seed: 2 }), y = wt.randint(0, 10, [128], { seed: 3 });
      return classifierStep(model, x, y, new wt.optim.Adam(model.parameters(), { lr: 3e-3 }), ce);
    },
  },
  {
    name: 'char-gpt quick (1 layer, C 32, B 16 × T 32), AdamW',
    setup: () => {
      const cfg = { vocabSize: 65, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32, dropout: 0 };
      const model = new CharGPT(cfg);
      const x = wt.randint(0, 65, [16, 32], { seed: 4 }), y = wt.randint(0, 65, [16, 32], { seed: 5 });
      const opt = new wt.optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.1 });
      return classifierStep(model, x, y, opt, (m, a, b) => (m as CharGPT).loss(a, b));
    },
  },
  {
    name: 'wt.compile (warm-up and 2 recordings), 97 pending results left over',
    setup: () => {
      const x = wt.randn([256], { seed: 6 });
      const w = wt.randn([256], { seed: 7 }).requiresGrad_();
      const left: wt.Tensor[] = [];
      const f = wt.compile((a: wt.Tensor) => {
        const l = a.mul(w).tanh().sum();
        l.backward();
        return l;
      });
      return {
        step: async () => {
          let h = x;
          for (let i = 0; i < 97; i++) left.push((h = i % 3 === 0 ? h.mul(1.01) : i % 3 === 1 ? h.add(0.5) : h.tanh()));
          // the warm-up call runs eagerly; the recordings compute every pending result first
          for (let i = 0; i < 3; i++) {
            const l = f(x);
            await l.item();
            l.dispose();
          }
          wt.dispose(left.splice(0));
        },
        done: () => {
          f.dispose();
          wt.dispose([x, w]);
        },
      };
    },
  },
];

interface Row {
  workload: string;
  fusion: boolean;
  compiled: number;
  compileMs: number;
  kb: number;
  firstMs: number;
  again: number;
  secondMs: number;
}

async function measure(w: Workload, fusion: boolean): Promise<Row> {
  // a fresh device: an empty pipeline cache
  const backend = await wt.init({ backend: 'webgpu' });
  wt.setFusion(fusion);
  const c = w.setup();
  const s0 = wt.kernelStats();
  let t = performance.now();
  await c.step();
  const firstMs = performance.now() - t;
  const s1 = wt.kernelStats();
  t = performance.now();
  await c.step();
  const secondMs = performance.now() - t;
  const s2 = wt.kernelStats();
  c.done();
  wt.setFusion('auto');
  backend.destroy();
  return {
    workload: w.name, fusion, compiled: s1.compiled - s0.compiled, compileMs: s1.compileMs - s0.compileMs,
    kb: (s1.sourceBytes - s0.sourceBytes) / 1024, firstMs, again: s2.compiled - s1.compiled, secondMs,
  };
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: { only: { type: 'string' }, write: { type: 'boolean', default: false } } });
  const gpu = installNodeWebGPU();
  const adapter = await describeAdapter(gpu);
  const label = adapter ? adapterLabel(adapter) : 'no adapter';
  console.log(`compile cost of a training step · ${label} · Node ${process.version}`);
  const rows: Row[] = [];
  for (const w of WORKLOADS.filter((x) => !a.only || x.name.includes(a.only))) {
    for (const fusion of [true, false]) {
      const r = await measure(w, fusion);
      rows.push(r);
      console.log(`${r.workload} · fusion ${fusion ? 'on' : 'off'}: ${r.compiled} pipelines, ${fmt(r.compileMs)} ms compiling, ${fmt(r.kb)} KB WGSL; first step ${fmt(r.firstMs)} ms, second ${fmt(r.secondMs)} ms (${r.again} more)`);
    }
  }
  const text = table(
    ['workload', 'fusion', 'pipelines (1st step)', 'compile ms', 'WGSL KB', '1st step ms', '2nd step ms', 'pipelines (2nd)'],
    rows.map((r) => [r.workload, r.fusion ? 'on' : 'off', String(r.compiled), fmt(r.compileMs), fmt(r.kb), fmt(r.firstMs), fmt(r.secondMs), String(r.again)]),
    [false, false, true, true, true, true, true, true],
  );
  console.log(`\n${text}`);
  if (a.write) upsertSection('bench/RESULTS.md', `Kernel compile cost of a training step — ${today()} — ${label}`, `\`npm run bench:compile\` (bench/compile-cost.ts), Node ${process.version}\n\n${text}\n`);
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
