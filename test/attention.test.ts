import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, randomTensor } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

const { nn } = wt;

// ---- float64 references (plain loops) ---------------------------------------------------------

type Vec = number[];
type Mat = number[][];
const lin = (x: Vec, W: Mat, b: Vec | null): Vec => W.map((w, j) => w.reduce((s, v, k) => s + v * x[k], b ? b[j] : 0));

/** softmax(Q Kᵀ·scale + add(i, j)) V for one head; a fully -inf row gives zero weights. */
function attnRef(Q: Mat, K: Mat, V: Mat, add: (i: number, j: number) => number, scale = 1 / Math.sqrt(Q[0].length)): { out: Mat; w: Mat } {
  const w = Q.map((q, i) => {
    const s = K.map((k, j) => q.reduce((a, v, d) => a + v * k[d], 0) * scale + add(i, j));
    const m = Math.max(...s);
    if (m === -Infinity) return s.map(() => 0);
    const e = s.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  });
  return { w, out: w.map((row) => V[0].map((_, d) => row.reduce((a, p, j) => a + p * V[j][d], 0))) };
}

interface MhaParams { Wq: Mat; Wk: Mat; Wv: Mat; bq: Vec | null; bk: Vec | null; bv: Vec | null; Wo: Mat; bo: Vec | null }

/** The projection weights and biases of a MultiheadAttention as plain arrays (packed or separate). */
async function readMha(m: wt.nn.MultiheadAttention): Promise<MhaParams> {
  const E = m.embedDim;
  const mat = async (t: wt.Tensor) => (await t.array()) as Mat;
  const W = m.inProjWeight ? await mat(m.inProjWeight) : null;
  const [Wq, Wk, Wv] = W ? [W.slice(0, E), W.slice(E, 2 * E), W.slice(2 * E)] : await Promise.all([m.qProjWeight!, m.kProjWeight!, m.vProjWeight!].map(mat));
  const b = m.inProjBias ? ((await m.inProjBias.array()) as Vec) : null;
  const bo = m.outProj.bias ? ((await m.outProj.bias.array()) as Vec) : null;
  return { Wq, Wk, Wv, bq: b && b.slice(0, E), bk: b && b.slice(E, 2 * E), bv: b && b.slice(2 * E), Wo: await mat(m.outProj.weight), bo };
}

/** Batch-first multi-head attention; `add(b, h, i, j)` is the additive mask. Weights averaged over heads. */
function mhaRef(q: Mat[], k: Mat[], v: Mat[], p: MhaParams, nh: number, add: (b: number, h: number, i: number, j: number) => number = () => 0): { out: Mat[]; w: Mat[]; wHeads: Mat[][] } {
  const E = p.Wq.length, hs = E / nh;
  const res = q.map((qb, b) => {
    const Q = qb.map((x) => lin(x, p.Wq, p.bq)), K = k[b].map((x) => lin(x, p.Wk, p.bk)), V = v[b].map((x) => lin(x, p.Wv, p.bv));
    const cols = (M: Mat, h: number) => M.map((r) => r.slice(h * hs, (h + 1) * hs));
    const heads = Array.from({ length: nh }, (_, h) => attnRef(cols(Q, h), cols(K, h), cols(V, h), (i, j) => add(b, h, i, j)));
    const O = Q.map((_, i) => heads.flatMap((hd) => hd.out[i]));
    return { out: O.map((o) => lin(o, p.Wo, p.bo)), w: Q.map((_, i) => heads[0].w[i].map((_, j) => heads.reduce((s, hd) => s + hd.w[i][j], 0) / nh)), wHeads: heads.map((hd) => hd.w) };
  });
  return { out: res.map((r) => r.out), w: res.map((r) => r.w), wHeads: res.map((r) => r.wHeads) };
}

const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);
const transpose01 = (x: Mat[]): Mat[] => x[0].map((_, i) => x.map((r) => r[i]));
const data = async (t: wt.Tensor) => Array.from(await t.data());

// ---- MultiheadAttention -----------------------------------------------------------------------

forEachBackend((kind) => {
  describe('MultiheadAttention', () => {
    it("has PyTorch's parameters and initialisation", async () => {
      const m = new nn.MultiheadAttention(8, 2);
      expect(m.namedParameters().map(([n, p]) => `${n}:${p.shape}`)).toEqual(['in_proj_weight:24,8', 'in_proj_bias:24', 'out_proj.weight:8,8', 'out_proj.bias:8']);
      const w = await data(m.inProjWeight!);
      const bound = Math.sqrt(6 / (8 + 24)); // xavier uniform on [3E, E]
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.8 * bound);
      expect(await data(m.inProjBias!)).toEqual(new Array(24).fill(0));
      expect(await data(m.outProj.bias!)).toEqual(new Array(8).fill(0));
      const nb = new nn.MultiheadAttention(8, 4, { bias: false, kdim: 3, vdim: 5 });
      expect(nb.namedParameters().map(([n, p]) => `${n}:${p.shape}`)).toEqual(['q_proj_weight:8,8', 'k_proj_weight:8,3', 'v_proj_weight:8,5', 'out_proj.weight:8,8']);
    });

    it('cross-attention (batchFirst) matches a float64 reference, weights averaged over heads', async () => {
      const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
      // non-zero biases so every parameter shows up in the reference
      wt.noGrad(() => { m.inProjBias!.copy_(wt.randn([12], { seed: 5 })); m.outProj.bias!.copy_(wt.randn([4], { seed: 6 })); });
      const [q] = randomTensor([2, 3, 4], 1), [k] = randomTensor([2, 5, 4], 2), [v] = randomTensor([2, 5, 4], 3);
      const [y, w] = m.forward(q, k, v);
      expect(y.shape).toEqual([2, 3, 4]);
      expect(w!.shape).toEqual([2, 3, 5]);
      const ref = mhaRef((await q.array()) as Mat[], (await k.array()) as Mat[], (await v.array()) as Mat[], await readMha(m), 2);
      expectClose(await y.data(), flat(ref.out), 1e-5, 1e-4, 'output');
      expectClose(await w!.data(), flat(ref.w), 1e-6, 1e-4, 'weights');
      const [, wh] = m.forward(q, k, v, { averageAttnWeights: false });
      expect(wh!.shape).toEqual([2, 2, 3, 5]);
      expectClose(await wh!.data(), flat(ref.wHeads), 1e-6, 1e-4, 'per-head weights');
      expect(m.forward(q, k, v, { needWeights: false })[1]).toBeNull();
    });

    it('self-attention, sequence-first (the default) and unbatched inputs', async () => {
      const m = new nn.MultiheadAttention(4, 2);
      const [x] = randomTensor([3, 2, 4], 7); // (T, B, E)
      const [y, w] = m.forward(x, x, x);
      expect(y.shape).toEqual([3, 2, 4]);
      const xb = transpose01((await x.array()) as Mat[]);
      const ref = mhaRef(xb, xb, xb, await readMha(m), 2);
      expectClose(await y.data(), flat(transpose01(ref.out)), 1e-5, 1e-4, 'output');
      expectClose(await w!.data(), flat(ref.w), 1e-6, 1e-4, 'weights');
      const x0 = x.select(1, 0); // (T, E)
      const [y0, w0] = m.forward(x0, x0, x0);
      expect(y0.shape).toEqual([3, 4]);
      expect(w0!.shape).toEqual([3, 3]);
      expectClose(await y0.data(), flat(ref.out[0]), 1e-5, 1e-4, 'unbatched');
    });

    it('causal and key-padding masks give masked keys zero weight', async () => {
      const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
      const [x] = randomTensor([2, 4, 4], 11);
      const kpm = wt.tensor([[false, false, false, true], [false, true, false, false]]);
      const [y, w] = m.forward(x, x, x, { isCausal: true, keyPaddingMask: kpm });
      const pad = [[0, 0, 0, 1], [0, 1, 0, 0]];
      const X = (await x.array()) as Mat[];
      const ref = mhaRef(X, X, X, await readMha(m), 2, (b, _h, i, j) => (j > i || pad[b][j] ? -Infinity : 0));
      expectClose(await y.data(), flat(ref.out), 1e-5, 1e-4, 'output');
      const W = (await w!.array()) as Mat[];
      for (let b = 0; b < 2; b++) {
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 4; j++) if (j > i || pad[b][j]) expect(W[b][i][j]).toBe(0);
          expect(W[b][i].reduce((a, c) => a + c, 0)).toBeCloseTo(1, 5);
        }
      }
      // the same via an explicit bool attnMask [L, S] (true = masked) and as a float mask
      const causal = wt.tensor([0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => j > i)));
      expectClose(await m.forward(x, x, x, { attnMask: causal, keyPaddingMask: kpm })[0].data(), flat(ref.out), 1e-5, 1e-4, 'bool attnMask');
      const fmask = wt.where(causal, -Infinity, 0);
      expectClose(await m.forward(x, x, x, { attnMask: fmask, keyPaddingMask: kpm })[0].data(), flat(ref.out), 1e-5, 1e-4, 'float attnMask');
    });

    it('float additive masks and per-head [B·nh, L, S] masks match the reference', async () => {
      const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
      const [x] = randomTensor([2, 3, 4], 12);
      const [bias, B] = randomTensor([4, 3, 3], 13); // (B·nh, L, S)
      const [y] = m.forward(x, x, x, { attnMask: bias });
      const X = (await x.array()) as Mat[];
      const ref = mhaRef(X, X, X, await readMha(m), 2, (b, h, i, j) => B[((b * 2 + h) * 3 + i) * 3 + j]);
      expectClose(await y.data(), flat(ref.out), 1e-5, 1e-4, 'output');
    });

    it('a fully masked query row gives zero weights and no NaN (forward and backward)', async () => {
      const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
      const [x] = randomTensor([1, 3, 4], 14, -2, 2, { requiresGrad: true });
      const mask = wt.tensor([[false, true, true], [true, true, true], [false, false, true]]); // row 1 sees nothing
      const [y, w] = m.forward(x, x, x, { attnMask: mask });
      const W = (await w!.array()) as Mat[];
      expect(W[0][1]).toEqual([0, 0, 0]);
      expect(W[0][0]).toEqual([1, 0, 0]);
      // output of a dead row is outProj(0) = outProj's bias (zeros at init)
      expect(((await y.array()) as Mat[])[0][1]).toEqual([0, 0, 0, 0]);
      y.sum().backward();
      expect((await x.grad!.data()).every(Number.isFinite)).toBe(true);
    });

    it('kdim/vdim cross-attention with separate projection weights', async () => {
      const m = new nn.MultiheadAttention(4, 2, { batchFirst: true, kdim: 3, vdim: 5 });
      const [q] = randomTensor([2, 2, 4], 21), [k] = randomTensor([2, 3, 3], 22), [v] = randomTensor([2, 3, 5], 23);
      const [y] = m.forward(q, k, v);
      const ref = mhaRef((await q.array()) as Mat[], (await k.array()) as Mat[], (await v.array()) as Mat[], await readMha(m), 2);
      expectClose(await y.data(), flat(ref.out), 1e-5, 1e-4, 'output');
    });

    it('dropout acts on the weights in training only', async () => {
      const m = new nn.MultiheadAttention(4, 2, { batchFirst: true, dropout: 0.5 });
      const [x] = randomTensor([2, 6, 4], 31);
      const [, wTrain] = m.forward(x, x, x, { averageAttnWeights: false });
      expect((await wTrain!.data()).some((v) => v === 0)).toBe(true);
      m.eval();
      const [yEval, wEval] = m.forward(x, x, x, { averageAttnWeights: false });
      expect((await wEval!.data()).every((v) => v > 0)).toBe(true);
      const X = (await x.array()) as Mat[];
      expectClose(await yEval.data(), flat(mhaRef(X, X, X, await readMha(m), 2).out), 1e-5, 1e-4, 'eval output');
    });

    it('gradients (inputs and every parameter) pass gradcheck, masks included', async () => {
      const [x] = randomTensor([2, 3, 4], 41, -1, 1);
      const [wi] = randomTensor([12, 4], 42, -1, 1), [bi] = randomTensor([12], 43, -1, 1);
      const [wo] = randomTensor([4, 4], 44, -1, 1), [bo] = randomTensor([4], 45, -1, 1);
      await gradcheck((xx, a, b, c, d) => {
        const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
        m.dispose(); // use the checked tensors as the parameters
        m.inProjWeight = a; m.inProjBias = b; m.outProj.weight = c; m.outProj.bias = d;
        // batch 1, query 0 has every key masked (causal + padding of key 0)
        const kpm = wt.tensor([[false, false, true], [true, false, false]]);
        const [y, w] = m.forward(xx, xx, xx, { isCausal: true, keyPaddingMask: kpm });
        return wt.cat([y.flatten(), w!.flatten()]);
      }, [x, wi, bi, wo, bo]);
      // cross-attention path (three separate projections)
      const [q] = randomTensor([1, 2, 4], 46, -1, 1), [kv] = randomTensor([1, 3, 4], 47, -1, 1);
      await gradcheck((qq, kk, a) => {
        const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
        m.dispose();
        m.inProjWeight = a; m.inProjBias = null; m.outProj.bias = null; m.outProj.weight = wt.eye(4);
        return m.forward(qq, kk, kk, { attnMask: wt.tensor([[0, -1, 0.5], [0.25, 0, -2]]) })[0];
      }, [q, kv, wi]);
    });

    it('bad shapes and arguments throw errors naming them', () => {
      expect(() => new nn.MultiheadAttention(10, 3)).toThrow(wt.ArgumentError);
      expect(() => new nn.MultiheadAttention(10, 3)).toThrow(/embedDim 10 must be divisible by numHeads 3/);
      const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
      const x = wt.randn([2, 3, 4]);
      expect(() => m.forward(wt.randn([1, 2, 3, 4]), x, x)).toThrow(wt.ShapeError);
      expect(() => m.forward(wt.randn([1, 2, 3, 4]), x, x)).toThrow(/\[1,2,3,4\]/);
      expect(() => m.forward(wt.randn([2, 3, 5]), x, x)).toThrow(/query \[2,3,5\]/);
      expect(() => m.forward(x, wt.randn([2, 4, 4]), x)).toThrow(wt.ShapeError);
      expect(() => m.forward(x, x, x, { keyPaddingMask: wt.tensor([[true, false]]) })).toThrow(/keyPaddingMask must be \[2,3\]/);
      expect(() => m.forward(x, x, x, { attnMask: wt.zeros([3, 4]) })).toThrow(/attnMask must be \[3,3\]/);
      expect(() => m.forward(x, x, x, { attnMask: wt.zeros([3, 3], { dtype: 'int32' }) })).toThrow(wt.DTypeError);
    });
  });

  // ---- scaledDotProductAttention ---------------------------------------------------------------

  describe('scaledDotProductAttention', () => {
    it('matches the reference; bool masks mean "take part", as torch', async () => {
      const [q, Q] = randomTensor([2, 3, 4], 51), [k, K] = randomTensor([2, 5, 4], 52), [v, V] = randomTensor([2, 5, 2], 53);
      const rows = (a: Float64Array, n: number, d: number, b: number) => Array.from({ length: n }, (_, i) => Array.from(a.slice((b * n + i) * d, (b * n + i + 1) * d)));
      const keep = [[1, 1, 0, 1, 1], [0, 1, 1, 1, 0], [1, 0, 0, 0, 0]];
      const y = nn.scaledDotProductAttention(q, k, v, { attnMask: wt.tensor(keep.map((r) => r.map(Boolean))) });
      const yc = nn.scaledDotProductAttention(q, k, v, { isCausal: true, scale: 0.3 });
      const want = [0, 1].flatMap((b) => attnRef(rows(Q, 3, 4, b), rows(K, 5, 4, b), rows(V, 5, 2, b), (i, j) => (keep[i][j] ? 0 : -Infinity)).out.flat());
      const wantC = [0, 1].flatMap((b) => attnRef(rows(Q, 3, 4, b), rows(K, 5, 4, b), rows(V, 5, 2, b), (i, j) => (j > i ? -Infinity : 0), 0.3).out.flat());
      expect(y.shape).toEqual([2, 3, 2]);
      expectClose(await y.data(), want, 1e-5, 1e-4, 'bool mask');
      expectClose(await yc.data(), wantC, 1e-5, 1e-4, 'causal');
      await gradcheck((a, b, c) => nn.scaledDotProductAttention(a, b, c, { isCausal: true }), [q.slice(0, 0, 1), k.slice(0, 0, 1), v.slice(0, 0, 1)]);
      expect(() => nn.scaledDotProductAttention(q, wt.randn([2, 5, 3]), v)).toThrow(/key \[2,5,3\]/);
    });
  });

  // ---- transformer encoder ---------------------------------------------------------------------

  function layerNormRef(x: Vec, g: Vec, b: Vec, eps = 1e-5): Vec {
    const m = x.reduce((a, c) => a + c, 0) / x.length;
    const v = x.reduce((a, c) => a + (c - m) ** 2, 0) / x.length;
    return x.map((c, i) => ((c - m) / Math.sqrt(v + eps)) * g[i] + b[i]);
  }

  async function encoderLayerRef(layer: wt.nn.TransformerEncoderLayer, X: Mat[], pad: number[][]): Promise<Mat[]> {
    const p = await readMha(layer.selfAttn);
    const arr = async (t: wt.Tensor | null) => (await t!.array()) as Mat & Vec;
    const [W1, b1, W2, b2, g1, be1, g2, be2] = await Promise.all([layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias, layer.norm1.weight, layer.norm1.bias, layer.norm2.weight, layer.norm2.bias].map(arr));
    const sa = (x: Mat[]) => mhaRef(x, x, x, p, layer.nhead, (b, _h, _i, j) => (pad[b][j] ? -Infinity : 0)).out;
    const ff = (x: Vec) => lin(lin(x, W1, b1).map((c) => Math.max(c, 0)), W2, b2);
    const addM = (a: Mat[], b: Mat[]) => a.map((r, i) => r.map((row, j) => row.map((c, d) => c + b[i][j][d])));
    const ln = (x: Mat[], g: Vec, b: Vec) => x.map((r) => r.map((row) => layerNormRef(row, g, b)));
    if (layer.normFirst) {
      const x1 = addM(X, sa(ln(X, g1, be1)));
      return addM(x1, ln(x1, g2, be2).map((r) => r.map(ff)));
    }
    const x1 = ln(addM(X, sa(X)), g1, be1);
    return ln(addM(x1, x1.map((r) => r.map(ff))), g2, be2);
  }

  describe('TransformerEncoderLayer / TransformerEncoder', () => {
    for (const normFirst of [false, true]) {
      it(`${normFirst ? 'pre' : 'post'}-norm layer matches the reference`, async () => {
        const layer = new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 6, batchFirst: true, normFirst }).eval();
        wt.noGrad(() => { layer.norm1.weight!.copy_(wt.randn([4], { seed: 61 })); layer.norm2.bias!.copy_(wt.randn([4], { seed: 62 })); });
        const [x] = randomTensor([2, 3, 4], 63);
        const kpm = wt.tensor([[false, false, true], [false, false, false]]);
        const y = layer.forward(x, { srcKeyPaddingMask: kpm });
        const ref = await encoderLayerRef(layer, (await x.array()) as Mat[], [[0, 0, 1], [0, 0, 0]]);
        expectClose(await y.data(), flat(ref), 1e-5, 1e-4, 'output');
      });
    }

    it('names parameters as PyTorch, stacks layers, applies the final norm; gelu and causal run', async () => {
      const layer = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16 });
      expect(layer.namedParameters().map(([n]) => n)).toEqual([
        'self_attn.in_proj_weight', 'self_attn.in_proj_bias', 'self_attn.out_proj.weight', 'self_attn.out_proj.bias',
        'linear1.weight', 'linear1.bias', 'linear2.weight', 'linear2.bias', 'norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias',
      ]);
      const enc = new nn.TransformerEncoder(() => new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, activation: 'gelu', dropout: 0 }), 3, new nn.LayerNorm(8));
      expect(enc.namedParameters().length).toBe(3 * 12 + 2);
      expect(enc.namedParameters()[12][0]).toBe('layers.1.self_attn.in_proj_weight');
      const x = wt.randn([5, 2, 8], { seed: 64 }); // (T, B, E)
      const y = enc.forward(x, { isCausal: true });
      expect(y.shape).toEqual([5, 2, 8]);
      // the final LayerNorm leaves every position with mean 0, variance 1
      expectClose(await y.mean(-1).data(), new Array(10).fill(0), 1e-5);
      // causal: the first position does not depend on later ones
      const x2 = wt.cat([x.slice(0, 0, 1), wt.randn([4, 2, 8], { seed: 65 })], 0);
      expectClose((await enc.forward(x2, { isCausal: true }).slice(0, 0, 1).data()), await y.slice(0, 0, 1).data(), 1e-5, 1e-5, 'causal');
      expect(() => new nn.TransformerEncoder(layer as unknown as wt.nn.TransformerEncoderLayer[], 2)).toThrow(/factory/);
      expect(() => new nn.TransformerEncoderLayer(8, 2, { activation: 'swish' as 'relu' })).toThrow(wt.ArgumentError);
    });
  });

  // ---- positional encodings --------------------------------------------------------------------

  describe('positional encodings', () => {
    it('SinusoidalPositionalEncoding: a buffer with sin/cos values, added to [B, T, D]', async () => {
      const pe = new nn.SinusoidalPositionalEncoding(5, 10);
      expect(pe.parameters()).toEqual([]);
      expect(Object.keys(pe.stateDict())).toEqual(['pe']);
      const P = (await pe.pe.array()) as Mat;
      expect(P[0]).toEqual([0, 1, 0, 1, 0]);
      expect(P[3][0]).toBeCloseTo(Math.sin(3), 6);
      expect(P[3][1]).toBeCloseTo(Math.cos(3), 6);
      expect(P[7][2]).toBeCloseTo(Math.sin(7 / 10000 ** (2 / 5)), 6);
      expect(P[7][3]).toBeCloseTo(Math.cos(7 / 10000 ** (2 / 5)), 6);
      const x = wt.ones([2, 4, 5]);
      const y = (await pe.forward(x).array()) as Mat[];
      expectClose(y[1].flat(), P.slice(0, 4).flat().map((c) => c + 1), 1e-6);
      expect(() => pe.forward(wt.ones([1, 11, 5]))).toThrow(/exceed maxLen 10/);
      expect(() => pe.forward(wt.ones([1, 3, 4]))).toThrow(wt.ShapeError);
      const seqFirst = new nn.SinusoidalPositionalEncoding(5, 10, { batchFirst: false });
      expectClose(await seqFirst.forward(wt.zeros([4, 2, 5])).select(1, 1).data(), P.slice(0, 4).flat(), 1e-6);
    });

    it('LearnedPositionalEmbedding: a trained table with an offset', async () => {
      const pe = new nn.LearnedPositionalEmbedding(6, 3);
      expect(pe.namedParameters().map(([n, p]) => `${n}:${p.shape}`)).toEqual(['weight:6,3']);
      const W = (await pe.weight.array()) as Mat;
      const y = pe.forward(wt.zeros([2, 2, 3]), 3);
      expectClose(await y.select(0, 1).data(), W.slice(3, 5).flat(), 0);
      y.sum().backward();
      expect(flat(await pe.weight.grad!.array())).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 0, 0, 0]);
      expect(() => pe.forward(wt.zeros([1, 4, 3]), 3)).toThrow(/exceed maxLen 6/);
    });
  });

  // ---- training ------------------------------------------------------------------------------

  describe('training', () => {
    it('a tiny causal transformer overfits a few sequences with Adam', async () => {
      class TinyLM extends nn.Module {
        emb = new nn.Embedding(6, 16);
        pos = new nn.SinusoidalPositionalEncoding(16, 8);
        enc = new nn.TransformerEncoderLayer(16, 2, { dimFeedforward: 32, dropout: 0, batchFirst: true });
        head = new nn.Linear(16, 6);
        forward(tokens: wt.Tensor): wt.Tensor {
          return this.head.forward(this.enc.forward(this.pos.forward(this.emb.forward(tokens)), { isCausal: true }));
        }
      }
      wt.manualSeed(7);
      const model = new TinyLM();
      const seqs = [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [0, 2, 4, 0, 2, 4], [1, 3, 5, 1, 3, 5]];
      const inp = wt.tensor(seqs.map((s) => s.slice(0, 5)), { dtype: 'int32' });
      const tgt = wt.tensor(seqs.map((s) => s.slice(1)).flat(), { dtype: 'int32' });
      const opt = new wt.optim.Adam(model.parameters(), { lr: 0.01 });
      const losses: number[] = [];
      for (let step = 0; step < 80; step++) {
        const loss = wt.tidy(() => {
          const l = wt.crossEntropy(model.forward(inp).reshape([-1, 6]), tgt);
          l.backward();
          return l;
        });
        opt.step();
        model.zeroGrad();
        losses.push(await loss.item());
        loss.dispose();
      }
      expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 3);
    });
  });
});
