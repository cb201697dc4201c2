/**
 * Issue 26's vae, distill and prune examples: short runs on every backend, with the options the
 * command line would give them, that check each learnt something real — the VAE's −ELBO falls
 * and ends below the mean-image baseline and its PNG files decode; the distilled student is far
 * above chance; the pruned network has the requested sparsity after fine-tuning (its masks stayed
 * applied). Quick sizes on the CPU; the WebGPU runs (SwiftShader) are cut short with --steps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { EXAMPLES } from '../examples/index.js';
import { parseArgs, type ExampleOptions } from '../examples/common.js';
import { imageGrid, trainLoop, type GrayImage } from '../examples/toolkit.js';
import { LeNet300, magnitudeMasks, sparsityOf } from '../examples/prune.js';
import { decodePng } from './browser/png.js';
import { forEachBackend, useBackend } from './backends.js';

describe('examples of issue 26: options', () => {
  it('parses --out-dir and rejects an empty one', () => {
    expect(parseArgs(['--out-dir', '/tmp/x', '--steps', '5'])).toEqual({ outDir: '/tmp/x', steps: 5 });
    expect(() => parseArgs(['--out-dir', ''])).toThrow(/--out-dir/);
  });
  it('imageGrid tiles images with a border, clamped to 0..255', () => {
    const v = new Float32Array(3 * 4).fill(0.5);
    v[4] = 2; // image 1, pixel 0: clamped to white
    const g = imageGrid(v, 3, 2, 2);
    expect([g.width, g.height]).toEqual([2 * 4 + 2, 2 * 4 + 2]);
    expect(g.pixels[0]).toBe(96); // border
    expect(g.pixels[2 * g.width + 2]).toBe(128); // image 0, pixel 0
    expect(g.pixels[2 * g.width + 6]).toBe(255); // image 1, pixel 0
    expect(g.pixels[6 * g.width + 6]).toBe(96); // no fourth image: border grey
  });
});

forEachBackend((kind) => {
  const gpu = kind === 'webgpu';
  /** `webtensor train <name> --backend <kind> --quick [...args]`, quietly, with the hooks the demo uses. */
  const run = async (name: string, args: string[], extra: ExampleOptions = {}) => {
    const r = await EXAMPLES[name].run({ ...parseArgs(['--backend', kind, '--quick', ...args]), log: () => {}, verbose: 0, ...extra });
    expect(r.backend).toBe(kind);
    return r;
  };
  afterEach(async () => {
    const be = wt.getBackend();
    if (be !== (await useBackend(kind))) be.destroy();
  });

  describe('examples of issue 26 (short runs)', () => {
    it('vae: the −ELBO falls, ends below the mean-image baseline, and the PNG files decode', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wt-vae-'));
      try {
        const losses: number[] = [], images: Record<string, GrayImage> = {};
        const r = await run('vae', ['--out-dir', dir, ...(gpu ? ['--steps', '64'] : [])], {
          onStep: (_s, l, parts) => {
            losses.push(l);
            expect(l).toBeCloseTo(parts!.reconstruction + parts!.KL, 3);
          },
          onImage: (name, img) => (images[name] = img),
        });
        expect(losses.length).toBe(gpu ? 64 : 96);
        const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
        expect(mean(losses.slice(-8))).toBeLessThan(mean(losses.slice(0, 8)) - 60);
        expect(r.metrics.testNegElbo).toBeLessThan(r.metrics.meanImageNll - (gpu ? 5 : 20));
        expect(r.metrics.testKl).toBeGreaterThan(0);
        expect(r.metrics.testNegElbo).toBeCloseTo(r.metrics.testRecon + r.metrics.testKl, 2);
        expect(r.files!.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['reconstructions.png', 'samples.png']);
        for (const f of r.files!) {
          const png = decodePng(readFileSync(f)), name = f.endsWith('samples.png') ? 'samples' : 'reconstructions';
          const img = images[name];
          expect([png.width, png.height]).toEqual([img.width, img.height]);
          for (const i of [0, 100, 2000, img.pixels.length - 1]) expect(png.rgba.slice(4 * i, 4 * i + 4)).toEqual(Uint8Array.of(img.pixels[i], img.pixels[i], img.pixels[i], 255));
        }
        // 8×8 samples of 28×28 with a 2-pixel border; the samples are not blank
        expect([images.samples.width, images.samples.height]).toEqual([242, 242]);
        expect(images.samples.pixels.filter((v) => v > 128).length).toBeGreaterThan(500);
        expect(images.samples.pixels.filter((v) => v < 40).length).toBeGreaterThan(20000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('distill: the teacher and both students learn; the distilled student is far above chance', async () => {
      const phases = new Set<string>(), points: [string, number, number][] = [];
      const r = await run('distill', gpu ? ['--steps', '24'] : [], {
        onStep: (_s, _l, parts) => Object.keys(parts!).forEach((p) => phases.add(p)),
        onPoint: (chart, series, x, y) => {
          expect(chart).toBe('test accuracy');
          points.push([series, x, y]);
        },
      });
      expect([...phases]).toEqual(['teacher', 'distilled', 'labels']);
      expect(r.metrics.teacherAccuracy).toBeGreaterThan(gpu ? 0.6 : 0.8);
      expect(r.metrics.distilledAccuracy).toBeGreaterThan(gpu ? 0.4 : 0.6);
      expect(r.metrics.labelsOnlyAccuracy).toBeGreaterThan(gpu ? 0.4 : 0.6);
      expect(r.metrics.studentParameters).toBe(784 * 32 + 32 + 33 * 10);
      expect(points.filter(([s]) => s === 'distilled').at(-1)![2]).toBe(r.metrics.distilledAccuracy);
    });

    it('prune: 50/80/90% sparsity measured after masked fine-tuning, accuracy kept above chance', async () => {
      const r = await run('prune', gpu ? ['--steps', '16'] : []);
      for (const pct of [50, 80, 90]) {
        expect(r.metrics[`sparsity${pct}`], `${pct}%`).toBeCloseTo(pct / 100, 3);
        expect(r.metrics[`acc${pct}After`]).toBeGreaterThan(0.5);
      }
      expect(r.metrics.denseAccuracy).toBeGreaterThan(gpu ? 0.6 : 0.8);
    });
  });

  describe('pruning masks', () => {
    it('magnitudeMasks ranks the weights globally; the masks keep them zero through fine-tuning, and without them Adam revives them', async () => {
      await useBackend(kind);
      const a = wt.tensor([[0.1, -0.5], [0.3, -0.05]]), b = wt.tensor([0.2, -0.9, 0.01]);
      const m = await magnitudeMasks([a, b], 3 / 7);
      expect(await m[0].array()).toEqual([[0, 1], [1, 0]]);
      expect(await m[1].array()).toEqual([1, 1, 0]);
      wt.dispose([a, b, ...m]);

      wt.manualSeed(5);
      const model = new LeNet300();
      const x = wt.rand([64, 784], { seed: 1 }), y = wt.tensor(Int32Array.from({ length: 64 }, (_, i) => i % 10));
      const loader = new wt.data.DataLoader(new wt.data.TensorDataset(x, y), { batchSize: 32 });
      const loss = ([xb, yb]: wt.Tensor[]) => wt.F.crossEntropy(model.forward(xb), yb);
      const masks = await magnitudeMasks(model.weights(), 0.8);
      wt.noGrad(() => model.weights().forEach((w, i) => w.mul_(masks[i])));
      expect(await sparsityOf(model.weights())).toBeCloseTo(0.8, 4);
      const fineTune = async (afterStep?: () => void) => {
        const opt = new wt.optim.Adam(model.parameters(), { lr: 1e-3 });
        await trainLoop({ opts: {}, log: () => {}, phase: 'ft', loader, steps: 4, optimizer: opt, loss, afterStep });
        opt.dispose();
      };
      await fineTune(() => wt.noGrad(() => model.weights().forEach((w, i) => w.mul_(masks[i]))));
      expect(await sparsityOf(model.weights())).toBeCloseTo(0.8, 4);
      // the same steps without re-applying the masks: the pruned weights move off zero
      await fineTune();
      expect(await sparsityOf(model.weights())).toBeLessThan(0.4);
      model.dispose();
      wt.dispose([x, y, ...masks]);
    });
  });
});
