/**
 * A variational autoencoder on MNIST (Kingma & Welling, 2013). The encoder maps a digit to the
 * mean and log-variance of a Gaussian over a 20-dimensional code z; z is drawn by the
 * reparameterisation z = mean + exp(logVar / 2) · ε with ε ~ N(0, 1) from wt.randn, so the
 * gradient flows through the draw; the decoder maps z to 784 pixel logits of a Bernoulli
 * decoder. The loss is the negative ELBO per image, in nats:
 *
 *   −ELBO = E_q[−log p(x | z)] + KL(q(z | x) ‖ N(0, I))
 *         = BCE(logits, x) summed over the pixels + ½ Σ (mean² + exp(logVar) − 1 − logVar)
 *
 * (the Bernoulli likelihood of grey levels in [0, 1], as in the paper's MNIST runs, so it is a
 * bound on that likelihood, not on the binarised digits'). It reports the test −ELBO (one draw of
 * ε per image) next to a trivial baseline, the per-pixel Bernoulli of the mean training image,
 * and writes 64 samples decoded from z ~ N(0, I) and 16 test digits with their reconstructions
 * as PNG files in --out-dir (default ./vae-out).
 *
 * Shapes: x (B, 784) → (B, 400) → mean, logVar (B, 20) → z (B, 20) → (B, 400) → logits (B, 784).
 * Full run: 60,000 images, 10 epochs of batch 128, Adam 1e-3. Quick: 2,048 images, 3 epochs of 64, Adam 3e-3.
 */
import * as wt from '../src/index.js';
import { runExample, stepsToRun, type Example, type ExampleOptions } from './common.js';
import { imageGrid, loadMnistData, saveImages, type GrayImage } from './toolkit.js';

const { nn } = wt;

export class VAE extends nn.Module {
  encoder: wt.nn.Sequential;
  toMean: wt.nn.Linear;
  toLogVar: wt.nn.Linear;
  decoder: wt.nn.Sequential;
  constructor(readonly hidden = 400, readonly latent = 20) {
    super();
    this.encoder = new nn.Sequential(new nn.Linear(784, hidden), new nn.ReLU());
    this.toMean = new nn.Linear(hidden, latent);
    this.toLogVar = new nn.Linear(hidden, latent);
    this.decoder = new nn.Sequential(new nn.Linear(latent, hidden), new nn.ReLU(), new nn.Linear(hidden, 784));
  }
  /** x (B, 784) in [0, 1] → the Gaussian q(z | x): mean and log-variance (B, latent) */
  encode(x: wt.Tensor): { mean: wt.Tensor; logVar: wt.Tensor } {
    const h = this.encoder.forward(x);
    return { mean: this.toMean.forward(h), logVar: this.toLogVar.forward(h) };
  }
  /** z (B, latent) → pixel logits (B, 784); sigmoid gives the image */
  decode(z: wt.Tensor): wt.Tensor {
    return this.decoder.forward(z);
  }
  /** the reconstruction from the code's mean (no noise): pixel logits */
  forward(x: wt.Tensor): wt.Tensor {
    return this.decode(this.encode(x).mean);
  }
  /**
   * The negative ELBO per image (nats) of the batch x, with the noise ε (B, latent), and its two
   * parts: the reconstruction term and the KL term.
   */
  negElbo(x: wt.Tensor, eps: wt.Tensor): { loss: wt.Tensor; rec: wt.Tensor; kl: wt.Tensor } {
    const B = x.shape[0];
    const { mean, logVar } = this.encode(x);
    const z = mean.add(logVar.mul(0.5).exp().mul(eps)); // the reparameterisation
    const rec = wt.F.bceWithLogits(this.decode(z), x, { reduction: 'sum' }).div(B);
    const kl = mean.square().add(logVar.exp()).sub(1).sub(logVar).sum().mul(0.5).div(B);
    return { loss: rec.add(kl), rec, kl };
  }
}

export async function trainVae(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number>; files: string[] }> {
  const quick = opts.quick ?? false;
  const { train, test } = await loadMnistData(opts, quick ? { trainLimit: 2048, testLimit: 512 } : {});
  const xTrain = wt.keep(train.images.reshape(-1, 784)), xTest = wt.keep(test.images.reshape(-1, 784));
  wt.dispose([train.images, train.labels, test.images, test.labels]);
  const epochs = opts.epochs ?? (quick ? 3 : 10), batch = quick ? 64 : 128;
  wt.manualSeed(0);
  const model = new VAE();
  const optimizer = new wt.optim.Adam(model.parameters(), { lr: quick ? 3e-3 : 1e-3 });
  const loader = new wt.data.DataLoader(new wt.data.TensorDataset(xTrain), { batchSize: batch, shuffle: true, seed: 0 });
  const run = stepsToRun(opts, epochs * loader.length);
  log(`vae: ${model.numParameters().toLocaleString('en-US')} parameters, ${xTrain.shape[0]} training images, latent ${model.latent}, ${epochs} epochs of batch ${batch} (${run} steps)`);

  // the pictures: decoded from fixed draws of z ~ N(0, I), and test digits above their reconstructions
  const zFixed = wt.keep(wt.randn([64, model.latent], { seed: 1234 }));
  const shown = wt.keep(xTest.slice(0, 0, 16));
  const pictures = async (): Promise<Record<string, GrayImage>> => {
    const out = wt.noGrad(() => wt.tidy(() => wt.cat([model.decode(zFixed).sigmoid(), model.forward(shown).sigmoid(), shown])));
    const v = await out.data();
    out.dispose();
    const rec = new Float32Array(32 * 784);
    for (let r = 0; r < 2; r++) for (let c = 0; c < 8; c++) {
      const k = r * 8 + c;
      rec.set(v.subarray((64 + 16 + k) * 784, (64 + 17 + k) * 784), (r * 16 + c) * 784); // the digit
      rec.set(v.subarray((64 + k) * 784, (65 + k) * 784), (r * 16 + 8 + c) * 784); // below it, the reconstruction
    }
    return { samples: imageGrid(v.subarray(0, 64 * 784), 64, 8), reconstructions: imageGrid(rec, 32, 8) };
  };

  const every = Math.max(1, Math.floor(run / 10));
  let step = 0, lastLoss = NaN;
  const t0 = performance.now();
  for (let epoch = 0; step < run; epoch++) {
    for (const [xb] of loader) {
      if (step >= run) {
        xb.dispose();
        break;
      }
      step++;
      optimizer.zeroGrad();
      const parts = wt.tidy(() => {
        const r = model.negElbo(xb, wt.randn([xb.shape[0], model.latent], { seed: 1e6 + step }));
        r.loss.backward();
        return wt.stack([r.loss, r.rec, r.kl]).detach();
      });
      optimizer.step();
      xb.dispose();
      const logNow = step % every === 0 || step === run;
      if (logNow || opts.onStep) {
        const [l, rec, kl] = await parts.data();
        lastLoss = l;
        await opts.onStep?.(step, l, { reconstruction: rec, KL: kl });
        if (logNow) {
          log(`step ${step}/${run} (epoch ${epoch + 1})  −ELBO ${l.toFixed(1)} = reconstruction ${rec.toFixed(1)} + KL ${kl.toFixed(1)} nats  ${(step / ((performance.now() - t0) / 1000)).toFixed(1)} steps/s`);
          if (opts.onImage) for (const [name, img] of Object.entries(await pictures())) opts.onImage(name, img);
        }
      }
      parts.dispose();
    }
  }

  // the test −ELBO, one draw of ε per image, and the baseline: every pixel a Bernoulli of the mean training image
  model.eval();
  let sum = 0, recSum = 0, klSum = 0;
  const n = xTest.shape[0];
  for (let i = 0; i < n; i += 1000) {
    const t = wt.noGrad(() => wt.tidy(() => {
      const xb = xTest.slice(0, i, Math.min(n, i + 1000));
      const r = model.negElbo(xb, wt.randn([xb.shape[0], model.latent], { seed: 7 + i }));
      return wt.stack([r.loss, r.rec, r.kl]).mul(xb.shape[0]);
    }));
    const [l, rec, kl] = await t.data();
    t.dispose();
    sum += l;
    recSum += rec;
    klSum += kl;
  }
  const testNegElbo = sum / n, testRecon = recSum / n, testKl = klSum / n;
  const base = wt.noGrad(() => wt.tidy(() => wt.F.bce(xTrain.mean(0, true).clamp(1e-3, 1 - 1e-3).expand([...xTest.shape]), xTest, { reduction: 'sum' }).div(n)));
  const meanImageNll = await base.item();
  base.dispose();
  log(`vae: test −ELBO ${testNegElbo.toFixed(1)} nats per image (reconstruction ${testRecon.toFixed(1)} + KL ${testKl.toFixed(1)}); the mean image as a per-pixel Bernoulli scores ${meanImageNll.toFixed(1)}`);
  const files = await saveImages(opts, opts.outDir ?? './vae-out', await pictures());
  for (const f of files) log(`vae: wrote ${f}`);
  model.dispose();
  optimizer.dispose();
  wt.dispose([xTrain, xTest, zFixed, shown]);
  return { metrics: { testNegElbo, testRecon, testKl, meanImageNll, trainNegElbo: lastLoss }, files };
}

export const vae: Example = {
  name: 'vae',
  description: 'a variational autoencoder on MNIST (reparameterisation, KL term; test −ELBO, samples and reconstructions as PNG)',
  run: (opts) => runExample('vae', opts, (log) => trainVae(opts, log)),
};
