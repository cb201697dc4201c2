/**
 * Knowledge distillation on MNIST (Hinton, Vinyals & Dean, 2015). A teacher MLP (784-512-512-10,
 * dropout) is trained on the labels; then a small student (784-32-10, 25k parameters, 27 times
 * fewer) is trained from the teacher's softened outputs, and the same student (same
 * initial weights, same batches, same steps) is trained on the labels alone. The distillation
 * loss mixes the two targets:
 *
 *   loss = α · T² · KL(softmax(teacher / T) ‖ softmax(student / T)) + (1 − α) · CE(student, label)
 *
 * with temperature T = 8 and α = 0.9. The softened outputs carry the teacher's "dark knowledge"
 * (which wrong digits look alike); T² keeps the soft term's gradients on the scale of the hard
 * term's as T changes. The teacher's logits on the training images are computed once, in eval
 * mode. It reports the three test accuracies.
 *
 * Full run: 60,000 images, batch 128; the teacher 5 epochs of Adam 1e-3 with a cosine decay to 0,
 * each student 5 epochs of Adam 2e-3. T and α were picked by a small sweep (examples/RESULTS.md).
 * Quick: 4,096 images, 2 epochs each. `--steps N` caps each of the three phases at N steps.
 */
import * as wt from '../src/index.js';
import { runExample, stepsToRun, type Example, type ExampleOptions } from './common.js';
import { accuracy, loadMnistData, trainLoop } from './toolkit.js';

const { nn } = wt;

/** An MLP 784 → hidden… → 10 (ReLU; dropout after each hidden layer when `dropout` > 0). */
export function mlp(hidden: readonly number[], dropout = 0): wt.nn.Sequential {
  const layers: wt.nn.Module[] = [];
  let width = 784;
  for (const h of hidden) {
    layers.push(new nn.Linear(width, h), new nn.ReLU());
    if (dropout > 0) layers.push(new nn.Dropout(dropout));
    width = h;
  }
  layers.push(new nn.Linear(width, 10));
  return new nn.Sequential(...layers);
}

/** The distillation loss (see the file comment) of student logits against teacher logits and labels. */
export function distillationLoss(student: wt.Tensor, teacher: wt.Tensor, labels: wt.Tensor, T: number, alpha: number): wt.Tensor {
  const soft = wt.F.klDiv(student.div(T).logSoftmax(-1), teacher.div(T).softmax(-1), { reduction: 'batchmean' }).mul(T * T);
  const hard = wt.F.crossEntropy(student, labels);
  return soft.mul(alpha).add(hard.mul(1 - alpha));
}

export async function trainDistill(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number> }> {
  const quick = opts.quick ?? false;
  const T = 8, alpha = 0.9, batch = 128;
  const epochs = opts.epochs ?? (quick ? 2 : 5);
  const { train, test } = await loadMnistData(opts, quick ? { trainLimit: 4096, testLimit: 1000 } : {});
  const xTrain = wt.keep(train.images.reshape(-1, 784)), xTest = wt.keep(test.images.reshape(-1, 784));
  const yTrain = train.labels, yTest = test.labels;
  wt.dispose([train.images, test.images]);
  const n = xTrain.shape[0];
  let step = 0;

  /** Trains `model` for the phase's epochs (capped by --steps), its test accuracy after each epoch. */
  const phase = async (name: string, model: wt.nn.Sequential, data: wt.Tensor[], lr: number, cosine: boolean, loss: (model: wt.nn.Sequential, b: wt.Tensor[]) => wt.Tensor): Promise<number> => {
    const optimizer = new wt.optim.Adam(model.parameters(), { lr });
    const schedule = cosine ? new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs }) : null;
    // the same seed for every phase: the two students see the same batches in the same order
    const loader = new wt.data.DataLoader(new wt.data.TensorDataset(...data), { batchSize: batch, shuffle: true, seed: 0 });
    let left = stepsToRun(opts, epochs * loader.length), acc = NaN;
    log(`${name}: ${model.numParameters().toLocaleString('en-US')} parameters, ${left} steps`);
    for (let e = 1; left > 0; e++) {
      const steps = Math.min(left, loader.length);
      await trainLoop({ opts, log, phase: name, loader, steps, first: step, optimizer, loss: (b) => loss(model, b) });
      step += steps;
      left -= steps;
      schedule?.step();
      acc = await accuracy(model, xTest, yTest);
      opts.onPoint?.('test accuracy', name, e, acc);
      log(`${name}: epoch ${e}, test accuracy ${(100 * acc).toFixed(2)}%`);
    }
    optimizer.dispose();
    return acc;
  };

  wt.manualSeed(0);
  const teacher = mlp([512, 512], 0.2);
  const teacherAcc = await phase('teacher', teacher, [xTrain, yTrain], 1e-3, true, (m, [x, y]) => wt.F.crossEntropy(m.forward(x), y));
  // the teacher's logits on every training image, once, without dropout
  teacher.eval();
  const parts: wt.Tensor[] = [];
  for (let i = 0; i < n; i += 1000) parts.push(wt.noGrad(() => teacher.forward(xTrain.slice(0, i, Math.min(n, i + 1000)))));
  const tLogits = wt.keep(wt.cat(parts));
  wt.dispose(parts);

  wt.manualSeed(1);
  const distilled = mlp([32]);
  const distilledAcc = await phase('distilled', distilled, [xTrain, yTrain, tLogits], 2e-3, false, (m, [x, y, t]) => distillationLoss(m.forward(x), t, y, T, alpha));
  wt.manualSeed(1); // the same initial weights
  const baseline = mlp([32]);
  const labelsAcc = await phase('labels', baseline, [xTrain, yTrain], 2e-3, false, (m, [x, y]) => wt.F.crossEntropy(m.forward(x), y));

  log(`distill: test accuracy: teacher ${(100 * teacherAcc).toFixed(2)}%, student distilled (T ${T}, α ${alpha}) ${(100 * distilledAcc).toFixed(2)}%, the same student on labels alone ${(100 * labelsAcc).toFixed(2)}%`);
  const teacherParameters = teacher.numParameters(), studentParameters = distilled.numParameters();
  for (const m of [teacher, distilled, baseline]) m.dispose();
  wt.dispose([xTrain, xTest, yTrain, yTest, tLogits]);
  return { metrics: { teacherAccuracy: teacherAcc, distilledAccuracy: distilledAcc, labelsOnlyAccuracy: labelsAcc, teacherParameters, studentParameters } };
}

export const distill: Example = {
  name: 'distill',
  description: 'knowledge distillation on MNIST: a small MLP from a larger teacher\'s softened outputs (T, KL·T²) vs on labels alone',
  run: (opts) => runExample('distill', opts, (log) => trainDistill(opts, log)),
};
