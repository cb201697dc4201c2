/**
 * An LSTM forecaster: it reads 24 noisy steps of a sine wave (random amplitude, frequency and
 * phase per sequence; Gaussian noise σ = 0.1) and predicts the next 10 clean values, trained with
 * fit() and an MSE loss. Learning shows as the test MSE falling far below two baselines computed
 * on the same test set: "persistence" (repeat the last noisy value) and "mean" (predict 0, the
 * signal's mean). To beat them the model must infer frequency and phase from a noisy window,
 * which a feed-forward layer on the last value cannot.
 *
 * Shapes: B batch, T = 24 input steps, H hidden units, K = 10 steps ahead.
 */
import * as wt from '../src/index.js';
import { fitSteps, runExample, type Example, type ExampleOptions } from './common.js';

const { nn } = wt;

export const SEQ_IN = 24;
export const HORIZON = 10;
const NOISE = 0.1;

/** A one-layer LSTM over the window; a linear head on the last hidden state predicts K steps. */
export class SineForecaster extends nn.Module {
  lstm: wt.nn.LSTM;
  head: wt.nn.Linear;
  constructor(readonly hidden = 48) {
    super();
    this.lstm = new nn.LSTM(1, hidden, { batchFirst: true });
    this.head = new nn.Linear(hidden, HORIZON);
  }
  /** x (B, T, 1) → (B, K) */
  forward(x: wt.Tensor): wt.Tensor {
    const [, [hN]] = this.lstm.forward(x); // hN (1, B, H)
    return this.head.forward(hN.select(0, 0));
  }
}

/**
 * `n` sequences: inputs (n, T, 1) noisy, targets (n, K) clean continuations, plus the two
 * baselines' predictions as plain arrays (so their MSE needs no tensors).
 */
export function sineData(n: number, seed: number): { x: Float32Array; y: Float32Array; persistence: Float32Array } {
  const r = wt.data.seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const x = new Float32Array(n * SEQ_IN), y = new Float32Array(n * HORIZON), persistence = new Float32Array(n * HORIZON);
  for (let i = 0; i < n; i++) {
    const amp = 0.5 + r(), omega = 0.2 + 0.3 * r(), phase = 2 * Math.PI * r(); // periods of 12.6 to 31 steps
    for (let t = 0; t < SEQ_IN; t++) x[i * SEQ_IN + t] = amp * Math.sin(omega * t + phase) + NOISE * gauss();
    for (let k = 0; k < HORIZON; k++) {
      y[i * HORIZON + k] = amp * Math.sin(omega * (SEQ_IN + k) + phase);
      persistence[i * HORIZON + k] = x[i * SEQ_IN + SEQ_IN - 1];
    }
  }
  return { x, y, persistence };
}

const mse = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
};

export async function trainLstmSine(opts: ExampleOptions, log: (s: string) => void): Promise<{ metrics: Record<string, number> }> {
  const quick = opts.quick ?? false;
  const nTrain = quick ? 768 : 8192, nTest = quick ? 256 : 1024;
  const epochs = opts.epochs ?? (quick ? 4 : 20);
  const batchSize = quick ? 64 : 128;
  const train = sineData(nTrain, 1), test = sineData(nTest, 2);
  const xTrain = wt.tensor(train.x, { shape: [nTrain, SEQ_IN, 1] }), yTrain = wt.tensor(train.y, { shape: [nTrain, HORIZON] });
  const xTest = wt.tensor(test.x, { shape: [nTest, SEQ_IN, 1] }), yTest = wt.tensor(test.y, { shape: [nTest, HORIZON] });
  const model = new SineForecaster(quick ? 32 : 48);
  const optimizer = new wt.optim.Adam(model.parameters(), { lr: 1e-2 });
  const sched = new wt.optim.lr.CosineAnnealingLR(optimizer, { tMax: epochs, etaMin: 5e-4 });
  model.compile({ optimizer, loss: 'mse' });
  log(`lstm-sine: ${model.numParameters().toLocaleString('en-US')} parameters, ${nTrain} sequences of ${SEQ_IN} noisy steps → next ${HORIZON} clean values, ${epochs} epochs`);
  const stop = fitSteps(opts);
  const history = await model.fit([xTrain, yTrain], {
    epochs, batchSize, seed: 0,
    validationData: [xTest, yTest],
    callbacks: [new wt.train.LearningRateScheduler(sched), ...stop.callbacks], logEvery: stop.logEvery,
    verbose: opts.verbose ?? 1,
    mixedPrecision: opts.mixedPrecision,
  });
  const pred = model.predict(xTest, { batchSize: 256 });
  const testMse = mse(await pred.data(), test.y);
  pred.dispose();
  const persistenceMse = mse(test.persistence, test.y);
  const meanMse = mse(new Float32Array(test.y.length), test.y);
  log(`lstm-sine: test MSE ${testMse.toFixed(4)} (persistence ${persistenceMse.toFixed(4)}, predicting the mean ${meanMse.toFixed(4)}; the noise alone is ${(NOISE * NOISE).toFixed(4)} per input value)`);
  const trainLoss = history.history.loss.at(-1) ?? NaN;
  model.dispose();
  optimizer.dispose();
  wt.dispose([xTrain, yTrain, xTest, yTest]);
  return { metrics: { testMse, persistenceMse, meanMse, trainLoss } };
}

export const lstmSine: Example = {
  name: 'lstm-sine',
  description: 'an LSTM forecasting noisy sine waves 10 steps ahead (test MSE vs persistence)',
  run: (opts) => runExample('lstm-sine', opts, (log) => trainLstmSine(opts, log)),
};
