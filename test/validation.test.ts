/**
 * Bad input across the tensor API — creation ops, Tensor methods, function forms, linear
 * algebra, convolution, normalisation and indexing — on the CPU and WebGPU backends: every case
 * throws a typed WebtensorError naming the op (see validation-harness.ts for what is checked).
 * The nn / optim / data / train / io tables are in validation-api.test.ts.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import * as wt from '../src/index.js';
import { table, type Case } from './validation-harness.js';

const { ArgumentError: Arg, ShapeError: Shape, DTypeError: DType, DisposedError: Disposed, BackendError: Backend } = wt;

/** Fixtures, made on each backend before its cases run. */
const f = {} as {
  x: wt.Tensor; xi: wt.Tensor; xb: wt.Tensor; x4: wt.Tensor; w4: wt.Tensor; leaf: wt.Tensor; dead: wt.Tensor; idx: wt.Tensor;
  /** a tensor on another backend */
  alien: wt.Tensor;
};

const creation: Case[] = [
  ['tensor: a string', () => wt.tensor('abc' as never), Arg, /^tensor:/],
  ['tensor: undefined', () => wt.tensor(undefined as never), Arg, /^tensor:/],
  ['tensor: ragged', () => wt.tensor([[1, 2], [3]]), Arg, /ragged/],
  ['tensor: a string element', () => wt.tensor([1, 'a'] as never), Arg, /^tensor:/],
  ['tensor: unknown dtype', () => wt.tensor([1], { dtype: 'float64' as never }), DType, /float64/],
  ['tensor: shape not filled', () => wt.tensor([1, 2], { shape: [3] }), Arg, /do not fill/],
  ['tensor: bad shape option', () => wt.tensor([1, 2], { shape: [-2, -1] }), Arg, /^tensor:/],
  ['tensor: options not an object', () => wt.tensor([1], 'float32' as never), Arg, /^tensor:/],
  ['zeros: a string shape', () => wt.zeros('ab' as never), Arg, /^zeros:.*shape/],
  ['zeros: negative dim', () => wt.zeros([2, -1]), Arg, /shape/],
  ['zeros: fractional dim', () => wt.zeros([1.5]), Arg, /shape/],
  ['zeros: unknown dtype', () => wt.zeros([2], { dtype: 'x' as never }), DType],
  ['ones: null shape', () => wt.ones(null as never), Arg, /shape/],
  ['zeros: more than memory holds', () => wt.zeros([1e5, 1e5]), wt.OutOfMemoryError, /^zeros: out of memory for a float32 tensor of shape \[100000,100000\]/],
  ['full: a string value', () => wt.full([2], 'x' as never), Arg, /^full: value/],
  ['full: no value', () => wt.full([2], undefined as never), Arg, /^full: value/],
  ['zerosLike: not a tensor', () => wt.zerosLike('a' as never), Arg, /zerosLike/],
  ['fullLike: a string value', () => wt.fullLike(f.x, 'a' as never), Arg, /^fullLike: value/],
  ['arange: a string', () => wt.arange('a' as never), Arg, /^arange:/],
  ['arange: zero step', () => wt.arange(0, 5, 0), Arg, /step/],
  ['arange: infinite end', () => wt.arange(0, Infinity), Arg, /^arange:/],
  ['arange: too many values', () => wt.arange(0, 1e13), Arg, /^arange:/],
  ['linspace: negative steps', () => wt.linspace(0, 1, -1), Arg, /steps/],
  ['linspace: a string start', () => wt.linspace('a' as never, 1, 3), Arg, /^linspace:/],
  ['eye: negative n', () => wt.eye(-1), Arg, /^eye:/],
  ['eye: fractional m', () => wt.eye(2, 2.5), Arg, /^eye:/],
  ['rand: a string seed', () => wt.rand([2], { seed: 'x' as never }), Arg, /seed/],
  ['randn: a string shape', () => wt.randn('a' as never), Arg, /shape/],
  ['randint: high <= low', () => wt.randint(5, 5, [2]), Arg, /randint/],
  ['randint: bad shape', () => wt.randint(0, 5, 'a' as never), Arg, /shape/],
  ['normal: negative std', () => wt.normal([2], 0, -1), Arg, /^normal: std/],
  ['uniform: low > high', () => wt.uniform([2], 1, 0), Arg, /^uniform:/],
  ['fromGPUBuffer: on the CPU backend or not a buffer', () => wt.fromGPUBuffer({} as never, [2]), undefined, /^fromGPUBuffer:/],
];

const methods: Case[] = [
  ['add: a string', () => f.x.add('a' as never), Arg, /^add:.*operand/],
  ['add: undefined', () => f.x.add(undefined as never), Arg, /^add:/],
  ['add: an array', () => f.x.add([1, 2] as never), Arg, /^add:/],
  ['add: bad alpha', () => f.x.add(f.x, 'a' as never), Arg, /^add: alpha/],
  ['add: broadcast mismatch', () => f.x.add(wt.ones([4])), Shape, /^add:.*\[2,3\].*\[4\]/],
  ['mul: a disposed tensor', () => f.x.mul(f.dead), Disposed, /^mul:/],
  ['add: a tensor of another backend', () => f.x.add(f.alien), Backend, /^add: tensors live on different backends/],
  ['matmul: a tensor of another backend', () => f.x.matmul(f.alien), Backend, /^matmul:.*different backends/],
  ['cat: tensors of two backends', () => wt.cat([f.x, f.alien]), Backend, /^cat:.*different backends/],
  ['exp: of a disposed tensor', () => f.dead.exp(), Disposed, /^exp:/],
  ['pow: a string exponent', () => f.x.pow('2' as never), Arg, /^pow:/],
  ['where: a string condition', () => wt.where('a' as never, f.x, f.x), Arg, /^where:/],
  ['leakyRelu: a string slope', () => f.x.leakyRelu('a' as never), Arg, /^leakyRelu:/],
  ['elu: a string alpha', () => f.x.elu('a' as never), Arg, /^elu:/],
  ['gelu: unknown approximation', () => f.x.gelu('fast' as never), Arg, /^gelu:.*approximate/],
  ['softplus: a string beta', () => f.x.softplus('a' as never), Arg, /^softplus:/],
  ['clamp: a string bound', () => f.x.clamp('a' as never), Arg, /^clamp:/],
  ['to: unknown dtype', () => f.x.to('float64' as never), DType, /float64/],
  ['sum: dim out of range', () => f.x.sum(5), Shape, /^sum: dim=5/],
  ['sum: a string dim', () => f.x.sum('a' as never), Arg, /^sum:/],
  ['sum: repeated dims', () => f.x.sum([0, 0]), Arg, /repeated/],
  ['sum: a string keepdim', () => f.x.sum(0, 'yes' as never), Arg, /^sum: keepdim/],
  ['mean: fractional dim', () => f.x.mean(1.5), Arg, /^mean:/],
  ['var: a string correction', () => f.x.var(0, false, 'a' as never), Arg, /^var: correction/],
  ['argmax: fractional dim', () => f.x.argmax(0.5), Arg, /^argmax:/],
  ['argmax: dim out of range', () => f.x.argmax(9), Shape, /^argmax:/],
  ['max: empty dim', () => wt.zeros([0, 3]).max(0), Shape, /^max:/],
  ['size: dim out of range', () => f.x.size(5), Shape, /^size:/],
  ['reshape: a string', () => f.x.reshape('a' as never), undefined, /^reshape:/],
  ['reshape: wrong size', () => f.x.reshape(4, 2), Shape, /\[2,3\].*\[4,2\]/],
  ['reshape: two -1s', () => f.x.reshape(-1, -1), Shape, /-1/],
  ['view: of a transposed tensor', () => f.x.T.view(6), Shape, /^view:.*reshape/],
  ['transpose: a string dim', () => f.x.transpose(0, 'a' as never), Arg, /^transpose:/],
  ['permute: too few dims', () => f.x.permute(0), Shape, /^permute:/],
  ['permute: repeated', () => f.x.permute(0, 0), Arg, /repeated/],
  ['expand: a string', () => f.x.expand('a' as never), undefined, /^expand:/],
  ['expand: incompatible', () => f.x.expand(4, 3), Shape, /^expand:/],
  ['squeeze: dim out of range', () => f.x.squeeze(5), Shape, /^squeeze:/],
  ['unsqueeze: a string dim', () => f.x.unsqueeze('a' as never), Arg, /^unsqueeze:/],
  ['flatten: start after end', () => f.x.flatten(1, 0), Arg, /^flatten:/],
  ['slice: dim out of range', () => f.x.slice(9), Shape, /^slice:/],
  ['slice: a string start', () => f.x.slice(0, 'a' as never), Arg, /^slice:/],
  ['slice: zero step', () => f.x.slice(0, 0, 2, 0), Arg, /^slice: step/],
  ['narrow: out of range', () => f.x.narrow(0, 0, 9), Shape, /^narrow:/],
  ['select: index out of range', () => f.x.select(0, 5), Shape, /^select:/],
  ['select: a string index', () => f.x.select(0, 'a' as never), undefined, /^select:/],
  ['split: size zero', () => f.x.split(0), Arg, /^split:/],
  ['split: a string', () => f.x.split('a' as never), Arg, /^split:/],
  ['split: sections not summing', () => f.x.split([1, 5]), Shape, /^split:/],
  ['chunk: zero chunks', () => f.x.chunk(0), Arg, /^chunk:/],
  ['pad: odd pads', () => f.x.pad([1]), Arg, /^pad:/],
  ['pad: a string', () => f.x.pad('a' as never), Arg, /^pad:/],
  ['pad: a string value', () => f.x.pad([1, 1], 'a' as never), Arg, /^pad: value/],
  ['flip: dim out of range', () => f.x.flip(7), Shape, /^flip:/],
  ['softmax: dim out of range', () => f.x.softmax(5), Shape, /^softmax:/],
  ['logSoftmax: a string dim', () => f.x.logSoftmax('a' as never), Arg, /^logSoftmax:/],
  ['gather: a float index', () => f.x.gather(0, f.x), DType, /^gather:.*int32/],
  ['gather: not a tensor', () => f.x.gather(0, 'a' as never), Arg, /^gather:/],
  ['indexSelect: out of range', () => f.x.indexSelect(0, wt.tensor(new Int32Array([9]))), undefined, /^indexSelect:/],
  ['matmul: a string', () => f.x.matmul('a' as never), Arg, /^matmul:/],
  ['matmul: inner dims', () => f.x.matmul(wt.ones([4, 5])), Shape, /^matmul:.*\[2,3\].*\[4,5\]/],
  ['mm: a 1-D operand', () => f.x.mm(wt.ones([3])), Shape, /^mm:/],
  ['copy_: a string', () => f.x.copy_('a' as never), Arg, /^copy_:/],
  ['copy_: no broadcast', () => f.x.copy_(wt.ones([4])), Shape, /^copy_:/],
  ['fill_: a string', () => f.x.fill_('a' as never), Arg, /^fill_:/],
  ['add_: a string', () => f.x.add_('a' as never), Arg, /^add_:/],
  ['add_: a string alpha', () => f.x.add_(f.x, 'a' as never), Arg, /^add_: alpha/],
  ['sub_: a leaf that requires grad', () => f.leaf.sub_(1), Arg, /noGrad/],
  ['backward: of a non-scalar', () => f.leaf.mul(2).backward(), undefined, /^backward:/],
  ['backward: gradient of the wrong shape', () => f.leaf.mul(2).backward(wt.ones([5])), Shape, /^backward:/],
  ['backward: gradient not a tensor', () => f.leaf.sum().backward('a' as never), Arg, /^backward:/],
  ['backward: of a tensor with no graph', () => f.x.sum().backward(), undefined, /^backward:/],
  ['requiresGrad_: of an int tensor', () => f.xi.requiresGrad_(), DType, /float32/],
  ['requiresGrad_: a string', () => f.x.detach().requiresGrad_('yes' as never), Arg, /^requiresGrad/],
  ['item: of many elements', () => f.x.item(), undefined, /^item:/],
  ['data: of a disposed tensor', () => f.dead.data(), Disposed, /^data:/],
  ['gpuBuffer: of a CPU tensor (or not contiguous)', () => f.x.T.gpuBuffer(), undefined, /^gpuBuffer:/],
];

const functions: Case[] = [
  ['cat: not a list', () => wt.cat('a' as never), Arg, /^cat:/],
  ['cat: a non-tensor item', () => wt.cat([f.x, 'a' as never]), Arg, /^cat:/],
  ['cat: empty', () => wt.cat([]), Arg, /^cat:/],
  ['cat: dim out of range', () => wt.cat([f.x, f.x], 5), Shape, /^cat:/],
  ['stack: a non-tensor item', () => wt.stack([f.x, 5 as never]), Arg, /^stack:/],
  ['stack: different shapes', () => wt.stack([f.x, wt.ones([3])]), Shape, /^stack:/],
  ['dropout: p above 1', () => wt.dropout(f.x, 2), Arg, /^dropout: p/],
  ['dropout: a string p', () => wt.dropout(f.x, 'a' as never), Arg, /^dropout: p/],
  ['linear: a string weight', () => wt.linear(f.x, 'a' as never), Arg, /^linear:/],
  ['linear: wrong in features', () => wt.linear(f.x, wt.ones([4, 5])), Shape, /^linear:/],
  ['conv2d: 2-D input', () => wt.conv2d(f.x, f.w4), Shape, /^conv2d:/],
  ['conv2d: stride 0', () => wt.conv2d(f.x4, f.w4, null, { stride: 0 }), Arg, /^conv2d: stride/],
  ['conv2d: unknown padding', () => wt.conv2d(f.x4, f.w4, null, { padding: 'full' as never }), Arg, /^conv2d: padding/],
  ['conv2d: channels', () => wt.conv2d(f.x4, wt.ones([2, 5, 3, 3])), Shape, /channels/],
  ['convTranspose2d: a string weight', () => wt.convTranspose2d(f.x4, 'w' as never), Arg, /^convTranspose2d:/],
  ['maxPool2d: kernel 0', () => wt.maxPool2d(f.x4, 0), Arg, /^maxPool2d:/],
  ['maxPool2d: a string kernel', () => wt.maxPool2d(f.x4, 'a' as never), Arg, /^maxPool2d:/],
  ['avgPool2d: negative stride', () => wt.avgPool2d(f.x4, 2, { stride: -1 }), Arg, /^avgPool2d:/],
  ['adaptiveAvgPool2d: size 0', () => wt.adaptiveAvgPool2d(f.x4, 0), Arg, /^adaptiveAvgPool2d:/],
  ['crossEntropy: target shape', () => wt.crossEntropy(f.x, wt.tensor(new Int32Array([0, 1, 2]))), Shape, /^crossEntropy:/],
  ['crossEntropy: class out of range', () => wt.crossEntropy(f.x, wt.tensor(new Int32Array([0, 7]))), undefined, /^crossEntropy:.*range/],
  ['crossEntropy: a string target', () => wt.crossEntropy(f.x, 'a' as never), Arg, /^crossEntropy:/],
  ['layerNorm: shape mismatch', () => wt.layerNorm(f.x, [5]), Shape, /^layerNorm:/],
  ['layerNorm: a string weight', () => wt.layerNorm(f.x, [3], 'a' as never), Arg, /^layerNorm:/],
  ['layerNorm: a string eps', () => wt.layerNorm(f.x, [3], null, null, 'a' as never), Arg, /^layerNorm: eps/],
  ['batchNorm: running stats shape', () => wt.batchNorm(f.x, wt.zeros([5]), wt.ones([5])), Shape, /^batchNorm:/],
  ['embedding: index out of range', () => wt.embedding(wt.tensor(new Int32Array([5])), f.x), undefined, /^embedding:/],
  ['embedding: float indices', () => wt.embedding(f.x, f.x), DType, /^embedding:/],
  ['scatterAdd: index larger than src', () => wt.scatterAdd(f.x, 0, f.idx, wt.ones([1, 2])), Shape, /^scatterAdd:/],
  ['oneHot: float input', () => wt.oneHot(f.x), DType, /^oneHot:/],
  ['oneHot: zero classes', () => wt.oneHot(f.idx, 0), undefined, /^oneHot:/],
  ['padMode: unknown mode', () => wt.padMode(f.x, [1, 1], 'weird' as never), Arg, /^padMode:/],
  ['noGrad: not a function', () => wt.noGrad('a' as never), Arg, /^noGrad:/],
  ['tidy: not a function', () => wt.tidy(5 as never), Arg, /^tidy:/],
  ['keep: not a tensor', () => wt.keep('a' as never), Arg, /^keep:/],
  ['manualSeed: a string', () => wt.manualSeed('a' as never), Arg, /^manualSeed:/],
  ['setBackend: not a backend', () => wt.setBackend('cpu' as never), Arg, /^setBackend:/],
  ['init: unknown backend', () => wt.init({ backend: 'tpu' as never }), Arg, /^init:/],
  ['init: not an options object', () => wt.init('cpu' as never), Arg, /^init:/],
  ['gradcheck: not a function', () => wt.gradcheck('a' as never, [f.x]), Arg, /^gradcheck:/],
];

for (const name of ['cpu', 'webgpu'] as const) {
  describe(`bad input on ${name}`, () => {
    let be: wt.Backend;
    beforeAll(async () => {
      be = await wt.init({ backend: name });
      f.x = wt.randn([2, 3], { seed: 1 });
      f.xi = wt.tensor(new Int32Array([1, 2, 3]));
      f.xb = wt.tensor([true, false]);
      f.x4 = wt.randn([1, 3, 5, 5], { seed: 2 });
      f.w4 = wt.randn([2, 3, 3, 3], { seed: 3 });
      f.leaf = wt.randn([2, 3], { seed: 4, requiresGrad: true });
      f.idx = wt.tensor(new Int32Array([0, 1, 0]), { shape: [1, 3] });
      f.dead = wt.ones([2]);
      f.dead.dispose();
      wt.setBackend(new wt.CpuBackend());
      f.alien = wt.ones([3, 2]);
      wt.setBackend(be);
    });
    afterAll(() => {
      wt.dispose(Object.values(f));
      be.destroy();
    });
    describe('creation', () => table(creation));
    describe('tensor methods', () => table(methods));
    describe('functions', () => table(functions));
  });
}
