/**
 * The examples' `steps` and `onStep` options (examples/common.ts), which the GPU conformance
 * check uses to compare the first training steps of each example across backends: a run stops
 * after `steps` optimizer steps and reports each step's own loss, through fit() as through the
 * hand-written loops.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { EXAMPLES } from '../examples/index.js';
import { fitSteps, parseArgs, stepsToRun } from '../examples/common.js';
import { forEachBackend } from './backends.js';

describe('example options: --steps and --data-dir', () => {
  it('parses them and rejects bad values', () => {
    expect(parseArgs(['--steps', '20', '--data-dir', '/tmp/mnist'])).toEqual({ steps: 20, dataDir: '/tmp/mnist' });
    expect(() => parseArgs(['--steps', '0'])).toThrow(/--steps/);
    expect(() => parseArgs(['--steps', '2.5'])).toThrow(/--steps/);
    expect(() => parseArgs(['--data-dir', ''])).toThrow(/--data-dir/);
    expect(stepsToRun({}, 300)).toBe(300);
    expect(stepsToRun({ steps: 20 }, 300)).toBe(20);
    expect(stepsToRun({ steps: 500 }, 300)).toBe(300);
  });
});

forEachBackend((kind) => {
  it('fitSteps: stops fit after `steps` and reports each batch\'s own loss', async () => {
    // lr 0 and no shuffling: each step's loss is that batch's loss under the initial weights
    wt.manualSeed(3);
    const model = new wt.nn.Linear(3, 2);
    const x = wt.randn([40, 3], { seed: 1 }), y = wt.randn([40, 2], { seed: 2 });
    const seen: [number, number][] = [];
    const stop = fitSteps({ steps: 7, onStep: (s, l) => seen.push([s, l]) });
    const opt = new wt.optim.SGD(model.parameters(), { lr: 0 });
    model.compile({ optimizer: opt, loss: 'mse' });
    // 5 batches per epoch: the 7 steps cross into the second epoch, whose running sums restart
    await model.fit([x, y], { epochs: 3, batchSize: 8, shuffle: false, verbose: 0, callbacks: stop.callbacks, logEvery: stop.logEvery });
    expect(seen.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const expected: number[] = [];
    for (let s = 0; s < 7; s++) {
      const b = s % 5;
      const l = wt.tidy(() => wt.F.mseLoss(model.forward(x.slice(0, 8 * b, 8 * b + 8)), y.slice(0, 8 * b, 8 * b + 8)));
      expected.push(await l.item());
      l.dispose();
    }
    seen.forEach(([, l], i) => expect(l).toBeCloseTo(expected[i], 5));
    model.dispose();
    opt.dispose();
    wt.dispose([x, y]);
  });

  it('examples stop after --steps and report every step\'s loss', async () => {
    for (const [name, parts] of [['perceptron', false], ['gan', true], ['lstm-sine', false], ['char-gpt', false]] as const) {
      const steps: number[] = [], losses: number[] = [], named: Record<string, number>[] = [];
      await EXAMPLES[name].run({
        backend: kind, quick: true, steps: 3, verbose: 0, log: () => {},
        onStep: (s, l, p) => {
          steps.push(s);
          losses.push(l);
          if (p) named.push(p);
        },
      });
      expect(steps, name).toEqual([1, 2, 3]);
      for (const l of losses) expect(Number.isFinite(l) && l > 0, `${name} loss ${l}`).toBe(true);
      if (parts) named.forEach((p, i) => expect(p.d + p.g).toBeCloseTo(losses[i], 5));
      else expect(named).toEqual([]);
    }
  });
});
