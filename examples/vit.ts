/**
 * A vision transformer (ViT) on MNIST. The image is cut into 7×7 patches (a 4×4 grid of 16
 * patches); each patch becomes a token by one linear map, done here as a convolution whose kernel
 * and stride are the patch size. A learned class token is put in front, a learned position
 * vector is added to each of the 17 tokens, and a transformer encoder (self-attention and MLP
 * blocks, pre-norm) mixes them. The class token's final vector, after a LayerNorm, goes through
 * a linear head to the 10 digits.
 *
 *   (B, 1, 28, 28) → Conv2d(1, d, 7, stride 7) → (B, d, 4, 4) → (B, 16, d) patch tokens
 *   → [class token; patches] (B, 17, d) + positions (1, 17, d)
 *   → TransformerEncoder (L layers, h heads, MLP 2d) → LayerNorm → token 0 (B, d) → Linear → (B, 10)
 *
 * Default run: d = 64, 4 heads, 3 layers; the first 30,000 training images, 3 epochs of batch
 * 128, AdamW 2e-3 (weight decay 0.05) with a cosine decay, tested on the 10,000 test images.
 * The short run (--quick): d = 32, 2 heads, 1 layer; 2,048 images, one epoch of batch 32, AdamW
 * 3e-3; 500 test images.
 */
import * as wt from '../src/index.js';
import { fitSteps, runExample, type Example, type ExampleOptions } from './common.js';
import { loadMnistData } from './toolkit.js';

const { nn } = wt;

export interface VitConfig {
  /** side of a square patch; the image side must be a multiple of it */
  patch: number;
  /** token width */
  dim: number;
  heads: number;
  layers: number;
  imageSize?: number;
  classes?: number;
}

export class VisionTransformer extends nn.Module {
  patchEmbed: wt.nn.Conv2d;
  clsToken: wt.Tensor;
  posEmbed: wt.Tensor;
  encoder: wt.nn.TransformerEncoder;
  norm: wt.nn.LayerNorm;
  head: wt.nn.Linear;
  readonly numPatches: number;
  constructor(readonly cfg: VitConfig) {
    super();
    const { patch, dim, heads, layers, imageSize = 28, classes = 10 } = cfg;
    this.numPatches = (imageSize / patch) ** 2;
    // one linear map per patch: a convolution with kernel = stride = patch size
    this.patchEmbed = new nn.Conv2d(1, dim, patch, { stride: patch });
    // learned: the class token (one vector) and a position vector per token
    this.clsToken = nn.parameter(nn.init.normal(wt.zeros([1, 1, dim]), 0, 0.02));
    this.posEmbed = nn.parameter(nn.init.normal(wt.zeros([1, this.numPatches + 1, dim]), 0, 0.02));
    this.encoder = new nn.TransformerEncoder(() => new nn.TransformerEncoderLayer(dim, heads, {
      dimFeedforward: 2 * dim, dropout: 0, activation: 'gelu', normFirst: true, batchFirst: true,
    }), layers);
    this.norm = new nn.LayerNorm(dim);
    this.head = new nn.Linear(dim, classes);
  }
  /** images (B, 1, 28, 28) → logits (B, 10) */
  forward(x: wt.Tensor): wt.Tensor {
    const B = x.shape[0], d = this.cfg.dim;
    const patches = this.patchEmbed.forward(x).reshape(B, d, this.numPatches).transpose(1, 2); // (B, 16, d)
    const tokens = wt.cat([this.clsToken.expand(B, 1, d), patches], 1).add(this.posEmbed); // (B, 17, d)
    const out = this.norm.forward(this.encoder.forward(tokens)); // (B, 17, d)
    return this.head.forward(out.select(1, 0)); // the class token's vector → (B, 10)
  }
}

export async function trainVit(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number> }> {
  const quick = opts.quick ?? false;
  const { train, test } = await loadMnistData(opts, { trainLimit: quick ? 2048 : 30000, testLimit: quick ? 500 : 10000 });
  const prep = (x: wt.Tensor) => wt.keep(wt.tidy(() => x.reshape(-1, 1, 28, 28).sub(0.1307).div(0.3081)));
  const xTrain = prep(train.images), xTest = prep(test.images);
  const epochs = opts.epochs ?? (quick ? 1 : 3);
  const cfg: VitConfig = quick ? { patch: 7, dim: 32, heads: 2, layers: 1 } : { patch: 7, dim: 64, heads: 4, layers: 3 };
  const batchSize = quick ? 32 : 128;
  wt.manualSeed(0);
  const model = new VisionTransformer(cfg);
  const optimizer = new wt.optim.AdamW(model.parameters(), { lr: quick ? 3e-3 : 2e-3, weightDecay: 0.05 });
  const sched = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs });
  model.compile({ optimizer, loss: 'crossEntropy', metrics: ['accuracy'] });
  log(`vit: ${model.numParameters().toLocaleString('en-US')} parameters (patch ${cfg.patch}, ${model.numPatches} patches + class token, width ${cfg.dim}, ${cfg.heads} heads, ${cfg.layers} layers), ${xTrain.shape[0]} training images, ${epochs} epochs of batch ${batchSize}`);
  const stop = fitSteps(opts);
  await model.fit([xTrain, train.labels], {
    epochs, batchSize, seed: 0,
    callbacks: [new wt.train.LearningRateScheduler(sched), ...stop.callbacks], logEvery: stop.logEvery,
    verbose: opts.verbose ?? 1,
    mixedPrecision: opts.mixedPrecision,
  });
  const r = await model.evaluate([xTest, test.labels], { batchSize: 500 });
  log(`vit: test accuracy ${(100 * (r.acc ?? 0)).toFixed(2)}%`);
  model.dispose();
  optimizer.dispose();
  wt.dispose([xTrain, xTest, train.images, train.labels, test.images, test.labels]);
  return { metrics: { testAccuracy: r.acc ?? NaN, testLoss: r.loss ?? NaN } };
}

export const vit: Example = {
  name: 'vit',
  description: 'a vision transformer on MNIST (7×7 patches, class token, learned positions, transformer encoder)',
  run: (opts) => runExample('vit', opts, (log) => trainVit(opts, log)),
};
