/**
 * Agreement with PyTorch 1.13 on the cases where webtensor used to differ (issue 19, section 3):
 * prod's gradient with zero factors, reductions over nothing, torch's dtype rules (bool + bool,
 * int32 pow and clamp), special values (pow, remainder, floorDivide, sign), chunk, negative pads,
 * class weights in crossEntropy / nllLoss, value checks (bce, int32 ranges), in-place changes of
 * tensors saved for backward, and chained learning-rate schedulers.
 *
 * test/fixtures/torch_agreement.py computes each case with PyTorch (outputs, gradients, or that
 * it raises) into torch-agreement.json; here each is spelled again in webtensor under the same
 * name and run on every backend. Where PyTorch raises, webtensor must throw a WebtensorError
 * (at the call or, on WebGPU, at the read) whose message matches the pattern given here.
 */
import { expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';

type Json = number | string;
interface TensorJson { shape: number[]; dtype: string; data: Json[] }
interface InputJson { data: unknown; dtype: wt.DType; grad?: boolean }
interface CaseJson { name: string; inputs: InputJson[]; out?: TensorJson | TensorJson[]; grads?: (TensorJson | null)[]; error?: string }
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torch-agreement.json', import.meta.url), 'utf8')) as {
  torch: string; cases: CaseJson[]; schedulers: Record<string, number[]>;
};

type Run = (...xs: wt.Tensor[]) => wt.Tensor | wt.Tensor[];
/** webtensor's spelling of each fixture case; `error`: the message PyTorch's refusal becomes. */
const CASES: Record<string, Run | { run: Run; error: RegExp }> = {
  'prod: one zero': (x) => x.prod(),
  'prod: two zeros': (x) => x.prod(),
  'prod: rows with and without zeros': (x) => x.prod(1),
  'prod: keepdim over dim 0': (x) => x.prod(0, true),
  'all: empty': (x) => x.all(),
  'all: zero-size dim': (x) => x.all(1),
  'any: empty': (x) => x.any(),
  'logsumexp: empty': (x) => x.logsumexp(0),
  'logsumexp: zero-size dim 0': (x) => x.T.logsumexp(0),
  'sum: empty': (x) => x.sum(),
  'mean: empty': (x) => x.mean(),
  'bool add bool': (a, b) => a.add(b),
  'bool mul bool': (a, b) => a.mul(b),
  'bool maximum bool': (a, b) => a.maximum(b),
  'bool minimum bool': (a, b) => a.minimum(b),
  'bool sub bool': { run: (a, b) => a.sub(b), error: /^sub: subtracting bool tensors/ },
  'bool neg': { run: (a) => a.neg(), error: /^neg: negating a bool tensor/ },
  'bool add int scalar': (a) => a.add(1),
  'int pow scalar': (a) => a.pow(2),
  'int pow int tensor': (a, b) => a.pow(b),
  'int pow negative tensor': (a, b) => a.pow(b),
  'int pow wraps': (a) => a.pow(21),
  'int pow negative scalar': { run: (a) => a.pow(-1), error: /^pow: an integer tensor to a negative integer power/ },
  'int pow float scalar': (a) => a.pow(0.5),
  'int clamp int': (a) => a.clamp(0, 5),
  'int clamp min only': (a) => a.clamp(0),
  'int clamp float': (a) => a.clamp(-0.5, 2.5),
  'int square': (a) => a.square(),
  'float clamp': (a) => a.clamp(-1, 1),
  'pow: 1 and -1 to inf and nan': (a, b) => a.pow(b),
  'pow: zero exponents and bases': (a, b) => a.pow(b),
  'pow: to +inf': (a) => a.pow(Infinity),
  'pow: integer exponents': (a) => a.pow(3),
  'remainder: by +inf': (a) => a.remainder(Infinity),
  'remainder: by -inf': (a) => a.remainder(-Infinity),
  'remainder: finite': (a, b) => a.remainder(b),
  'remainder: of inf': (a) => a.remainder(2),
  'floorDivide: infinities': (a, b) => a.floorDivide(b),
  'floorDivide: finite': (a, b) => a.floorDivide(b),
  'int floorDivide and remainder': (a, b) => wt.stack([a.floorDivide(b), a.remainder(b)]),
  'sign: NaN and zeros': (a) => a.sign(),
  'chunk: zero-size dim': (x) => x.T.chunk(3, 0),
  'chunk: 5 in 3': (x) => x.chunk(3),
  'chunk: 6 in 4': (x) => x.chunk(4),
  'pad: negative crops': (x) => x.pad([-1, 0, 1, -2]),
  'pad: crop to nothing': (x) => x.pad([-2, -2]),
  'pad: crop past the size': { run: (x) => x.pad([-3, -2]), error: /^pad: pads \[-3,-2\] crop dim 0 of shape \[4\] below size 0/ },
  'pad: reflect with a crop': (x) => wt.F.pad(x, [-1, 1], 'reflect'),
  'pad: replicate with a crop': (x) => wt.F.pad(x, [2, -1], 'replicate'),
  'crossEntropy: class weights, mean': (x, t, w) => wt.F.crossEntropy(x, t, { weight: w }),
  'crossEntropy: class weights, sum': (x, t, w) => wt.F.crossEntropy(x, t, { weight: w, reduction: 'sum' }),
  'crossEntropy: class weights, none': (x, t, w) => wt.F.crossEntropy(x, t, { weight: w, reduction: 'none' }),
  'crossEntropy: class weights and ignoreIndex': (x, t, w) => wt.F.crossEntropy(x, t, { weight: w }),
  'crossEntropy: class weights and labelSmoothing': (x, t, w) => wt.F.crossEntropy(x, t, { weight: w, labelSmoothing: 0.2 }),
  'crossEntropy: class weights, probability targets': (x, t, w) => wt.F.crossEntropy(x, t, { weight: w, labelSmoothing: 0.1 }),
  'crossEntropy: class weights over [N,C,d]': (x, t, w) => wt.F.crossEntropy(x, t, { weight: w }),
  'nllLoss: class weights': (x, t, w) => wt.F.nllLoss(x.logSoftmax(1), t, { weight: w }),
  'nllLoss: class weights and ignoreIndex, sum': (x, t, w) => wt.F.nllLoss(x.logSoftmax(1), t, { weight: w, reduction: 'sum' }),
  'bce: input above 1': { run: (x, t) => wt.F.bce(x, t), error: /^bce: every element of input \[2\] must be a probability in \[0, 1\]/ },
  'bce: input below 0': { run: (x, t) => wt.F.bce(x, t), error: /^bce: every element/ },
  'bce: NaN input': { run: (x, t) => wt.F.bce(x, t), error: /^bce: every element/ },
  'bce: in range, with 0 and 1': (x, t) => wt.F.bce(x, t),
  'int32 tensor of 2^31': { run: () => wt.tensor([2 ** 31], { dtype: 'int32' }), error: /^tensor: value 2147483648 does not fit in int32/ },
  'int32 tensor of -2^31': () => wt.tensor([-(2 ** 31)], { dtype: 'int32' }),
  'int32 tensor of NaN': { run: () => wt.tensor([NaN], { dtype: 'int32' }), error: /^tensor: value NaN does not fit in int32/ },
  'randint beyond int32': { run: () => wt.randint(0, 2 ** 40, [4]), error: /^randint: high must be an integer <= 2147483648/ },
  'int32 arithmetic wraps': (a) => a.add(wt.tensor([1, -1], { dtype: 'int32' })),
  'sigmoid of int32 extremes': (a) => a.sigmoid(),
  'in-place change of a saved input': { run: inplaceSaved, error: /^backward: a tensor saved for the gradient of square \(float32 \[2\]\) was modified by an in-place operation: it is at version 1, expected version 0/ },
  'in-place change of a saved output': { run: inplaceSavedOutput, error: /^backward: a tensor saved for the gradient of exp .* at version 1, expected version 0/ },
  'in-place change of an unsaved tensor': inplaceUnsaved,
  'in-place add on an expanded view': { run: (x) => x.expand([2, 3]).add_(1), error: /^add_: more than one element of the written-to tensor \(shape \[2,3\], strides \[0,1\]\) refers to a single memory location/ },
  'in-place copy into an expanded view': { run: (x, s) => x.expand([2, 3]).copy_(s), error: /^copy_: more than one element/ },
  'fill of an expanded view': (x) => x.expand([2, 3]).fill_(7),
};

function inplaceSaved(x0: wt.Tensor): wt.Tensor {
  const x = x0.requiresGrad_();
  const y = x.mul(2);
  const z = y.square().sum();
  wt.noGrad(() => y.add_(1));
  z.backward();
  return x.grad!;
}

function inplaceSavedOutput(x0: wt.Tensor): wt.Tensor {
  const x = x0.requiresGrad_();
  const y = x.exp();
  const z = y.sum();
  wt.noGrad(() => y.mul_(0));
  z.backward();
  return x.grad!;
}

function inplaceUnsaved(x0: wt.Tensor): wt.Tensor {
  const x = x0.requiresGrad_();
  const y = x.mul(2);
  const z = y.add(1).sum();
  wt.noGrad(() => y.add_(1));
  z.backward();
  return x.grad!;
}

const decodeNested = (v: unknown): unknown => (Array.isArray(v) ? v.map(decodeNested) : typeof v === 'string' ? decode(v) : v);
const decode = (v: Json): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));

async function expectTensor(t: wt.Tensor, want: TensorJson, what: string): Promise<void> {
  expect(t.shape, `${what}: shape`).toEqual(want.shape);
  expect(t.dtype, `${what}: dtype`).toBe(want.dtype);
  const got = Array.from(await t.data());
  const exp = want.data.map(decode);
  if (want.dtype === 'float32') expectClose(got, exp, 1e-6, 1e-5, what);
  else expect(got, what).toEqual(exp);
}

/** Runs fn, reading every tensor it returns (so a check deferred to the next read reports). */
async function settle(fn: () => wt.Tensor | wt.Tensor[]): Promise<{ out?: wt.Tensor | wt.Tensor[]; error?: unknown }> {
  try {
    const out = fn();
    for (const t of Array.isArray(out) ? out : [out]) await t.data();
    return { out };
  } catch (error) {
    return { error };
  }
}

forEachBackend((kind) => {
  it(`has a webtensor spelling of every PyTorch case (fixture from torch ${fixture.torch})`, () => {
    expect(Object.keys(CASES).sort()).toEqual(fixture.cases.map((c) => c.name).sort());
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const spec = CASES[name];
    const run = typeof spec === 'function' ? spec : spec.run;
    const inputs = c.inputs.map((s) => wt.tensor(decodeNested(s.data) as never, { dtype: s.dtype, requiresGrad: s.grad }));
    try {
      const r = await settle(() => run(...inputs));
      if (c.error !== undefined) {
        expect(r.error, `PyTorch raises "${c.error}", webtensor returned a value`).toBeInstanceOf(wt.WebtensorError);
        expect((r.error as Error).message).toMatch((spec as { error: RegExp }).error);
        return;
      }
      if (r.error) throw r.error;
      const outs = Array.isArray(r.out) ? r.out : [r.out!];
      const wants = Array.isArray(c.out) ? c.out : [c.out!];
      expect(outs.length, 'number of outputs').toBe(wants.length);
      for (let i = 0; i < outs.length; i++) await expectTensor(outs[i], wants[i], `${kind} ${name} output ${i}`);
      if (c.grads) {
        const out = outs[0];
        out.backward(out.numel() === 1 ? undefined : wt.onesLike(out));
        for (let i = 0; i < c.grads.length; i++) {
          const g = c.grads[i];
          if (g) await expectTensor(inputs[i].grad!, g, `${kind} ${name} gradient of input ${i}`);
        }
      }
    } finally {
      wt.dispose(inputs);
    }
  });

  it.each(Object.entries(fixture.schedulers))('learning rates: %s', (name, want) => {
    const p = wt.ones([1], { requiresGrad: true });
    const opt = new wt.optim.SGD([p], { lr: 1 });
    const { StepLR, ExponentialLR, MultiStepLR, CosineAnnealingLR, LinearWarmup } = wt.optim.lr;
    const build: Record<string, () => { step(): void }[]> = {
      'StepLR and ExponentialLR stepped together': () => [new StepLR(opt, { stepSize: 2, gamma: 0.5 }), new ExponentialLR(opt, { gamma: 0.9 })],
      'MultiStepLR and StepLR stepped together': () => [new MultiStepLR(opt, { milestones: [1, 3], gamma: 0.1 }), new StepLR(opt, { stepSize: 2, gamma: 0.5 })],
      'CosineAnnealingLR': () => [new CosineAnnealingLR(opt, { tMax: 4, etaMin: 0.1 })],
      'CosineAnnealingLR after a manual change': () => [new CosineAnnealingLR(opt, { tMax: 5, etaMin: 0.05 })],
      'ExponentialLR after a manual change': () => [new ExponentialLR(opt, { gamma: 0.5 })],
      'LinearLR warm-up': () => [new LinearWarmup(opt, { warmupSteps: 4, startFactor: 0.2 })],
    };
    const scheds = build[name]();
    const got: number[] = [];
    for (let i = 0; i < want.length; i++) {
      scheds.forEach((s) => s.step());
      if (name.endsWith('after a manual change') && i === 2) opt.paramGroups[0].lr = 0.3;
      got.push(opt.lr);
    }
    expectClose(got, want, 1e-12, 1e-12, name);
    p.dispose();
  });
});
