/** A small training setup shared by the leak tests (CPU and WebGPU). */
import * as wt from '../src/index.js';

/** A small classifier, its optimizer, scheduler and data; `step()` is one training step. */
export function trainer(seed: number) {
  wt.manualSeed(seed);
  const model = new wt.nn.Sequential(new wt.nn.Linear(4, 16), new wt.nn.BatchNorm1d(16), new wt.nn.ReLU(), new wt.nn.Dropout(0.1), new wt.nn.Linear(16, 3));
  const opt = new wt.optim.AdamW(model.parameters(), { lr: 0.01 });
  const sched = new wt.optim.lr.CosineAnnealingLR(opt, { tMax: 1000 });
  const x = wt.randn([32, 4], { seed });
  const y = wt.randint(0, 3, [32], { seed: seed + 1 });
  const step = (): wt.Tensor => wt.tidy(() => {
    opt.zeroGrad();
    const loss = wt.F.crossEntropy(model.forward(x), y, { labelSmoothing: 0.1 });
    loss.backward();
    wt.optim.clipGradNorm(model.parameters(), 5);
    opt.step();
    sched.step();
    return loss;
  });
  const dispose = () => { model.dispose(); opt.dispose(); wt.dispose([x, y]); };
  return { model, opt, x, y, step, dispose };
}
