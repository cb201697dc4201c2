import { afterEach, describe, expect, it, vi } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend, halfPrecisionMatmuls } from './backends.js';

const { nn, train } = wt;

afterEach(() => {
  vi.restoreAllMocks();
});

/** n points in 4-D, labelled by which of 3 fixed directions they point to most (separable). */
function blobs(n: number, seed: number): [wt.Tensor, wt.Tensor] {
  const x = wt.randn([n, 4], { seed });
  const y = wt.tidy(() => x.matmul(wt.randn([4, 3], { seed: 99 })).argmax(-1));
  return [x, y];
}

function mlp(): wt.nn.Sequential {
  wt.manualSeed(1);
  return new nn.Sequential(new nn.Linear(4, 16), new nn.ReLU(), new nn.Linear(16, 3));
}

const base = { loss: 'crossEntropy' as const, metrics: ['accuracy' as const], verbose: 0 as const, seed: 0 };

forEachBackend((kind) => {
  describe('fit', () => {
    it('reduces the loss and records loss, acc and lr per epoch', async () => {
      const [x, y] = blobs(256, 1);
      const model = mlp();
      const h = await model.fit([x, y], { ...base, optimizer: new wt.optim.Adam(model.parameters(), { lr: 0.01 }), epochs: 5, batchSize: 32 });
      expect(h.epoch).toEqual([0, 1, 2, 3, 4]);
      expect(Object.keys(h.history)).toEqual(['loss', 'acc', 'lr']);
      expect(h.history.loss).toHaveLength(5);
      expect(h.history.loss[4]).toBeLessThan(h.history.loss[0] * 0.5);
      expect(h.history.acc[4]).toBeGreaterThan(0.9);
      expect(h.history.lr).toEqual([0.01, 0.01, 0.01, 0.01, 0.01]);
      expect(model.training).toBe(true);
      expect(model.parameters().every((p) => p.grad === null)).toBe(true);
      // fit's loss and metrics became the defaults
      expect(Object.keys(await model.evaluate([x, y]))).toEqual(['loss', 'acc']);
    });

    it('holds out the last fraction with validationSplit, or uses validationData', async () => {
      const [x, y] = blobs(200, 2);
      const model = mlp();
      let seen = 0;
      const h = await model.fit([x, y], { ...base, epochs: 2, batchSize: 16, validationSplit: 0.25, callbacks: [{ onBatchEnd: (_b, logs) => void (seen += logs.size!) }] });
      expect(seen).toBe(2 * 150);
      expect(Object.keys(h.history)).toEqual(['loss', 'acc', 'valLoss', 'valAcc', 'lr']);
      expect(h.history.valLoss).toHaveLength(2);
      // the validation numbers are evaluate() on the held-out tail with the final weights
      const ev = await model.evaluate([x.narrow(0, 150, 50), y.narrow(0, 150, 50)], { loss: 'crossEntropy', metrics: ['accuracy'] });
      expect(h.history.valLoss[1]).toBeCloseTo(ev.loss!, 5);
      expect(h.history.valAcc[1]).toBeCloseTo(ev.acc!, 6);
      const [xv, yv] = blobs(40, 3);
      const h2 = await model.fit([x, y], { ...base, epochs: 1, validationData: [xv, yv] });
      expect(h2.history.valAcc).toHaveLength(1);
      await expect(model.fit([x, y], { ...base, validationData: [xv, yv], validationSplit: 0.1 })).rejects.toThrow(/not both/);
      await expect(model.fit(new wt.data.DataLoader(new wt.data.TensorDataset(x, y)), { ...base, validationSplit: 0.1 })).rejects.toThrow(/validationSplit needs tensors or a Dataset/);
    });

    it('takes a Dataset or a DataLoader; compile sets defaults and keeps one optimizer', async () => {
      const [x, y] = blobs(128, 4);
      const model = mlp().compile({ optimizer: 'adam', lr: 0.02, loss: 'crossEntropy', metrics: ['accuracy'] });
      const loader = new wt.data.DataLoader(new wt.data.TensorDataset(x, y), { batchSize: 16, shuffle: true, seed: 1 });
      const h1 = await model.fit(loader, { epochs: 2, verbose: 0 });
      const h2 = await model.fit(new wt.data.TensorDataset(x, y), { epochs: 2, verbose: 0, batchSize: 16 });
      expect(h2.history.loss[1]).toBeLessThan(h1.history.loss[0]);
      expect(h2.history.lr[0]).toBe(0.02);
      expect(loader.epoch).toBe(2);
      // a fit with no optimizer anywhere makes an Adam once and reuses it
      const m2 = mlp();
      await m2.fit([x, y], { ...base, epochs: 1 });
      const before = wt.memory().tensors;
      await m2.fit([x, y], { ...base, epochs: 1 });
      expect(wt.memory().tensors).toBe(before);
    });

    it('keeps memory flat: the live tensor count stays the same from epoch to epoch', async () => {
      const [x, y] = blobs(300, 5);
      for (const jitCompile of [false, true]) {
        const model = mlp();
        const counts: number[] = [];
        const bytes: number[] = [];
        await model.fit([x, y], { ...base, epochs: 5, batchSize: 32, validationSplit: 0.2, jitCompile, callbacks: [{ onEpochEnd: () => { counts.push(wt.memory().tensors); bytes.push(wt.memory().bytes); } }] });
        // compiled: the short last batch (240 % 32 = 16 rows) is recorded in epochs 2 and 3, after
        // which the compiled function holds its input copies and outputs; eager: flat from epoch 1
        const from = jitCompile ? 2 : 0;
        for (let e = from + 1; e < 5; e++) {
          expect(counts[e], `jitCompile ${jitCompile}, epoch ${e + 1}`).toBe(counts[from]);
          expect(bytes[e], `jitCompile ${jitCompile}, epoch ${e + 1}`).toBe(bytes[from]);
        }
        model.dispose();
      }
    });

    it('supports bceWithLogits on [N,1] outputs with [N] labels, and custom losses and metrics', async () => {
      const x = wt.randn([128, 2], { seed: 6 });
      const y = wt.tidy(() => x.sum(1).gt(0).float());
      wt.manualSeed(2);
      const model = new nn.Sequential(new nn.Linear(2, 8), new nn.Tanh(), new nn.Linear(8, 1));
      const h = await model.fit([x, y], { loss: 'bceWithLogits', metrics: ['accuracy'], optimizer: 'adam', lr: 0.05, epochs: 8, batchSize: 16, verbose: 0, seed: 0 });
      expect(h.history.acc[7]).toBeGreaterThan(0.9);
      // accuracy thresholds logits at 0 for bceWithLogits
      const ev = await model.evaluate([x, y], { loss: 'bceWithLogits', metrics: ['accuracy'] });
      const logits = await model.predict(x).data(), labels = await y.data();
      const manual = Array.from(logits).filter((v, i) => (v > 0 ? 1 : 0) === labels[i]).length / 128;
      expect(ev.acc).toBeCloseTo(manual, 6);

      const meanAbs = (p: wt.Tensor, t: wt.Tensor) => p.sub(t.reshape([-1, 1])).abs().mean();
      const myLoss = (p: wt.Tensor, t: wt.Tensor) => wt.F.mseLoss(p.squeeze(1), t);
      const reg = new nn.Linear(2, 1);
      const hr = await reg.fit([x, x.sum(1)], { loss: myLoss, metrics: [meanAbs, { name: 'maxErr', fn: (p, t) => p.squeeze(1).sub(t).abs().max() }], optimizer: 'sgd', lr: 0.1, epochs: 6, batchSize: 16, verbose: 0, seed: 0 });
      expect(Object.keys(hr.history)).toEqual(['loss', 'meanAbs', 'maxErr', 'lr']);
      expect(hr.history.loss[5]).toBeLessThan(0.01);
    });

    it('predict and evaluate run batched in eval mode and give the right shapes and values', async () => {
      const [x, y] = blobs(70, 7);
      wt.manualSeed(3);
      const model = new nn.Sequential(new nn.Linear(4, 16), new nn.Dropout(0.5), new nn.ReLU(), new nn.Linear(16, 3));
      const p = model.predict(x, { batchSize: 32 });
      expect(p.shape).toEqual([70, 3]);
      expect(model.training).toBe(true);
      model.eval();
      const full = model.forward(x);
      model.train();
      const [pv, fv] = [await p.data(), await full.data()];
      pv.forEach((v, i) => expect(v).toBeCloseTo(fv[i], 5));
      expect(model.predict(new wt.data.TensorDataset(x, y), { batchSize: 16 }).shape).toEqual([70, 3]);
      const ev = await model.evaluate([x, y], { loss: 'crossEntropy', metrics: ['accuracy'], batchSize: 16 });
      const ce = await wt.F.crossEntropy(full, y).item();
      const acc = await full.argmax(-1).eq(y).float().mean().item();
      expect(ev.loss).toBeCloseTo(ce, 5);
      expect(ev.acc).toBeCloseTo(acc, 6);
      await expect(model.evaluate([x, y])).rejects.toThrow(/nothing to compute/);
    });

    it('gives clear errors for a missing loss, bad data and a non-tensor output', async () => {
      const [x, y] = blobs(8, 8);
      const model = mlp();
      await expect(model.fit([x, y], { verbose: 0 })).rejects.toThrow(/no loss/);
      await expect(model.fit([x] as unknown as wt.Tensor[], { ...base })).rejects.toThrow(/expected \[x, y\] tensors/);
      await expect(model.fit([x, y], { ...base, loss: 'nope' as 'mse' })).rejects.toThrow(/unknown loss "nope"/);
      await expect(model.fit([x, y], { ...base, metrics: ['f1' as 'acc'] })).rejects.toThrow(/unknown metric/);
      class Pair extends nn.Module {
        l = new nn.Linear(4, 3);
        forward(t: wt.Tensor) { return [this.l.forward(t), t]; }
      }
      await expect(new Pair().fit([x, y], { ...base })).rejects.toThrow(/must return a Tensor/);
    });
  });

  describe('fit(x, y, opts) and evaluate(x, y, opts), as Keras and TF.js', () => {
    it('trains and evaluates the same as the [x, y] form, with validationData in either form', async () => {
      const [x, y] = blobs(96, 11);
      const [xv, yv] = blobs(32, 12);
      const opts = { ...base, epochs: 2, batchSize: 16, jitCompile: false };
      const a = mlp(), b = mlp();
      const ha = await a.fit([x, y], { ...opts, validationData: [xv, yv] });
      const hb = await b.fit(x, y, { ...opts, validationData: [xv, yv] });
      expect(Object.keys(hb.history)).toEqual(['loss', 'acc', 'valLoss', 'valAcc', 'lr']);
      for (const k of ['loss', 'valLoss', 'valAcc']) hb.history[k].forEach((v, i) => expect(v).toBeCloseTo(ha.history[k][i], 5));
      const ea = await a.evaluate([xv, yv]);
      const eb = await b.evaluate(xv, yv, { batchSize: 8 });
      expect(eb.loss).toBeCloseTo(ea.loss!, 5);
      expect(eb.acc).toBeCloseTo(ea.acc!, 6);
      // evaluate(x, y) with no options, and the functional form
      expect((await b.evaluate(xv, yv)).loss).toBeCloseTo(eb.loss!, 5);
      expect((await train.evaluate(b, xv, yv)).loss).toBeCloseTo(eb.loss!, 5);
      // a Dataset as validationData, with the x, y form
      const hc = await b.fit(x, y, { ...opts, epochs: 1, validationData: new wt.data.TensorDataset(xv, yv) });
      expect(hc.history.valLoss).toHaveLength(1);
      // a one-element list as y, and a list of inputs as x for a model with two inputs
      await b.fit(x, [y], { ...opts, epochs: 1 });
      class Two extends nn.Module {
        fc = new nn.Linear(4, 3);
        forward(p: wt.Tensor, q: wt.Tensor) { return this.fc.forward(p.add(q)); }
      }
      const two = new Two();
      const q = wt.zerosLike(x), qv = wt.zerosLike(xv);
      const h2 = await two.fit([x, q], y, { ...opts, epochs: 1, validationData: [[xv, qv], yv] });
      expect(h2.history.valLoss).toHaveLength(1);
      expect(Object.keys(await two.evaluate([xv, qv], yv))).toEqual(['loss', 'acc']);
      expect(await two.predict([xv, qv]).shape).toEqual([32, 3]);
      for (const t of [x, y, xv, yv, q, qv]) t.dispose();
      for (const m of [a, b, two]) m.dispose();
    });

    it('refuses mixed-up forms with typed errors that name the shapes', async () => {
      const [x, y] = blobs(20, 13);
      const model = mlp();
      const o = { ...base, epochs: 1 };
      const yShort = y.narrow(0, 0, 15);
      await expect(model.fit(x, yShort, o)).rejects.toThrow(wt.ShapeError);
      await expect(model.fit(x, yShort, o)).rejects.toThrow('fit: x [20,4] and y [15] differ in their number of samples (dim 0): 20 and 15');
      await expect(model.fit([x, yShort], o)).rejects.toThrow('fit: x [20,4] and y [15] differ');
      await expect(model.evaluate(x, yShort)).rejects.toThrow('evaluate: x [20,4] and y [15] differ');
      await expect(model.fit(x, y, { ...o, validationData: [x, yShort] })).rejects.toThrow('fit: validationData: x [20,4] and y [15] differ');
      await expect(model.fit([x, x.narrow(0, 0, 3)], y, o)).rejects.toThrow('fit: the inputs differ in their number of samples (dim 0): x[0] [20,4] and x[1] [3,4]');
      await expect(model.fit(x, o as never)).rejects.toThrow('fit: got x [20,4] without y: call fit(x, y, opts) or fit([x, y], opts)');
      await expect(model.fit([x, y], o as never, o as never)).rejects.toThrow('fit: got a third argument');
      await expect(model.fit(new wt.data.TensorDataset(x, y) as never, y, o)).rejects.toThrow('fit: a Dataset or DataLoader brings its own targets');
      await expect(model.fit(x, [y, y] as never, o)).rejects.toThrow('fit: y must be one target tensor');
      await expect(model.fit('x' as never, y, o)).rejects.toThrow('fit: with y given, x must be a tensor or a list of input tensors, got');
      await expect(model.evaluate(x, wt.tensor(1) as never)).rejects.toThrow('evaluate: y must have a sample dim (dim 0), got a 0-d tensor');
      for (const t of [x, y, yShort]) t.dispose();
      model.dispose();
    });
  });

  describe('callbacks and events', () => {
    /** Overwrites logs.score with a scripted sequence, so monitors see known values. */
    const scripted = (seq: number[]) => ({ onEpochEnd: (e: number, logs: wt.train.Logs) => void (logs.score = seq[e]) });

    it('EarlyStopping stops after `patience` bad epochs and restores the best weights', async () => {
      const [x, y] = blobs(64, 9);
      const model = mlp();
      const weights: Float32Array[] = [];
      const keepW = { onEpochEnd: async () => void weights.push((await model.stateDict()['0.weight'].data()) as Float32Array) };
      const es = new train.EarlyStopping({ monitor: 'score', patience: 2, restoreBestWeights: true });
      const h = await model.fit([x, y], { ...base, epochs: 20, callbacks: [scripted([5, 3, 4, 4.5, 1, 1]), keepW, es] });
      expect(h.epoch).toEqual([0, 1, 2, 3]);
      expect(es.stoppedEpoch).toBe(3);
      expect(es.bestEpoch).toBe(1);
      expect(es.mode).toBe('min');
      expect(Array.from(await model.stateDict()['0.weight'].data())).toEqual(Array.from(weights[1]));
      expect(Array.from(weights[3])).not.toEqual(Array.from(weights[1]));

      // 'auto' watches accuracy for a rise; minDelta ignores small gains
      const es2 = new train.EarlyStopping({ monitor: 'valAccLike', patience: 1, minDelta: 0.05 });
      expect(es2.mode).toBe('max');
      const h2 = await model.fit([x, y], { ...base, epochs: 10, callbacks: [{ onEpochEnd: (e, logs) => void (logs.valAccLike = [0.5, 0.6, 0.62, 0.9][e]) }, es2] });
      expect(h2.epoch).toEqual([0, 1, 2]);
    });

    it('ModelCheckpoint hands the state dict to save, every epoch or only on improvement', async () => {
      const [x, y] = blobs(32, 10);
      const model = mlp();
      const calls: [number, string[]][] = [];
      const every = new train.ModelCheckpoint({ save: async (sd, epoch) => void calls.push([epoch, Object.keys(sd)]) });
      const best = new train.ModelCheckpoint({ save: () => {}, monitor: 'score', saveBestOnly: true });
      await model.fit([x, y], { ...base, epochs: 4, callbacks: [scripted([3, 4, 2, 2.5]), every, best] });
      expect(calls.map(([e]) => e)).toEqual([0, 1, 2, 3]);
      expect(calls[0][1]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
      expect(best.saved).toEqual([0, 2]);
    });

    it('LearningRateScheduler steps a scheduler, feeds ReduceLROnPlateau, or calls a function', async () => {
      const [x, y] = blobs(32, 11);
      const model = mlp();
      const opt = new wt.optim.SGD(model.parameters(), { lr: 0.1 });
      const step = new train.LearningRateScheduler(new wt.optim.lr.StepLR(opt, { stepSize: 1, gamma: 0.5 }));
      const h = await model.fit([x, y], { ...base, optimizer: opt, epochs: 3, callbacks: [step] });
      expect(h.history.lr).toEqual([0.1, 0.05, 0.025]);
      expect(opt.lr).toBe(0.0125);

      const opt2 = new wt.optim.SGD(model.parameters(), { lr: 1 });
      const plateau = new train.LearningRateScheduler(new wt.optim.lr.ReduceLROnPlateau(opt2, { patience: 0, factor: 0.1 }), { monitor: 'score' });
      const h2 = await model.fit([x, y], { ...base, optimizer: opt2, epochs: 4, callbacks: [scripted([1, 2, 0.5, 0.6]), plateau] });
      expect(h2.history.lr.map((v) => +v.toPrecision(6))).toEqual([1, 1, 0.1, 0.1]);
      expect(+opt2.lr.toPrecision(6)).toBe(0.01);

      const fn = new train.LearningRateScheduler((epoch) => 0.1 / (epoch + 1));
      const h3 = await model.fit([x, y], { ...base, optimizer: opt2, epochs: 3, callbacks: [fn] });
      expect(h3.history.lr.map((v) => +v.toPrecision(6))).toEqual([0.1, 0.05, 0.0333333]);

      const other = new wt.optim.SGD(model.parameters(), { lr: 1 });
      const wrong = new train.LearningRateScheduler(new wt.optim.lr.StepLR(other, { stepSize: 1 }));
      await expect(model.fit([x, y], { ...base, optimizer: opt2, callbacks: [wrong] })).rejects.toThrow(/different optimizer/);
    });

    it('hooks run in order; stopTraining ends the run; events carry logs read every logEvery steps', async () => {
      const [x, y] = blobs(100, 12);
      const model = mlp();
      const seen: string[] = [];
      const hooks = new train.LambdaCallback({
        onTrainBegin: () => void seen.push('trainBegin'),
        onEpochBegin: (e) => void seen.push(`epochBegin ${e}`),
        onEpochEnd: (e) => void seen.push(`epochEnd ${e}`),
        onTrainEnd: () => void seen.push('trainEnd'),
      });
      const events: wt.train.TrainEvent[] = [];
      const target = new EventTarget();
      const epochEnds: unknown[] = [];
      target.addEventListener('epochEnd', (e) => epochEnds.push((e as CustomEvent).detail));
      await model.fit([x, y], { ...base, epochs: 2, batchSize: 10, logEvery: 4, callbacks: [hooks], onEvent: (e) => events.push(e), events: target });
      expect(seen).toEqual(['trainBegin', 'epochBegin 0', 'epochEnd 0', 'epochBegin 1', 'epochEnd 1', 'trainEnd']);
      const batches = events.filter((e) => e.type === 'batchEnd');
      expect(batches).toHaveLength(20);
      // running means only on steps 4, 8 and the last of each epoch: no read back per step
      expect(batches.filter((e) => e.logs.loss !== undefined).map((e) => e.batch)).toEqual([3, 7, 9, 3, 7, 9]);
      expect(batches[3].logs.acc).toBeGreaterThanOrEqual(0);
      expect(events[0].type).toBe('trainBegin');
      expect(events[events.length - 1].type).toBe('trainEnd');
      expect(epochEnds).toHaveLength(2);
      expect((epochEnds[1] as wt.train.TrainEvent).logs.loss).toBeGreaterThan(0);

      const stopper = { onBatchEnd(this: wt.train.Callback, b: number) { if (b === 2) this.ctx.stopTraining = true; } };
      const cb = Object.assign(new train.Callback(), stopper);
      let batchesRun = 0;
      const h = await model.fit([x, y], { ...base, epochs: 5, batchSize: 10, callbacks: [cb, { onBatchEnd: () => void batchesRun++ }] });
      expect(h.epoch).toEqual([0]);
      expect(batchesRun).toBe(3);
    });

    it('prints one line per epoch with verbose 2, and a redrawn bar on a terminal', async () => {
      const [x, y] = blobs(64, 13);
      const model = mlp();
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      await model.fit([x, y], { ...base, verbose: 2, epochs: 2, validationSplit: 0.25 });
      const lines = log.mock.calls.map((c) => String(c[0]));
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatch(/^Epoch 2\/2 - 2\/2 - [\d.]+s - \d+ samples\/s - loss \d\.\d{4} - acc \d\.\d{4} - valLoss \d\.\d{4} - valAcc \d\.\d{4} - lr 1\.00e-3$/);

      let out = '';
      const bar = new train.ProgressLogger('bar', { isTTY: true, write: (s) => void (out += s), line: () => {} });
      await model.fit([x, y], { ...base, epochs: 1, batchSize: 8, callbacks: [bar] });
      expect(out).toContain('\r');
      expect(out).toMatch(/Epoch 1\/1 \[=+\] 8\/8 ETA/);
      expect(out.endsWith('\n')).toBe(true);
    });
  });

  describe('fit with mixedPrecision', () => {
    it('the same history and weights as without where matmuls stay float32 (power-of-two scaling is exact)', async () => {
      const [x, y] = blobs(96, 4);
      const run = async (mixedPrecision: boolean | wt.amp.GradScaler) => {
        const model = mlp();
        const h = await model.fit([x, y], { ...base, optimizer: new wt.optim.Adam(model.parameters(), { lr: 0.01 }), epochs: 2, batchSize: 16, mixedPrecision });
        return { h: h.history, p: await Promise.all(model.parameters().map((p) => p.data())) };
      };
      const plain = await run(false);
      const scaler = new wt.amp.GradScaler({ growthInterval: 4 });
      const mixed = await run(scaler);
      if (!halfPrecisionMatmuls()) expect(mixed).toEqual(plain);
      else mixed.h.loss.forEach((l, i) => expect(l).toBeCloseTo(plain.h.loss[i], 2)); // f16 GEMM tiles
      // 12 clean steps, growth every 4
      expect(scaler.getScale()).toBe(2 ** 19);
      expect(wt.getFloat32MatmulPrecision()).toBe('highest');
      await expect(mlp().fit([x, y], { ...base, mixedPrecision: 'yes' as unknown as boolean })).rejects.toThrow(/fit: mixedPrecision must be true, false or a wt.amp.GradScaler, got "yes"/);
      wt.dispose([x, y]);
    });
  });

  describe('MNIST', () => {
    it('an MLP 784-128-10 reaches >= 95% test accuracy in a short run', async () => {
      const t0 = performance.now();
      const { train: tr, test } = await wt.data.loadMnist({ trainLimit: 30000 });
      const prep = (s: wt.data.MnistSplit): [wt.Tensor, wt.Tensor] => [wt.tidy(() => wt.data.normalize(s.images.reshape([-1, 784]), 0.1307, 0.3081)), s.labels];
      const [x, y] = prep(tr), [xt, yt] = prep(test);
      tr.images.dispose();
      test.images.dispose();
      wt.manualSeed(0);
      const model = new nn.Sequential(new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
      const opt = new wt.optim.Adam(model.parameters(), { lr: 3e-3 });
      const epochs = 2, batchSize = 128;
      const cosine = new wt.optim.lr.CosineAnnealingLR(opt, { tMax: epochs * Math.ceil(30000 / batchSize) });
      const t1 = performance.now();
      const h = await model.fit([x, y], { optimizer: opt, loss: 'crossEntropy', metrics: ['accuracy'], epochs, batchSize, seed: 0, verbose: 0,
        callbacks: [new train.LearningRateScheduler(cosine, { perBatch: true })] });
      const t2 = performance.now();
      // the whole 10000-image test set: its first 4000 images are harder than the rest
      const ev = await model.evaluate([xt, yt], { loss: 'crossEntropy', metrics: ['accuracy'], batchSize: 1000 });
      const t3 = performance.now();
      console.log(`MNIST MLP: train acc ${h.history.acc.map((a) => a.toFixed(4))}, test acc ${ev.acc!.toFixed(4)}; load ${((t1 - t0) / 1000).toFixed(1)}s, fit ${((t2 - t1) / 1000).toFixed(1)}s, evaluate ${((t3 - t2) / 1000).toFixed(1)}s`);
      expect(ev.acc).toBeGreaterThanOrEqual(0.95);
      for (const t of [x, y, xt, yt]) t.dispose();
      model.dispose();
      opt.dispose();
    });
  });
});
