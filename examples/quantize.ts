/**
 * Post-training weight quantization of an MNIST model with `wt.quantize`. The model is the
 * mnist-mlp example's MLP, 784-256-128-10 (examples/mnist.ts): it is trained in float32, then
 * copies of it get all three of their Linear layers (`net.1` 784→256, `net.4` 256→128 and `net.6`
 * 128→10; every weight the model has) replaced by `QuantizedLinear`, whose weight rows are cut
 * into groups of 32 or 64 input features, each group stored as 8-bit or 4-bit integer codes with
 * one float32 scale (symmetric, no minimum). The biases stay float32. No retraining: the test
 * accuracy of each copy shows what the rounding costs, next to the bytes its weights take.
 *
 * Default run: all 60,000 training images, 4 epochs of batch 128, Adam 1e-3 with a cosine
 * decay; accuracy on the 10,000 test images at f32, int8 (groups of 64 and 32) and 4-bit (groups
 * of 64 and 32). "Agreement" is the share of test images whose predicted digit is the f32 model's.
 */
import * as wt from '../src/index.js';
import { fitSteps, runExample, type Example, type ExampleOptions } from './common.js';
import { loadMnistData } from './toolkit.js';
import { MnistMLP } from './mnist.js';

/** Bytes of the weights of the model's Linear and QuantizedLinear layers (codes and scales; biases apart). */
export function weightBytes(model: wt.nn.Module): number {
  let bytes = 0;
  for (const [, m] of model.namedModules()) {
    if (m instanceof wt.nn.Linear) bytes += m.weight.numel() * 4;
    else if (m instanceof wt.nn.QuantizedLinear) bytes += (m.qweight.numel() + m.scales.numel() + (m.mins?.numel() ?? 0)) * 4;
  }
  return bytes;
}

/** The predicted digit of each image. */
async function predictions(model: wt.nn.Module, x: wt.Tensor): Promise<Int32Array> {
  const p = wt.tidy(() => model.predict(x, { batchSize: 1000 }).argmax(-1));
  const out = await p.data() as Int32Array;
  p.dispose();
  return out;
}

export async function trainQuantize(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number>; sample: string }> {
  const quick = opts.quick ?? false;
  const { train, test } = await loadMnistData(opts, quick ? { trainLimit: 4096, testLimit: 1000 } : {});
  const prep = (x: wt.Tensor) => wt.keep(wt.tidy(() => x.reshape(-1, 1, 28, 28).sub(0.1307).div(0.3081)));
  const xTrain = prep(train.images), xTest = prep(test.images);
  const labels = await test.labels.data() as Int32Array;
  const epochs = opts.epochs ?? (quick ? 1 : 4);
  wt.manualSeed(0);
  const model = new MnistMLP();
  const optimizer = new wt.optim.Adam(model.parameters(), { lr: quick ? 2e-3 : 1e-3 });
  const sched = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs });
  model.compile({ optimizer, loss: 'crossEntropy', metrics: ['accuracy'] });
  log(`quantize: MLP 784-256-128-10 (${model.numParameters().toLocaleString('en-US')} parameters), ${xTrain.shape[0]} training images, ${epochs} epochs in float32`);
  const stop = fitSteps(opts);
  await model.fit([xTrain, train.labels], {
    epochs, batchSize: quick ? 64 : 128, seed: 0,
    callbacks: [new wt.train.LearningRateScheduler(sched), ...stop.callbacks], logEvery: stop.logEvery,
    verbose: opts.verbose ?? 1,
    mixedPrecision: opts.mixedPrecision,
  });
  const accuracy = (pred: Int32Array) => pred.reduce((n, p, i) => n + (p === labels[i] ? 1 : 0), 0) / labels.length;
  const ref = await predictions(model, xTest);
  const metrics: Record<string, number> = { f32Accuracy: accuracy(ref), f32Bytes: weightBytes(model) };
  const lines = [`${'f32'.padEnd(15)} accuracy ${(100 * metrics.f32Accuracy).toFixed(2)}%   weights ${metrics.f32Bytes.toLocaleString('en-US')} bytes`];
  const state = model.stateDict();
  for (const [bits, groupSize] of [[8, 64], [8, 32], [4, 64], [4, 32]] as const) {
    // a fresh copy of the trained model, its Linear layers then quantized in place
    const copy = new MnistMLP();
    copy.loadStateDict(state);
    await wt.quantize(copy, { bits, groupSize });
    const pred = await predictions(copy, xTest);
    const key = `int${bits}g${groupSize}`;
    metrics[`${key}Accuracy`] = accuracy(pred);
    metrics[`${key}Bytes`] = weightBytes(copy);
    metrics[`${key}Agreement`] = pred.reduce((n, p, i) => n + (p === ref[i] ? 1 : 0), 0) / pred.length;
    lines.push(`${`int${bits}, group ${groupSize}`.padEnd(15)} accuracy ${(100 * metrics[`${key}Accuracy`]).toFixed(2)}%   weights ${metrics[`${key}Bytes`].toLocaleString('en-US')} bytes (${(metrics.f32Bytes / metrics[`${key}Bytes`]).toFixed(1)}× smaller), same digit as f32 on ${(100 * metrics[`${key}Agreement`]).toFixed(2)}%`);
    copy.dispose();
  }
  for (const l of lines) log(`quantize: ${l}`);
  model.dispose();
  optimizer.dispose();
  wt.dispose([xTrain, xTest, train.images, train.labels, test.images, test.labels]);
  return { metrics, sample: lines.join('\n') };
}

export const quantize: Example = {
  name: 'quantize',
  description: 'post-training int8 / 4-bit weight quantization of the MNIST MLP (wt.quantize): accuracy and weight bytes',
  run: (opts) => runExample('quantize', opts, (log) => trainQuantize(opts, log)),
};
