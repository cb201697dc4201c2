/**
 * The seeds: a single perceptron learns AND and OR; a two-layer MLP learns XOR (which a single
 * perceptron cannot), all with hand-written SGD on the raw Tensor API.
 */
import * as wt from '../src/index.js';
import { runExample, stepsToRun, type Example, type ExampleOptions } from './common.js';

const X = [[0, 0], [0, 1], [1, 0], [1, 1]];

/** Trains a logistic perceptron on a truth table; returns its accuracy. */
async function perceptron(targets: number[], steps: number): Promise<number> {
  const x = wt.tensor(X), y = wt.tensor(targets, { shape: [4, 1] });
  const w = wt.zeros([2, 1], { requiresGrad: true }), b = wt.zeros([1], { requiresGrad: true });
  for (let i = 0; i < steps; i++) {
    wt.tidy(() => wt.F.bceWithLogits(x.matmul(w).add(b), y).backward());
    wt.noGrad(() => [w, b].forEach((p) => { p.sub_(p.grad!, 1); p.zeroGrad(); }));
  }
  const pred = await wt.noGrad(() => x.matmul(w).add(b)).data();
  return targets.filter((t, i) => (pred[i] > 0 ? 1 : 0) === t).length / 4;
}

/**
 * Trains a 2-8-1 tanh MLP on XOR for `steps` SGD steps; returns [final loss, accuracy].
 * `onStep` gets each step's loss (a read per step).
 */
export async function xorMlp(steps: number, log: (s: string) => void, onStep?: ExampleOptions['onStep']): Promise<[number, number]> {
  const x = wt.tensor(X), y = wt.tensor([[0], [1], [1], [0]]);
  const w1 = wt.randn([2, 8], { seed: 1 }).mul(0.8).requiresGrad_(), b1 = wt.zeros([8], { requiresGrad: true });
  const w2 = wt.randn([8, 1], { seed: 2 }).mul(0.8).requiresGrad_(), b2 = wt.zeros([1], { requiresGrad: true });
  const forward = (inp: wt.Tensor) => inp.matmul(w1).add(b1).tanh().matmul(w2).add(b2);
  let loss = 0;
  for (let i = 1; i <= steps; i++) {
    const l = wt.tidy(() => {
      const v = wt.F.bceWithLogits(forward(x), y);
      v.backward();
      return v;
    });
    wt.noGrad(() => [w1, b1, w2, b2].forEach((p) => { p.sub_(p.grad!, 1); p.zeroGrad(); }));
    const shown = i === 1 || i % Math.max(1, Math.floor(steps / 5)) === 0 || i === steps;
    if (shown || onStep) loss = await l.item();
    onStep?.(i, loss);
    if (shown) log(`xor step ${String(i).padStart(4)}  loss ${loss.toFixed(4)}`);
    l.dispose();
  }
  const pred = await wt.noGrad(() => forward(x)).data();
  return [loss, [0, 1, 1, 0].filter((t, i) => (pred[i] > 0 ? 1 : 0) === t).length / 4];
}

export const example: Example = {
  name: 'perceptron',
  description: 'a perceptron on AND and OR, and a two-layer MLP on XOR',
  run: (opts: ExampleOptions) =>
    runExample('perceptron', opts, async (log) => {
      // `steps` caps each of the three trainings; onStep reports the XOR MLP's
      const steps = stepsToRun(opts, (opts.epochs ?? 1) * (opts.quick ? 300 : 1000));
      const and = await perceptron([0, 0, 0, 1], Math.min(steps, 300));
      const or = await perceptron([0, 1, 1, 1], Math.min(steps, 300));
      log(`perceptron AND accuracy ${and * 100}%, OR accuracy ${or * 100}%`);
      const [loss, acc] = await xorMlp(steps, log, opts.onStep);
      log(`MLP XOR accuracy ${acc * 100}%`);
      return { metrics: { andAccuracy: and, orAccuracy: or, xorAccuracy: acc, xorLoss: loss } };
    }),
};
