import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, randomTensor } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

const { nn } = wt;

// ---- float64 references (plain loops) ---------------------------------------------------------

type Vec = number[];
type Mat = number[][];
type Mode = 'tanh' | 'relu' | 'lstm' | 'gru';
interface Weights { wih: Mat; whh: Mat; bih: Vec | null; bhh: Vec | null }

const lin = (x: Vec, W: Mat, b: Vec | null): Vec => W.map((w, j) => w.reduce((s, v, k) => s + v * x[k], b ? b[j] : 0));
const sig = (v: number) => 1 / (1 + Math.exp(-v));
const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);
const part = (v: Vec, i: number, H: number) => v.slice(i * H, (i + 1) * H);

/** One step of every mode on one sample; returns [h', c']. */
function stepRef(mode: Mode, x: Vec, h: Vec, c: Vec, w: Weights): [Vec, Vec] {
  const H = h.length;
  const gi = lin(x, w.wih, w.bih), gh = lin(h, w.whh, w.bhh);
  if (mode === 'tanh' || mode === 'relu') {
    const a = gi.map((v, j) => v + gh[j]);
    return [a.map((v) => (mode === 'tanh' ? Math.tanh(v) : Math.max(v, 0))), c];
  }
  if (mode === 'lstm') {
    const g = gi.map((v, j) => v + gh[j]);
    const [i, f, gg, o] = [0, 1, 2, 3].map((k) => part(g, k, H));
    const c2 = c.map((cv, j) => sig(f[j]) * cv + sig(i[j]) * Math.tanh(gg[j]));
    return [c2.map((cv, j) => sig(o[j]) * Math.tanh(cv)), c2];
  }
  const r = part(gi, 0, H).map((v, j) => sig(v + gh[j]));
  const z = part(gi, 1, H).map((v, j) => sig(v + gh[H + j]));
  const n = part(gi, 2, H).map((v, j) => Math.tanh(v + r[j] * gh[2 * H + j]));
  return [n.map((nv, j) => (1 - z[j]) * nv + z[j] * h[j]), c];
}

/** Multi-layer (bi)directional recurrence over X (T, B, I); h0/c0 (L·D, B, H). */
function rnnRef(mode: Mode, X: Mat[], W: Weights[][], h0: Mat[], c0: Mat[]): { out: Mat[]; hN: Mat[]; cN: Mat[] } {
  const T = X.length, D = W[0].length;
  let x = X;
  const hN: Mat[] = [], cN: Mat[] = [];
  W.forEach((dirs, l) => {
    const outs = dirs.map((w, d) => {
      let h = h0[l * D + d], c = c0[l * D + d];
      const ys: Mat[] = new Array(T);
      for (let k = 0; k < T; k++) {
        const t = d ? T - 1 - k : k;
        const next = x[t].map((xb, b) => stepRef(mode, xb, h[b], c[b], w));
        h = next.map((p) => p[0]);
        c = next.map((p) => p[1]);
        ys[t] = h;
      }
      hN.push(h);
      cN.push(c);
      return ys;
    });
    x = outs[0].map((ys, t) => ys.map((row, b) => outs.flatMap((o) => o[t][b])));
  });
  return { out: x, hN, cN };
}

async function readWeights(m: wt.nn.RNN | wt.nn.LSTM | wt.nn.GRU): Promise<Weights[][]> {
  const arr = async (t: wt.Tensor | null) => (t ? ((await t.array()) as Mat & Vec) : null);
  const D = m.bidirectional ? 2 : 1;
  return Promise.all(Array.from({ length: m.numLayers }, (_, l) => Promise.all(Array.from({ length: D }, async (_, d) => {
    const [wih, whh, bih, bhh] = await Promise.all(m.weights(l, d).map(arr));
    return { wih: wih!, whh: whh!, bih, bhh };
  }))));
}

const zerosM = (a: number, b: number, c: number): Mat[] => Array.from({ length: a }, () => Array.from({ length: b }, () => new Array(c).fill(0)));
const toTB = (x: Mat[]): Mat[] => x[0].map((_, t) => x.map((r) => r[t])); // swap the first two dims

// ---- tests ------------------------------------------------------------------------------------

forEachBackend((kind) => {
  describe('RNN / LSTM / GRU', () => {
    it("have PyTorch's parameter names, shapes and U(±1/√H) init", async () => {
      const lstm = new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true });
      expect(lstm.namedParameters().map(([n, p]) => `${n}:${p.shape}`)).toEqual([
        'weight_ih_l0:16,3', 'weight_hh_l0:16,4', 'bias_ih_l0:16', 'bias_hh_l0:16',
        'weight_ih_l0_reverse:16,3', 'weight_hh_l0_reverse:16,4', 'bias_ih_l0_reverse:16', 'bias_hh_l0_reverse:16',
        'weight_ih_l1:16,8', 'weight_hh_l1:16,4', 'bias_ih_l1:16', 'bias_hh_l1:16',
        'weight_ih_l1_reverse:16,8', 'weight_hh_l1_reverse:16,4', 'bias_ih_l1_reverse:16', 'bias_hh_l1_reverse:16',
      ]);
      expect(new nn.GRU(3, 5, { bias: false }).namedParameters().map(([n, p]) => `${n}:${p.shape}`)).toEqual(['weight_ih_l0:15,3', 'weight_hh_l0:15,5']);
      expect(new nn.RNN(3, 5).namedParameters().map(([, p]) => p.shape[0])).toEqual([5, 5, 5, 5]);
      const big = new nn.LSTM(10, 100);
      const w = Array.from(await big.weights(0)[1].data());
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(0.1);
      expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.09);
    });

    const cases: { name: string; mode: Mode; make: () => wt.nn.RNN | wt.nn.LSTM | wt.nn.GRU }[] = [
      { name: 'RNN tanh, 2 layers, batchFirst', mode: 'tanh', make: () => new nn.RNN(3, 4, { numLayers: 2, batchFirst: true }) },
      { name: 'RNN relu, bidirectional', mode: 'relu', make: () => new nn.RNN(3, 4, { nonlinearity: 'relu', bidirectional: true }) },
      { name: 'LSTM, 2 layers, bidirectional', mode: 'lstm', make: () => new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true }) },
      { name: 'LSTM, batchFirst', mode: 'lstm', make: () => new nn.LSTM(3, 4, { batchFirst: true }) },
      { name: 'GRU, 2 layers, no bias, batchFirst', mode: 'gru', make: () => new nn.GRU(3, 4, { numLayers: 2, bias: false, batchFirst: true }) },
      { name: 'GRU, bidirectional', mode: 'gru', make: () => new nn.GRU(3, 4, { bidirectional: true }) },
    ];
    for (const { name, mode, make } of cases) {
      it(`${name} matches a float64 reference, with and without initial states`, async () => {
        const m = make();
        const D = m.bidirectional ? 2 : 1, ND = m.numLayers * D, B = 2, T = 4, H = 4;
        const [x] = randomTensor(m.batchFirst ? [B, T, 3] : [T, B, 3], 100 + cases.findIndex((c) => c.name === name), -1, 1);
        const [h0] = randomTensor([ND, B, H], 7, -1, 1), [c0] = randomTensor([ND, B, H], 8, -1, 1);
        const X = (await x.array()) as Mat[];
        const Xt = m.batchFirst ? toTB(X) : X;
        const W = await readWeights(m);
        for (const withState of [false, true]) {
          const H0 = withState ? ((await h0.array()) as Mat[]) : zerosM(ND, B, H);
          const C0 = withState ? ((await c0.array()) as Mat[]) : zerosM(ND, B, H);
          const ref = rnnRef(mode, Xt, W, H0, C0);
          let out: wt.Tensor, hN: wt.Tensor, cN: wt.Tensor | null = null;
          if (m instanceof nn.LSTM) [out, [hN, cN]] = m.forward(x, withState ? [h0, c0] : undefined);
          else [out, hN] = m.forward(x, withState ? h0 : undefined);
          expect(out.shape).toEqual(m.batchFirst ? [B, T, D * H] : [T, B, D * H]);
          expect(hN.shape).toEqual([ND, B, H]);
          expectClose(await out.data(), flat(m.batchFirst ? toTB(ref.out) : ref.out), 1e-5, 1e-4, 'output');
          expectClose(await hN.data(), flat(ref.hN), 1e-5, 1e-4, 'hN');
          if (cN) expectClose(await cN.data(), flat(ref.cN), 1e-5, 1e-4, 'cN');
        }
      });
    }

    it('LSTM and GRU gates match a hand-computed step', async () => {
      // hidden 1, input 1: every gate is one number, written out below
      const lstm = new nn.LSTMCell(1, 1);
      lstm.loadStateDict({
        weightIh: wt.tensor([[0.5], [-0.25], [1], [2]]), weightHh: wt.tensor([[0.1], [0.2], [-0.3], [0.4]]),
        biasIh: wt.tensor([0.01, 0.02, 0.03, 0.04]), biasHh: wt.tensor([0.1, 0, -0.1, 0]),
      });
      const x = 0.7, h = -0.5, c = 0.3;
      const i = sig(0.5 * x + 0.1 * h + 0.11), f = sig(-0.25 * x + 0.2 * h + 0.02);
      const g = Math.tanh(1 * x - 0.3 * h - 0.07), o = sig(2 * x + 0.4 * h + 0.04);
      const c1 = f * c + i * g, h1 = o * Math.tanh(c1);
      const [H1, C1] = lstm.forward(wt.tensor([[x]]), [wt.tensor([[h]]), wt.tensor([[c]])]);
      expectClose(await H1.data(), [h1], 1e-6);
      expectClose(await C1.data(), [c1], 1e-6);

      const gru = new nn.GRUCell(1, 1);
      gru.loadStateDict({
        weightIh: wt.tensor([[0.5], [-1], [1.5]]), weightHh: wt.tensor([[0.3], [0.6], [-0.9]]),
        biasIh: wt.tensor([0.1, 0.2, 0.3]), biasHh: wt.tensor([-0.1, 0.05, 0.4]),
      });
      const r = sig(0.5 * x + 0.1 + 0.3 * h - 0.1), z = sig(-1 * x + 0.2 + 0.6 * h + 0.05);
      const n = Math.tanh(1.5 * x + 0.3 + r * (-0.9 * h + 0.4)); // b_hn inside r's product
      const hg = (1 - z) * n + z * h;
      expectClose(await gru.forward(wt.tensor([[x]]), wt.tensor([[h]])).data(), [hg], 1e-6);
      // unbatched cell input
      expectClose(await gru.forward(wt.tensor([x]), wt.tensor([h])).data(), [hg], 1e-6);

      // the multi-layer module with the same weights and one step gives the same numbers
      const mod = new nn.GRU(1, 1);
      mod.loadStateDict({ weight_ih_l0: gru.weightIh, weight_hh_l0: gru.weightHh, bias_ih_l0: gru.biasIh!, bias_hh_l0: gru.biasHh! });
      const [y, hN] = mod.forward(wt.tensor([[[x]]]), wt.tensor([[[h]]]));
      expectClose(await y.data(), [hg], 1e-6);
      expectClose(await hN.data(), [hg], 1e-6);
      const rc = new nn.RNNCell(1, 1, { nonlinearity: 'relu', bias: false });
      rc.loadStateDict({ weight_ih: wt.tensor([[2]]), weight_hh: wt.tensor([[-1]]) });
      expectClose(await rc.forward(wt.tensor([[x]]), wt.tensor([[h]])).data(), [Math.max(0, 2 * x - h)], 1e-6);
    });

    it('unbatched input, batchFirst and multi-layer shapes', () => {
      const lstm = new nn.LSTM(3, 5, { numLayers: 3 });
      const [y, [h, c]] = lstm.forward(wt.randn([7, 3]));
      expect([y.shape, h.shape, c.shape]).toEqual([[7, 5], [3, 5], [3, 5]]);
      const gru = new nn.GRU(3, 5, { numLayers: 2, batchFirst: true, bidirectional: true });
      const [y2, h2] = gru.forward(wt.randn([4, 6, 3]), wt.zeros([4, 4, 5]));
      expect([y2.shape, h2.shape]).toEqual([[4, 6, 10], [4, 4, 5]]);
      const rnn = new nn.RNN(3, 2, { batchFirst: true });
      const [y3, h3] = rnn.forward(wt.randn([6, 3]), wt.zeros([1, 2]));
      expect([y3.shape, h3.shape]).toEqual([[6, 2], [1, 2]]);
    });

    it('inter-layer dropout acts in training mode only', async () => {
      const m = new nn.LSTM(3, 16, { numLayers: 2, dropout: 0.5 });
      const x = wt.randn([4, 2, 3], { seed: 9 });
      const a = await m.forward(x)[0].data(), b = await m.forward(x)[0].data();
      expect(Array.from(a)).not.toEqual(Array.from(b));
      m.eval();
      expect(Array.from(await m.forward(x)[0].data())).toEqual(Array.from(await m.forward(x)[0].data()));
      // dropout after the last layer is never applied (as PyTorch)
      const one = new nn.GRU(3, 4, { dropout: 0.5 });
      expect(Array.from(await one.forward(x)[0].data())).toEqual(Array.from(await one.forward(x)[0].data()));
    });

    /** gradcheck of a whole module: the checked tensors replace its parameters inside fn. */
    async function gradcheckModule(make: () => wt.nn.RNN | wt.nn.LSTM | wt.nn.GRU, x: wt.Tensor, states: wt.Tensor[]): Promise<void> {
      const proto = make();
      // the property names (namedParameters gives the snake_case keys)
      const names = Object.keys(proto).filter((k) => proto.parameters().includes((proto as unknown as Record<string, wt.Tensor>)[k]));
      const params = proto.parameters().map((p) => p.detach());
      await gradcheck((...ts) => {
        const m = make();
        m.dispose();
        names.forEach((n, i) => ((m as unknown as Record<string, wt.Tensor>)[n] = ts[1 + states.length + i]));
        const xs = ts[0], st = ts.slice(1, 1 + states.length);
        if (m instanceof nn.LSTM) {
          const [y, [h, c]] = m.forward(xs, st.length ? [st[0], st[1]] : undefined);
          return wt.cat([y.flatten(), h.flatten(), c.flatten()]);
        }
        const [y, h] = m.forward(xs, st[0]);
        return wt.cat([y.flatten(), h.flatten()]);
      }, [x, ...states, ...params]);
    }

    it('gradients through the time loop pass gradcheck', async () => {
      const [x] = randomTensor([3, 2, 2], 201, -1, 1); // (T, B, I)
      const [h0] = randomTensor([2, 2, 3], 202, -1, 1), [c0] = randomTensor([2, 2, 3], 203, -1, 1);
      await gradcheckModule(() => new nn.LSTM(2, 3, { bidirectional: true }), x, [h0, c0]);
      await gradcheckModule(() => new nn.GRU(2, 3, { numLayers: 2 }), x, [h0]);
      await gradcheckModule(() => new nn.RNN(2, 3, { numLayers: 2, batchFirst: true }), x, []);
    });

    it('bad shapes and arguments throw errors naming them', () => {
      const lstm = new nn.LSTM(3, 4, { numLayers: 2 });
      expect(() => lstm.forward(wt.randn([2, 3, 4, 3]))).toThrow(wt.ShapeError);
      expect(() => lstm.forward(wt.randn([2, 3, 4, 3]))).toThrow(/\[2,3,4,3\]/);
      expect(() => lstm.forward(wt.randn([5, 2, 4]))).toThrow(/inputSize 3/);
      expect(() => lstm.forward(wt.randn([5, 2, 3]), [wt.zeros([1, 2, 4]), wt.zeros([2, 2, 4])])).toThrow(/must be \[2,2,4\].*got \[1,2,4\]/);
      expect(() => lstm.forward(wt.randn([0, 2, 3]))).toThrow(/sequence length/);
      expect(() => new nn.RNN(3, 4, { nonlinearity: 'sigmoid' as 'tanh' })).toThrow(wt.ArgumentError);
      expect(() => new nn.GRU(0, 4)).toThrow(/inputSize must be a positive integer/);
      expect(() => new nn.GRU(3, 4, { dropout: 2 })).toThrow(wt.ArgumentError);
      expect(() => new nn.LSTMCell(3, 4).forward(wt.randn([2, 3]), [wt.zeros([3, 4]), wt.zeros([2, 4])])).toThrow(/\[2,4\]/);
    });
  });

  describe('training', () => {
    it('a tiny LSTM overfits a few sequences with Adam', async () => {
      class Net extends nn.Module {
        lstm = new nn.LSTM(2, 8, { batchFirst: true });
        head = new nn.Linear(8, 1);
        forward(x: wt.Tensor): wt.Tensor {
          const [, [h]] = this.lstm.forward(x);
          return this.head.forward(h.select(0, 0)); // from the final hidden state
        }
      }
      wt.manualSeed(3);
      const net = new Net();
      const [x] = randomTensor([4, 5, 2], 301, -1, 1);
      const y = wt.tensor([[1], [-1], [0.5], [-0.5]]);
      const opt = new wt.optim.Adam(net.parameters(), { lr: 0.03 });
      const losses: number[] = [];
      for (let step = 0; step < 60; step++) {
        const loss = wt.tidy(() => {
          const l = net.forward(x).sub(y).square().mean();
          l.backward();
          return l;
        });
        opt.step();
        net.zeroGrad();
        losses.push(await loss.item());
        loss.dispose();
      }
      expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 3);
    });
  });
});
