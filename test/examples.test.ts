/** Each example runs a short version on the CPU backend and reports its metrics. */
import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../examples/index.js';
import { parseArgs } from '../examples/common.js';

const quiet = { backend: 'cpu' as const, quick: true, log: () => {} };

describe('example command line', () => {
  it('parses the options and rejects bad values', () => {
    expect(parseArgs(['--epochs', '3', '--backend', 'cpu', '--small'])).toEqual({ epochs: 3, backend: 'cpu', small: true });
    expect(parseArgs(['--quick'])).toEqual({ quick: true });
    expect(parseArgs(['--mixed-precision'])).toEqual({ mixedPrecision: true });
    expect(() => parseArgs(['--epochs', '0'])).toThrow(/--epochs/);
    expect(() => parseArgs(['--backend', 'gpu'])).toThrow(/--backend/);
  });
});

describe('examples (short runs)', () => {
  it('perceptron: AND, OR and the XOR MLP reach 100%', async () => {
    const r = await EXAMPLES.perceptron.run(quiet);
    expect(r.metrics).toMatchObject({ andAccuracy: 1, orAccuracy: 1, xorAccuracy: 1 });
    expect(r.backend).toBe('cpu');
  });
});

describe('examples on data (short runs)', () => {
  it('mnist-mlp trains and evaluates (with --mixed-precision: loss scaling, float32 on the CPU)', async () => {
    const r = await EXAMPLES['mnist-mlp'].run({ ...quiet, verbose: 0, mixedPrecision: true });
    expect(r.metrics.testAccuracy).toBeGreaterThan(0.85);
  });
  it('mnist-cnn runs a short epoch', async () => {
    const r = await EXAMPLES['mnist-cnn'].run({ ...quiet, verbose: 0 });
    expect(r.metrics.testAccuracy).toBeGreaterThan(0.5);
  });
  it('char-gpt learns below the uniform loss and samples text', async () => {
    const r = await EXAMPLES['char-gpt'].run(quiet);
    expect(r.metrics.valLoss).toBeLessThan(Math.log(65) - 0.8);
    expect(r.sample!.startsWith('ROMEO:\n')).toBe(true);
    expect(r.sample!.length).toBeGreaterThan(30);
  });
});

describe('examples: LSTM, autoencoder, GAN (short runs)', () => {
  it('lstm-sine forecasts 10 steps far below the mean and persistence baselines', async () => {
    const r = await EXAMPLES['lstm-sine'].run({ ...quiet, verbose: 0 });
    expect(r.metrics.testMse).toBeLessThan(0.5 * r.metrics.meanMse);
    expect(r.metrics.testMse).toBeLessThan(0.25 * r.metrics.persistenceMse);
  });
  it('autoencoder reconstructs test digits better than the mean image', async () => {
    const r = await EXAMPLES.autoencoder.run({ ...quiet, verbose: 0 });
    expect(r.metrics.testMse).toBeLessThan(0.75 * r.metrics.meanImageMse);
    expect(r.metrics.psnr).toBeGreaterThan(12);
    expect(r.sample).toContain('reconstruction:');
  });
  it('gan moves samples onto the ring and covers most modes', async () => {
    const r = await EXAMPLES.gan.run(quiet);
    expect(r.metrics.nearMode).toBeGreaterThan(0.15);
    expect(r.metrics.modesCovered).toBeGreaterThanOrEqual(4);
    expect(r.metrics.meanDistance).toBeLessThan(0.6);
  });
});
