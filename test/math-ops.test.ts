/**
 * Issue 21's math ops against float64 references computed here: the new elementwise functions
 * over wide domains (error in float32 ulps of the float64 result, on odd sizes), their exact
 * points (powers of 2 and 10, signed zeros), fused chains of them, gradients by finite
 * differences (and the backend's backward kernels against the CPU's), int32 fmod; then the
 * shape and argument rules of maskedFill, repeat, roll, bmm, einsum and scatter, with their
 * typed errors, and the new losses' modules and fit names. PyTorch agreement on fixed cases is
 * test/math-ops-torch.test.ts.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectIndexError, forEachBackend, gradcheck } from './backends.js';
import { expectClose, rng } from './helpers.js';

/** The distance from a to the float64 value e, in float32 ulps of e (0 when both are the same non-finite). */
function ulpError(a: number, e: number): number {
  if (Number.isNaN(e)) return Number.isNaN(a) ? 0 : Infinity;
  if (!Number.isFinite(e)) return a === e ? 0 : Infinity;
  const m = Math.max(Math.abs(e), 2 ** -126);
  const ulp = 2 ** (Math.floor(Math.log2(m)) - 23);
  return Math.abs(a - e) / ulp;
}

/** n float32 values: uniform on [lo, hi], or log-uniform in magnitude (either sign) when `log`. */
function sample(n: number, seed: number, lo: number, hi: number, log = false): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, (_, i) => {
    if (!log) return lo + (hi - lo) * r();
    const m = Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * r());
    return i % 2 ? -m : m;
  });
}

type Unary = 'tan' | 'asin' | 'acos' | 'atan' | 'sinh' | 'cosh' | 'asinh' | 'acosh' | 'atanh' | 'log2' | 'log10' | 'trunc';
/** op → float64 reference, sampled domain, and the ulps allowed on WebGPU (the CPU rounds the float64 result: 0.5) */
const DOMAINS: Record<Unary, { ref: (x: number) => number; lo: number; hi: number; log?: boolean; positive?: boolean; gpuUlps: number }> = {
  tan: { ref: Math.tan, lo: -1.5, hi: 1.5, gpuUlps: 6 },
  asin: { ref: Math.asin, lo: -1, hi: 1, gpuUlps: 6 },
  acos: { ref: Math.acos, lo: -1, hi: 1, gpuUlps: 6 },
  atan: { ref: Math.atan, lo: 1e-6, hi: 1e6, log: true, gpuUlps: 4 },
  sinh: { ref: Math.sinh, lo: 1e-6, hi: 89, log: true, gpuUlps: 6 },
  cosh: { ref: Math.cosh, lo: 1e-6, hi: 89, log: true, gpuUlps: 6 },
  asinh: { ref: Math.asinh, lo: 1e-6, hi: 1e30, log: true, gpuUlps: 6 },
  acosh: { ref: Math.acosh, lo: 1, hi: 1e30, log: true, positive: true, gpuUlps: 6 },
  atanh: { ref: Math.atanh, lo: -1, hi: 1, gpuUlps: 6 },
  log2: { ref: Math.log2, lo: 1e-37, hi: 1e37, log: true, positive: true, gpuUlps: 3 },
  log10: { ref: Math.log10, lo: 1e-37, hi: 1e37, log: true, positive: true, gpuUlps: 3 },
  trunc: { ref: Math.trunc, lo: 1e-3, hi: 1e9, log: true, gpuUlps: 0 },
};

forEachBackend((kind) => {
  describe('elementwise math against float64', () => {
    for (const [op, d] of Object.entries(DOMAINS) as [Unary, (typeof DOMAINS)[Unary]][]) {
      it(`${op}: float32 ulps from the float64 value over its domain (1031 values)`, async () => {
        let xs = sample(1031, op.length * 7919, d.lo, d.hi, d.log);
        if (d.positive) xs = xs.map(Math.abs);
        const got = await wt.tensor(xs)[op]().data();
        let worst = 0, at = 0;
        xs.forEach((x, i) => {
          const e = ulpError(got[i], d.ref(x));
          if (e > worst) [worst, at] = [e, x];
        });
        expect(worst, `${op}: worst error ${worst.toFixed(2)} ulp at x = ${at}`).toBeLessThanOrEqual(kind === 'cpu' ? 0.5 : Math.max(d.gpuUlps, 0.5));
      });
    }

    it('atan2 in every quadrant over wide ratios', async () => {
      const y = sample(1031, 5, 1e-6, 1e6, true), x = sample(1031, 6, 1e-6, 1e6, true).map((v, i) => (i % 3 ? v : -v));
      const got = await wt.atan2(wt.tensor(y), wt.tensor(x)).data();
      let worst = 0;
      y.forEach((v, i) => (worst = Math.max(worst, ulpError(got[i], Math.atan2(v, x[i])))));
      expect(worst).toBeLessThanOrEqual(kind === 'cpu' ? 0.5 : 6);
    });

    it('fmod is exact where the quotient is exact, with the sign of the dividend', async () => {
      const a = sample(1031, 7, -100, 100), b = Float32Array.from({ length: 1031 }, (_, i) => [0.25, -0.5, 3, -7, 1.5][i % 5]);
      const got = await wt.tensor(a).fmod(wt.tensor(b)).data();
      a.forEach((v, i) => {
        const e = Math.fround(v % b[i]);
        if (!Object.is(got[i], e)) throw new Error(`fmod(${v}, ${b[i]}): got ${got[i]}, expected ${e}`);
      });
    });

    it('exact points: log2 of powers of 2, log10 of powers of 10, trunc of integers, the ends of the inverse functions', async () => {
      const p2 = Array.from({ length: 60 }, (_, i) => 2 ** (i - 30));
      expect(Array.from(await wt.tensor(p2).log2().data())).toEqual(p2.map((_, i) => i - 30));
      const p10 = Array.from({ length: 11 }, (_, i) => 10 ** i);
      expect(Array.from(await wt.tensor(p10).log10().data())).toEqual(p10.map((_, i) => i));
      expect(Array.from(await wt.tensor([-1, 1]).asin().data())).toEqual([-Math.fround(Math.PI / 2), Math.fround(Math.PI / 2)]);
      expect(Array.from(await wt.tensor([1, -1]).acos().data())).toEqual([0, Math.fround(Math.PI)]);
      expect(Array.from(await wt.tensor([1, -1, 1.5, 0.5]).atanh().data())).toEqual([Infinity, -Infinity, NaN, Math.fround(Math.atanh(0.5))]);
      expect(Array.from(await wt.tensor([1, 0.5, Infinity]).acosh().data())).toEqual([0, NaN, Infinity]);
      expect(Array.from(await wt.tensor([Infinity, -Infinity, 89.5, -89.5]).sinh().data())).toEqual([Infinity, -Infinity, Infinity, -Infinity]);
      expect(Array.from(await wt.tensor([Infinity, -Infinity, 89.5]).cosh().data())).toEqual([Infinity, Infinity, Infinity]);
      // past exp's overflow, still finite
      expect((await wt.tensor([88.9]).sinh().data())[0] / Math.sinh(88.9)).toBeCloseTo(1, 5);
    });

    it('signed zeros as C and torch', async () => {
      const sign = async (t: wt.Tensor) => Array.from(await t.data()).map((v) => (Object.is(v, -0) ? '-0' : Object.is(v, 0) ? '+0' : v));
      const z = wt.tensor([-0, 0]);
      for (const op of ['tan', 'asin', 'atan', 'sinh', 'asinh', 'atanh', 'trunc'] as const) expect(await sign(z[op]()), op).toEqual(['-0', '+0']);
      expect(await sign(wt.tensor([-4, 4, -0, -0.5]).fmod(2))).toEqual(['-0', '+0', '-0', -0.5]);
      expect(await sign(wt.tensor([4, -4]).fmod(-2))).toEqual(['+0', '-0']);
      expect(await sign(wt.tensor([-0.5, 0.5]).trunc())).toEqual(['-0', '+0']);
      const pi = Math.fround(Math.PI);
      expect(await sign(wt.atan2(wt.tensor([0, -0, 0, -0]), wt.tensor([1, 1, -1, -1])))).toEqual(['+0', '-0', pi, -pi]);
      expect(await sign(wt.atan2(wt.tensor([0, -0]), wt.tensor([-0, -0])))).toEqual([pi, -pi]);
    });

    it('int32: fmod stays int32 and truncates (divisor 0 gives 0); trunc keeps int32; the others give float32', async () => {
      const a = wt.tensor([7, -7, 7, -7, -2147483648, 5], { dtype: 'int32' });
      const r = a.fmod(wt.tensor([3, 3, -3, -3, -1, 0], { dtype: 'int32' }));
      expect(r.dtype).toBe('int32');
      expect(Array.from(await r.data())).toEqual([1, -1, 1, -1, 0, 0]);
      expect(a.trunc().dtype).toBe('int32');
      expect(a.fmod(2.5).dtype).toBe('float32');
      expect(Array.from(await wt.tensor([7, -7], { dtype: 'int32' }).fmod(2.5).data())).toEqual([2, -2]);
      expect(wt.tensor([1, 2], { dtype: 'int32' }).atan2(1).dtype).toBe('float32');
      expect(wt.tensor([1, 2], { dtype: 'int32' }).log10().dtype).toBe('float32');
    });

    it('fuses a chain of the new functions into one kernel with the same values', async () => {
      const xs = sample(257, 11, -0.9, 0.9);
      const t = wt.tensor(xs);
      const y = t.asin().sinh().atan().add(t.atanh().cosh().log2()).mul(t.tan().fmod(0.3)).add(t.acos().trunc());
      const want = Array.from(xs, (x) => {
        const a = Math.atan(Math.sinh(Math.asin(x))) + Math.log2(Math.cosh(Math.atanh(x)));
        return a * (Math.tan(x) % Math.fround(0.3)) + Math.trunc(Math.acos(x));
      });
      expectClose(Array.from(await y.data()), want, 2e-5, 1e-4, 'fused chain');
    });
  });

  describe('gradients (finite differences; the backend against the CPU)', () => {
    const cases: [string, (x: wt.Tensor) => wt.Tensor, number, number][] = [
      ['tan', (x) => x.tan(), -1.2, 1.2],
      ['asin', (x) => x.asin(), -0.9, 0.9],
      ['acos', (x) => x.acos(), -0.9, 0.9],
      ['atan', (x) => x.atan(), -3, 3],
      ['sinh', (x) => x.sinh(), -3, 3],
      ['cosh', (x) => x.cosh(), -3, 3],
      ['asinh', (x) => x.asinh(), -3, 3],
      ['acosh', (x) => x.acosh(), 1.1, 4],
      ['atanh', (x) => x.atanh(), -0.9, 0.9],
      ['log2', (x) => x.log2(), 0.2, 5],
      ['log10', (x) => x.log10(), 0.2, 5],
    ];
    for (const [name, f, lo, hi] of cases) {
      it(name, async () => {
        expect(await gradcheck(f, [wt.tensor(sample(15, name.length, lo, hi), { shape: [3, 5] })])).toBe(true);
      });
    }
    it('atan2 and fmod (broadcast both ways)', async () => {
      const y = wt.tensor(sample(15, 1, 0.2, 2).map((v, i) => (i % 2 ? -v : v)), { shape: [3, 5] });
      const x = wt.tensor([0.5, -0.7, 1.3, -2, 0.9], { shape: [5] });
      expect(await gradcheck((a, b) => wt.atan2(a, b), [y, x])).toBe(true);
      expect(await gradcheck((a, b) => wt.atan2(b, a), [y, x])).toBe(true);
      // away from the jumps of fmod (a/b integer)
      const a = wt.tensor([5.3, -5.3, 2.2, -7.1, 0.4, 9.9], { shape: [2, 3] }), b = wt.tensor([2, -1.5, 0.75], { shape: [3] });
      expect(await gradcheck((p, q) => p.fmod(q), [a, b])).toBe(true);
    });
    it('maskedFill, repeat, roll, bmm, einsum, scatter', async () => {
      const x = wt.tensor(sample(12, 3, -1, 1), { shape: [3, 4] });
      // the constant tensors are made inside: gradcheck runs fn on a backend of its own
      expect(await gradcheck((t) => t.maskedFill(wt.tensor([true, false, false, true]), 2), [x])).toBe(true);
      expect(await gradcheck((t) => t.repeat(2, 1, 3), [x])).toBe(true);
      expect(await gradcheck((t) => t.roll([1, -3], [0, 1]), [x])).toBe(true);
      expect(await gradcheck((t) => t.roll(7), [x])).toBe(true);
      const a = wt.tensor(sample(24, 4, -1, 1), { shape: [2, 3, 4] }), b = wt.tensor(sample(40, 5, -1, 1), { shape: [2, 4, 5] });
      expect(await gradcheck((p, q) => wt.bmm(p, q), [a, b])).toBe(true);
      expect(await gradcheck((p, q) => wt.einsum('bij,bjk->kbi', p, q), [a, b])).toBe(true);
      expect(await gradcheck((p, q) => wt.einsum('...ij,jk->...ik', p, q), [a, wt.tensor(sample(8, 9, -1, 1), { shape: [4, 2] })])).toBe(true);
      expect(await gradcheck((p) => wt.einsum('bii->bi', p), [wt.tensor(sample(18, 6, -1, 1), { shape: [2, 3, 3] })])).toBe(true);
      expect(await gradcheck((p, q, r) => wt.einsum('ij,jk,k->i', p, q, r), [x, wt.tensor(sample(8, 7, -1, 1), { shape: [4, 2] }), wt.tensor([0.5, -2])])).toBe(true);
      const idx = () => wt.tensor([[2, 0, 1, 0], [1, 2, 0, 2]], { dtype: 'int32' });
      expect(await gradcheck((t, s) => t.scatter(0, idx(), s), [x, wt.tensor(sample(8, 8, -1, 1), { shape: [2, 4] })])).toBe(true);
    });
  });

  describe('maskedFill, repeat, roll', () => {
    it('maskedFill: the gradient is zero where filled; bool and int32 tensors; typed errors', async () => {
      const x = wt.tensor([[1, 2], [3, 4]], { requiresGrad: true });
      x.maskedFill(wt.tensor([[true], [false]]), 0).sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 0, 1, 1]);
      expect(await wt.tensor([true, false]).maskedFill(wt.tensor([false, true]), true).array()).toEqual([true, true]);
      expect(() => x.maskedFill(wt.tensor([1, 0]), 0)).toThrow(wt.DTypeError);
      expect(() => x.maskedFill(wt.tensor([1, 0]), 0)).toThrow(/maskedFill: mask must be bool, got float32/);
      expect(() => x.maskedFill(wt.tensor([[[true]], [[false]]]), 0)).toThrow(/maskedFill: mask \[2,1,1\] must broadcast to the input \[2,2\]/);
      expect(() => x.maskedFill(wt.tensor([true, false, true]), 0)).toThrow(wt.ShapeError);
      expect(() => x.maskedFill(wt.tensor([true, false]), 'a' as never)).toThrow(/maskedFill: value must be a number/);
      expect(() => x.maskedFill(wt.tensor([true, false]), wt.tensor([1, 2]))).toThrow(/maskedFill: a tensor value must be 0-d/);
    });
    it('repeat: shapes, odd sizes, and its errors', async () => {
      const x = wt.arange(0, 15).reshape(3, 5);
      const r = x.repeat(2, 3);
      expect(r.shape).toEqual([6, 15]);
      const v = await r.data(), xv = await x.data();
      for (let i = 0; i < 6; i++) for (let j = 0; j < 15; j++) expect(v[i * 15 + j]).toBe(xv[(i % 3) * 5 + (j % 5)]);
      expect(x.repeat(1, 1, 1, 1).shape).toEqual([1, 1, 3, 5]);
      expect(() => x.repeat(2)).toThrow(wt.ShapeError);
      expect(() => x.repeat(2)).toThrow(/repeat: number of repeat dims \(1\) can not be smaller than number of dims of the input \[3,5\]/);
      expect(() => x.repeat(2, -1)).toThrow(wt.ArgumentError);
      expect(() => x.repeat(2, 1.5)).toThrow(/repeat: sizes\[1\] must be a non-negative integer/);
    });
    it('roll: an empty and a 0-d tensor; its errors', async () => {
      expect(await wt.tensor(3).roll(2).array()).toBe(3);
      expect(wt.zeros([0, 3]).roll(1, 0).shape).toEqual([0, 3]);
      expect(await wt.arange(0, 5).roll(-7).array()).toEqual([2, 3, 4, 0, 1]);
      const x = wt.zeros([2, 3]);
      expect(() => x.roll([1, 2])).toThrow(/roll: without dims, shifts must be one integer/);
      expect(() => x.roll([1, 2], [0])).toThrow(/roll: shifts \[1,2\] and dims \[0\] must have the same length/);
      expect(() => x.roll(1, 2)).toThrow(/roll: dim=2 is out of range/);
      expect(() => x.roll(0.5)).toThrow(/roll: shifts must be an integer/);
    });
  });

  describe('bmm and einsum', () => {
    it('bmm: torch\'s shape checks', () => {
      expect(() => wt.bmm(wt.ones([2, 3]), wt.ones([2, 3, 4]))).toThrow(/bmm: input must be a 3-D tensor \[B, n, m\], got \[2,3\]/);
      expect(() => wt.bmm(wt.ones([2, 3, 4]), wt.ones([4, 5]))).toThrow(/bmm: mat2 must be a 3-D tensor/);
      expect(() => wt.bmm(wt.ones([2, 3, 4]), wt.ones([2, 5, 6]))).toThrow(/bmm: expected size for first two dimensions of mat2 to be \[2, 4\] but got \[2, 5\]/);
      expect(() => wt.bmm(wt.ones([2, 3, 4]), wt.ones([1, 4, 6]))).toThrow(wt.ShapeError);
      expect(() => wt.ones([2, 3, 4]).bmm(wt.ones([2, 4, 5], { dtype: 'int32' }))).toThrow(wt.DTypeError);
    });
    it('einsum equals the matmul it lowers to, on odd sizes', async () => {
      const a = wt.randn([3, 17, 33], { seed: 1 }), b = wt.randn([3, 33, 5], { seed: 2 });
      expectClose(Array.from(await wt.einsum('bij,bjk->bik', a, b).data()), Array.from(await a.matmul(b).data()), 1e-5, 1e-5);
      expectClose(Array.from(await wt.einsum('bij , bkj -> bik', a, a).data()), Array.from(await a.matmul(a.transpose(1, 2)).data()), 1e-4, 1e-5);
      expect(wt.einsum('ij', wt.ones([2, 3])).shape).toEqual([2, 3]);
      expect(await wt.einsum('i->', [wt.ones([0])]).array()).toBe(0);
    });
    it('einsum: typed errors for malformed equations', () => {
      const x = wt.ones([2, 3]), y = wt.ones([3, 4]);
      expect(() => wt.einsum('ij,jk->ik', x)).toThrow(/einsum: 2 input terms for 1 operand in equation "ij,jk->ik"/);
      expect(() => wt.einsum('ij->ik', x)).toThrow(/einsum: output subscript k appears in no input/);
      expect(() => wt.einsum('ij->ii', x)).toThrow(/output subscript i appears more than once/);
      expect(() => wt.einsum('i1,jk', x, y)).toThrow(/"1" is not a subscript/);
      expect(() => wt.einsum('ij->i->j', x)).toThrow(/more than one '->'/);
      expect(() => wt.einsum('...j...,jk', x, y)).toThrow(/more than one '...' in term 0/);
      expect(() => wt.einsum('.ij,jk', x, y)).toThrow(/"." is not a subscript/);
      expect(() => wt.einsum('...ijk,jk', x, y)).toThrow(/term 0 "...ijk" has 3 subscripts but operand 0 has 2 dims/);
      expect(() => wt.einsum('...j,...j', wt.ones([2, 3]), wt.ones([4, 3]))).toThrow(/subscript ... \(broadcast dim 0\) has size 2 and 4/);
      expect(() => wt.einsum('ijk,jk', x, y)).toThrow(wt.ShapeError);
      expect(() => wt.einsum('ijk,jk', x, y)).toThrow(/term 0 "ijk" has 3 subscripts but operand 0 has 2 dims \[2,3\]/);
      expect(() => wt.einsum('ij,ik', x, y)).toThrow(/einsum: subscript i has size 2 and 3/);
      expect(() => wt.einsum('ii', x)).toThrow(wt.ShapeError);
      expect(() => wt.einsum('ij')).toThrow(/einsum: needs at least one operand/);
      expect(() => wt.einsum(3 as never, x)).toThrow(/einsum: equation must be a string/);
      expect(() => wt.einsum('ij', wt.ones([2, 3], { dtype: 'int32' }))).toThrow(wt.DTypeError);
      for (const bad of ['ij,jk->ik', 'ij->ik']) expect(() => wt.einsum(bad, x)).toThrow(wt.ArgumentError);
    });
  });

  it('the composite ops leave no intermediate tensors behind (forward and backward)', async () => {
    const x = wt.randn([3, 4], { seed: 3, requiresGrad: true }), y = wt.randn([4, 2], { seed: 4 });
    const idx = wt.tensor([[2, 0, 1, 0]], { dtype: 'int32' }), mask = wt.tensor([true, false, true, false]);
    const lbl = wt.tensor([1, -1, 1]), lbl2 = wt.tensor([[1], [-1], [1]]), other = wt.randn([3, 4], { seed: 5 });
    // views made here, not inside the measured calls
    const sq = x.narrow(1, 0, 3), x3 = x.reshape(1, 3, 4), y3 = y.reshape(1, 4, 2), probs = other.softmax(1);
    const ops: [string, () => wt.Tensor][] = [
      ['repeat', () => x.repeat(2, 1)], ['roll', () => x.roll([1, -1], [0, 1])], ['roll flat', () => x.roll(3)],
      ['einsum', () => wt.einsum('ij,jk->ki', x, y)], ['einsum diagonal', () => wt.einsum('ij,ij->', x, other)],
      ['einsum trace', () => wt.einsum('ii', sq)],
      ['scatter', () => x.scatter(1, idx, other)], ['scatter value', () => x.scatter(1, idx, 2)], ['maskedFill', () => x.maskedFill(mask, 0)],
      ['bmm', () => wt.bmm(x3, y3)],
      ['klDiv', () => wt.F.klDiv(x, probs, { reduction: 'batchmean' })], ['smoothL1Loss', () => wt.F.smoothL1Loss(x, other)],
      ['cosineEmbeddingLoss', () => wt.F.cosineEmbeddingLoss(x, other, lbl)], ['marginRankingLoss', () => wt.F.marginRankingLoss(x, other, lbl2)],
      ['atan2', () => x.atan2(other)], ['fmod', () => x.fmod(0.5)],
    ];
    for (const [name, f] of ops) {
      f().dispose(); // warm-up
      const before = wt.memory().tensors;
      const out = f(), s = out.sum();
      s.backward();
      await x.grad!.data();
      wt.dispose([out, s, x.grad!]);
      x.grad = null;
      expect(wt.memory().tensors - before, name).toBe(0);
    }
  });

  describe('scatter', () => {
    it('repeated indices: the mean of the values written there (deterministic), and its gradient', async () => {
      const x = wt.zeros([4], { requiresGrad: true }), src = wt.tensor([5, 6, 7, 1], { requiresGrad: true });
      const out = wt.scatter(x, 0, wt.tensor([3, 0, 3, 3], { dtype: 'int32' }), src);
      expect(Array.from(await out.data())).toEqual([6, 0, 0, 13 / 3].map(Math.fround));
      out.mul(wt.tensor([1, 2, 3, 4])).sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 2, 3, 0]);
      expectClose(Array.from(await src.grad!.data()), [4 / 3, 1, 4 / 3, 4 / 3], 1e-6, 1e-6);
      const ints = wt.scatter(wt.zeros([2], { dtype: 'int32' }), 0, wt.tensor([1, 1], { dtype: 'int32' }), wt.tensor([2, 5], { dtype: 'int32' }));
      expect(Array.from(await ints.data())).toEqual([0, 3]);
      expect(Array.from(await wt.scatter(wt.tensor([false, false, true]), 0, wt.tensor([0, 0], { dtype: 'int32' }), wt.tensor([true, false])).data())).toEqual([1, 0, 1]);
    });
    it('typed errors', async () => {
      const x = wt.zeros([3, 4]);
      const i = wt.tensor([[0, 1]], { dtype: 'int32' });
      expect(() => x.scatter(1, i.float(), wt.ones([1, 2]))).toThrow(/scatter: index must be int32/);
      expect(() => x.scatter(1, i, wt.ones([1, 2], { dtype: 'int32' }))).toThrow(/scatter: src dtype int32 differs from input dtype float32/);
      expect(() => x.scatter(1, i, wt.ones([1, 1]))).toThrow(/scatter: index \[1,2\] must be no larger than src \[1,1\]/);
      expect(() => x.scatter(1, wt.tensor([0], { dtype: 'int32' }), 1)).toThrow(/scatter: index \[1\] must have as many dims as the input \[3,4\]/);
      expect(() => x.scatter(2, i, 1)).toThrow(/scatter: dim=2 is out of range/);
      expect(() => x.scatter(1, i, 'a' as never)).toThrow(/scatter: src must be a tensor, a number or a boolean/);
      // out-of-range indices: at the call on the CPU, at the read on WebGPU, naming scatter
      await expectIndexError(kind, () => wt.scatter(wt.zeros([2, 3]), 1, wt.tensor([[0, 3]], { dtype: 'int32' }), wt.ones([1, 2])), /^scatter: index \[1,2\] holds .*out of range \[0, 3\)/);
      await expectIndexError(kind, () => wt.scatter(wt.zeros([2, 3]), 1, wt.tensor([[0, -1]], { dtype: 'int32' }), 2), /^scatter: index/);
    });
  });
});

describe('losses: modules, options and fit names', () => {
  it('the modules check their options when built', () => {
    expect(() => new wt.nn.KLDivLoss({ reduction: 'avg' as never })).toThrow(/KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' or 'none'/);
    expect(() => new wt.nn.KLDivLoss({ logTraget: true } as never)).toThrow(/did you mean 'logTarget'/);
    expect(() => new wt.nn.SmoothL1Loss({ beta: -1 })).toThrow(/SmoothL1Loss: beta must be/);
    expect(() => new wt.nn.CosineEmbeddingLoss({ margin: NaN })).toThrow(wt.ArgumentError);
    expect(() => new wt.nn.MarginRankingLoss({ reduction: 'batchmean' as never })).toThrow(wt.ArgumentError);
  });
  it('the functions name themselves in shape and dtype errors', () => {
    expect(() => wt.F.klDiv(wt.zeros([2, 3]), wt.zeros([3, 3]))).toThrow(wt.ShapeError);
    expect(() => wt.F.cosineEmbeddingLoss(wt.zeros([2, 3]), wt.zeros([2, 3]), wt.zeros([3]))).toThrow(/cosineEmbeddingLoss: target must be \[2\]/);
    expect(() => wt.F.cosineEmbeddingLoss(wt.zeros([2, 3, 1]), wt.zeros([2, 3, 1]), wt.zeros([2]))).toThrow(/must both be \[N, D\] or \[D\]/);
    expect(() => wt.F.marginRankingLoss(wt.zeros([2]), wt.zeros([3]), wt.zeros([2]))).toThrow(wt.ShapeError);
    expect(() => wt.F.marginRankingLoss(wt.zeros([2]), wt.zeros([2]), wt.zeros([2], { dtype: 'bool' }))).toThrow(wt.DTypeError);
    expect(() => wt.F.smoothL1Loss(wt.zeros([2]), wt.zeros([3]))).toThrow(wt.ShapeError);
  });
  it("fit's loss names smoothL1 and klDiv", async () => {
    wt.setBackend(new wt.CpuBackend());
    const p = wt.tensor([[0.5, 2]]), t = wt.tensor([[0, 0]]);
    expect(await wt.train.resolveLoss('smoothL1').fn(p, t).item()).toBeCloseTo((0.125 + 1.5) / 2, 6);
    const lp = wt.tensor([[Math.log(0.25), Math.log(0.75)]]), q = wt.tensor([[0.5, 0.5]]);
    expect(await wt.train.resolveLoss('klDiv').fn(lp, q).item()).toBeCloseTo(0.5 * Math.log(0.5 / 0.25) + 0.5 * Math.log(0.5 / 0.75), 6);
  });
});
