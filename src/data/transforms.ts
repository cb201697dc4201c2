/**
 * Batch transforms done with tensor ops, so they run on the device next to the data instead of
 * pixel loops on the host: normalisation and seeded image augmentation for [N, C, H, W] batches.
 *
 * @example
 * const xb = wt.tidy(() => wt.data.randomHorizontalFlip(wt.data.randomCrop(images, 28, 2, step), 0.5, step));
 */
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { arange, rand, tensor } from '../ops/creation.js';
import { where } from '../ops/functions.js';
import { Tensor } from '../tensor.js';
import { checkFloat, checkNumber, checkOptionalNumber, checkTensor, describeValue } from '../validate.js';
import { MAX_NUMEL, broadcastShapes } from '../shape.js';

type Stat = number | readonly number[] | Tensor;

function asStat(name: string, v: Stat, x: Tensor): Tensor | number {
  if (typeof v === 'number') return checkNumber('normalize', name, v, { finite: true });
  if (v instanceof Tensor) {
    checkFloat('normalize', name, v);
    broadcastShapes('normalize', x.shape, v.shape);
    return v;
  }
  if (!Array.isArray(v) || !v.length || !v.every((s) => typeof s === 'number' && Number.isFinite(s))) {
    throw new ArgumentError(`normalize: ${name} must be a number, a list of per-channel numbers or a tensor, got ${describeValue(v)}`);
  }
  // per-channel values apply to dim -3, as torchvision's Normalize on [C,H,W] or [N,C,H,W]
  if (x.ndim < 3 || x.shape[x.ndim - 3] !== v.length) {
    throw new ShapeError(`normalize: ${v.length} per-channel ${name} values need the channel dim (-3) of x to be ${v.length}, got x ${fmt(x.shape)}`);
  }
  return tensor([...v]).reshape([v.length, 1, 1]);
}

/**
 * (x - mean) / std, with scalar, per-channel (dim -3) or broadcastable tensor statistics.
 * @example const x = wt.data.normalize(images, 0.1307, 0.3081); // MNIST's mean and std
 */
export function normalize(x: Tensor, mean: Stat, std: Stat): Tensor {
  checkFloat('normalize', 'x', x);
  if (typeof std === 'number' && std === 0) throw new ArgumentError('normalize: std must not be 0');
  if (Array.isArray(std) && std.some((s) => s === 0)) throw new ArgumentError(`normalize: std must not contain 0, got ${describeValue(std)}`);
  return tidy(() => {
    const m = asStat('mean', mean, x), s = asStat('std', std, x);
    return x.sub(m).div(s);
  });
}

function checkBatch4(op: string, x: Tensor): void {
  checkTensor(op, 'x', x);
  if (x.ndim !== 4) throw new ShapeError(`${op}: expected a batch of images [N,C,H,W], got ${fmt(x.shape)}`);
}

/**
 * Pads each image by `padding` zeros on every side, then crops a `size` window at a random
 * offset per image (torchvision's RandomCrop, for a batch). The offsets come from the seeded
 * device RNG, so a seed gives the same crops on every backend; without a seed the global
 * generator (wt.manualSeed) advances.
 *
 * @example const crops = wt.data.randomCrop(x, 32, 4, epoch); // CIFAR-style, x [N,3,32,32]
 */
export function randomCrop(x: Tensor, size: number | readonly [number, number], padding = 0, seed?: number): Tensor {
  checkBatch4('randomCrop', x);
  const [h, w] = typeof size === 'number' ? [size, size] : Array.isArray(size) && size.length === 2 ? size : [NaN, NaN];
  if (![h, w].every((v) => Number.isInteger(v) && v > 0)) throw new ArgumentError(`randomCrop: size must be a positive integer or a pair of them, got ${describeValue(size)}`);
  checkNumber('randomCrop', 'padding', padding, { int: true, min: 0 });
  seed = checkOptionalNumber('randomCrop', 'seed', seed, { finite: true });
  const [N, C, H, W] = x.shape;
  const Hp = H + 2 * padding, Wp = W + 2 * padding;
  if (N * C * Hp * Wp > MAX_NUMEL) throw new ArgumentError(`randomCrop: padding ${padding} makes the batch ${fmt([N, C, Hp, Wp])}, more elements than a tensor holds (${MAX_NUMEL})`);
  if (h > Hp || w > Wp) throw new ShapeError(`randomCrop: crop ${h}x${w} is larger than the padded image ${Hp}x${Wp} (x ${fmt(x.shape)}, padding ${padding})`);
  return tidy(() => {
    const xp = padding ? x.pad([padding, padding, padding, padding]) : x;
    // one uniform pair per image → integer offsets in [0, Hp-h] × [0, Wp-w]; the clamp guards
    // against float rounding of u·(m+1) up to m+1
    const u = rand([N, 2, 1, 1], { seed });
    const oy = u.narrow(1, 0, 1).mul(Hp - h + 1).floor().clamp(0, Hp - h).int();
    const ox = u.narrow(1, 1, 1).mul(Wp - w + 1).floor().clamp(0, Wp - w).int();
    // rows first: index [N,C,h,Wp] picks rows oy..oy+h of each image, then columns the same way
    const rows = oy.add(arange(h).reshape([1, 1, h, 1])).expand([N, C, h, Wp]);
    const cols = ox.add(arange(w).reshape([1, 1, 1, w])).expand([N, C, h, w]);
    return xp.gather(2, rows).gather(3, cols);
  });
}

/**
 * Mirrors each sample of a batch left–right (its last dim) with probability p, choosing per
 * sample with the seeded device RNG.
 * @example const flipped = wt.data.randomHorizontalFlip(x, 0.5, 7); // x [N,C,H,W]
 */
export function randomHorizontalFlip(x: Tensor, p = 0.5, seed?: number): Tensor {
  checkTensor('randomHorizontalFlip', 'x', x);
  if (x.ndim < 2) throw new ShapeError(`randomHorizontalFlip: expected a batch [N,...,W] with at least 2 dims, got ${fmt(x.shape)}`);
  checkNumber('randomHorizontalFlip', 'p', p, { min: 0, max: 1 });
  seed = checkOptionalNumber('randomHorizontalFlip', 'seed', seed, { finite: true });
  return tidy(() => {
    const mask = rand([x.shape[0], ...new Array(x.ndim - 1).fill(1)], { seed }).lt(p);
    return where(mask, x.flip(-1), x);
  });
}
