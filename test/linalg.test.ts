/**
 * matmul, mm and linear against float64 references written here (naive loops), on seeded
 * inputs: odd sizes, sizes that cross the GEMM's cache blocks (KC 256, MC 128, NC 1024),
 * batched and broadcast operands, transposed / sliced / expanded views, zero-size dims.
 *
 * Tolerance (forward): the CPU GEMM accumulates in float64 and rounds to float32 when it stores
 * (once per 256-deep K block), so |y − ref| ≤ 1e-6·Σₖ|aᵢₖ·bₖⱼ| + 1e-7 per element.
 * Gradients: wt.gradcheck (float64 finite differences; atol 1e-5, rtol 1e-3).
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { runRoutine } from '../src/ops/run.js';
import { numelOf, randomTensor, stridesOf, unravel } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

// ---- float64 reference -------------------------------------------------------------------------

interface Ref {
  shape: number[];
  vals: Float64Array;
  /** Σ|a·b| per output element, for the error bound */
  mag: Float64Array;
}

/** PyTorch matmul semantics on row-major float64 arrays. */
function refMatmul(av: ArrayLike<number>, as: number[], bv: ArrayLike<number>, bs: number[]): Ref {
  const a2 = as.length === 1 ? [1, as[0]] : as, b2 = bs.length === 1 ? [bs[0], 1] : bs;
  const M = a2[a2.length - 2], K = a2[a2.length - 1], N = b2[b2.length - 1];
  const ba = a2.slice(0, -2), bb = b2.slice(0, -2);
  const nd = Math.max(ba.length, bb.length);
  const batch = Array.from({ length: nd }, (_, i) => Math.max(ba[i - nd + ba.length] ?? 1, bb[i - nd + bb.length] ?? 1));
  const bt = numelOf(batch);
  const vals = new Float64Array(bt * M * N), mag = new Float64Array(bt * M * N);
  const flat = (bshape: number[], idx: number[]) => {
    const st = stridesOf(bshape);
    return bshape.reduce((o, d, i) => o + (d === 1 ? 0 : idx[idx.length - bshape.length + i]) * st[i], 0);
  };
  for (let t = 0; t < bt; t++) {
    const idx = unravel(t, batch);
    const oa = flat(ba, idx) * M * K, ob = flat(bb, idx) * K * N;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0, m = 0;
      for (let k = 0; k < K; k++) {
        const p = av[oa + i * K + k] * bv[ob + k * N + j];
        s += p;
        m += Math.abs(p);
      }
      vals[(t * M + i) * N + j] = s;
      mag[(t * M + i) * N + j] = m;
    }
  }
  const shape = [...batch, ...(as.length > 1 ? [M] : []), ...(bs.length > 1 ? [N] : [])];
  return { shape, vals, mag };
}

async function expectMatmul(y: wt.Tensor, r: Ref, what: string): Promise<void> {
  expect(y.shape, `${what} shape`).toEqual(r.shape);
  const got = await y.data();
  for (let i = 0; i < r.vals.length; i++) {
    const tol = 1e-6 * r.mag[i] + 1e-7;
    if (!(Math.abs(got[i] - r.vals[i]) <= tol)) throw new Error(`${what}[${i}]: got ${got[i]}, expected ${r.vals[i]} (tol ${tol})`);
  }
}

/** Row-major values of the transpose of a [.., r, c] array. */
function transposeVals(v: ArrayLike<number>, shape: number[]): Float64Array {
  const r = shape[shape.length - 2], c = shape[shape.length - 1], bt = numelOf(shape.slice(0, -2));
  const out = new Float64Array(v.length);
  for (let t = 0; t < bt; t++) for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[t * r * c + j * r + i] = v[t * r * c + i * c + j];
  return out;
}

let seed = 1;
const rnd = (shape: number[], opts: { requiresGrad?: boolean } = {}) => randomTensor(shape, seed++, -2, 2, opts);

// ---- forward -----------------------------------------------------------------------------------

forEachBackend((kind) => {
  describe('matmul forward', () => {
    const sizes2d: [number, number, number][] = [
      [1, 1, 1], [3, 17, 33], [17, 33, 3], [33, 1, 17], [1, 33, 17], [17, 3, 1], [65, 65, 65],
      // crossing the K block (256), the M block (128) and the N block (1024); odd edges everywhere
      [130, 300, 70], [5, 20, 1030], [129, 257, 33],
      // a long row / column: the direct (unpacked) loops
      [1, 300, 40], [40, 300, 1],
    ];
    for (const [M, K, N] of sizes2d) {
      it(`[${M},${K}] @ [${K},${N}]`, async () => {
        const [a, av] = rnd([M, K]), [b, bv] = rnd([K, N]);
        await expectMatmul(wt.matmul(a, b), refMatmul(av, [M, K], bv, [K, N]), 'y');
      });
    }

    const shapes: [number[], number[]][] = [
      [[17], [17]], // dot
      [[3], [3, 5]], [[4, 3], [3]], [[2, 4, 3], [3]], [[3], [2, 3, 5]], [[33], [2, 33, 17]],
      [[2, 3, 4, 5], [2, 3, 5, 6]], // batched
      [[2, 1, 4, 5], [3, 5, 6]], // broadcast batch
      [[4, 5], [2, 3, 5, 6]], // a shared by every batch
      [[2, 3, 17, 5], [5, 33]], // folded into one GEMM
      [[2, 1, 3, 4], [1, 3, 4, 2]], // batch dims that do not collapse: a materialised copy
      [[1, 17, 33], [3, 33, 1]],
    ];
    for (const [as, bs] of shapes) {
      it(`${JSON.stringify(as)} @ ${JSON.stringify(bs)}`, async () => {
        const [a, av] = rnd(as), [b, bv] = rnd(bs);
        await expectMatmul(wt.matmul(a, b), refMatmul(av, as, bv, bs), 'y');
        await expectMatmul(a.matmul(b), refMatmul(av, as, bv, bs), 'method');
      });
    }

    it('reads transposed operands in place', async () => {
      for (const [M, K, N] of [[3, 17, 33], [65, 130, 70], [33, 300, 17], [1, 300, 40]]) {
        const [at, atv] = rnd([K, M]), [bt, btv] = rnd([N, K]);
        const av = transposeVals(atv, [K, M]), bv = transposeVals(btv, [N, K]);
        const r = refMatmul(av, [M, K], bv, [K, N]);
        await expectMatmul(wt.matmul(at.T, bt.T), r, 'aT bT');
        const [a, av2] = rnd([M, K]);
        await expectMatmul(wt.matmul(a, bt.T), refMatmul(av2, [M, K], bv, [K, N]), 'a bT');
      }
      // batched transpose (permute of the last two dims) with a broadcast batch
      const [x, xv] = rnd([2, 3, 5, 4]);
      const [y, yv] = rnd([3, 5, 6]);
      await expectMatmul(wt.matmul(x.transpose(-2, -1), y), refMatmul(transposeVals(xv, [2, 3, 5, 4]), [2, 3, 4, 5], yv, [3, 5, 6]), 'batched T');
    });

    it('reads sliced and expanded views', async () => {
      const [a, av] = rnd([6, 10]);
      const sl = a.slice(0, 0, null, 2).slice(1, 1, 9); // rows 0,2,4; cols 1..8
      const slv = [0, 2, 4].flatMap((i) => Array.from({ length: 8 }, (_, j) => av[i * 10 + 1 + j]));
      const [b, bv] = rnd([8, 3]);
      await expectMatmul(wt.matmul(sl, b), refMatmul(slv, [3, 8], bv, [8, 3]), 'sliced');
      const [v, vv] = rnd([1, 4, 5]);
      const e = v.expand([3, 4, 5]);
      const [w, wv] = rnd([3, 5, 2]);
      const ev = Float64Array.from({ length: 60 }, (_, i) => vv[i % 20]);
      await expectMatmul(wt.matmul(e, w), refMatmul(ev, [3, 4, 5], wv, [3, 5, 2]), 'expanded');
    });

    it('reads head-split operands (batch dims in two stride groups) in place, with gradients', async () => {
      // attention's layout: x [B, T, H·D] viewed as [B, T, H, D] and permuted to [B, H, T, D]
      const [B, T, H, D] = [2, 5, 3, 4];
      const [x, xv] = rnd([B, T, H * D]), [y, yv] = rnd([B, T, H * D]);
      const heads = (t: wt.Tensor) => t.reshape([B, T, H, D]).permute(0, 2, 1, 3);
      const headVals = (v: Float64Array) => Float64Array.from({ length: v.length }, (_, i) => {
        const d = i % D, t = Math.floor(i / D) % T, h = Math.floor(i / (D * T)) % H, b = Math.floor(i / (D * T * H));
        return v[((b * T + t) * H + h) * D + d];
      });
      const q = heads(x), k = heads(y);
      const qv = headVals(xv), kv = headVals(yv);
      const kT = transposeVals(kv, [B, H, T, D]);
      const p = await wt.profile(async () => {
        const s = wt.matmul(q, k.transpose(-2, -1)); // [B, H, T, T]
        await expectMatmul(s, refMatmul(qv, [B, H, T, D], kT, [B, H, D, T]), 'q kT');
        s.dispose();
      });
      // one kernel: the matmul, no copy of q or k
      expect(p.kernels.map((kk) => kk.name)).toEqual([expect.stringMatching(/^matmul/)]);
      const [w, wv] = rnd([B, H, T, T]);
      await expectMatmul(wt.matmul(w, k), refMatmul(wv, [B, H, T, T], kv, [B, H, T, D]), 'w v');
      // a broadcast batch level: [1, H, ..] @ [B, H, ..] with the right operand head-split
      const [u, uv] = rnd([1, H, T, T]);
      const uvB = Float64Array.from({ length: B * uv.length }, (_, i) => uv[i % uv.length]);
      await expectMatmul(wt.matmul(u, k), refMatmul(uvB, [B, H, T, T], kv, [B, H, T, D]), 'broadcast');
      await gradcheck((a, b) => wt.matmul(heads(a), heads(b).transpose(-2, -1)).sum(), [x.mul(0.5), y.mul(0.5)]);
    });

    it('handles zero-size dims', async () => {
      const z1 = wt.matmul(wt.zeros([0, 3]), wt.ones([3, 4]));
      expect(z1.shape).toEqual([0, 4]);
      const z2 = wt.matmul(wt.ones([3, 0]), wt.ones([0, 4]));
      expect(z2.shape).toEqual([3, 4]);
      expect(Array.from(await z2.data())).toEqual(new Array(12).fill(0));
      expect(wt.matmul(wt.ones([2, 0, 3, 4]), wt.ones([4, 5])).shape).toEqual([2, 0, 3, 5]);
      expect(wt.matmul(wt.ones([0]), wt.ones([0])).shape).toEqual([]);
      expect(await wt.matmul(wt.ones([0]), wt.ones([0])).item()).toBe(0);
    });

    it('mm multiplies 2-D tensors', async () => {
      const [a, av] = rnd([3, 4]), [b, bv] = rnd([4, 2]);
      await expectMatmul(wt.mm(a, b), refMatmul(av, [3, 4], bv, [4, 2]), 'mm');
      await expectMatmul(a.mm(b), refMatmul(av, [3, 4], bv, [4, 2]), 'mm method');
    });
  });

  describe('linear', () => {
    /** x @ wᵀ + b as a Ref. */
    function refLinear(xv: ArrayLike<number>, xs: number[], wv: ArrayLike<number>, ws: number[], bv?: ArrayLike<number>): Ref {
      const r = refMatmul(xv, xs, transposeVals(wv, ws), [ws[1], ws[0]]);
      if (bv) r.vals.forEach((v, i) => (r.vals[i] = v + bv[i % ws[0]]));
      if (bv) r.mag.forEach((v, i) => (r.mag[i] = v + Math.abs(bv[i % ws[0]])));
      return r;
    }
    for (const xs of [[5, 7], [2, 3, 7], [7], [1, 7], [33, 17]]) {
      it(`x ${JSON.stringify(xs)}`, async () => {
        const inF = xs[xs.length - 1];
        const [x, xv] = rnd(xs), [w, wv] = rnd([3, inF]), [b, bv] = rnd([3]);
        await expectMatmul(wt.linear(x, w, b), refLinear(xv, xs, wv, [3, inF], bv), 'with bias');
        await expectMatmul(wt.linear(x, w), refLinear(xv, xs, wv, [3, inF]), 'no bias');
      });
    }
    it('reads a non-contiguous input and weight', async () => {
      const [xt, xtv] = rnd([7, 5]);
      const [wt_, wtv] = rnd([7, 4]);
      const [b, bv] = rnd([4]);
      const xv = transposeVals(xtv, [7, 5]), wv = transposeVals(wtv, [7, 4]);
      await expectMatmul(wt.linear(xt.T, wt_.T, b), refLinear(xv, [5, 7], wv, [4, 7], bv), 'transposed');
    });
  });

  describe('matmul routine epilogue', () => {
    it('bias', async () => {
      // small (direct loop), large (blocked GEMM) and single-row paths
      for (const [M, K, N] of [[3, 4, 5], [40, 70, 33], [1, 300, 40]]) {
        const [a, av] = rnd([1, M, K]), [b, bv] = rnd([1, K, N]), [bias, biasv] = rnd([N]);
        const [y] = runRoutine('matmul', { bias: true }, [a, b, bias], [{ shape: [1, M, N], dtype: 'float32' }]);
        const r = refMatmul(av, [M, K], bv, [K, N]);
        const got = await y.data();
        r.vals.forEach((v, i) => {
          const e = v + biasv[i % N];
          expect(Math.abs(got[i] - e), `bias[${i}]`).toBeLessThanOrEqual(1e-6 * (r.mag[i] + 1) + 2e-7);
        });
      }
    });
  });

  // ---- gradients ---------------------------------------------------------------------------------

  describe('matmul / linear gradients (gradcheck)', () => {
    const cases: [number[], number[]][] = [
      [[3, 4], [4, 2]], [[4], [4]], [[3], [3, 2]], [[2, 3], [3]], [[3], [2, 3, 2]],
      [[2, 1, 3, 4], [3, 4, 2]], [[2, 3, 4], [4, 5]], [[4, 3], [2, 3, 2]], [[1, 3, 2], [2, 2, 3]],
    ];
    for (const [as, bs] of cases) {
      it(`${JSON.stringify(as)} @ ${JSON.stringify(bs)}`, async () => {
        await expect(gradcheck((a, b) => wt.matmul(a, b), [rnd(as)[0], rnd(bs)[0]])).resolves.toBe(true);
      });
    }
    it('through transposed operands', async () => {
      await expect(gradcheck((a, b) => a.T.matmul(b.transpose(0, 1)), [rnd([4, 3])[0], rnd([2, 4])[0]])).resolves.toBe(true);
    });
    it('linear with and without bias', async () => {
      await expect(gradcheck((x, w, b) => wt.linear(x, w, b), [rnd([2, 3, 4])[0], rnd([5, 4])[0], rnd([5])[0]])).resolves.toBe(true);
      await expect(gradcheck((x, w) => wt.linear(x, w), [rnd([4])[0], rnd([2, 4])[0]])).resolves.toBe(true);
      await expect(gradcheck((x, w, b) => wt.linear(x.T, w, b), [rnd([4, 3])[0], rnd([2, 4])[0], rnd([2])[0]])).resolves.toBe(true);
    });
    it('through matmul epilogues (fusion on: activation, residual, gelu\' and accumulation folded into GEMMs)', async () => {
      wt.setFusion(true);
      try {
        // odd sizes, a transposed input, a single row, a broadcast residual
        await expect(gradcheck((x, w, b, r) => r.add(wt.linear(x, w, b).gelu()), [rnd([5, 3])[0], rnd([7, 3])[0], rnd([7])[0], rnd([5, 7])[0]])).resolves.toBe(true);
        await expect(gradcheck((x, w, b) => wt.linear(x.T, w, b).relu().mul(wt.linear(x.T, w, b)), [rnd([4, 3])[0], rnd([2, 4])[0], rnd([2])[0]])).resolves.toBe(true);
        await expect(gradcheck((x, w1, w2) => x.add(wt.linear(wt.linear(x, w1).gelu(), w2)).tanh(), [rnd([1, 6])[0], rnd([9, 6])[0], rnd([6, 9])[0]])).resolves.toBe(true);
        await expect(gradcheck((a, b, r) => wt.matmul(a, b).add(r).gelu(), [rnd([2, 3, 4])[0], rnd([4, 5])[0], rnd([5])[0]])).resolves.toBe(true);
      } finally {
        wt.setFusion('auto');
      }
    });
    it('only the inputs that require grad get one', async () => {
      const [a] = rnd([3, 4], { requiresGrad: true });
      const [b] = rnd([4, 2]);
      wt.matmul(a, b).sum().backward();
      expect(a.grad!.shape).toEqual([3, 4]);
      expect(b.grad).toBeNull();
    });
    it('matches the reference on a larger product', async () => {
      // L = Σ (a@b)·r → ∂L/∂a = r @ bᵀ, ∂L/∂b = aᵀ @ r
      const [M, K, N] = [33, 17, 65];
      const [a, av] = rnd([M, K], { requiresGrad: true }), [b, bv] = rnd([K, N], { requiresGrad: true }), [r, rv] = rnd([M, N]);
      wt.matmul(a, b).mul(r).sum().backward();
      await expectMatmul(a.grad!, refMatmul(rv, [M, N], transposeVals(bv, [K, N]), [N, K]), 'grad a');
      await expectMatmul(b.grad!, refMatmul(transposeVals(av, [M, K]), [K, M], rv, [M, N]), 'grad b');
    });
  });

  // ---- memory ------------------------------------------------------------------------------------

  describe('matmul / linear memory', () => {
    it('leave no temporaries behind, forward or backward', () => {
      const before = wt.memory();
      const a = wt.randn([2, 1, 3, 4], { requiresGrad: true }), b = wt.randn([3, 4, 5], { requiresGrad: true });
      const x = wt.randn([2, 3, 4], { requiresGrad: true }), w = wt.randn([5, 4], { requiresGrad: true }), bias = wt.randn([5], { requiresGrad: true });
      // every intermediate (views, sums) is created inside tidy; the ops' own temporaries must go too
      wt.tidy(() => {
        const y1 = wt.matmul(a, b.transpose(-2, -1).transpose(-2, -1)), y2 = wt.linear(x.transpose(0, 1), w.T.T, bias), v = wt.matmul(wt.ones([4]), b);
        y1.sum().add(y2.sum()).add(v.sum()).backward();
      });
      const grads = [a, b, x, w, bias].map((t) => t.grad!);
      expect(grads.map((g) => g.shape)).toEqual([[2, 1, 3, 4], [3, 4, 5], [2, 3, 4], [5, 4], [5]]);
      wt.dispose([a, b, x, w, bias, grads]);
      const after = wt.memory();
      expect(after.tensors).toBe(before.tensors);
      expect(after.bytes).toBe(before.bytes);
    });
  });

  // ---- errors ------------------------------------------------------------------------------------

  describe('matmul / linear errors', () => {
    it('inner dimensions', () => {
      const f = () => wt.matmul(wt.ones([2, 3]), wt.ones([4, 5]));
      expect(f).toThrow(wt.ShapeError);
      expect(f).toThrow(/matmul: inner dimensions differ: a is \[2,3\], b is \[4,5\]/);
      expect(() => wt.matmul(wt.ones([3]), wt.ones([4]))).toThrow(/\[3\].*\[4\]/);
    });
    it('batch dims', () => {
      const f = () => wt.matmul(wt.ones([2, 3, 4]), wt.ones([3, 4, 5]));
      expect(f).toThrow(wt.ShapeError);
      expect(f).toThrow(/\[2,3,4\].*\[3,4,5\]/);
    });
    it('0-d operands, dtypes, non-tensors', () => {
      expect(() => wt.matmul(wt.tensor(2), wt.ones([2]))).toThrow(wt.ShapeError);
      const f = () => wt.matmul(wt.ones([2, 2], { dtype: 'int32' }), wt.ones([2, 2]));
      expect(f).toThrow(wt.DTypeError);
      expect(f).toThrow(/int32.*\[2,2\]/);
      expect(() => wt.matmul(wt.ones([2, 2]), 3 as unknown as wt.Tensor)).toThrow(wt.ArgumentError);
      expect(() => wt.mm(wt.ones([2, 2, 2]), wt.ones([2, 2]))).toThrow(/mm: .*\[2,2,2\]/);
    });
    it('disposed operands', () => {
      const a = wt.ones([2, 2]);
      a.dispose();
      expect(() => wt.matmul(a, wt.ones([2, 2]))).toThrow(wt.DisposedError);
    });
    it('linear shapes', () => {
      const f = () => wt.linear(wt.ones([5, 7]), wt.ones([3, 6]));
      expect(f).toThrow(wt.ShapeError);
      expect(f).toThrow(/linear: .*\[5,7\].*\[3,6\]/);
      expect(() => wt.linear(wt.ones([5, 7]), wt.ones([3, 7]), wt.ones([4]))).toThrow(/bias.*\[3\].*\[4\]/);
      expect(() => wt.linear(wt.ones([5, 7]), wt.ones([7]))).toThrow(/weight must be 2-D.*\[7\]/);
    });
  });
});
