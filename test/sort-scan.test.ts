/**
 * cumsum, cumprod, sort, argsort, topk, max / min along a dim (torch.max(x, dim)) and multinomial on both backends, against
 * float64 / plain-JS references written here (a stable sort with NaN largest, sequential scans),
 * on odd sizes and every dim. Sorting only moves values: values and indices must match exactly.
 * Scans: float64 references, atol/rtol growing with the row. Gradients through gradcheck (finite
 * differences, and the backend's backward against the CPU's). multinomial: frequencies over many
 * seeded draws within 5 standard deviations, determinism under a seed and wt.manualSeed.
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, numelOf, randomValues, rng, stridesOf, unravel } from './helpers.js';
import { expectIndexError, forEachBackend, gradcheck } from './backends.js';

/** Positions of the line along `dim` through each start (the other coordinates fixed). */
function lines(shape: number[], dim: number): number[][] {
  const st = stridesOf(shape), out: number[][] = [];
  const n = numelOf(shape);
  for (let i = 0; i < n; i++) {
    if (unravel(i, shape)[dim] !== 0) continue;
    out.push(Array.from({ length: shape[dim] }, (_, j) => i + j * st[dim]));
  }
  return out;
}

function refScan(v: ArrayLike<number>, shape: number[], dim: number, prod: boolean, int = false): number[] {
  const out = new Array<number>(v.length).fill(0);
  for (const line of lines(shape, dim)) {
    let s = prod ? 1 : 0;
    for (const p of line) {
      s = int ? (prod ? Math.imul(s, v[p]) : (s + v[p]) | 0) : prod ? s * v[p] : s + v[p];
      out[p] = s;
    }
  }
  return out;
}

/** NaN above every number, -0 equal to 0. */
const order = (a: number, b: number): number => (a !== a || b !== b ? (a !== a ? 1 : 0) - (b !== b ? 1 : 0) : a < b ? -1 : a > b ? 1 : 0);

function refSort(v: ArrayLike<number>, shape: number[], dim: number, descending: boolean): { values: number[]; indices: number[] } {
  const values = new Array<number>(v.length), indices = new Array<number>(v.length);
  for (const line of lines(shape, dim)) {
    const idx = line.map((_, j) => j);
    idx.sort((p, q) => (descending ? -1 : 1) * order(v[line[p]], v[line[q]]) || p - q);
    line.forEach((pos, j) => {
      values[pos] = v[line[idx[j]]];
      indices[pos] = idx[j];
    });
  }
  return { values, indices };
}

/** Values with many ties and a few specials (NaN, ±inf, ±0). */
function tiedValues(n: number, seed: number): Float32Array {
  const r = rng(seed), specials = [NaN, Infinity, -Infinity, 0, -0];
  return Float32Array.from({ length: n }, () => (r() < 0.1 ? specials[Math.floor(r() * 5)] : Math.floor(r() * 5) - 2));
}

const SHAPES: number[][] = [[1], [17], [3, 33], [4, 5, 6], [2, 1, 7]];

forEachBackend((kind) => {
  describe('cumsum and cumprod', () => {
    it('match float64 scans along every dim (float32, int32, bool)', async () => {
      let seed = 1;
      for (const shape of SHAPES) {
        for (let dim = -shape.length; dim < shape.length; dim++) {
          const d = (dim + shape.length) % shape.length, len = shape[d];
          const v = randomValues(numelOf(shape), seed++, -1, 1);
          const x = wt.tensor(Float32Array.from(v), { shape });
          expectClose(await wt.cumsum(x, dim).data(), refScan(v, shape, d, false), 1e-6 * len + 1e-6, 1e-5, `cumsum ${shape} dim ${dim}`);
          const pv = randomValues(numelOf(shape), seed++, 0.5, 1.5);
          const p = wt.tensor(Float32Array.from(pv), { shape });
          expectClose(await p.cumprod(dim).data(), refScan(pv, shape, d, true), 1e-6, 1e-5 * len + 1e-6, `cumprod ${shape} dim ${dim}`);
          const r = rng(seed++);
          const iv = Int32Array.from({ length: numelOf(shape) }, () => Math.floor(r() * 7) - 3);
          const xi = wt.tensor(iv, { shape });
          const ci = wt.cumsum(xi, dim), pi = wt.cumprod(xi, dim);
          expect(ci.dtype).toBe('int32');
          expect(Array.from(await ci.data())).toEqual(refScan(iv, shape, d, false, true));
          expect(Array.from(await pi.data())).toEqual(refScan(iv, shape, d, true, true));
          const b = wt.tensor(Array.from(iv, (t) => t > 0), { shape, dtype: 'bool' });
          const cb = b.cumsum(dim);
          expect(cb.dtype).toBe('int32');
          expect(Array.from(await cb.data())).toEqual(refScan(Array.from(iv, (t) => (t > 0 ? 1 : 0)), shape, d, false, true));
          wt.dispose([x, p, xi, ci, pi, b, cb]);
        }
      }
    });

    it('long rows (several tiles of the workgroup scan), 0-d and empty tensors', async () => {
      for (const n of [257, 3001]) {
        const v = randomValues(2 * n, n, -1, 1);
        const x = wt.tensor(Float32Array.from(v), { shape: [2, n] });
        expectClose(await x.cumsum(1).data(), refScan(v, [2, n], 1, false), 2e-6 * n, 1e-5, `cumsum [2, ${n}]`);
        expectClose(await x.cumsum(0).data(), refScan(v, [2, n], 0, false), 1e-6, 1e-6, `cumsum [2, ${n}] dim 0`);
      }
      expect(await wt.tensor(3).cumsum(0).item()).toBe(3);
      expect(await wt.tensor(3).cumprod(-1).item()).toBe(3);
      expect(wt.zeros([2, 0]).cumsum(1).shape).toEqual([2, 0]);
      expect(() => wt.tensor([1, 2]).cumsum(1)).toThrow(wt.ShapeError);
    });

    it('gradients: reverse cumsum; cumprod exact with zeros in the input', async () => {
      await gradcheck((x) => x.cumsum(1), [wt.tensor(Float32Array.from(randomValues(15, 3, -1, 1)), { shape: [3, 5] })]);
      await gradcheck((x) => x.cumsum(0), [wt.tensor(Float32Array.from(randomValues(15, 4, -1, 1)), { shape: [3, 5] })]);
      await gradcheck((x) => x.cumprod(1), [wt.tensor(Float32Array.from(randomValues(21, 5, 0.5, 1.5)), { shape: [3, 7] })]);
      await gradcheck((x) => x.cumprod(0), [wt.tensor(Float32Array.from(randomValues(12, 6, -1.5, 1.5)), { shape: [4, 3] })]);
      // one zero, two zeros, a zero at either end: products are polynomials, so finite differences hold
      const z = wt.tensor([[0.5, 0, 1.5, 2, -1], [0, 1.2, 0.7, 0, 2], [1.1, 0.9, -1.3, 0.8, 0], [0, 0, 1, 2, 3]]);
      await gradcheck((x) => x.cumprod(1), [z]);
      // the closed form: x = [2, 0, 3], y = [2, 0, 0]; dy/dx summed: [1 + 0 + 0, 2 + 2·3, 0]
      const x = wt.tensor([2, 0, 3], { requiresGrad: true });
      x.cumprod(0).sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([1, 8, 0]);
      wt.dispose([z, x, x.grad!]);
    });
  });

  describe('sort, argsort, topk', () => {
    it('stable, NaN largest, along every dim, both directions', async () => {
      let seed = 10;
      for (const shape of [...SHAPES, [3, 600], [2, 1500]]) {
        for (let dim = -1; dim < shape.length; dim++) {
          const d = (dim + shape.length) % shape.length;
          const v = tiedValues(numelOf(shape), seed++);
          const x = wt.tensor(v, { shape });
          for (const descending of [false, true]) {
            const want = refSort(v, shape, d, descending);
            const { values, indices } = x.sort(dim, descending);
            const what = `sort ${shape} dim ${dim} descending ${descending}`;
            expect(indices.dtype).toBe('int32');
            expect(Array.from(await indices.data()), what).toEqual(want.indices);
            expectClose(await values.data(), want.values, 0, 0, what);
            const a = wt.argsort(x, dim, descending);
            expect(Array.from(await a.data()), `argsort: ${what}`).toEqual(want.indices);
            wt.dispose([values, indices, a]);
          }
          x.dispose();
        }
      }
    });

    it('int32 and bool sort; the result destructures as an object or an array', async () => {
      const x = wt.tensor([[3, -1, 3, 2 ** 31 - 1, -(2 ** 31), 0]], { dtype: 'int32' });
      const [v, i] = x.sort(1);
      expect(v.dtype).toBe('int32');
      expect(Array.from(await v.data())).toEqual([-(2 ** 31), -1, 0, 3, 3, 2 ** 31 - 1]);
      expect(Array.from(await i.data())).toEqual([4, 1, 5, 0, 2, 3]);
      const r = wt.sort(wt.tensor([true, false, true, false]), 0, true);
      expect(r.values.dtype).toBe('bool');
      expect(Array.from(await r.values.data())).toEqual([1, 1, 0, 0]);
      expect(Array.from(await r.indices.data())).toEqual([0, 2, 1, 3]);
      expect(r[0]).toBe(r.values);
      expect(r[1]).toBe(r.indices);
      expect(r.length).toBe(2);
      const s = wt.tensor(5).sort();
      expect([await s.values.item(), await s.indices.item()]).toEqual([5, 0]);
      wt.dispose([x, v, i, r.values, r.indices, s.values, s.indices]);
    });

    it('topk: largest or smallest k, ties to the lower position, k = 0 and k = size', async () => {
      let seed = 40;
      for (const shape of [[17], [3, 33], [4, 5, 6]]) {
        for (let d = 0; d < shape.length; d++) {
          const v = tiedValues(numelOf(shape), seed++);
          const x = wt.tensor(v, { shape });
          for (const k of [0, 1, Math.ceil(shape[d] / 2), shape[d]]) {
            for (const largest of [true, false]) {
              const full = refSort(v, shape, d, largest);
              const { values, indices } = x.topk(k, d, largest);
              const oshape = shape.map((s, j) => (j === d ? k : s));
              expect(values.shape).toEqual(oshape);
              // the first k along d of the full sort
              const pick = (a: number[]) => Array.from({ length: numelOf(oshape) }, (_, i) => {
                const idx = unravel(i, oshape);
                return a[idx.reduce((s, j, t) => s + j * stridesOf(shape)[t], 0)];
              });
              const what = `topk ${shape} dim ${d} k ${k} largest ${largest}`;
              expect(Array.from(await indices.data()), what).toEqual(pick(full.indices));
              expectClose(await values.data(), pick(full.values), 0, 0, what);
              wt.dispose([values, indices]);
            }
          }
          x.dispose();
        }
      }
      expect(() => wt.topk(wt.zeros([3, 4]), 5)).toThrow(/topk: k 5 is larger than dim 1 \(size 4\)/);
      expect(() => wt.topk(wt.zeros([3, 4]), -1)).toThrow(wt.ArgumentError);
    });

    it('gradients of values go to the sorted positions', async () => {
      // distinct values: finite differences do not cross a reordering
      const v = Float32Array.from({ length: 24 }, (_, i) => ((i * 7) % 24) / 5 - 2);
      await gradcheck((x) => x.sort(1).values, [wt.tensor(v, { shape: [4, 6] })]);
      await gradcheck((x) => x.sort(0, true).values, [wt.tensor(v, { shape: [4, 6] })]);
      await gradcheck((x) => x.topk(2, 1).values, [wt.tensor(v, { shape: [4, 6] })]);
      await gradcheck((x) => x.topk(3, 0, false).values, [wt.tensor(v, { shape: [4, 6] })]);
    });
  });

  describe('max and min along a dim: values and indices', () => {
    it('values and the first position of the extreme, NaN as the maximum, keepdim', async () => {
      let seed = 60;
      for (const shape of SHAPES) {
        for (let d = 0; d < shape.length; d++) {
          const v = tiedValues(numelOf(shape), seed++);
          const x = wt.tensor(v, { shape });
          for (const keepdim of [false, true]) {
            for (const which of ['max', 'min'] as const) {
              const r = which === 'max' ? x.max(d, keepdim) : wt.min(x, d, keepdim);
              // the first maximum (minimum): the first of a stable descending (ascending) sort,
              // except that min treats NaN as its extreme too (as torch)
              const wantV: number[] = [], wantI: number[] = [];
              for (const line of lines(shape, d)) {
                let best = 0;
                for (let j = 1; j < line.length; j++) {
                  const a = v[line[j]], b = v[line[best]];
                  if (b !== b) break;
                  if (a !== a || (which === 'max' ? a > b : a < b)) best = j;
                }
                wantV.push(v[line[best]]);
                wantI.push(best);
              }
              const oshape = keepdim ? shape.map((s, j) => (j === d ? 1 : s)) : shape.filter((_, j) => j !== d);
              expect(r.values.shape).toEqual(oshape);
              expect(r.indices.shape).toEqual(oshape);
              const what = `${which}Dim ${shape} dim ${d} keepdim ${keepdim}`;
              expect(Array.from(await r.indices.data()), what).toEqual(wantI);
              expectClose(await r.values.data(), wantV, 0, 0, what);
              wt.dispose([r.values, r.indices]);
            }
          }
          x.dispose();
        }
      }
      expect(() => wt.zeros([2, 0]).max(1)).toThrow(/max: cannot reduce over dim 1 of size 0/);
      const e = wt.zeros([0, 3]).min(1, true);
      expect([e.values.shape, e.indices.shape]).toEqual([[0, 1], [0, 1]]);
      const es = wt.zeros([2, 0]).sort(1), et = wt.zeros([0, 4]).topk(2);
      expect([es.values.shape, es.indices.shape, et.values.shape]).toEqual([[2, 0], [2, 0], [0, 2]]);
    });

    it('the gradient goes to the reported position only (ties included)', async () => {
      const x = wt.tensor([[1, 7, 7], [4, 2, 4]], { requiresGrad: true });
      const { values, indices } = x.max(1);
      expect(Array.from(await indices.data())).toEqual([1, 0]);
      values.sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 1, 0, 1, 0, 0]);
      const v = Float32Array.from({ length: 20 }, (_, i) => ((i * 3) % 20) / 4);
      await gradcheck((t) => t.max(1).values, [wt.tensor(v, { shape: [4, 5] })]);
      await gradcheck((t) => t.min(0, true).values, [wt.tensor(v, { shape: [4, 5] })]);
      wt.dispose([x, x.grad!, values, indices]);
    });
  });

  describe('inputs', () => {
    it('views, pending (fused) results and offsets work as copies would', async () => {
      const v = randomValues(35, 77, -1, 1);
      const x = wt.tensor(Float32Array.from(v), { shape: [5, 7] });
      const pairs: [string, () => wt.Tensor, () => wt.Tensor][] = [
        ['cumsum of a transposed view', () => x.T.cumsum(1), () => x.T.contiguous().cumsum(1)],
        ['cumprod of a fused result', () => x.mul(2).add(1).cumprod(0), () => wt.tensor(Float32Array.from(v, (t) => 2 * t + 1), { shape: [5, 7] }).cumprod(0)],
        ['sort of a sliced view', () => x.narrow(1, 2, 4).sort(1, true).values, () => x.narrow(1, 2, 4).contiguous().sort(1, true).values],
        ['topk of a fused result', () => x.abs().topk(3, 0).indices, () => wt.tensor(Float32Array.from(v, Math.abs), { shape: [5, 7] }).topk(3, 0).indices],
        ['max(dim) of an expanded view', () => x.narrow(0, 0, 1).expand([4, 7]).max(1).values, () => x.narrow(0, 0, 1).contiguous().expand([4, 7]).contiguous().max(1).values],
      ];
      for (const [what, a, b] of pairs) expect(Array.from(await a().data()), what).toEqual(Array.from(await b().data()));
      x.dispose();
    });
  });

  describe('memory', () => {
    it('each op leaves only its results (and gradients) alive, forward and backward', async () => {
      const x = wt.tensor(Float32Array.from(randomValues(60, 90, -1, 1)), { shape: [3, 4, 5], requiresGrad: true });
      const w = wt.tensor([[1, 2, 3], [0, 1, 1]]);
      const ops: [string, () => wt.Tensor[]][] = [
        ['cumsum', () => [x.cumsum(1)]], ['cumprod', () => [x.cumprod(2)]], ['sort', () => [...x.sort(1)]],
        ['argsort', () => [x.argsort(0, true)]], ['topk', () => [...x.topk(2, 2)]], ['max(dim)', () => [...x.max(1)]],
        ['min(dim)', () => [...x.min(0, true)]], ['multinomial', () => [w.multinomial(2), w.multinomial(5, true)]],
      ];
      for (const [name, op] of ops) {
        const before = wt.memory().tensors;
        const outs = op();
        await Promise.all(outs.map((t) => t.data()));
        expect(wt.memory().tensors - before, `${name} forward`).toBe(outs.length);
        if (outs[0].requiresGrad) {
          wt.tidy(() => outs[0].sum().backward());
          expect(wt.memory().tensors - before, `${name} backward`).toBe(outs.length + 1);
          x.grad!.dispose();
          x.grad = null;
        }
        wt.dispose(outs);
        expect(wt.memory().tensors, `${name} disposed`).toBe(before);
      }
      wt.dispose([x, w]);
    });
  });

  describe('multinomial', () => {
    it('with replacement: frequencies follow the weights, zero weights never drawn', async () => {
      const w = wt.tensor([[1, 0, 3, 6], [0, 0, 5, 0], [2, 2, 0, 0.5]]);
      const n = 20000;
      const s = wt.multinomial(w, n, true, { seed: 7 });
      expect(s.shape).toEqual([3, n]);
      expect(s.dtype).toBe('int32');
      const d = await s.data();
      const probs = [[1, 0, 3, 6], [0, 0, 5, 0], [2, 2, 0, 0.5]].map((row) => row.map((x) => x / row.reduce((a, b) => a + b)));
      for (let r = 0; r < 3; r++) {
        const count = [0, 0, 0, 0];
        for (let j = 0; j < n; j++) count[d[r * n + j]]++;
        for (let c = 0; c < 4; c++) {
          const p = probs[r][c], f = count[c] / n;
          if (p === 0) expect(count[c], `row ${r} category ${c}`).toBe(0);
          else expect(Math.abs(f - p), `row ${r} category ${c}: ${f} vs ${p}`).toBeLessThan(5 * Math.sqrt(p * (1 - p) / n) + 1e-9);
        }
      }
      wt.dispose([w, s]);
    });

    it('without replacement: distinct draws, the first draw as likely as its weight, later ones as sequential draws', async () => {
      const w = wt.tensor([1, 2, 0, 7]);
      const n = 4000;
      // each row of the repeated weights is an independent draw of 3 distinct categories
      const rows = w.reshape([1, 4]).expand([n, 4]);
      const s = wt.multinomial(rows, 3, false, { seed: 3 });
      const d = await s.data();
      const first = [0, 0, 0, 0], second = [0, 0, 0, 0];
      for (let r = 0; r < n; r++) {
        const draw = [d[3 * r], d[3 * r + 1], d[3 * r + 2]];
        expect(new Set(draw).size).toBe(3);
        // category 2 (weight 0) only once the three positive ones are used up: never here
        expect(draw.includes(2)).toBe(false);
        first[draw[0]]++;
        second[draw[1]]++;
      }
      const p1 = [0.1, 0.2, 0, 0.7];
      // P(second = j) = Σ_i p_i · p_j / (1 − p_i)
      const p2 = p1.map((pj, j) => p1.reduce((a, pi, i) => (i === j ? a : a + (pi * pj) / (1 - pi)), 0));
      for (let c = 0; c < 4; c++) {
        for (const [count, p] of [[first[c], p1[c]], [second[c], p2[c]]]) {
          expect(Math.abs(count / n - p), `category ${c}`).toBeLessThan(5 * Math.sqrt(p * (1 - p) / n) + 1e-9);
        }
      }
      // all categories: a permutation
      const perm = await wt.multinomial(wt.tensor([1, 1, 1, 1, 1]), 5, false, { seed: 1 }).data();
      expect(Array.from(perm).sort()).toEqual([0, 1, 2, 3, 4]);
      // torch's CPU order once the positive weights are used up: zero weights in index order
      expect(Array.from(await wt.multinomial(wt.tensor([0, 1, 0, 0]), 3, false, { seed: 2 }).data())).toEqual([1, 0, 2]);
      wt.dispose([w, rows, s]);
    });

    it('is deterministic under a seed and under wt.manualSeed, and differs between calls', async () => {
      const w = wt.tensor([[0.2, 0.3, 0.5], [1, 1, 1]]);
      for (const replacement of [true, false]) {
        const a = await wt.multinomial(w, 3, replacement, { seed: 11 }).data();
        const b = await w.multinomial(3, replacement, { seed: 11 }).data();
        expect(Array.from(b)).toEqual(Array.from(a));
        wt.manualSeed(5);
        const c1 = await wt.multinomial(w, 3, replacement).data(), c2 = await wt.multinomial(w, 3, replacement).data();
        wt.manualSeed(5);
        const d1 = await wt.multinomial(w, 3, replacement).data(), d2 = await wt.multinomial(w, 3, replacement).data();
        expect(Array.from(d1)).toEqual(Array.from(c1));
        expect(Array.from(d2)).toEqual(Array.from(c2));
      }
      const x = wt.multinomial(wt.ones([50]), 40, true, { seed: 1 }), y = wt.multinomial(wt.ones([50]), 40, true);
      expect(Array.from(await x.data())).not.toEqual(Array.from(await y.data()));
      expect(wt.multinomial(wt.ones([0, 3]), 2, true).shape).toEqual([0, 2]);
      w.dispose();
    });

    it('draws fresh samples on each replay of a compiled step, as the eager calls do', async () => {
      const w = wt.tensor([[0.2, 0.3, 0.5, 1, 2, 0.1, 4]]);
      const step = (p: wt.Tensor) => wt.multinomial(p, 4, false).add(wt.multinomial(p, 6, true).sum(1, true));
      wt.manualSeed(9);
      const eager: number[][] = [];
      for (let i = 0; i < 4; i++) eager.push(Array.from(await wt.tidy(() => step(w)).data()));
      const compiled = wt.compile(step);
      wt.manualSeed(9);
      const comp: number[][] = [];
      for (let i = 0; i < 4; i++) comp.push(Array.from(await compiled(w).data()));
      expect(compiled.stats.replayed).toBeGreaterThan(0);
      expect(comp).toEqual(eager);
      compiled.dispose();
      w.dispose();
    });

    it('bad weights are ArgumentErrors (on the device: at the read of the samples); bad arguments at the call', async () => {
      await expectIndexError(kind, () => wt.multinomial(wt.tensor([0.5, -0.1, 1]), 2, true), /multinomial: input \[3\] holds .*finite and non-negative/);
      await expectIndexError(kind, () => wt.multinomial(wt.tensor([[1, NaN]]), 1, false), /finite and non-negative/);
      await expectIndexError(kind, () => wt.multinomial(wt.tensor([[1, Infinity]]), 1, true), /finite and non-negative/);
      await expectIndexError(kind, () => wt.multinomial(wt.tensor([[1, 2], [0, 0]]), 1, true), /sums to 0/);
      expect(() => wt.multinomial(wt.tensor([1, 2]), 3)).toThrow(/cannot draw 3 distinct samples from 2 categories/);
      expect(() => wt.multinomial(wt.tensor([1, 2]), 0, true)).toThrow(wt.ArgumentError);
      expect(() => wt.multinomial(wt.tensor([1, 2], { dtype: 'int32' }), 1)).toThrow(wt.DTypeError);
      expect(() => wt.multinomial(wt.zeros([2, 2, 2]), 1)).toThrow(wt.ShapeError);
      expect(() => wt.multinomial(wt.zeros([2, 0]), 1, true)).toThrow(wt.ShapeError);
      expect(() => wt.multinomial(wt.ones([2]), 1, true, { seeds: 1 } as never)).toThrow(wt.ArgumentError);
    });
  });
});
