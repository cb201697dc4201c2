/**
 * A convolutional autoencoder on MNIST: strided convolutions squeeze a 28×28 digit into a
 * 4×7×7 code (196 numbers, a quarter of the pixels), transposed convolutions grow it back, and
 * fit() trains the pair end to end (inputs are their own targets). The decoder ends in pixel
 * logits trained with binary cross-entropy against the [0, 1] pixels: a sigmoid output trained
 * on MSE starts with vanishing gradients and can settle on a blank image, BCE does not. What it
 * reports is the test reconstruction MSE of sigmoid(logits), next to the MSE of always
 * answering the mean training image, and PSNR; one test digit and its reconstruction are
 * printed as ASCII art.
 *
 * Shapes: (B, 1, 28, 28) → (B, c, 14, 14) → (B, 2c, 7, 7) → code (B, 4, 7, 7) → (B, 2c, 7, 7)
 * → (B, c, 14, 14) → (B, 1, 28, 28). Napkin math for c = 16: ~88 M multiply-adds per 64 images
 * forward (two thirds in the first transposed conv), ~3x that per training step.
 */
import * as wt from '../src/index.js';
import { fitSteps, runExample, type Example, type ExampleOptions } from './common.js';

const { nn } = wt;

/** Width c (the first conv's channels; the second has 2c): 16 in a full run, 8 in a quick one. */
export class ConvAutoencoder extends nn.Module {
  encoder: wt.nn.Sequential;
  decoder: wt.nn.Sequential;
  constructor(readonly c = 16) {
    super();
    this.encoder = new nn.Sequential(
      new nn.Conv2d(1, c, 3, { stride: 2, padding: 1 }), new nn.ReLU(), // (B, c, 14, 14)
      new nn.Conv2d(c, 2 * c, 3, { stride: 2, padding: 1 }), new nn.ReLU(), // (B, 2c, 7, 7)
      new nn.Conv2d(2 * c, 4, 3, { padding: 1 }), // the code (B, 4, 7, 7)
    );
    this.decoder = new nn.Sequential(
      new nn.Conv2d(4, 2 * c, 3, { padding: 1 }), new nn.ReLU(), // (B, 2c, 7, 7)
      // kernel 3, stride 2, padding 1, outputPadding 1 exactly doubles the size: 7 → 14 → 28
      new nn.ConvTranspose2d(2 * c, c, 3, { stride: 2, padding: 1, outputPadding: 1 }), new nn.ReLU(), // (B, c, 14, 14)
      new nn.ConvTranspose2d(c, 1, 3, { stride: 2, padding: 1, outputPadding: 1 }), // logits (B, 1, 28, 28)
    );
  }
  /** x (B, 1, 28, 28) in [0, 1] → pixel logits (B, 1, 28, 28); sigmoid gives the image */
  forward(x: wt.Tensor): wt.Tensor {
    return this.decoder.forward(this.encoder.forward(x));
  }
}

/** A 28×28 image in [0, 1] as 14 lines of ASCII (two pixel rows per line). */
export function asciiDigit(px: ArrayLike<number>): string {
  const ramp = ' .:-=+*#%@';
  const lines: string[] = [];
  for (let r = 0; r < 28; r += 2) {
    let s = '';
    for (let c = 0; c < 28; c++) {
      const v = (px[r * 28 + c] + px[(r + 1) * 28 + c]) / 2;
      s += ramp[Math.min(ramp.length - 1, Math.max(0, Math.floor(v * ramp.length)))];
    }
    lines.push(s);
  }
  return lines.join('\n');
}

export async function trainAutoencoder(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number>; sample: string }> {
  const quick = opts.quick ?? false;
  const { train, test } = await wt.data.loadMnist({ ...(opts.dataDir ? { dir: opts.dataDir } : {}), ...(quick ? { trainLimit: 2048, testLimit: 512 } : {}) });
  const shape = (x: wt.Tensor) => wt.keep(wt.tidy(() => x.reshape(-1, 1, 28, 28)));
  const xTrain = shape(train.images), xTest = shape(test.images);
  const epochs = opts.epochs ?? (quick ? 2 : 3);
  const model = new ConvAutoencoder(quick ? 8 : 16);
  const optimizer = new wt.optim.Adam(model.parameters(), { lr: quick ? 1e-2 : 3e-3 });
  const sched = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs, etaMin: 1e-4 });
  // the reported metric: pixel MSE of the reconstruction (the loss is BCE on the logits)
  const mse = { name: 'mse', fn: (logits: wt.Tensor, x: wt.Tensor) => wt.F.mseLoss(logits.sigmoid(), x) };
  model.compile({ optimizer, loss: 'bceWithLogits', metrics: [mse] });
  log(`autoencoder: ${model.numParameters().toLocaleString('en-US')} parameters, ${xTrain.shape[0]} training images, code 4×7×7 = 196 values per image, ${epochs} epochs`);
  const stop = fitSteps(opts);
  await model.fit([xTrain, xTrain], {
    epochs, batchSize: 64, seed: 0,
    validationData: [xTest, xTest],
    callbacks: [new wt.train.LearningRateScheduler(sched), ...stop.callbacks], logEvery: stop.logEvery,
    verbose: opts.verbose ?? 1,
    mixedPrecision: opts.mixedPrecision,
  });
  const testMse = (await model.evaluate([xTest, xTest], { batchSize: 256 })).mse ?? NaN;
  // the baseline: every test image answered with the mean training image
  const meanMse = await wt.tidy(() => xTest.sub(xTrain.mean(0, true)).square().mean()).item();
  const psnr = -10 * Math.log10(testMse);
  log(`autoencoder: test reconstruction MSE ${testMse.toFixed(5)} (PSNR ${psnr.toFixed(1)} dB); the mean image scores ${meanMse.toFixed(5)}`);
  const one = wt.tidy(() => xTest.slice(0, 0, 1));
  const rec = wt.tidy(() => model.predict(one).sigmoid());
  const sample = `input:\n${asciiDigit(await one.data())}\nreconstruction:\n${asciiDigit(await rec.data())}`;
  wt.dispose([one, rec]);
  model.dispose();
  optimizer.dispose();
  wt.dispose([xTrain, xTest, train.images, train.labels, test.images, test.labels]);
  return { metrics: { testMse, meanImageMse: meanMse, psnr }, sample };
}

export const autoencoder: Example = {
  name: 'autoencoder',
  description: 'a convolutional autoencoder on MNIST (Conv2d / ConvTranspose2d; reconstruction MSE)',
  run: (opts) => runExample('autoencoder', opts, (log) => trainAutoencoder(opts, log)),
};
