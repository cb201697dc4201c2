// A two-layer MLP learns XOR with hand-written SGD: the smallest end-to-end training run.
// Run: npm start   (or: node examples/xor.mjs [--backend auto|webgpu|cpu])
import * as wt from '../dist/index.js';

const arg = process.argv.indexOf('--backend');
await wt.init({ backend: arg > 0 ? process.argv[arg + 1] : 'auto' });
wt.manualSeed(0);

const x = wt.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
const y = wt.tensor([[0], [1], [1], [0]]);
// parameters: 2 -> 8 -> 1
const w1 = wt.randn([2, 8], { seed: 1 }).mul(0.8).requiresGrad_();
const b1 = wt.zeros([8], { requiresGrad: true });
const w2 = wt.randn([8, 1], { seed: 2 }).mul(0.8).requiresGrad_();
const b2 = wt.zeros([1], { requiresGrad: true });
const params = [w1, b1, w2, b2];

const forward = (inp) => inp.matmul(w1).add(b1).tanh().matmul(w2).add(b2).sigmoid();

const lr = 1.0;
for (let step = 0; step <= 1000; step++) {
  const loss = wt.tidy(() => {
    const p = forward(x);
    // binary cross-entropy, written out
    const l = y.mul(p.log()).add(y.neg().add(1).mul(p.neg().add(1).log())).mean().neg();
    l.backward();
    return l;
  });
  wt.noGrad(() => {
    for (const p of params) {
      p.sub_(p.grad, lr);
      p.zeroGrad();
    }
  });
  if (step % 200 === 0) console.log(`step ${String(step).padStart(4)}  loss ${(await loss.item()).toFixed(4)}`);
  loss.dispose();
}

const pred = wt.noGrad(() => forward(x));
const vals = await pred.data();
console.log('predictions:', Array.from(vals, (v) => v.toFixed(3)).join(' '));
const acc = [0, 1, 1, 0].filter((t, i) => (vals[i] > 0.5 ? 1 : 0) === t).length / 4;
console.log(`accuracy: ${acc * 100}%  (backend: ${wt.getBackend().name})`);
