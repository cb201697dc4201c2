/**
 * U-Net segmentation on a generated data set: circles, rectangles and triangles drawn on noisy
 * 32×32 canvases, with a mask that gives every pixel its class (0 background, 1 circle,
 * 2 rectangle, 3 triangle). The images come from a seeded generator in this file, so every run
 * sees the same data; the test images are drawn from another seed (held out).
 *
 * The network predicts a class for every pixel. The encoder halves the image twice (max pool)
 * while doubling the channels; the decoder doubles it back with transposed convolutions, and at
 * each size concatenates the encoder's feature map of that size (the skip connection), so fine
 * detail lost in the pooling comes back:
 *
 *   (B, 1, 32, 32) ─ down1 ─ (B, c, 32, 32) ───────────────────────── concat ─ up1 ─ (B, c, 32, 32) ─ 1×1 conv ─ (B, 4, 32, 32)
 *                     pool ─ down2 ─ (B, 2c, 16, 16) ──── concat ─ up2 ─ (B, 2c, 16, 16) ─┘ ConvTranspose2d (×2)
 *                             pool ─ bottom ─ (B, 4c, 8, 8) ─┘ ConvTranspose2d (×2)
 *
 * Each "down", "bottom" and "up" is two 3×3 convolutions with batch norm and ReLU. Trained with
 * per-pixel cross-entropy. Reported: intersection over union (IoU) of each shape class on the
 * held-out images (a pixel's class: the most probable), their mean, and the IoU of "any shape"
 * against background (a pixel is in a shape where the background's probability is below 1/2). Predicting all
 * background scores 0 on every shape class.
 *
 * Default run: 4000 training and 500 test images, width c = 8, 4 epochs of batch 32, Adam 3e-3
 * with a cosine decay. The short run (--quick): 512 training and 64 test images, width 4, one
 * epoch of batch 16, Adam 1e-2; it learns where the shapes are, not yet which is which.
 */
import * as wt from '../src/index.js';
import { fitSteps, runExample, type Example, type ExampleOptions } from './common.js';
import { imageGrid } from './toolkit.js';

const { nn } = wt;

export const SHAPE_CLASSES = ['background', 'circle', 'rectangle', 'triangle'] as const;

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` canvases of size×size: a noisy background, then 1 to 3 shapes (a later one covers an
 * earlier one), each filled with its own brightness. Returns the images [n, 1, size, size]
 * (float32) and the masks [n, size, size] (int32 class per pixel).
 */
export function makeShapes(n: number, seed: number, size = 32): { images: Float32Array; masks: Int32Array } {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const images = new Float32Array(n * size * size), masks = new Int32Array(n * size * size);
  for (let i = 0; i < n; i++) {
    const img = images.subarray(i * size * size, (i + 1) * size * size), mask = masks.subarray(i * size * size, (i + 1) * size * size);
    const bg = 0.3 * r();
    const shapes = 1 + Math.floor(3 * r());
    for (let s = 0; s < shapes; s++) {
      const cls = 1 + Math.floor(3 * r());
      const cx = 6 + r() * (size - 12), cy = 6 + r() * (size - 12), rad = 4 + r() * 5;
      const level = 0.5 + 0.5 * r();
      // inside(x, y): whether the pixel centre lies in the shape
      let inside: (x: number, y: number) => boolean;
      if (cls === 1) inside = (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad;
      else if (cls === 2) {
        const hw = rad * (0.6 + 0.4 * r()), hh = rad * (0.6 + 0.4 * r());
        inside = (x, y) => Math.abs(x - cx) <= hw && Math.abs(y - cy) <= hh;
      } else {
        // three corners on a circle of radius rad, at a random rotation
        const a0 = 2 * Math.PI * r();
        const px = [0, 1, 2].map((k) => cx + 1.3 * rad * Math.cos(a0 + (2 * Math.PI * k) / 3));
        const py = [0, 1, 2].map((k) => cy + 1.3 * rad * Math.sin(a0 + (2 * Math.PI * k) / 3));
        const side = (x: number, y: number, j: number) => {
          const k = (j + 1) % 3;
          return (px[k] - px[j]) * (y - py[j]) - (py[k] - py[j]) * (x - px[j]);
        };
        inside = (x, y) => {
          const s0 = side(x, y, 0), s1 = side(x, y, 1), s2 = side(x, y, 2);
          return (s0 >= 0 && s1 >= 0 && s2 >= 0) || (s0 <= 0 && s1 <= 0 && s2 <= 0);
        };
      }
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          if (inside(x + 0.5, y + 0.5)) {
            img[y * size + x] = level;
            mask[y * size + x] = cls;
          }
        }
      }
    }
    // the background level where no shape is, then noise everywhere
    for (let p = 0; p < size * size; p++) img[p] = (mask[p] === 0 ? bg : img[p]) + 0.15 * gauss();
  }
  return { images, masks };
}

/** Two 3×3 convolutions, each followed by batch norm and ReLU; the size is kept. */
export class ConvBlock extends nn.Sequential {
  constructor(inChannels: number, outChannels: number, bnMomentum = 0.1) {
    super(
      new nn.Conv2d(inChannels, outChannels, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(outChannels, { momentum: bnMomentum }), new nn.ReLU(),
      new nn.Conv2d(outChannels, outChannels, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(outChannels, { momentum: bnMomentum }), new nn.ReLU(),
    );
  }
}

/**
 * A two-level U-Net of width c: image (B, 1, H, W) → class logits (B, classes, H, W); H and W
 * divisible by 4. `bnMomentum`: batch norm's running-statistics momentum (PyTorch's 0.1; 0.5 in
 * the short runs, whose few dozen steps are too few for a slow average to catch up).
 */
export class UNet extends nn.Module {
  down1: ConvBlock;
  down2: ConvBlock;
  bottom: ConvBlock;
  pool = new nn.MaxPool2d(2);
  // kernel 2, stride 2: each input pixel becomes a 2×2 patch, doubling the size exactly
  upconv2: wt.nn.ConvTranspose2d;
  up2: ConvBlock;
  upconv1: wt.nn.ConvTranspose2d;
  up1: ConvBlock;
  out: wt.nn.Conv2d;
  constructor(readonly c = 8, readonly classes = SHAPE_CLASSES.length, bnMomentum = 0.1) {
    super();
    this.down1 = new ConvBlock(1, c, bnMomentum);
    this.down2 = new ConvBlock(c, 2 * c, bnMomentum);
    this.bottom = new ConvBlock(2 * c, 4 * c, bnMomentum);
    this.upconv2 = new nn.ConvTranspose2d(4 * c, 2 * c, 2, { stride: 2 });
    this.up2 = new ConvBlock(4 * c, 2 * c, bnMomentum); // 2c upsampled + 2c from down2
    this.upconv1 = new nn.ConvTranspose2d(2 * c, c, 2, { stride: 2 });
    this.up1 = new ConvBlock(2 * c, c, bnMomentum); // c upsampled + c from down1
    this.out = new nn.Conv2d(c, classes, 1);
  }
  forward(x: wt.Tensor): wt.Tensor {
    const d1 = this.down1.forward(x); // (B, c, H, W)
    const d2 = this.down2.forward(this.pool.forward(d1)); // (B, 2c, H/2, W/2)
    const b = this.bottom.forward(this.pool.forward(d2)); // (B, 4c, H/4, W/4)
    const u2 = this.up2.forward(wt.cat([this.upconv2.forward(b), d2], 1)); // (B, 2c, H/2, W/2)
    const u1 = this.up1.forward(wt.cat([this.upconv1.forward(u2), d1], 1)); // (B, c, H, W)
    return this.out.forward(u1);
  }
}

/** IoU of each class (index 0 background) from predicted and true class maps. */
export function iouPerClass(pred: ArrayLike<number>, truth: ArrayLike<number>, classes: number): number[] {
  const inter = new Array<number>(classes).fill(0), union = new Array<number>(classes).fill(0);
  for (let i = 0; i < truth.length; i++) {
    const p = pred[i], t = truth[i];
    if (p === t) {
      inter[t]++;
      union[t]++;
    } else {
      union[p]++;
      union[t]++;
    }
  }
  return inter.map((v, k) => (union[k] ? v / union[k] : 1));
}

export async function trainUnet(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number>; sample: string }> {
  const quick = opts.quick ?? false;
  const size = 32, nTrain = quick ? 512 : 4000, nTest = quick ? 64 : 500;
  const tr = makeShapes(nTrain, 1, size), te = makeShapes(nTest, 2, size);
  const xTrain = wt.tensor(tr.images, { shape: [nTrain, 1, size, size] }), yTrain = wt.tensor(tr.masks, { shape: [nTrain, size, size], dtype: 'int32' });
  const xTest = wt.tensor(te.images, { shape: [nTest, 1, size, size] });
  const epochs = opts.epochs ?? (quick ? 1 : 4);
  wt.manualSeed(0);
  const model = new UNet(quick ? 4 : 8, SHAPE_CLASSES.length, quick ? 0.5 : 0.1);
  const optimizer = new wt.optim.Adam(model.parameters(), { lr: quick ? 1e-2 : 3e-3 });
  const sched = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs });
  model.compile({ optimizer, loss: 'crossEntropy' });
  log(`unet: ${model.numParameters().toLocaleString('en-US')} parameters, ${nTrain} training and ${nTest} test canvases of ${size}×${size}, ${epochs} epochs`);
  const stop = fitSteps(opts);
  await model.fit([xTrain, yTrain], {
    epochs, batchSize: quick ? 16 : 32, seed: 0,
    callbacks: [new wt.train.LearningRateScheduler(sched), ...stop.callbacks], logEvery: stop.logEvery,
    verbose: opts.verbose ?? 1,
    mixedPrecision: opts.mixedPrecision,
  });
  // the predicted class of every test pixel
  const logits = model.predict(xTest, { batchSize: 100 });
  const predT = wt.tidy(() => logits.argmax(1));
  // "any shape": the probability of background below one half (the three shape classes share the rest)
  const fgT = wt.tidy(() => logits.softmax(1).slice(1, 0, 1).squeeze(1).lt(0.5));
  const pred = await predT.data() as Int32Array, fgPred = await fgT.data();
  const ious = iouPerClass(pred, te.masks, SHAPE_CLASSES.length);
  const fg = iouPerClass(Array.from(fgPred, Number), te.masks.map((v) => (v > 0 ? 1 : 0)), 2)[1];
  const meanIou = (ious[1] + ious[2] + ious[3]) / 3;
  log(`unet: held-out IoU circle ${ious[1].toFixed(3)}, rectangle ${ious[2].toFixed(3)}, triangle ${ious[3].toFixed(3)} (mean ${meanIou.toFixed(3)}); any shape vs background ${fg.toFixed(3)}; background ${ious[0].toFixed(3)}`);
  // one test canvas, its true mask and the prediction as characters
  const ch = '.ort'; // background, circle, rectangle, triangle
  const rows: string[] = [];
  for (let y = 0; y < size; y += 2) {
    let a = '', b = '', c = '';
    for (let x = 0; x < size; x++) {
      const v = te.images[y * size + x];
      a += ' .:-=+*#%@'[Math.max(0, Math.min(9, Math.floor(v * 10)))];
      b += ch[te.masks[y * size + x]];
      c += ch[pred[y * size + x]];
    }
    rows.push(`${a}  ${b}  ${c}`);
  }
  const sample = `image${' '.repeat(size - 3)}true mask${' '.repeat(size - 7)}prediction (o circle, r rectangle, t triangle)\n${rows.join('\n')}`;
  if (opts.onImage) {
    // the first 8 test canvases, their true masks and the predicted ones (class k drawn as grey k/3)
    const n = 8, pick = (src: ArrayLike<number>, f: (v: number) => number) => Float32Array.from({ length: n * size * size }, (_, i) => f(src[i]));
    opts.onImage('test canvases', imageGrid(pick(te.images, (v) => Math.min(1, Math.max(0, v))), n, n, size));
    opts.onImage('true masks', imageGrid(pick(te.masks, (v) => v / 3), n, n, size));
    opts.onImage('predicted masks', imageGrid(pick(pred, (v) => v / 3), n, n, size));
  }
  model.dispose();
  optimizer.dispose();
  wt.dispose([xTrain, yTrain, xTest, logits, predT, fgT]);
  return { metrics: { meanIou, circleIou: ious[1], rectangleIou: ious[2], triangleIou: ious[3], foregroundIou: fg, backgroundIou: ious[0] }, sample };
}

export const unet: Example = {
  name: 'unet',
  description: 'U-Net segmentation of generated shapes (circles, rectangles, triangles) on noisy canvases; held-out IoU',
  run: (opts) => runExample('unet', opts, (log) => trainUnet(opts, log)),
};
