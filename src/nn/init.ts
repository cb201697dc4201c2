/**
 * Parameter initialisers (in place, under noGrad), as torch.nn.init. Fans follow PyTorch:
 * fanIn = size(1) * receptive field, fanOut = size(0) * receptive field.
 */
import { noGrad } from '../engine.js';
import { tidy } from '../memory.js';
import { checkNumber, checkTensor } from '../validate.js';
import { ArgumentError, fmt } from '../errors.js';
import { rand, randn } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';

/** fanIn and fanOut of a weight tensor (>= 2 dims). */
export function calculateFans(t: Tensor): { fanIn: number; fanOut: number } {
  checkTensor('init', 'tensor', t);
  if (t.ndim < 2) throw new ArgumentError(`init: fans need a tensor with at least 2 dims, got ${fmt(t.shape)}`);
  const rf = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * rf, fanOut: t.shape[0] * rf };
}

/** Recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: 'linear' | 'conv' | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'selu', param = 0.01): number {
  switch (nonlinearity) {
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leakyRelu': return Math.sqrt(2 / (1 + param * param));
    case 'selu': return 3 / 4;
    default: return 1;
  }
}

function fillFrom(t: Tensor, make: () => Tensor): Tensor {
  checkTensor('init', 'tensor', t);
  // tidy: `make` builds intermediates (u.mul(..).add(..)) that must not outlive the fill
  noGrad(() => tidy(() => {
    t.copy_(make());
  }));
  return t;
}

/** U(a, b) in place. */
export function uniform(t: Tensor, a = 0, b = 1, seed?: number): Tensor {
  checkNumber('init.uniform', 'a', a, { finite: true });
  checkNumber('init.uniform', 'b', b, { finite: true });
  return fillFrom(t, () => {
    const u = rand([...t.shape], { seed });
    const r = u.mul(b - a).add(a);
    u.dispose();
    return r;
  });
}

/** N(mean, std²) in place. */
export function normal(t: Tensor, mean = 0, std = 1, seed?: number): Tensor {
  checkNumber('init.normal', 'mean', mean, { finite: true });
  checkNumber('init.normal', 'std', std, { finite: true, min: 0 });
  return fillFrom(t, () => {
    const z = randn([...t.shape], { seed });
    const r = z.mul(std).add(mean);
    z.dispose();
    return r;
  });
}

export function constant(t: Tensor, value: number): Tensor {
  checkTensor('init.constant', 'tensor', t);
  noGrad(() => t.fill_(value));
  return t;
}
export const zeros = (t: Tensor) => constant(t, 0);
export const ones = (t: Tensor) => constant(t, 1);

export function xavierUniform(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = calculateFans(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -a, a);
}

export function xavierNormal(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = calculateFans(t);
  return normal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export interface KaimingOptions {
  /** negative slope of the rectifier after this layer (leaky relu) */
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: 'relu' | 'leakyRelu' | 'linear' | 'tanh' | 'sigmoid';
}

function kaimingStd(t: Tensor, o: KaimingOptions): number {
  const fans = calculateFans(t);
  const fan = o.mode === 'fanOut' ? fans.fanOut : fans.fanIn;
  const gain = calculateGain(o.nonlinearity ?? 'leakyRelu', o.a ?? 0);
  return gain / Math.sqrt(fan);
}

export function kaimingUniform(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, o);
  return uniform(t, -bound, bound);
}

export function kaimingNormal(t: Tensor, o: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, o));
}
