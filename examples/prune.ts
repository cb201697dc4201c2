/**
 * Magnitude pruning of an MNIST classifier (Han et al., 2015, "Learning both Weights and
 * Connections"). LeNet-300-100 (784-300-100-10, 266k parameters) is trained, then pruned step by
 * step to 50%, 80% and 90% sparsity: at each level the weights of smallest magnitude, ranked
 * globally across the three weight matrices (biases are kept), are set to zero by a 0/1 mask,
 * and the network is fine-tuned for one epoch. The masks stay applied during fine-tuning: they
 * are re-applied to the weights after every optimizer step (Adam's moments would otherwise move
 * pruned weights off zero). Each level starts from the previous level's fine-tuned network, whose
 * pruned weights are still zero, so the masks are nested.
 *
 * It reports, at each level, the test accuracy right after pruning and after fine-tuning, and
 * the sparsity measured by counting the zero weights after fine-tuning.
 *
 * Full run: 60,000 images, batch 128; 5 epochs of Adam 1e-3, then one epoch of Adam 3e-4 per
 * level, each with a cosine decay to 0. Quick: 4,096 images, 2 epochs (Adam 3e-3), then one per
 * level. `--steps N` caps the training and each fine-tuning at N steps.
 */
import * as wt from '../src/index.js';
import { runExample, stepsToRun, type Example, type ExampleOptions } from './common.js';
import { accuracy, loadMnistData, trainLoop } from './toolkit.js';

const { nn } = wt;

/** LeNet-300-100: the fully connected network of the pruning papers. */
export class LeNet300 extends nn.Module {
  fc1 = new nn.Linear(784, 300);
  fc2 = new nn.Linear(300, 100);
  fc3 = new nn.Linear(100, 10);
  forward(x: wt.Tensor): wt.Tensor {
    return this.fc3.forward(this.fc2.forward(this.fc1.forward(x).relu()).relu());
  }
  /** the weight matrices that are pruned */
  weights(): wt.Tensor[] {
    return [this.fc1.weight, this.fc2.weight, this.fc3.weight];
  }
}

/**
 * 0/1 masks that zero the fraction `sparsity` of the weights with the smallest magnitude, ranked
 * together across `weights` (global magnitude pruning). Ties at the threshold are pruned too.
 */
export async function magnitudeMasks(weights: readonly wt.Tensor[], sparsity: number): Promise<wt.Tensor[]> {
  const values = await Promise.all(weights.map((w) => w.data()));
  const all = new Float32Array(values.reduce((s, v) => s + v.length, 0));
  let at = 0;
  for (const v of values) for (let i = 0; i < v.length; i++) all[at++] = Math.abs(v[i]);
  all.sort();
  const k = Math.round(sparsity * all.length);
  // prune |w| <= threshold: the k smallest (and any tie at the k-th)
  const threshold = k > 0 ? all[k - 1] : -1;
  return weights.map((w) => wt.keep(wt.tidy(() => w.detach().abs().gt(threshold).float())));
}

/** The fraction of the weights that are exactly zero. */
export async function sparsityOf(weights: readonly wt.Tensor[]): Promise<number> {
  let zeros = 0, total = 0;
  for (const w of weights) {
    const z = wt.tidy(() => w.eq(0).float().sum());
    zeros += await z.item();
    z.dispose();
    total += w.numel();
  }
  return zeros / total;
}

export async function trainPrune(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number> }> {
  const quick = opts.quick ?? false;
  const epochs = opts.epochs ?? (quick ? 2 : 5), batch = 128, levels = [0.5, 0.8, 0.9];
  const { train, test } = await loadMnistData(opts, quick ? { trainLimit: 4096, testLimit: 1000 } : {});
  const xTrain = wt.keep(train.images.reshape(-1, 784)), xTest = wt.keep(test.images.reshape(-1, 784));
  const yTrain = train.labels, yTest = test.labels;
  wt.dispose([train.images, test.images]);
  const loader = new wt.data.DataLoader(new wt.data.TensorDataset(xTrain, yTrain), { batchSize: batch, shuffle: true, seed: 0 });
  wt.manualSeed(0);
  const model = new LeNet300();
  const loss = ([x, y]: wt.Tensor[]) => wt.F.crossEntropy(model.forward(x), y);
  const metrics: Record<string, number> = {};

  let step = 0;
  /** Adam for `steps` steps, the learning rate decaying from `lr` to 0 by a cosine; with masks applied after each. */
  const trainFor = async (phase: string, steps: number, lr: number, masks?: wt.Tensor[]) => {
    const optimizer = new wt.optim.Adam(model.parameters(), { lr });
    const schedule = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: steps });
    const weights = model.weights();
    const afterStep = () => {
      schedule.step();
      // the masks stay applied: pruned weights are set back to zero after every step
      if (masks) wt.noGrad(() => weights.forEach((w, i) => w.mul_(masks[i])));
    };
    await trainLoop({ opts, log, phase, loader, steps, first: step, optimizer, loss, afterStep });
    step += steps;
    optimizer.dispose();
  };

  log(`prune: LeNet-300-100, ${model.numParameters().toLocaleString('en-US')} parameters (${model.weights().reduce((s, w) => s + w.numel(), 0).toLocaleString('en-US')} in the weight matrices), ${xTrain.shape[0]} training images`);
  await trainFor('train', stepsToRun(opts, epochs * loader.length), quick ? 3e-3 : 1e-3);
  const dense = await accuracy(model, xTest, yTest);
  metrics.denseAccuracy = dense;
  opts.onPoint?.('accuracy vs sparsity', 'before fine-tuning', 0, dense);
  opts.onPoint?.('accuracy vs sparsity', 'after fine-tuning', 0, dense);
  log(`prune: dense test accuracy ${(100 * dense).toFixed(2)}%`);

  for (const level of levels) {
    const pct = Math.round(100 * level);
    const masks = await magnitudeMasks(model.weights(), level);
    wt.noGrad(() => model.weights().forEach((w, i) => w.mul_(masks[i])));
    const before = await accuracy(model, xTest, yTest);
    opts.onPoint?.('accuracy vs sparsity', 'before fine-tuning', pct, before);
    await trainFor(`fine-tune ${pct}%`, stepsToRun(opts, loader.length), 3e-4, masks);
    const after = await accuracy(model, xTest, yTest);
    const measured = await sparsityOf(model.weights());
    opts.onPoint?.('accuracy vs sparsity', 'after fine-tuning', pct, after);
    log(`prune: ${pct}% — test accuracy ${(100 * before).toFixed(2)}% after pruning, ${(100 * after).toFixed(2)}% after fine-tuning; measured sparsity ${(100 * measured).toFixed(2)}%`);
    Object.assign(metrics, { [`acc${pct}Before`]: before, [`acc${pct}After`]: after, [`sparsity${pct}`]: measured });
    wt.dispose(masks);
  }
  model.dispose();
  wt.dispose([xTrain, xTest, yTrain, yTest]);
  return { metrics };
}

export const prune: Example = {
  name: 'prune',
  description: 'global magnitude pruning of an MNIST MLP to 50/80/90% sparsity with masked fine-tuning (accuracy before and after at each level)',
  run: (opts) => runExample('prune', opts, (log) => trainPrune(opts, log)),
};
