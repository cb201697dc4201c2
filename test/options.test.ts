/**
 * Unknown option keys are an error everywhere (issue 19, 2.12 and 3.5): the list below names
 * every public function, constructor and method that takes an options object, calls it with a
 * misspelt key and expects an ArgumentError that names what was called, the key and the known
 * keys. (The error walk also tries `{ bogusOption: 1 }` wherever its table passes options; this
 * list is the reviewable inventory.) Random ops' dtypes (2.12) are at the end.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

const { nn, F, optim, data, train } = wt;

/** [what is called (the message prefix), a call taking the options object, keys it must list]. */
type Case = [string, (o: object) => unknown, string[]];

const x = () => wt.randn([2, 3], { seed: 1 });
const img = () => wt.randn([1, 2, 5, 5], { seed: 2 });
const seq = () => wt.randn([2, 3, 4], { seed: 3 });
const labels = () => wt.tensor(new Int32Array([2, 0]));
const sgd = () => new optim.SGD([nn.parameter(wt.randn([2]))], { lr: 0.1 });
const lin = () => new nn.Linear(3, 3);
const xy = () => [wt.randn([4, 3]), wt.randn([4, 3])];

const CASES: Case[] = [
  ['tensor', (o) => wt.tensor([1, 2], o), ['dtype', 'requiresGrad', 'shape']],
  ['zeros', (o) => wt.zeros([2], o), ['dtype', 'requiresGrad']],
  ['ones', (o) => wt.ones([2], o), ['dtype']],
  ['full', (o) => wt.full([2], 1, o), ['dtype']],
  ['zerosLike', (o) => wt.zerosLike(x(), o), ['dtype']],
  ['onesLike', (o) => wt.onesLike(x(), o), ['dtype']],
  ['fullLike', (o) => wt.fullLike(x(), 2, o), ['dtype']],
  ['arange', (o) => wt.arange(0, 4, 1, o), ['dtype']],
  ['linspace', (o) => wt.linspace(0, 1, 3, o), ['dtype']],
  ['eye', (o) => wt.eye(2, 2, o), ['dtype']],
  ['rand', (o) => wt.rand([2], o), ['seed']],
  ['randn', (o) => wt.randn([2], o), ['seed']],
  ['randint', (o) => wt.randint(0, 3, [2], o), ['seed']],
  ['normal', (o) => wt.normal([2], 0, 1, o), ['seed']],
  ['uniform', (o) => wt.uniform([2], 0, 1, o), ['seed']],
  ['init', (o) => wt.init(o), ['backend', 'device', 'fusion', 'waits']],
  ['CpuBackend', (o) => new wt.CpuBackend(o), ['float64']],
  ['backward', (o) => wt.randn([2], { requiresGrad: true }).sum().backward(undefined, o), ['retainGraph']],
  ['conv2d', (o) => wt.conv2d(img(), wt.randn([3, 2, 3, 3]), null, o), ['stride', 'padding', 'dilation', 'groups']],
  ['convTranspose2d', (o) => wt.convTranspose2d(img(), wt.randn([2, 3, 2, 2]), null, o), ['outputPadding']],
  ['maxPool2d', (o) => wt.maxPool2d(img(), 2, o), ['stride', 'padding', 'dilation', 'ceilMode']],
  ['avgPool2d', (o) => wt.avgPool2d(img(), 2, o), ['countIncludePad', 'ceilMode']],
  ['fusedAttention', (o) => wt.fusedAttention(seq(), seq(), seq(), o), ['causal', 'scale']],
  ['crossEntropy', (o) => wt.crossEntropy(x(), labels(), o), ['ignoreIndex', 'reduction']],
  ['batchNorm', (o) => wt.batchNorm(x(), wt.zeros([3]), wt.ones([3]), null, null, o), ['training', 'momentum', 'eps']],
  ['embedding', (o) => wt.embedding(labels(), wt.randn([3, 2]), o), ['paddingIdx']],
  ['compile', (o) => wt.compile((a: wt.Tensor) => a.mul(2), o), ['warmup']],
  ['gradcheck', (o) => wt.gradcheck((a) => a.sum(), [x()], o), ['eps', 'atol', 'rtol', 'check']],
  ['save', (o) => wt.save({ a: x() }, o), ['metadata', 'float16']],
  ['scaledDotProductAttention', (o) => nn.scaledDotProductAttention(seq(), seq(), seq(), o), ['attnMask', 'isCausal', 'dropoutP', 'scale']],
  ['summary', (o) => nn.summary(lin(), [2, 3], o), ['dtype']],
  ['init.kaimingUniform', (o) => nn.init.kaimingUniform(x(), o), ['a', 'mode', 'nonlinearity']],
  ['init.kaimingNormal', (o) => nn.init.kaimingNormal(x(), o), ['a', 'mode', 'nonlinearity']],
  ['mseLoss', (o) => F.mseLoss(x(), x(), o), ['reduction']],
  ['l1Loss', (o) => F.l1Loss(x(), x(), o), ['reduction']],
  ['huberLoss', (o) => F.huberLoss(x(), x(), o), ['reduction', 'delta']],
  ['bce', (o) => F.bce(x().sigmoid(), x().sigmoid(), o), ['reduction', 'weight']],
  ['bceWithLogits', (o) => F.bceWithLogits(x(), x().sigmoid(), o), ['reduction', 'weight', 'posWeight']],
  ['crossEntropy', (o) => F.crossEntropy(x(), labels(), o), ['reduction', 'ignoreIndex', 'labelSmoothing', 'weight']],
  ['nllLoss', (o) => F.nllLoss(x(), labels(), o), ['reduction', 'ignoreIndex', 'weight']],
  ['hingeLoss', (o) => F.hingeLoss(x(), x(), o), ['reduction', 'margin']],
  ['Linear', (o) => new nn.Linear(3, 2, o), ['bias']],
  ['Conv2d', (o) => new nn.Conv2d(2, 3, 3, o), ['stride', 'padding', 'dilation', 'groups', 'bias']],
  ['ConvTranspose2d', (o) => new nn.ConvTranspose2d(2, 3, 2, o), ['outputPadding', 'bias']],
  ['MaxPool2d', (o) => new nn.MaxPool2d(2, o), ['stride', 'padding', 'dilation', 'ceilMode']],
  ['AvgPool2d', (o) => new nn.AvgPool2d(2, o), ['countIncludePad']],
  ['Embedding', (o) => new nn.Embedding(4, 2, o), ['paddingIdx']],
  ['LayerNorm', (o) => new nn.LayerNorm(3, o), ['eps', 'elementwiseAffine']],
  ['BatchNorm1d', (o) => new nn.BatchNorm1d(3, o), ['eps', 'momentum', 'affine']],
  ['BatchNorm2d', (o) => new nn.BatchNorm2d(3, o), ['eps', 'momentum', 'affine']],
  ['MultiheadAttention', (o) => new nn.MultiheadAttention(4, 2, o), ['dropout', 'bias', 'batchFirst', 'kdim', 'vdim']],
  ['MultiheadAttention.forward', (o) => new nn.MultiheadAttention(4, 2).forward(seq(), seq(), seq(), o), ['keyPaddingMask', 'attnMask', 'isCausal', 'needWeights', 'averageAttnWeights']],
  ['TransformerEncoderLayer', (o) => new nn.TransformerEncoderLayer(4, 2, o), ['dimFeedforward', 'dropout', 'activation', 'layerNormEps', 'batchFirst', 'normFirst', 'bias']],
  ['TransformerEncoderLayer.forward', (o) => new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 }).forward(seq(), o), ['srcMask', 'srcKeyPaddingMask', 'isCausal']],
  ['TransformerEncoder.forward', (o) => new nn.TransformerEncoder(() => new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 }), 1).forward(seq(), o), ['mask', 'srcKeyPaddingMask', 'isCausal']],
  // issue 21's layers
  ['conv1d', (o) => F.conv1d(seq(), wt.randn([2, 3, 2]), null, o), ['stride', 'padding', 'dilation', 'groups']],
  ['interpolate', (o) => F.interpolate(img(), { size: 3, ...o }), ['size', 'scaleFactor', 'mode', 'alignCorners', 'recomputeScaleFactor']],
  ['Conv1d', (o) => new nn.Conv1d(3, 2, 2, o), ['stride', 'padding', 'dilation', 'groups', 'bias', 'paddingMode']],
  ['GroupNorm', (o) => new nn.GroupNorm(1, 3, o), ['eps', 'affine']],
  ['Upsample', (o) => new nn.Upsample({ size: 3, ...o }), ['size', 'scaleFactor', 'mode', 'alignCorners', 'recomputeScaleFactor']],
  ['TransformerDecoderLayer', (o) => new nn.TransformerDecoderLayer(4, 2, o), ['dimFeedforward', 'dropout', 'activation', 'layerNormEps', 'batchFirst', 'normFirst', 'bias']],
  ['TransformerDecoderLayer.forward', (o) => new nn.TransformerDecoderLayer(4, 2, { dimFeedforward: 8 }).forward(seq(), seq(), o), ['tgtMask', 'memoryMask', 'tgtKeyPaddingMask', 'memoryKeyPaddingMask', 'tgtIsCausal', 'memoryIsCausal']],
  ['Transformer', (o) => new nn.Transformer(o), ['dModel', 'nhead', 'numEncoderLayers', 'numDecoderLayers', 'dimFeedforward', 'customEncoder', 'customDecoder']],
  ['Transformer.forward', (o) => new nn.Transformer({ dModel: 4, nhead: 2, numEncoderLayers: 1, numDecoderLayers: 1, dimFeedforward: 8 }).forward(seq(), seq(), o), ['srcMask', 'srcKeyPaddingMask', 'srcIsCausal', 'tgtMask', 'memoryKeyPaddingMask']],
  ['TransformerDecoder.forward', (o) => new nn.TransformerDecoder(() => new nn.TransformerDecoderLayer(4, 2, { dimFeedforward: 8 }), 1).forward(seq(), seq(), o), ['tgtMask', 'memoryMask', 'tgtIsCausal']],
  ['SinusoidalPositionalEncoding', (o) => new nn.SinusoidalPositionalEncoding(4, 8, o), ['dropout', 'batchFirst']],
  ['LearnedPositionalEmbedding', (o) => new nn.LearnedPositionalEmbedding(8, 4, o), ['batchFirst', 'std']],
  ['RNN', (o) => new nn.RNN(4, 5, o), ['numLayers', 'nonlinearity', 'bias', 'batchFirst', 'dropout', 'bidirectional']],
  ['LSTM', (o) => new nn.LSTM(4, 5, o), ['numLayers', 'bias', 'batchFirst', 'dropout', 'bidirectional']],
  ['GRU', (o) => new nn.GRU(4, 5, o), ['numLayers', 'bidirectional']],
  ['RNNCell', (o) => new nn.RNNCell(4, 5, o), ['bias', 'nonlinearity']],
  ['LSTMCell', (o) => new nn.LSTMCell(4, 5, o), ['bias']],
  ['GRUCell', (o) => new nn.GRUCell(4, 5, o), ['bias']],
  ['SGD', (o) => new optim.SGD([nn.parameter(wt.randn([2]))], o), ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov']],
  ['Adam', (o) => new optim.Adam([nn.parameter(wt.randn([2]))], o), ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad']],
  ['AdamW', (o) => new optim.AdamW([nn.parameter(wt.randn([2]))], o), ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad']],
  ['RMSprop', (o) => new optim.RMSprop([nn.parameter(wt.randn([2]))], o), ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered']],
  ['Adagrad', (o) => new optim.Adagrad([nn.parameter(wt.randn([2]))], o), ['lr', 'lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps']],
  ['StepLR', (o) => new optim.lr.StepLR(sgd(), { stepSize: 1, ...o }), ['stepSize', 'gamma']],
  ['MultiStepLR', (o) => new optim.lr.MultiStepLR(sgd(), { milestones: [1], ...o }), ['milestones', 'gamma']],
  ['ExponentialLR', (o) => new optim.lr.ExponentialLR(sgd(), { gamma: 0.9, ...o }), ['gamma']],
  ['CosineAnnealingLR', (o) => new optim.lr.CosineAnnealingLR(sgd(), { tMax: 3, ...o }), ['tMax', 'etaMin']],
  ['LinearWarmup', (o) => new optim.lr.LinearWarmup(sgd(), { warmupSteps: 2, ...o }), ['warmupSteps', 'startFactor', 'after']],
  ['ReduceLROnPlateau', (o) => new optim.lr.ReduceLROnPlateau(sgd(), o), ['mode', 'factor', 'patience', 'threshold', 'cooldown', 'minLr']],
  ['GradScaler', (o) => new wt.amp.GradScaler(o), ['initScale', 'growthFactor', 'backoffFactor', 'growthInterval', 'enabled']],
  ['DataLoader', (o) => new data.DataLoader(new data.TensorDataset(x()), o), ['batchSize', 'shuffle', 'seed', 'dropLast', 'collate']],
  ['loadMnist', (o) => data.loadMnist(o), ['dir', 'scale', 'trainLimit', 'testLimit']],
  ['compile', (o) => lin().compile(o), ['optimizer', 'lr', 'loss', 'metrics']],
  ['fit', (o) => lin().fit(xy(), { loss: 'mse', verbose: 0, ...o }), ['epochs', 'batchSize', 'validationSplit', 'callbacks', 'jitCompile', 'mixedPrecision']],
  ['evaluate', (o) => lin().evaluate(xy(), { loss: 'mse', ...o }), ['batchSize', 'loss', 'metrics']],
  ['predict', (o) => lin().predict(x(), o), ['batchSize']],
  ['fit', (o) => train.fit(lin(), xy(), { loss: 'mse', verbose: 0, ...o }), ['epochs']],
  ['EarlyStopping', (o) => new train.EarlyStopping(o), ['monitor', 'patience', 'minDelta', 'mode', 'restoreBestWeights', 'baseline']],
  ['LearningRateScheduler', (o) => new train.LearningRateScheduler((_e, lr) => lr, o), ['monitor', 'perBatch']],
  ['ModelCheckpoint', (o) => new train.ModelCheckpoint({ save: () => {}, ...o }), ['save', 'monitor', 'saveBestOnly', 'mode']],
];

/** Awaits a call's promise; returns what it threw or rejected with. */
async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return null;
  } catch (e) {
    return e;
  }
}

forEachBackend(() => {
  describe('an unknown option key is an ArgumentError naming the callee, the key and the known keys', () => {
    it.each(CASES.map((c, i) => [`${c[0]} (#${i})`, c] as const))('%s', async (_, [name, call, keys]) => {
      // the arguments are freed by tidy; an async callee's promise (rejected before its first await) is awaited outside
      const e = await thrown(() => wt.tidy(() => ({ r: call({ zzUnknown: 1 }) })).r);
      expect(e).toBeInstanceOf(wt.ArgumentError);
      const m = (e as Error).message;
      expect(m.startsWith(`${name}: unknown option 'zzUnknown' (`), m).toBe(true);
      for (const k of keys) expect(m, `${name} should list ${k}`).toMatch(new RegExp(`known: .*\\b${k}\\b`));
    });
  });

  it('a near miss is suggested', async () => {
    expect(() => F.crossEntropy(x(), labels(), { wieght: 1 } as never)).toThrow(
      "crossEntropy: unknown option 'wieght' (did you mean 'weight'? known: reduction, ignoreIndex, labelSmoothing, weight)",
    );
    expect(() => new nn.Linear(3, 2, { Bias: false } as never)).toThrow(/did you mean 'bias'\?/);
    expect(() => new data.DataLoader(new data.TensorDataset(x()), { batch_size: 4 } as never)).toThrow(/unknown option 'batch_size' \(did you mean 'batchSize'\?/);
    // nothing close: no suggestion
    expect(() => wt.zeros([2], { colour: 'red' } as never)).toThrow("zeros: unknown option 'colour' (known: dtype, requiresGrad)");
  });

  it('optimizer parameter groups and LambdaCallback hooks refuse unknown keys too', () => {
    const p = nn.parameter(wt.randn([2]));
    expect(() => new optim.SGD([{ params: [p], lr: 0.1, momentun: 0.9 } as never])).toThrow(
      /^SGD: unknown key 'momentun' in parameter group 0 \(did you mean 'momentum'\? known: params, lr, momentum, dampening, weightDecay, nesterov, initialLr\)/,
    );
    expect(() => new optim.Adam([{ params: [p] }, { params: [wt.randn([2], { requiresGrad: true })], betas: [0.8, 0.9], lR: 1 } as never])).toThrow(/^Adam: unknown key 'lR' in parameter group 1/);
    expect(() => new train.LambdaCallback({ onEpochEnds: () => {} } as never)).toThrow(/^LambdaCallback: unknown key 'onEpochEnds' in hooks \(did you mean 'onEpochEnd'\?/);
    expect(() => new train.LambdaCallback({ onEpochEnd: 5 } as never)).toThrow(/^LambdaCallback: onEpochEnd must be a function/);
  });

  it('options must be an object', () => {
    expect(() => wt.zeros([2], 'float32' as never)).toThrow(/^zeros: options must be an object, got "float32"/);
    expect(() => new nn.Linear(3, 2, null as never)).toThrow(/^Linear: options must be an object, got null/);
    expect(() => new optim.AdamW([nn.parameter(wt.randn([2]))], null as never)).toThrow(/^AdamW: options must be an object, got null/);
  });

  it('random ops make only the dtypes they can (as torch): floats for rand/randn/normal/uniform, int32 or float32 for randint', async () => {
    for (const [name, make] of [
      ['rand', (o: object) => wt.rand([3], o)],
      ['randn', (o: object) => wt.randn([3], o)],
      ['normal', (o: object) => wt.normal([3], 0, 1, o)],
      ['uniform', (o: object) => wt.uniform([3], 0, 1, o)],
    ] as const) {
      for (const dtype of ['int32', 'bool']) expect(() => make({ dtype }), `${name} ${dtype}`).toThrow(new RegExp(`^${name}: dtype must be float32, got ${dtype}`));
      const t = make({ dtype: 'float32', seed: 3 });
      expect(t.dtype).toBe('float32');
      t.dispose();
    }
    expect(() => wt.randint(0, 2, [3], { dtype: 'bool' })).toThrow(wt.DTypeError);
    const f = wt.randint(0, 5, [64], { dtype: 'float32', seed: 1 });
    expect(f.dtype).toBe('float32');
    const v = Array.from(await f.data());
    expect(v.every((a) => Number.isInteger(a) && a >= 0 && a < 5)).toBe(true);
    f.dispose();
    // normal and uniform honour requiresGrad with their float32 dtype
    const n = wt.normal([2], 1, 0.5, { dtype: 'float32', requiresGrad: true });
    expect(n.requiresGrad).toBe(true);
    n.dispose();
  });
});
