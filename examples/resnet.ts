/**
 * A small residual network (ResNet) on MNIST, trained next to a plain CNN of the same depth with
 * the same layers, the same optimizer, the same data in the same order and the same number of
 * steps: the only difference is the shortcut connections. Both test accuracies are reported.
 *
 * A residual block computes y = relu(F(x) + shortcut(x)): F is two 3×3 convolutions with batch
 * norm, the shortcut is x itself (identity) when the shape is kept, or a 1×1 convolution with
 * stride 2 and batch norm (projection) when the block halves the image and changes the channels.
 * The gradient reaches early layers through the "+" undamped, which is what lets very deep
 * residual networks train where plain ones stall.
 *
 * Shapes with width c (8 by default):
 *   (B, 1, 28, 28) stem conv → (B, c, 28, 28)
 *   → block(c → c)           → (B, c, 28, 28)    identity shortcut
 *   → block(c → 2c, stride 2) → (B, 2c, 14, 14)  projection shortcut
 *   → block(2c → 4c, stride 2) → (B, 4c, 7, 7)   projection shortcut
 *   → global average pool → (B, 4c) → Linear → (B, 10)
 * That is 7 convolutions and one linear layer on the main path (the two 1×1 projections sit
 * beside it, on the shortcuts); the plain net has the same main path and no shortcuts.
 *
 * Default run: the first 12,000 training images, 3 epochs (282 steps of 128) for each network,
 * Adam 3e-3 with a cosine decay (per epoch), tested on the 10,000 test images. The short run
 * (--quick): 1,024 images, one epoch of batch 32, width 4, Adam 1e-2, 500 test images.
 */
import * as wt from '../src/index.js';
import { fitSteps, runExample, type Example, type ExampleOptions } from './common.js';
import { loadMnistData } from './toolkit.js';

const { nn } = wt;

/** conv 3×3 → batch norm → relu → conv 3×3 → batch norm, plus the shortcut, then relu. */
export class BasicBlock extends nn.Module {
  conv1: wt.nn.Conv2d;
  bn1: wt.nn.BatchNorm2d;
  conv2: wt.nn.Conv2d;
  bn2: wt.nn.BatchNorm2d;
  /** null: identity shortcut; else a 1×1 projection (stride and channels of the block) */
  shortcut: wt.nn.Sequential | null;
  constructor(inChannels: number, outChannels: number, stride = 1, readonly residual = true, bnMomentum = 0.1) {
    super();
    const bn = (ch: number) => new nn.BatchNorm2d(ch, { momentum: bnMomentum });
    // the convolutions feed a batch norm, which has its own shift: no bias needed
    this.conv1 = new nn.Conv2d(inChannels, outChannels, 3, { stride, padding: 1, bias: false });
    this.bn1 = bn(outChannels);
    this.conv2 = new nn.Conv2d(outChannels, outChannels, 3, { padding: 1, bias: false });
    this.bn2 = bn(outChannels);
    const reshapes = stride !== 1 || inChannels !== outChannels;
    this.shortcut = residual && reshapes ? new nn.Sequential(new nn.Conv2d(inChannels, outChannels, 1, { stride, bias: false }), bn(outChannels)) : null;
  }
  forward(x: wt.Tensor): wt.Tensor {
    const out = this.bn2.forward(this.conv2.forward(this.bn1.forward(this.conv1.forward(x)).relu()));
    if (!this.residual) return out.relu(); // the plain network: no shortcut at all
    const skip = this.shortcut ? this.shortcut.forward(x) : x;
    return out.add(skip).relu();
  }
}

/**
 * The stem, three blocks and the head; `residual: false` gives the plain CNN of the same depth.
 * `bnMomentum`: how fast batch norm's running statistics (used at test time) follow the batches;
 * PyTorch's 0.1 by default, 0.5 in the short runs, whose weights change too fast in their few
 * dozen steps for a slow average to keep up.
 */
export class SmallResNet extends nn.Module {
  stem: wt.nn.Sequential;
  blocks: wt.nn.Sequential;
  head: wt.nn.Sequential;
  constructor(readonly c = 8, readonly residual = true, bnMomentum = 0.1) {
    super();
    this.stem = new nn.Sequential(new nn.Conv2d(1, c, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(c, { momentum: bnMomentum }), new nn.ReLU()); // (B, c, 28, 28)
    this.blocks = new nn.Sequential(
      new BasicBlock(c, c, 1, residual, bnMomentum), // (B, c, 28, 28)
      new BasicBlock(c, 2 * c, 2, residual, bnMomentum), // (B, 2c, 14, 14)
      new BasicBlock(2 * c, 4 * c, 2, residual, bnMomentum), // (B, 4c, 7, 7)
    );
    this.head = new nn.Sequential(new nn.AdaptiveAvgPool2d(1), new nn.Flatten(), new nn.Linear(4 * c, 10));
  }
  forward(x: wt.Tensor): wt.Tensor {
    return this.head.forward(this.blocks.forward(this.stem.forward(x)));
  }
}

/** Trains one network with fit() and returns its test accuracy and loss. */
async function trainOne(name: string, model: wt.nn.Module, data: { xTrain: wt.Tensor; yTrain: wt.Tensor; xTest: wt.Tensor; yTest: wt.Tensor }, epochs: number, batchSize: number, opts: ExampleOptions, reportSteps: boolean, log: (s: string) => void) {
  const optimizer = new wt.optim.Adam(model.parameters(), { lr: opts.quick ? 1e-2 : 3e-3 });
  const sched = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs });
  model.compile({ optimizer, loss: 'crossEntropy', metrics: ['accuracy'] });
  log(`${name}: ${model.numParameters().toLocaleString('en-US')} parameters`);
  // --steps caps both networks; onStep reports the ResNet's steps (the first of the two runs)
  const stop = fitSteps(reportSteps ? opts : { steps: opts.steps });
  // seed 0 for both: the same batches in the same order
  await model.fit([data.xTrain, data.yTrain], {
    epochs, batchSize, seed: 0,
    callbacks: [new wt.train.LearningRateScheduler(sched), ...stop.callbacks], logEvery: stop.logEvery,
    verbose: opts.verbose ?? 1,
    mixedPrecision: opts.mixedPrecision,
  });
  const r = await model.evaluate([data.xTest, data.yTest], { batchSize: 500 });
  log(`${name}: test accuracy ${(100 * (r.acc ?? 0)).toFixed(2)}%`);
  model.dispose();
  optimizer.dispose();
  return { acc: r.acc ?? NaN, loss: r.loss ?? NaN };
}

export async function trainResnet(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number> }> {
  const quick = opts.quick ?? false;
  const { train, test } = await loadMnistData(opts, { trainLimit: quick ? 1024 : 12000, testLimit: quick ? 500 : 10000 });
  const prep = (x: wt.Tensor) => wt.keep(wt.tidy(() => x.reshape(-1, 1, 28, 28).sub(0.1307).div(0.3081)));
  const data = { xTrain: prep(train.images), yTrain: train.labels, xTest: prep(test.images), yTest: test.labels };
  const epochs = opts.epochs ?? (quick ? 1 : 3);
  const c = quick ? 4 : 8, batchSize = quick ? 32 : 128, bnMomentum = quick ? 0.5 : 0.1;
  log(`resnet: ${data.xTrain.shape[0]} training images, ${epochs} epochs of batch ${batchSize} for each network, width ${c}`);
  // the same initial random stream for both (their layers differ only by the shortcuts)
  wt.manualSeed(0);
  const res = await trainOne('resnet', new SmallResNet(c, true, bnMomentum), data, epochs, batchSize, opts, true, log);
  wt.manualSeed(0);
  const plain = await trainOne('plain cnn', new SmallResNet(c, false, bnMomentum), data, epochs, batchSize, opts, false, log);
  log(`resnet: ${(100 * res.acc).toFixed(2)}% vs the plain CNN of the same depth: ${(100 * plain.acc).toFixed(2)}%`);
  wt.dispose([data.xTrain, data.xTest, train.images, train.labels, test.images, test.labels]);
  return { metrics: { resnetAccuracy: res.acc, plainAccuracy: plain.acc, resnetLoss: res.loss, plainLoss: plain.loss } };
}

export const resnet: Example = {
  name: 'resnet',
  description: 'a small ResNet (basic blocks, batch norm, identity/projection shortcuts) vs a plain CNN of the same depth on MNIST',
  run: (opts) => runExample('resnet', opts, (log) => trainResnet(opts, log)),
};
