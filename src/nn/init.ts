/**
 * Parameter initialisers (in place, under noGrad), as torch.nn.init. Fans follow PyTorch:
 * fanIn = size(1) * receptive field, fanOut = size(0) * receptive field. Errors name the
 * initialiser the user called (`init.xavierUniform: ...`).
 */
import { noGrad } from '../engine.js';
import { tidy } from '../memory.js';
import { checkFloat, checkNumber, checkOneOf, checkOptionalNumber, checkOptions, checkTensor } from '../validate.js';
import { ShapeError, fmt } from '../errors.js';
import { rand, randn } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';

/** The tensor an initialiser fills: a live float32 tensor. */
function checkTarget(op: string, t: unknown): asserts t is Tensor {
  checkFloat(op, 'tensor', t);
}

function fans(op: string, t: Tensor): { fanIn: number; fanOut: number } {
  checkTarget(op, t);
  if (t.ndim < 2) throw new ShapeError(`${op}: fans need a tensor with at least 2 dims, got ${fmt(t.shape)}`);
  const rf = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * rf, fanOut: t.shape[0] * rf };
}

/** fanIn and fanOut of a weight tensor (>= 2 dims). @example init.calculateFans(linear.weight) */
export function calculateFans(t: Tensor): { fanIn: number; fanOut: number } {
  return fans('init.calculateFans', t);
}

const NONLINEARITIES = ['linear', 'conv', 'sigmoid', 'tanh', 'relu', 'leakyRelu', 'selu'] as const;

function gain(op: string, nonlinearity: unknown, param: unknown): number {
  checkOneOf(op, 'nonlinearity', nonlinearity, NONLINEARITIES);
  const slope = checkNumber(op, 'param', param, { finite: true });
  switch (nonlinearity) {
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leakyRelu': return Math.sqrt(2 / (1 + slope * slope));
    case 'selu': return 3 / 4;
    default: return 1;
  }
}

/** Recommended gain for a nonlinearity (torch.nn.init.calculate_gain). @example init.calculateGain('relu') // √2 */
export function calculateGain(nonlinearity: (typeof NONLINEARITIES)[number], param = 0.01): number {
  return gain('init.calculateGain', nonlinearity, param);
}

function fillFrom(op: string, t: Tensor, make: () => Tensor): Tensor {
  checkTarget(op, t);
  // tidy: `make` builds intermediates (u.mul(..).add(..)) that must not outlive the fill
  noGrad(() => tidy(() => {
    t.copy_(make());
  }));
  return t;
}

function fillUniform(op: string, t: Tensor, a: number, b: number, seed?: number): Tensor {
  seed = checkOptionalNumber(op, 'seed', seed, { finite: true });
  return fillFrom(op, t, () => {
    const u = rand([...t.shape], { seed });
    const r = u.mul(b - a).add(a);
    u.dispose();
    return r;
  });
}

function fillNormal(op: string, t: Tensor, mean: number, std: number, seed?: number): Tensor {
  seed = checkOptionalNumber(op, 'seed', seed, { finite: true });
  return fillFrom(op, t, () => {
    const z = randn([...t.shape], { seed });
    const r = z.mul(std).add(mean);
    z.dispose();
    return r;
  });
}

/** U(a, b) in place. @example init.uniform(w, -0.1, 0.1) */
export function uniform(t: Tensor, a = 0, b = 1, seed?: number): Tensor {
  checkNumber('init.uniform', 'a', a, { finite: true });
  checkNumber('init.uniform', 'b', b, { finite: true });
  return fillUniform('init.uniform', t, a, b, seed);
}

/** N(mean, std²) in place. @example init.normal(w, 0, 0.02) */
export function normal(t: Tensor, mean = 0, std = 1, seed?: number): Tensor {
  checkNumber('init.normal', 'mean', mean, { finite: true });
  checkNumber('init.normal', 'std', std, { finite: true, min: 0 });
  return fillNormal('init.normal', t, mean, std, seed);
}

/** `value` everywhere, in place (any dtype). @example init.constant(b, 0.1) */
export function constant(t: Tensor, value: number | boolean): Tensor {
  checkTensor('init.constant', 'tensor', t);
  if (typeof value !== 'boolean') checkNumber('init.constant', 'value', value);
  noGrad(() => t.fill_(value));
  return t;
}
/** Zeros in place. @example init.zeros(b) */
export const zeros = (t: Tensor): Tensor => {
  checkTensor('init.zeros', 'tensor', t);
  return constant(t, 0);
};
/** Ones in place. @example init.ones(gamma) */
export const ones = (t: Tensor): Tensor => {
  checkTensor('init.ones', 'tensor', t);
  return constant(t, 1);
};

/** Glorot uniform, U(±gain·√(6 / (fanIn + fanOut))). @example init.xavierUniform(w) */
export function xavierUniform(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans('init.xavierUniform', t);
  checkNumber('init.xavierUniform', 'gain', gain, { finite: true });
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return fillUniform('init.xavierUniform', t, -a, a);
}

/** Glorot normal, N(0, gain²·2 / (fanIn + fanOut)). @example init.xavierNormal(w) */
export function xavierNormal(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans('init.xavierNormal', t);
  checkNumber('init.xavierNormal', 'gain', gain, { finite: true });
  return fillNormal('init.xavierNormal', t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export interface KaimingOptions {
  /** negative slope of the rectifier after this layer (leaky relu) */
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: 'relu' | 'leakyRelu' | 'linear' | 'tanh' | 'sigmoid';
}

function kaimingStd(op: string, t: Tensor, o: KaimingOptions): number {
  checkOptions(op, o, ['a', 'mode', 'nonlinearity']);
  const f = fans(op, t);
  const mode = checkOneOf(op, 'mode', o.mode ?? 'fanIn', ['fanIn', 'fanOut']);
  return gain(op, o.nonlinearity ?? 'leakyRelu', o.a ?? 0) / Math.sqrt(mode === 'fanOut' ? f.fanOut : f.fanIn);
}

/** He uniform (torch.nn.init.kaiming_uniform_). @example init.kaimingUniform(w, { nonlinearity: 'relu' }) */
export function kaimingUniform(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('init.kaimingUniform', t, o);
  return fillUniform('init.kaimingUniform', t, -bound, bound);
}

/** He normal (torch.nn.init.kaiming_normal_). @example init.kaimingNormal(w, { mode: 'fanOut' }) */
export function kaimingNormal(t: Tensor, o: KaimingOptions = {}): Tensor {
  return fillNormal('init.kaimingNormal', t, 0, kaimingStd('init.kaimingNormal', t, o));
}
