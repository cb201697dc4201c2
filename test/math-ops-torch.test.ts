/**
 * Agreement with PyTorch 1.13 for issue 21's math ops: the new elementwise functions (special
 * values, gradients, int32 inputs), fmod's and atan2's sign rules, maskedFill, repeat, roll, bmm,
 * einsum, scatter and the new losses, outputs and gradients.
 *
 * test/fixtures/math_ops.py computes each case with PyTorch into math-ops.json (the output, and
 * the gradients of sum(out · w) with w = linspace(0.5, 1.5) over the output); here each case is
 * spelled again in webtensor under the same name and run on every backend.
 */
import { expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';

type Json = number | string;
interface TensorJson { shape: number[]; dtype: string; data: Json[] }
interface InputJson { data: unknown; dtype: wt.DType; grad: boolean }
interface CaseJson { name: string; inputs: InputJson[]; out?: TensorJson; grads?: (TensorJson | null)[]; error?: string }
const fixture = JSON.parse(readFileSync(new URL('./fixtures/math-ops.json', import.meta.url), 'utf8')) as { torch: string; cases: CaseJson[] };

type Run = (...xs: wt.Tensor[]) => wt.Tensor;
const F = wt.F;

const UNARY = ['tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh', 'log2', 'log10', 'trunc'] as const;
const CASES: Record<string, Run> = {};
for (const op of UNARY) {
  // the method for the special values, the function for the rest (both are public)
  CASES[`${op}: special values`] = (x) => x[op]();
  CASES[`${op}: gradient`] = (x) => wt[op](x);
  CASES[`${op}: int32 input`] = (x) => x[op]();
}
Object.assign(CASES, {
  'atan2: special values': (y, x) => y.atan2(x),
  'atan2: gradient, broadcast': (y, x) => wt.atan2(y, x),
  'atan2: int32': (y, x) => y.atan2(x),
  'fmod: special values': (a, b) => a.fmod(b),
  'fmod: int32': (a, b) => wt.fmod(a, b),
  'fmod: int32 by a number': (a) => a.fmod(3),
  'fmod: float by a number': (a) => a.fmod(-1.5),
  'fmod: gradient, broadcast': (a, b) => a.fmod(b),
  'maskedFill: broadcast mask': (x, m) => x.maskedFill(m, -1.5),
  'maskedFill: full mask, inf': (x, m) => wt.maskedFill(x, m, -Infinity),
  'maskedFill: int32, float value': (x, m) => x.maskedFill(m, 2.7),
  'maskedFill: 0-d tensor value': (x, m, v) => x.maskedFill(m, v),
  'repeat: extra leading dims': (x) => x.repeat(2, 1, 2),
  'repeat: 1-D': (x) => wt.repeat(x, 3),
  'repeat: 0-d': (x) => x.repeat([2, 3]),
  'repeat: zero count': (x) => x.repeat(0, 2),
  'repeat: int32': (x) => wt.repeat(x, [2, 2]),
  'roll: flattened': (x) => x.roll(5),
  'roll: negative, flattened': (x) => wt.roll(x, -2),
  'roll: one dim': (x) => x.roll(1, 1),
  'roll: two dims, negative': (x) => x.roll([-1, 6], [0, 1]),
  'roll: shift past the size': (x) => x.roll(7, 0),
  'roll: same dim twice': (x) => x.roll([1, 1], [1, -1]),
  bmm: (a, b) => wt.bmm(a, b),
  'scatter: dim 0, src': (x, i, s) => wt.scatter(x, 0, i, s),
  'scatter: dim 1, index smaller than src': (x, i, s) => x.scatter(1, i, s),
  'scatter: value': (x, i) => x.scatter(1, i, -0.5),
  'scatter: int32': (x, i, s) => wt.scatter(x, 0, i, s),
  'klDiv: mean': (x, t) => F.klDiv(x, t),
  'klDiv: batchmean': (x, t) => F.klDiv(x, t, { reduction: 'batchmean' }),
  'klDiv: sum': (x, t) => new wt.nn.KLDivLoss({ reduction: 'sum' }).forward(x, t),
  'klDiv: none': (x, t) => F.klDiv(x, t, { reduction: 'none' }),
  'klDiv: target gradient': (x, t) => F.klDiv(x, t, { reduction: 'batchmean' }),
  'klDiv: logTarget': (x, t) => F.klDiv(x, t, { reduction: 'batchmean', logTarget: true }),
  'klDiv: broadcast target': (x, t) => F.klDiv(x, t, { reduction: 'sum' }),
  'smoothL1Loss: default': (x, t) => F.smoothL1Loss(x, t),
  'smoothL1Loss: beta 0.5, sum': (x, t) => new wt.nn.SmoothL1Loss({ reduction: 'sum', beta: 0.5 }).forward(x, t),
  'smoothL1Loss: beta 0, none': (x, t) => F.smoothL1Loss(x, t, { reduction: 'none', beta: 0 }),
  'smoothL1Loss: beta 2, none': (x, t) => F.smoothL1Loss(x, t, { reduction: 'none', beta: 2 }),
  'cosineEmbeddingLoss: mean': (a, b, y) => F.cosineEmbeddingLoss(a, b, y),
  'cosineEmbeddingLoss: margin, none': (a, b, y) => new wt.nn.CosineEmbeddingLoss({ margin: -0.2, reduction: 'none' }).forward(a, b, y),
  'cosineEmbeddingLoss: int32 labels, sum': (a, b, y) => F.cosineEmbeddingLoss(a, b, y, { reduction: 'sum' }),
  'cosineEmbeddingLoss: 1-D': (a, b, y) => F.cosineEmbeddingLoss(a, b, y),
  'marginRankingLoss: default': (a, b, y) => F.marginRankingLoss(a, b, y),
  'marginRankingLoss: margin, none': (a, b, y) => new wt.nn.MarginRankingLoss({ margin: 0.3, reduction: 'none' }).forward(a, b, y),
  'marginRankingLoss: sum': (a, b, y) => F.marginRankingLoss(a, b, y, { margin: 0.1, reduction: 'sum' }),
} satisfies Record<string, Run>);
for (const c of fixture.cases) {
  if (c.name.startsWith('einsum ')) {
    const eq = c.name.slice('einsum '.length);
    CASES[c.name] = (...xs) => wt.einsum(eq, ...xs);
  }
}

const num = (v: Json): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));
const decode = (v: unknown): unknown => (Array.isArray(v) ? v.map(decode) : typeof v === 'string' ? num(v) : v);

it('every fixture case has a webtensor spelling, and every spelling a case', () => {
  expect(fixture.torch).toMatch(/^1\.13/);
  expect(fixture.cases.map((c) => c.name).filter((n) => !(n in CASES))).toEqual([]);
  expect(Object.keys(CASES).filter((n) => !fixture.cases.some((c) => c.name === n))).toEqual([]);
  expect(fixture.cases.every((c) => c.out)).toBe(true);
});

forEachBackend(() => {
  for (const c of fixture.cases) {
    it(c.name, async () => {
      const xs = c.inputs.map((inp) => wt.tensor(decode(inp.data) as number[], { dtype: inp.dtype, requiresGrad: inp.grad }));
      const out = CASES[c.name](...xs);
      const want = c.out!;
      expect(out.shape).toEqual(want.shape);
      expect(out.dtype).toBe(want.dtype);
      expectClose(Array.from(await out.data() as ArrayLike<number>), want.data.map(num), 1e-6, 1e-5, `${c.name}: output`);
      if (c.grads) {
        const w = out.numel() > 1 ? wt.linspace(0.5, 1.5, out.numel()).reshape([...out.shape]) : wt.ones([...out.shape]);
        out.mul(w).sum().backward();
        for (let i = 0; i < xs.length; i++) {
          const g = c.grads[i];
          if (!g) continue;
          // a gradient that is zero everywhere (trunc's, as floor's) is left unset here
          if (!xs[i].grad && g.data.every((v) => v === 0)) continue;
          expect(xs[i].grad, `${c.name}: gradient of input ${i}`).toBeTruthy();
          expect(xs[i].grad!.shape).toEqual(g.shape);
          expectClose(Array.from(await xs[i].grad!.data() as ArrayLike<number>), g.data.map(num), 1e-5, 1e-4, `${c.name}: gradient of input ${i}`);
        }
      }
    });
  }
});
