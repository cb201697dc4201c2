/**
 * Issue 26's vision examples (resnet, unet, vit, quantize): each runs a short version
 * (`--quick`) on every backend, with the options the command line would give it, and reports
 * metrics that show it learnt; `--steps` stops each after that many optimizer steps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { EXAMPLES } from '../examples/index.js';
import { parseArgs, type ExampleOptions } from '../examples/common.js';
import { iouPerClass, makeShapes } from '../examples/unet.js';
import { forEachBackend, useBackend } from './backends.js';

/** SwiftShader (software Vulkan) trains these convolutional nets at tens of images per second */
const LONG = 300_000;

describe('unet data and metric (host code)', () => {
  it('makeShapes is deterministic per seed and draws every class on a noisy canvas', () => {
    const a = makeShapes(50, 7), b = makeShapes(50, 7), c = makeShapes(50, 8);
    expect(a.images).toEqual(b.images);
    expect(a.masks).toEqual(b.masks);
    expect(a.masks).not.toEqual(c.masks);
    const counts = [0, 0, 0, 0];
    for (const v of a.masks) counts[v]++;
    // every class present; background the majority
    for (const n of counts) expect(n).toBeGreaterThan(0);
    expect(counts[0]).toBeGreaterThan(a.masks.length / 2);
    // shapes are brighter than the background on average
    let fg = 0, bg = 0;
    a.masks.forEach((m, i) => (m ? (fg += a.images[i]) : (bg += a.images[i])));
    expect(fg / (a.masks.length - counts[0])).toBeGreaterThan(bg / counts[0] + 0.3);
  });
  it('iouPerClass: intersection over union of each class', () => {
    // truth 0 0 1 1 2, prediction 0 1 1 1 0: class 0 ∩ 1 / ∪ 3, class 1 ∩ 2 / ∪ 3, class 2 ∩ 0 / ∪ 1
    const iou = iouPerClass([0, 1, 1, 1, 0], [0, 0, 1, 1, 2], 3);
    expect(iou[0]).toBeCloseTo(1 / 3);
    expect(iou[1]).toBeCloseTo(2 / 3);
    expect(iou[2]).toBe(0);
  });
});

forEachBackend((kind) => {
  /** `webtensor train <name> --backend <kind> --quick [...args]`, quietly. */
  const run = async (name: string, ...args: string[]) => {
    const r = await EXAMPLES[name].run({ ...parseArgs(['--backend', kind, '--quick', ...args]), log: () => {}, verbose: 0 } as ExampleOptions);
    expect(r.backend).toBe(kind);
    return r;
  };

  // each example starts a backend of its own (wt.init): free its device before the next one
  afterEach(async () => {
    const be = wt.getBackend();
    if (be !== (await useBackend(kind))) be.destroy();
  });

  describe('vision examples (short runs)', () => {
    it('resnet: the ResNet and the plain CNN both learn, at least twice chance (10%)', async () => {
      const r = await run('resnet');
      expect(r.metrics.resnetAccuracy).toBeGreaterThan(0.2);
      expect(r.metrics.plainAccuracy).toBeGreaterThan(0.2);
    }, LONG);
    it('unet: finds the shapes (answering all background scores IoU 0)', async () => {
      // the short run learns where the shapes are; telling them apart takes the full run
      const r = await run('unet');
      expect(r.metrics.foregroundIou).toBeGreaterThan(0.6);
      expect(r.sample).toContain('prediction');
    }, LONG);
    it('vit: learns far above chance', async () => {
      const r = await run('vit');
      expect(r.metrics.testAccuracy).toBeGreaterThan(0.3);
    }, LONG);
    it('quantize: int8 keeps the f32 accuracy, 4-bit stays close; weight bytes as packed', async () => {
      const r = await run('quantize');
      const m = r.metrics;
      expect(m.f32Accuracy).toBeGreaterThan(0.8);
      const layers = [[256, 784], [128, 256], [10, 128]];
      expect(m.f32Bytes).toBe(layers.reduce((s, [n, k]) => s + 4 * n * k, 0));
      for (const [bits, g] of [[8, 64], [8, 32], [4, 64], [4, 32]]) {
        const key = `int${bits}g${g}`;
        // per row: ⌈K/G⌉ groups of G codes of `bits` bits, and one f32 scale per group
        expect(m[`${key}Bytes`], key).toBe(layers.reduce((s, [n, k]) => s + n * Math.ceil(k / g) * (g * bits / 8 + 4), 0));
        expect(Math.abs(m[`${key}Accuracy`] - m.f32Accuracy), key).toBeLessThan(bits === 8 ? 0.01 : 0.03);
        expect(m[`${key}Agreement`], key).toBeGreaterThan(bits === 8 ? 0.99 : 0.95);
      }
    }, LONG);
  });

  for (const name of ['resnet', 'unet', 'vit', 'quantize']) {
    it(`${name} stops after --steps and reports every step's loss`, async () => {
      const steps: number[] = [], losses: number[] = [];
      await EXAMPLES[name].run({ backend: kind, quick: true, steps: 3, verbose: 0, log: () => {}, onStep: (s, l) => (steps.push(s), losses.push(l)) });
      // resnet trains two networks: the steps reported are the ResNet's (the plain CNN's are capped too)
      expect(steps).toEqual([1, 2, 3]);
      for (const l of losses) expect(Number.isFinite(l) && l > 0, `loss ${l}`).toBe(true);
    }, LONG);
  }
});
