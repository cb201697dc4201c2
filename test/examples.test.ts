/**
 * Each example runs a short version (`--quick`) on every backend, with the options the command
 * line would give it (`--backend cpu` / `--backend webgpu`), and reports metrics that show it learnt.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { EXAMPLES } from '../examples/index.js';
import { parseArgs, type ExampleOptions } from '../examples/common.js';
import { forEachBackend, useBackend } from './backends.js';

describe('example command line', () => {
  it('parses the options and rejects bad values', () => {
    expect(parseArgs(['--epochs', '3', '--backend', 'cpu', '--small'])).toEqual({ epochs: 3, backend: 'cpu', small: true });
    expect(parseArgs(['--backend', 'webgpu', '--quick'])).toEqual({ backend: 'webgpu', quick: true });
    expect(parseArgs(['--quick'])).toEqual({ quick: true });
    expect(parseArgs(['--mixed-precision'])).toEqual({ mixedPrecision: true });
    expect(() => parseArgs(['--epochs', '0'])).toThrow(/--epochs/);
    expect(() => parseArgs(['--backend', 'gpu'])).toThrow(/--backend/);
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

  describe('examples (short runs)', () => {
    it('perceptron: AND, OR and the XOR MLP reach 100%', async () => {
      const r = await run('perceptron');
      expect(r.metrics).toMatchObject({ andAccuracy: 1, orAccuracy: 1, xorAccuracy: 1 });
    });
  });

  describe('examples on data (short runs)', () => {
    it('mnist-mlp trains and evaluates (with --mixed-precision: loss scaling)', async () => {
      const r = await run('mnist-mlp', '--mixed-precision');
      expect(r.metrics.testAccuracy).toBeGreaterThan(0.85);
    });
    it('mnist-cnn runs a short epoch', async () => {
      const r = await run('mnist-cnn');
      expect(r.metrics.testAccuracy).toBeGreaterThan(0.5);
    });
    it('char-gpt learns below the uniform loss and samples text', async () => {
      const r = await run('char-gpt');
      expect(r.metrics.valLoss).toBeLessThan(Math.log(65) - 0.8);
      expect(r.sample!.startsWith('ROMEO:\n')).toBe(true);
      expect(r.sample!.length).toBeGreaterThan(30);
    });
  });

  describe('examples: LSTM, autoencoder, GAN (short runs)', () => {
    it('lstm-sine forecasts 10 steps far below the mean and persistence baselines', async () => {
      const r = await run('lstm-sine');
      expect(r.metrics.testMse).toBeLessThan(0.5 * r.metrics.meanMse);
      expect(r.metrics.testMse).toBeLessThan(0.25 * r.metrics.persistenceMse);
    });
    it('autoencoder reconstructs test digits better than the mean image', async () => {
      const r = await run('autoencoder');
      expect(r.metrics.testMse).toBeLessThan(0.75 * r.metrics.meanImageMse);
      expect(r.metrics.psnr).toBeGreaterThan(12);
      expect(r.sample).toContain('reconstruction:');
    });
    it('gan moves samples onto the ring and covers most modes', async () => {
      const r = await run('gan');
      expect(r.metrics.nearMode).toBeGreaterThan(0.15);
      expect(r.metrics.modesCovered).toBeGreaterThanOrEqual(4);
      expect(r.metrics.meanDistance).toBeLessThan(0.6);
    });
  });
});
