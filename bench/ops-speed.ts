/**
 * Wall time of a few ops and training steps on WebGPU in Node (Dawn), through the public API
 * only, so that the same script times two builds for a before/after comparison (bundle it against
 * each tree; run them alternately on the same machine, which on a shared VM varies by tens of
 * percent from run to run).
 *
 * One run = the op (or step) and a read of one element of its result; median and min of the
 * timed runs after warm-up runs that also compile its kernels, in wall time and in the process's
 * CPU time (process.cpuUsage, all threads: on a software adapter the GPU's work runs on this
 * process's threads, and CPU time moves far less than wall time with other jobs' load).
 * Elementwise ops run unfused (wt.setFusion(false)) so each is one kernel; the training steps run
 * eagerly with fusion on.
 *
 * Run: npm run bench:ops [-- --only TEXT] [--runs N]
 */
import { parseArgs } from 'node:util';
import * as wt from '../src/index.js';
import { MnistMLP } from '../examples/mnist.js';
import { CharGPT } from '../examples/gpt-model.js';
import { installNodeWebGPU } from './lib/dawn.js';
import { classifierStep } from './lib/train-step.js';

interface Case {
  name: string;
  /** napkin work per run for a rate column (bytes moved), or 0 */
  bytes: number;
  setup(): { run: () => Promise<void>; done: () => void };
}

/** Reads one element: the run's sync point. */
async function sync(t: wt.Tensor): Promise<void> {
  const one = t.reshape([-1]).slice(0, 0, 1);
  await one.data();
  one.dispose();
}

function unary(name: string, n: number, op: (x: wt.Tensor) => wt.Tensor, lo = 0.1, hi = 10): Case {
  return {
    name, bytes: 8 * n,
    setup: () => {
      const x = wt.rand([n], { seed: 1 }).mul(hi - lo).add(lo);
      return {
        run: async () => {
          wt.setFusion(false);
          const y = op(x);
          wt.setFusion('auto');
          await sync(y);
          y.dispose();
        },
        done: () => x.dispose(),
      };
    },
  };
}

function rows(name: string, shape: number[], f: (x: wt.Tensor) => wt.Tensor, grad: boolean, bytes: number): Case {
  return {
    name, bytes,
    setup: () => {
      const x = wt.randn(shape, { seed: 2 }).mul(0.05).add(1000);
      const xg = grad ? x.detach().requiresGrad_() : x;
      return {
        run: async () => {
          const y = f(xg);
          if (grad) {
            wt.tidy(() => y.square().sum().backward());
            await sync(xg.grad!);
            xg.zeroGrad();
          } else await sync(y);
          y.dispose();
        },
        done: () => wt.dispose([x, xg]),
      };
    },
  };
}

function trainStep(name: string, make: () => { model: wt.nn.Module; x: wt.Tensor; y: wt.Tensor; loss: (m: wt.nn.Module, x: wt.Tensor, y: wt.Tensor) => wt.Tensor }): Case {
  return {
    name, bytes: 0,
    setup: () => {
      const { model, x, y, loss } = make();
      const s = classifierStep(model, x, y, new wt.optim.Adam(model.parameters(), { lr: 1e-3 }), loss);
      return { run: s.step, done: s.done };
    },
  };
}

const N = 1 << 20;
const CASES: Case[] = [
  unary('exp [1M]', N, (x) => x.neg().exp()),
  unary('log [1M]', N, (x) => x.log()),
  unary('pow 2.5 [1M]', N, (x) => x.pow(2.5)),
  unary('sigmoid [1M]', N, (x) => x.sigmoid(), -10, 10),
  rows('softmax [256,512]', [256, 512], (x) => x.sub(1000).softmax(-1), false, 12 * 256 * 512),
  rows('layerNorm [256,512]', [256, 512], (x) => wt.layerNorm(x, [512]), false, 16 * 256 * 512),
  rows('layerNorm [256,512] fwd+bwd', [256, 512], (x) => wt.layerNorm(x, [512]), true, 0),
  rows('batchNorm [64,16,14,14] fwd+bwd', [64, 16, 14, 14], (x) => wt.batchNorm(x, null, null, null, null, { training: true }), true, 0),
  {
    name: 'chain 30 × (mul, add, tanh) [64,64] fwd+bwd', bytes: 0,
    setup: () => {
      const x = wt.randn([64, 64], { seed: 3 }).requiresGrad_();
      return {
        run: async () => {
          wt.tidy(() => {
            let h = x;
            for (let i = 0; i < 30; i++) h = h.mul(1.01).add(0.1).tanh();
            h.sum().backward();
          });
          await sync(x.grad!);
          x.zeroGrad();
        },
        done: () => x.dispose(),
      };
    },
  },
  trainStep('mnist-mlp step (batch 128, Adam, eager)', () => ({
    model: new MnistMLP(), x: wt.randn([128, 1, 28, 28], { seed: 4 }), y: wt.randint(0, 10, [128], { seed: 5 }),
    loss: (m, x, y) => wt.F.crossEntropy(m.forward(x) as wt.Tensor, y),
  })),
  trainStep('char-gpt quick step (B 16 × T 32, C 32, eager)', () => ({
    model: new CharGPT({ vocabSize: 65, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32, dropout: 0 }),
    x: wt.randint(0, 65, [16, 32], { seed: 6 }), y: wt.randint(0, 65, [16, 32], { seed: 7 }),
    loss: (m, x, y) => (m as CharGPT).loss(x, y),
  })),
];

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: { only: { type: 'string' }, runs: { type: 'string', default: '7' } } });
  const runs = Number(a.runs);
  installNodeWebGPU();
  await wt.init({ backend: 'webgpu' });
  console.log('| case | median ms | min ms | median CPU ms | min CPU ms | GB/s (min) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const c of CASES.filter((x) => !a.only || x.name.includes(a.only))) {
    const s = c.setup();
    for (let i = 0; i < 2; i++) await s.run();
    const t: number[] = [], cpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now(), c0 = process.cpuUsage();
      await s.run();
      const c1 = process.cpuUsage(c0);
      t.push(performance.now() - t0);
      cpu.push((c1.user + c1.system) / 1000);
    }
    s.done();
    t.sort((x, y) => x - y);
    cpu.sort((x, y) => x - y);
    const rate = c.bytes ? (c.bytes / (t[0] / 1000) / 1e9).toFixed(2) : '';
    const mid = (v: number[]) => v[v.length >> 1].toFixed(1);
    console.log(`| ${c.name} | ${mid(t)} | ${t[0].toFixed(1)} | ${mid(cpu)} | ${cpu[0].toFixed(1)} | ${rate} |`);
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
