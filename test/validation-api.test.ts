/**
 * Bad input across the library API — nn layer constructors and forwards, modules' state dicts,
 * losses, optimizers, schedulers, gradient clipping, datasets and loaders, the training loop and
 * callbacks, model files — on the CPU and WebGPU backends: every case throws a typed
 * WebtensorError naming the class or function (see validation-harness.ts).
 */
import { afterAll, beforeAll, describe } from 'vitest';
import * as wt from '../src/index.js';
import { table, type Case } from './validation-harness.js';

const { nn, optim, data, train, F } = wt;
const { ArgumentError: Arg, ShapeError: Shape, DTypeError: DType, FormatError: Format } = wt;

const f = {} as {
  x: wt.Tensor; y: wt.Tensor; labels: wt.Tensor; seq: wt.Tensor; img: wt.Tensor; p: wt.Tensor; lin: wt.nn.Linear; opt: wt.optim.SGD;
};

const layers: Case[] = [
  ['Linear: zero features', () => new nn.Linear(0, 3), Arg, /^Linear: inFeatures/],
  ['Linear: a string size', () => new nn.Linear('4' as never, 3), Arg, /^Linear:/],
  ['Linear: bias option not boolean', () => new nn.Linear(4, 3, { bias: 'no' as never }), Arg, /^Linear: bias/],
  ['Linear.forward: wrong features', () => f.lin.forward(wt.ones([2, 5])), Shape, /^Linear.forward: input must be \[\.\.\., 3\].*got \[2,5\]/],
  ['Linear.forward: not a tensor', () => f.lin.forward('x' as never), Arg, /^Linear.forward: input must be a Tensor/],
  ['Linear.forward: an int input', () => f.lin.forward(wt.ones([2, 3], { dtype: 'int32' })), DType, /^Linear.forward: input must be float32, got int32/],
  ['Linear: unknown option', () => new nn.Linear(4, 3, { bais: false } as never), Arg, /^Linear: unknown option 'bais' \(did you mean 'bias'\? known: bias\)/],
  ['Conv2d: kernel 0', () => new nn.Conv2d(3, 8, 0), Arg, /^Conv2d: kernelSize/],
  ['Conv2d: a string kernel', () => new nn.Conv2d(3, 8, 'a' as never), Arg, /^Conv2d: kernelSize/],
  ['Conv2d: stride 0', () => new nn.Conv2d(3, 8, 3, { stride: 0 }), Arg, /^Conv2d: stride/],
  ['Conv2d: groups not dividing', () => new nn.Conv2d(3, 8, 3, { groups: 2 }), Arg, /^Conv2d:.*groups/],
  ['Conv2d.forward: wrong channels', () => new nn.Conv2d(4, 2, 3).forward(f.img), Shape, /^Conv2d.forward:.*inChannels 4.*got \[2,3,6,6\]/],
  ['ConvTranspose2d: zero channels', () => new nn.ConvTranspose2d(0, 3, 2), Arg, /^ConvTranspose2d:/],
  ['ConvTranspose2d: groups not dividing', () => new nn.ConvTranspose2d(3, 4, 2, { groups: 3 }), Arg, /^ConvTranspose2d:.*groups/],
  ['MaxPool2d: kernel 0', () => new nn.MaxPool2d(0), Arg, /^MaxPool2d:/],
  ['AvgPool2d: negative kernel', () => new nn.AvgPool2d(-1), Arg, /^AvgPool2d:/],
  ['AdaptiveAvgPool2d: size 0', () => new nn.AdaptiveAvgPool2d(0), Arg, /^AdaptiveAvgPool2d:/],
  ['Flatten: a string dim', () => new nn.Flatten('a' as never), Arg, /^Flatten:/],
  ['Dropout: p above 1', () => new nn.Dropout(2), Arg, /^Dropout: p/],
  ['Embedding: zero rows', () => new nn.Embedding(0, 3), Arg, /^Embedding:/],
  ['Embedding: paddingIdx out of range', () => new nn.Embedding(5, 3, { paddingIdx: 9 }), undefined, /^(Embedding|select):/],
  ['Embedding.forward: float indices', () => new nn.Embedding(5, 3).forward(f.x), DType, /^Embedding.forward: indices must be int32/],
  ['LayerNorm: zero size', () => new nn.LayerNorm(0), Arg, /^LayerNorm:/],
  ['LayerNorm: negative dim', () => new nn.LayerNorm([2, -1]), Arg, /^LayerNorm:/],
  ['LayerNorm: a string eps', () => new nn.LayerNorm(4, { eps: 'a' as never }), Arg, /^LayerNorm: eps/],
  ['BatchNorm1d: zero features', () => new nn.BatchNorm1d(0), Arg, /^BatchNorm1d:/],
  ['BatchNorm1d: momentum above 1', () => new nn.BatchNorm1d(3, { momentum: 2 }), Arg, /^BatchNorm1d: momentum/],
  ['BatchNorm2d.forward: wrong rank', () => new nn.BatchNorm2d(3).forward(f.x), Shape, /^BatchNorm2d.forward: input must be \[N, 3, H, W\]/],
  ['BatchNorm1d.forward: wrong features', () => new nn.BatchNorm1d(5).forward(f.x), Shape, /^BatchNorm1d.forward:.*numFeatures 5/],
  ['Sequential: not a module', () => new nn.Sequential(5 as never), Arg, /^Sequential:/],
  ['LeakyReLU: a string slope', () => new nn.LeakyReLU('a' as never), Arg, /^LeakyReLU:/],
  ['ELU: a string alpha', () => new nn.ELU('a' as never), Arg, /^ELU:/],
  ['GELU: unknown approximation', () => new nn.GELU('fast' as never), Arg, /^GELU:/],
  ['Softmax: a string dim', () => new nn.Softmax('a' as never), Arg, /^Softmax:/],
  ['PReLU: zero slopes', () => new nn.PReLU(0), Arg, /^PReLU:/],
  ['MultiheadAttention: heads not dividing', () => new nn.MultiheadAttention(10, 3), Arg, /^MultiheadAttention:/],
  ['MultiheadAttention: zero dim', () => new nn.MultiheadAttention(0, 1), Arg, /^MultiheadAttention:/],
  ['MultiheadAttention.forward: wrong embed dim', () => new nn.MultiheadAttention(4, 2).forward(f.seq, f.seq, f.seq), Shape, /^(MultiheadAttention|linear)/],
  ['TransformerEncoderLayer: heads not dividing', () => new nn.TransformerEncoderLayer(8, 3), Arg, /^(TransformerEncoderLayer|MultiheadAttention):/],
  ['TransformerEncoderLayer: unknown activation', () => new nn.TransformerEncoderLayer(8, 2, { activation: 'swish' as never }), Arg, /^TransformerEncoderLayer: activation/],
  ['TransformerEncoder: zero layers', () => new nn.TransformerEncoder(() => new nn.TransformerEncoderLayer(8, 2), 0), Arg, /^TransformerEncoder:/],
  ['SinusoidalPositionalEncoding: zero dim', () => new nn.SinusoidalPositionalEncoding(0), Arg, /^SinusoidalPositionalEncoding:/],
  ['RNN: zero input size', () => new nn.RNN(0, 4), Arg, /^RNN:/],
  ['LSTM: zero layers', () => new nn.LSTM(3, 4, { numLayers: 0 }), Arg, /^LSTM:/],
  ['GRU: a string hidden size', () => new nn.GRU(3, 'a' as never), Arg, /^GRU:/],
  ['LSTM.forward: wrong input size', () => new nn.LSTM(4, 4).forward(f.seq), Shape, /^LSTM.forward:/],
  ['LSTM.forward: a lone tensor as the state', () => new nn.LSTM(5, 4).forward(f.seq, wt.zeros([1, 3, 4]) as never), Arg, /^LSTM.forward: the state must be a pair/],
  ['RNN.forward: null input', () => new nn.RNN(5, 4).forward(null as never), Arg, /^RNN.forward: input must be a Tensor, got null/],
  ['GRUCell.forward: an int input', () => new nn.GRUCell(3, 4).forward(wt.ones([2, 3], { dtype: 'int32' })), DType, /^GRUCell.forward: input must be float32/],
  ['RNNCell: zero hidden', () => new nn.RNNCell(3, 0), Arg, /^RNNCell:/],
  ['loadStateDict: not an object', () => f.lin.loadStateDict('a' as never), Arg, /^loadStateDict:/],
  ['loadStateDict: a missing key', () => f.lin.loadStateDict({ weight: f.lin.weight }), Arg, /missing keys \[bias\]/],
  ['loadStateDict: wrong shape', () => f.lin.loadStateDict({ weight: wt.ones([2, 2]), bias: wt.ones([3]) }), Shape, /^loadStateDict: weight/],
  ['loadStateDict: not a tensor', () => f.lin.loadStateDict({ weight: [1] as never, bias: f.lin.bias! }), Arg, /^loadStateDict: weight/],
  ['nn.init.kaimingUniform: a 1-D tensor', () => nn.init.kaimingUniform(wt.ones([3])), Shape, /^init.kaimingUniform: fans need/],
  ['nn.init.uniform: not a tensor', () => nn.init.uniform('a' as never), Arg, /^init.uniform: tensor must be a Tensor/],
  ['nn.init.calculateGain: unknown nonlinearity', () => nn.init.calculateGain('swish' as never), Arg, /^init.calculateGain: nonlinearity/],
  ['Flatten.forward: null', () => new nn.Flatten().forward(null as never), Arg, /^Flatten.forward: input must be a Tensor/],
  ['PReLU.forward: wrong channels', () => new nn.PReLU(4).forward(f.x), Shape, /^PReLU.forward:.*numSlopes 4/],
  ['MultiheadAttention.forward: undefined key', () => new nn.MultiheadAttention(5, 1).forward(f.seq, undefined as never, f.seq), Arg, /^MultiheadAttention.forward: key must be a Tensor/],
  ['TransformerEncoderLayer.forward: wrong features', () => new nn.TransformerEncoderLayer(8, 2).forward(f.seq), Shape, /^TransformerEncoderLayer.forward: src must be/],
  ['TransformerEncoderLayer: unknown option', () => new nn.TransformerEncoderLayer(8, 2, { dimFeedForward: 16 } as never), Arg, /did you mean 'dimFeedforward'/],
  ['SinusoidalPositionalEncoding.forward: a string', () => new nn.SinusoidalPositionalEncoding(4).forward('a' as never), Arg, /^SinusoidalPositionalEncoding.forward: input must be a Tensor/],
];

const losses: Case[] = [
  ['mseLoss: shapes differ', () => F.mseLoss(f.x, wt.ones([3])), Shape, /^mseLoss:/],
  ['mseLoss: a string target', () => F.mseLoss(f.x, 'a' as never), Arg, /^mseLoss:/],
  ['mseLoss: unknown reduction', () => F.mseLoss(f.x, f.x, { reduction: 'avg' as never }), Arg, /^mseLoss: reduction/],
  ['l1Loss: not a tensor input', () => F.l1Loss(5 as never, f.x), Arg, /^l1Loss:/],
  ['huberLoss: negative delta', () => F.huberLoss(f.x, f.x, { delta: -1 }), Arg, /^huberLoss: delta/],
  ['bce: an int target', () => F.bce(f.p, wt.zerosLike(f.p, { dtype: 'int32' })), DType, /^bce:/],
  ['bceWithLogits: weight shape', () => F.bceWithLogits(f.x, f.x, { weight: wt.ones([5]) }), Shape, /^bceWithLogits:/],
  ['crossEntropy: labelSmoothing above 1', () => F.crossEntropy(f.x, f.labels, { labelSmoothing: 2 }), Arg, /labelSmoothing/],
  ['crossEntropy: a string target', () => F.crossEntropy(f.x, 'a' as never), Arg, /^crossEntropy:/],
  ['crossEntropy: class out of range', () => F.crossEntropy(f.x, wt.tensor(new Int32Array([0, 1, 2, 9]))), Arg, /^crossEntropy:.*range/],
  ['nllLoss: wrong shapes', () => F.nllLoss(f.x, wt.ones([3])), Shape, /^nllLoss:/],
  ['nllLoss: class out of range', () => F.nllLoss(f.x.logSoftmax(1), wt.tensor(new Int32Array([0, 1, 2, 9]))), Arg, /^nllLoss:.*range/],
  ['hingeLoss: a string input', () => F.hingeLoss('a' as never, f.x), Arg, /^hingeLoss:/],
];

const optimizers: Case[] = [
  ['SGD: empty parameters', () => new optim.SGD([]), Arg, /^SGD:/],
  ['SGD: not a list', () => new optim.SGD('a' as never), Arg, /^SGD:/],
  ['SGD: a non-tensor parameter', () => new optim.SGD([f.p, 5 as never]), Arg, /^SGD:/],
  ['SGD: an int parameter', () => new optim.SGD([wt.ones([2], { dtype: 'int32' })]), DType, /^SGD:/],
  ['SGD: negative lr', () => new optim.SGD([f.p], { lr: -1 }), Arg, /^SGD: lr/],
  ['SGD: a string lr', () => new optim.SGD([f.p], { lr: 'a' as never }), Arg, /^SGD: lr/],
  ['SGD: negative momentum', () => new optim.SGD([f.p], { momentum: -1 }), Arg, /^SGD: momentum/],
  ['SGD: nesterov without momentum', () => new optim.SGD([f.p], { nesterov: true }), Arg, /^SGD: nesterov/],
  ['Adam: beta of 1.5', () => new optim.Adam([f.p], { betas: [1.5, 0.9] }), Arg, /^Adam: betas/],
  ['Adam: betas not a pair', () => new optim.Adam([f.p], { betas: 'a' as never }), Arg, /^Adam: betas/],
  ['Adam: negative eps', () => new optim.Adam([f.p], { eps: -1 }), Arg, /^Adam: eps/],
  ['AdamW: negative weight decay', () => new optim.AdamW([f.p], { weightDecay: -1 }), Arg, /^AdamW: weightDecay/],
  ['RMSprop: negative alpha', () => new optim.RMSprop([f.p], { alpha: -1 }), Arg, /^RMSprop: alpha/],
  ['Adagrad: negative lrDecay', () => new optim.Adagrad([f.p], { lrDecay: -1 }), Arg, /^Adagrad: lrDecay/],
  ['loadStateDict: not a state dict', () => f.opt.loadStateDict('a' as never), Arg, /^SGD.loadStateDict:/],
  ['loadStateDict: too many groups', () => f.opt.loadStateDict({ paramGroups: [{ lr: 1 }, { lr: 2 }], state: {} }), Arg, /^SGD.loadStateDict:.*groups/],
  ['clipGradNorm: zero max', () => optim.clipGradNorm([f.p], 0), Arg, /^clipGradNorm:/],
  ['clipGradNorm: not a list', () => optim.clipGradNorm(5 as never, 1), Arg, /^clipGradNorm:/],
  ['clipGradValue: negative clip', () => optim.clipGradValue([f.p], -1), Arg, /^clipGradValue:/],
  ['StepLR: stepSize 0', () => new optim.lr.StepLR(f.opt, { stepSize: 0 }), Arg, /^StepLR:/],
  ['StepLR: not an optimizer', () => new optim.lr.StepLR('a' as never, { stepSize: 1 }), Arg, /^StepLR:/],
  ['MultiStepLR: milestones not a list', () => new optim.lr.MultiStepLR(f.opt, { milestones: 'a' as never }), Arg, /^MultiStepLR:/],
  ['ExponentialLR: no gamma', () => new optim.lr.ExponentialLR(f.opt, {} as never), Arg, /^ExponentialLR: gamma/],
  ['CosineAnnealingLR: tMax 0', () => new optim.lr.CosineAnnealingLR(f.opt, { tMax: 0 }), Arg, /^CosineAnnealingLR:/],
  ['LinearWarmup: negative steps', () => new optim.lr.LinearWarmup(f.opt, { warmupSteps: -1 }), Arg, /^LinearWarmup:/],
  ['ReduceLROnPlateau: unknown mode', () => new optim.lr.ReduceLROnPlateau(f.opt, { mode: 'up' as never }), Arg, /^ReduceLROnPlateau: mode/],
  ['ReduceLROnPlateau: factor 1.5', () => new optim.lr.ReduceLROnPlateau(f.opt, { factor: 1.5 }), Arg, /^ReduceLROnPlateau: factor/],
  ['ReduceLROnPlateau.step: a string metric', () => new optim.lr.ReduceLROnPlateau(f.opt).step('a' as never), Arg, /^ReduceLROnPlateau.step:/],
];

const dataCases: Case[] = [
  ['TensorDataset: lengths differ', () => new data.TensorDataset(f.x, wt.ones([3])), Shape, /^TensorDataset:/],
  ['TensorDataset: not a tensor', () => new data.TensorDataset('a' as never), Arg, /^TensorDataset:/],
  ['TensorDataset.get: out of range', () => new data.TensorDataset(f.x).get(99), Arg, /out of range/],
  ['Subset: index out of range', () => new data.Subset(new data.TensorDataset(f.x), [99]), Arg, /^Subset:/],
  ['randomSplit: lengths not summing', () => data.randomSplit(new data.TensorDataset(f.x), [1, 1]), undefined, /^randomSplit:/],
  ['randperm: negative n', () => data.randperm(-1, 0), Arg, /^randperm:/],
  ['DataLoader: batch size 0', () => new data.DataLoader(new data.TensorDataset(f.x), { batchSize: 0 }), Arg, /^DataLoader: batchSize/],
  ['DataLoader: not a dataset', () => new data.DataLoader('a' as never), Arg, /^DataLoader:/],
  ['DataLoader: collate not a function', () => new data.DataLoader(new data.TensorDataset(f.x), { collate: 'a' as never }), Arg, /^DataLoader: collate/],
  ['DataLoader: shuffle not a boolean', () => new data.DataLoader(new data.TensorDataset(f.x), { shuffle: 'yes' as never }), Arg, /^DataLoader: shuffle/],
  ['defaultCollate: empty', () => data.defaultCollate([]), Arg, /^defaultCollate:/],
  ['normalize: std 0', () => data.normalize(f.img, 0, 0), Arg, /^normalize:/],
  ['normalize: wrong channel count', () => data.normalize(f.img, [1, 2], [1, 1]), Shape, /^normalize:/],
  ['normalize: not a tensor', () => data.normalize('a' as never, 0, 1), Arg, /^normalize:/],
  ['randomCrop: larger than the image', () => data.randomCrop(f.img, 99), Shape, /^randomCrop:/],
  ['randomHorizontalFlip: p of 2', () => data.randomHorizontalFlip(f.img, 2), Arg, /^randomHorizontalFlip:/],
  ['parseIdx: garbage', () => data.parseIdx(new Uint8Array([1, 2, 3, 4, 5])), undefined, /IDX/],
  ['CharTokenizer: not a string', () => new data.CharTokenizer(5 as never), Arg, /^CharTokenizer:/],
  ['CharTokenizer.encode: an unknown character', () => new data.CharTokenizer('ab').encode('abc'), Arg, /^CharTokenizer/],
  ['CharDataset: block longer than the text', () => new data.CharDataset('abc', 10), Arg, /^CharDataset:/],
];

const training: Case[] = [
  ['fit: bad data', () => f.lin.fit('a' as never, { loss: 'mse' }), Arg, /^fit:/],
  ['fit: negative epochs', () => f.lin.fit([f.x, f.y], { loss: 'mse', epochs: -1 }), Arg, /^fit: epochs/],
  ['fit: batch size 0', () => f.lin.fit([f.x, f.y], { loss: 'mse', batchSize: 0 }), Arg, /^fit:.*batchSize/],
  ['fit: unknown loss', () => f.lin.fit([f.x, f.y], { loss: 'nope' as never }), Arg, /loss/],
  ['fit: unknown metric', () => f.lin.fit([f.x, f.y], { loss: 'mse', metrics: ['nope' as never] }), Arg, /metric/],
  ['fit: validationSplit of 2', () => f.lin.fit([f.x, f.y], { loss: 'mse', validationSplit: 2 }), Arg, /validationSplit/],
  ['fit: unknown optimizer', () => f.lin.fit([f.x, f.y], { loss: 'mse', optimizer: 'nope' as never }), Arg, /optimizer/],
  ['fit: x and y lengths differ', () => f.lin.fit([f.x, wt.ones([3, 3])], { loss: 'mse' }), Shape, /TensorDataset|fit/],
  ['compile: optimizer a number', () => f.lin.compile({ optimizer: 5 as never }), Arg, /optimizer/],
  ['predict: not a tensor', () => f.lin.predict('a' as never), Arg, /^predict:/],
  ['evaluate: no loss', () => new nn.Linear(4, 3).evaluate([f.x, f.y]), Arg, /loss/],
  ['EarlyStopping: negative patience', () => new train.EarlyStopping({ patience: -1 }), Arg, /^EarlyStopping: patience/],
  ['EarlyStopping: unknown mode', () => new train.EarlyStopping({ mode: 'up' as never }), Arg, /^EarlyStopping: mode/],
  ['LearningRateScheduler: not a scheduler', () => new train.LearningRateScheduler('a' as never), Arg, /^LearningRateScheduler:/],
  ['ModelCheckpoint: no save', () => new train.ModelCheckpoint({} as never), Arg, /^ModelCheckpoint:/],
  ['accuracy: a string target', () => train.accuracy(f.x, 'a' as never), Arg, /^accuracy:/],
];

const io: Case[] = [
  ['save: not a state dict', () => wt.save(5 as never), Arg, /^save:/],
  ['save: a non-tensor value', () => wt.save({ a: 5 } as never), Arg, /^save: "a"/],
  ['save: a number path', () => wt.save({ x: f.x }, 5 as never), Arg, /^save:/],
  ['load: a number', () => wt.load(5 as never), Arg, /^load:/],
  ['load: garbage bytes', () => wt.load(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), Format, /^load: malformed/],
  ['load: a missing file', () => wt.load('/nonexistent/model.safetensors'), Arg, /^load: cannot open/],
  ['loadOptimizerState: a model file', () => wt.save({ x: f.x }).then((b) => wt.loadOptimizerState(b)), Format, /^loadOptimizerState:/],
  ['setDebug: a string', () => wt.setDebug('on' as never), Arg, /^setDebug:/],
];

for (const name of ['cpu', 'webgpu'] as const) {
  describe(`bad input on ${name}`, () => {
    let be: wt.Backend;
    beforeAll(async () => {
      be = await wt.init({ backend: name });
      f.x = wt.randn([4, 3], { seed: 1 });
      f.y = wt.randn([4, 3], { seed: 2 });
      f.labels = wt.tensor(new Int32Array([0, 2, 1, 2]));
      f.seq = wt.randn([2, 3, 5], { seed: 3 });
      f.img = wt.randn([2, 3, 6, 6], { seed: 4 });
      f.p = wt.rand([4], { seed: 5, requiresGrad: true });
      f.lin = new nn.Linear(3, 3);
      f.opt = new optim.SGD(f.lin.parameters(), { lr: 0.1 });
    });
    afterAll(() => {
      f.lin.dispose();
      f.opt.dispose();
      wt.dispose([f.x, f.y, f.labels, f.seq, f.img, f.p]);
      be.destroy();
    });
    describe('nn layers', () => table(layers));
    describe('losses', () => table(losses));
    describe('optimizers and schedulers', () => table(optimizers));
    describe('data', () => table(dataCases));
    describe('training', () => table(training));
    describe('model files and runtime', () => table(io));
  });
}
