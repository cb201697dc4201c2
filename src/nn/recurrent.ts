/**
 * Recurrent layers as PyTorch: RNN, LSTM, GRU (multi-layer, optionally bidirectional) and the
 * single-step cells RNNCell, LSTMCell, GRUCell. Parameter names, gate order and initialisation
 * follow PyTorch: the properties are the camelCase names (weightIh_l0, biasHh_l1_reverse) and
 * their state-dict keys PyTorch's own (weight_ih_l0, bias_hh_l1_reverse), so a PyTorch state
 * dict loads as it is.
 *
 * The time loop runs on the Tensor API: the input projection of every step is one GEMM
 * (x [T·B, in] @ W_ihᵀ) before the loop, so each step only multiplies the hidden state.
 */
import { ArgumentError, ShapeError, fmt } from '../errors.js';
import { zeros } from '../ops/creation.js';
import { dropout } from '../ops/elementwise.js';
import { linear } from '../ops/linalg.js';
import { cat, stack } from '../ops/movement.js';
import type { Tensor } from '../tensor.js';
import * as init from './init.js';
import { Module, parameter } from './module.js';
import { checkBoolean, checkFloat, checkNumber, checkNumel, checkOptions, describeValue } from '../validate.js';

type Mode = 'rnnTanh' | 'rnnRelu' | 'lstm' | 'gru';
/** gates per mode: rows of W_ih / W_hh are gates·hiddenSize */
const GATES: Record<Mode, number> = { rnnTanh: 1, rnnRelu: 1, lstm: 4, gru: 3 };

// ---- one step, given the input projection xg = x W_ihᵀ + b_ih ---------------------------------

function rnnStep(xg: Tensor, h: Tensor, wHh: Tensor, bHh: Tensor | null, relu: boolean): Tensor {
  const a = xg.add(linear(h, wHh, bHh)); // (B, H)
  return relu ? a.relu() : a.tanh();
}

/** Gates in PyTorch's order i, f, g, o; returns [h', c']. */
function lstmStep(xg: Tensor, h: Tensor, c: Tensor, wHh: Tensor, bHh: Tensor | null): [Tensor, Tensor] {
  const [i, f, g, o] = xg.add(linear(h, wHh, bHh)).chunk(4, -1); // (B, H) ×4
  const c2 = f.sigmoid().mul(c).add(i.sigmoid().mul(g.tanh()));
  return [o.sigmoid().mul(c2.tanh()), c2];
}

/** Gates r, z, n; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)): b_hn stays inside r's product. */
function gruStep(xg: Tensor, h: Tensor, wHh: Tensor, bHh: Tensor | null): Tensor {
  const [xr, xz, xn] = xg.chunk(3, -1); // (B, H) ×3
  const [hr, hz, hn] = linear(h, wHh, bHh).chunk(3, -1);
  const r = xr.add(hr).sigmoid(), z = xz.add(hz).sigmoid();
  const n = xn.add(r.mul(hn)).tanh();
  return n.add(z.mul(h.sub(n))); // (1 - z) ⊙ n + z ⊙ h
}

/** Positive sizes whose weights, [gates·hiddenSize, inputSize or hiddenSize], fit in a tensor. */
function checkSizes(op: string, inputSize: number, hiddenSize: number, gates: number): void {
  checkNumber(op, 'inputSize', inputSize, { int: true, min: 1 });
  checkNumber(op, 'hiddenSize', hiddenSize, { int: true, min: 1 });
  checkNumel(op, 'weightIh', [gates * hiddenSize, inputSize]);
  checkNumel(op, 'weightHh', [gates * hiddenSize, hiddenSize]);
}

/** Options every recurrent layer and cell takes, plus `nonlinearity` for RNN and RNNCell. */
function checkRecurrentOptions(op: string, o: RNNOptions, known: readonly (keyof RNNOptions)[]): void {
  checkOptions(op, o, known);
  for (const n of ['bias', 'batchFirst', 'bidirectional'] as const) if (o[n] !== undefined) checkBoolean(op, n, o[n]);
}

/** A float32 tensor (the input or a state), or absent where `optional`. */
function checkStep(op: string, arg: string, t: unknown, optional: boolean): void {
  if (optional && (t === null || t === undefined)) return;
  checkFloat(op, arg, t);
}

/** LSTM's (h, c) state: absent, or a pair of tensors. */
function lstmState(op: string, hx: unknown): (Tensor | null)[] {
  if (hx === null || hx === undefined) return [null, null];
  if (!Array.isArray(hx) || hx.length !== 2) throw new ArgumentError(`${op}: the state must be a pair [h, c] of tensors (or null), got ${describeValue(hx)}`);
  return hx;
}

function modeOf(op: string, nonlinearity: unknown): Mode {
  if (nonlinearity === undefined || nonlinearity === 'tanh') return 'rnnTanh';
  if (nonlinearity === 'relu') return 'rnnRelu';
  throw new ArgumentError(`${op}: nonlinearity must be 'tanh' or 'relu', got ${describeValue(nonlinearity)}`);
}

/** U(-1/√H, 1/√H), PyTorch's init for every recurrent weight and bias. */
function param(shape: number[], hiddenSize: number): Tensor {
  const k = 1 / Math.sqrt(hiddenSize);
  return parameter(init.uniform(zeros(shape), -k, k));
}

// ---- multi-layer recurrent networks -------------------------------------------------------------

export interface RNNOptions {
  numLayers?: number;
  /** RNN only: 'tanh' (default) or 'relu' */
  nonlinearity?: 'tanh' | 'relu';
  bias?: boolean;
  /** input and output [B, T, *] when true, [T, B, *] (default) when false */
  batchFirst?: boolean;
  /** dropout on the outputs of every layer but the last, in training mode */
  dropout?: number;
  bidirectional?: boolean;
}

/** The shared machinery of RNN, LSTM and GRU. */
abstract class RNNBase extends Module {
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;

  constructor(private readonly mode: Mode, readonly inputSize: number, readonly hiddenSize: number, o: RNNOptions) {
    super();
    const op = this.constructor.name;
    checkSizes(op, inputSize, hiddenSize, GATES[mode]);
    this.numLayers = checkNumber(op, 'numLayers', o.numLayers ?? 1, { int: true, min: 1 });
    this.dropout = checkNumber(op, 'dropout', o.dropout ?? 0, { min: 0, max: 1 });
    this.bias = o.bias ?? true;
    this.batchFirst = o.batchFirst ?? false;
    this.bidirectional = o.bidirectional ?? false;
    const G = GATES[mode] * hiddenSize, D = this.bidirectional ? 2 : 1;
    const self = this as unknown as Record<string, Tensor>;
    // property order gives PyTorch's parameter order: weight_ih, weight_hh, bias_ih, bias_hh per layer
    for (let l = 0; l < this.numLayers; l++) {
      for (let d = 0; d < D; d++) {
        const s = this.suffix(l, d), inSize = l === 0 ? inputSize : hiddenSize * D;
        self[`weightIh${s}`] = param([G, inSize], hiddenSize);
        self[`weightHh${s}`] = param([G, hiddenSize], hiddenSize);
        if (this.bias) {
          self[`biasIh${s}`] = param([G], hiddenSize);
          self[`biasHh${s}`] = param([G], hiddenSize);
        }
      }
    }
  }

  private suffix(layer: number, dir: number): string {
    return `_l${layer}${dir ? '_reverse' : ''}`;
  }

  /** [weightIh, weightHh, biasIh | null, biasHh | null] of one layer and direction. */
  weights(layer: number, dir = 0): [Tensor, Tensor, Tensor | null, Tensor | null] {
    const self = this as unknown as Record<string, Tensor | undefined>, s = this.suffix(layer, dir);
    return [self[`weightIh${s}`]!, self[`weightHh${s}`]!, self[`biasIh${s}`] ?? null, self[`biasHh${s}`] ?? null];
  }

  /**
   * Runs every layer over the sequence. `states` are the initial states ([h0] or [h0, c0]), each
   * [numLayers·D, B, H] (or [numLayers·D, H] unbatched); returns the output and the final states.
   */
  protected run(input: Tensor, states: (Tensor | null | undefined)[]): [Tensor, Tensor[]] {
    const op = `${this.constructor.name}.forward`;
    checkStep(op, 'input', input, false);
    states.forEach((s, i) => checkStep(op, i ? 'initial cell state' : 'initial hidden state', s, true));
    const H = this.hiddenSize, D = this.bidirectional ? 2 : 1, ND = this.numLayers * D;
    if (input.ndim !== 3 && input.ndim !== 2) throw new ShapeError(`${op}: input must be 3-D ${this.batchFirst ? '[B, T, inputSize]' : '[T, B, inputSize]'} or 2-D [T, inputSize], got ${fmt(input.shape)}`);
    if (input.shape[input.ndim - 1] !== this.inputSize) throw new ShapeError(`${op}: input ${fmt(input.shape)} must have inputSize ${this.inputSize} features in its last dim`);
    const batched = input.ndim === 3;
    // time-major internally: (T, B, I)
    let x = !batched ? input.unsqueeze(1) : this.batchFirst ? input.transpose(0, 1) : input;
    const [T, B] = x.shape;
    if (T === 0) throw new ShapeError(`${op}: expected a sequence length above 0, got input ${fmt(input.shape)}`);
    const want = batched ? [ND, B, H] : [ND, H];
    const init0 = states.map((s, i) => {
      if (!s) return zeros([ND, B, H]);
      if (s.ndim !== want.length || s.shape.some((v, j) => v !== want[j])) {
        throw new ShapeError(`${op}: initial ${i ? 'cell' : 'hidden'} state must be ${fmt(want)} ([numLayers·directions, batch, hiddenSize]), got ${fmt(s.shape)} for input ${fmt(input.shape)}`);
      }
      return batched ? s : s.unsqueeze(1);
    }); // each (ND, B, H)
    const finals: Tensor[][] = states.map(() => []);
    for (let l = 0; l < this.numLayers; l++) {
      const outs: Tensor[] = [];
      for (let d = 0; d < D; d++) {
        const [wIh, wHh, bIh, bHh] = this.weights(l, d);
        const xg = linear(x, wIh, bIh); // (T, B, G·H): every step's input projection in one GEMM
        let st = init0.map((s) => s.select(0, l * D + d)); // (B, H) each
        const hs = new Array<Tensor>(T);
        for (let k = 0; k < T; k++) {
          const t = d ? T - 1 - k : k;
          st = this.step(xg.select(0, t), st, wHh, bHh);
          hs[t] = st[0];
        }
        st.forEach((s, i) => finals[i].push(s));
        outs.push(stack(hs, 0)); // (T, B, H)
      }
      x = D === 2 ? cat(outs, -1) : outs[0]; // (T, B, D·H)
      if (this.dropout > 0 && l < this.numLayers - 1) x = dropout(x, this.dropout, this.training);
    }
    const out = !batched ? x.squeeze(1) : this.batchFirst ? x.transpose(0, 1) : x;
    const hN = finals.map((f) => (batched ? stack(f, 0) : stack(f, 0).squeeze(1))); // (ND, B, H)
    return [out, hN];
  }

  private step(xg: Tensor, st: Tensor[], wHh: Tensor, bHh: Tensor | null): Tensor[] {
    switch (this.mode) {
      case 'lstm': return lstmStep(xg, st[0], st[1], wHh, bHh);
      case 'gru': return [gruStep(xg, st[0], wHh, bHh)];
      default: return [rnnStep(xg, st[0], wHh, bHh, this.mode === 'rnnRelu')];
    }
  }

  override extraRepr(): string {
    return `${this.inputSize}, ${this.hiddenSize}, numLayers=${this.numLayers}, batchFirst=${this.batchFirst}, bidirectional=${this.bidirectional}`;
  }
}

/**
 * Elman RNN: h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), act tanh or relu.
 * forward(input, h0?) → [output (T, B, D·H), hN (numLayers·D, B, H)].
 *
 * @example
 * const rnn = new wt.nn.RNN(8, 16, { numLayers: 2, batchFirst: true });
 * const [y, hN] = rnn.forward(x); // x [B, T, 8] → y [B, T, 16], hN [2, B, 16]
 */
export class RNN extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, o: RNNOptions = {}) {
    checkRecurrentOptions('RNN', o, ['numLayers', 'nonlinearity', 'bias', 'batchFirst', 'dropout', 'bidirectional']);
    super(modeOf('RNN', o.nonlinearity), inputSize, hiddenSize, o);
  }
  forward(input: Tensor, h0?: Tensor | null): [Tensor, Tensor] {
    const [out, [hN]] = this.run(input, [h0]);
    return [out, hN];
  }
}

/**
 * Long short-term memory, gates i, f, g, o as PyTorch:
 * c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c').
 * forward(input, [h0, c0]?) → [output, [hN, cN]].
 *
 * @example
 * const lstm = new wt.nn.LSTM(8, 16, { batchFirst: true });
 * const [y, [hN, cN]] = lstm.forward(x); // x [B, T, 8]
 */
export class LSTM extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, o: Omit<RNNOptions, 'nonlinearity'> = {}) {
    checkRecurrentOptions('LSTM', o, ['numLayers', 'bias', 'batchFirst', 'dropout', 'bidirectional']);
    super('lstm', inputSize, hiddenSize, o);
  }
  forward(input: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]] {
    const [out, [hN, cN]] = this.run(input, lstmState(`${this.constructor.name}.forward`, hx));
    return [out, [hN, cN]];
  }
}

/**
 * Gated recurrent unit, gates r, z, n as PyTorch:
 * n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.
 * forward(input, h0?) → [output, hN].
 *
 * @example
 * const gru = new wt.nn.GRU(8, 16);
 * const [y, hN] = gru.forward(x); // x [T, B, 8] → y [T, B, 16]
 */
export class GRU extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, o: Omit<RNNOptions, 'nonlinearity'> = {}) {
    checkRecurrentOptions('GRU', o, ['numLayers', 'bias', 'batchFirst', 'dropout', 'bidirectional']);
    super('gru', inputSize, hiddenSize, o);
  }
  forward(input: Tensor, h0?: Tensor | null): [Tensor, Tensor] {
    const [out, [hN]] = this.run(input, [h0]);
    return [out, hN];
  }
}

// ---- cells ------------------------------------------------------------------------------------

/** One-step cells: weightIh [G·H, in], weightHh [G·H, H], biasIh / biasHh [G·H]. */
abstract class CellBase extends Module {
  weightIh: Tensor;
  weightHh: Tensor;
  biasIh: Tensor | null;
  biasHh: Tensor | null;
  constructor(gates: number, readonly inputSize: number, readonly hiddenSize: number, bias: boolean) {
    super();
    checkSizes(this.constructor.name, inputSize, hiddenSize, gates);
    const G = gates * hiddenSize;
    this.weightIh = param([G, inputSize], hiddenSize);
    this.weightHh = param([G, hiddenSize], hiddenSize);
    this.biasIh = bias ? param([G], hiddenSize) : null;
    this.biasHh = bias ? param([G], hiddenSize) : null;
  }

  /** Checks x [B, in] / [in] and a state of [B, H] / [H] (zeros when absent); all as (B, ·). */
  protected prep(x: Tensor, states: (Tensor | null | undefined)[]): { x: Tensor; st: Tensor[]; batched: boolean } {
    const op = `${this.constructor.name}.forward`, H = this.hiddenSize;
    checkStep(op, 'input', x, false);
    states.forEach((s, i) => checkStep(op, i ? 'cell state' : 'hidden state', s, true));
    if ((x.ndim !== 2 && x.ndim !== 1) || x.shape[x.ndim - 1] !== this.inputSize) {
      throw new ShapeError(`${op}: input must be [B, ${this.inputSize}] or [${this.inputSize}], got ${fmt(x.shape)}`);
    }
    const batched = x.ndim === 2, B = batched ? x.shape[0] : 1;
    const st = states.map((s) => {
      if (!s) return zeros([B, H]);
      const ok = batched ? s.ndim === 2 && s.shape[0] === B && s.shape[1] === H : s.ndim === 1 && s.shape[0] === H;
      if (!ok) throw new ShapeError(`${op}: state must be ${batched ? `[${B},${H}]` : `[${H}]`}, got ${fmt(s.shape)} for input ${fmt(x.shape)}`);
      return batched ? s : s.unsqueeze(0);
    });
    return { x: batched ? x : x.unsqueeze(0), st, batched };
  }

  protected xg(x: Tensor): Tensor {
    return linear(x, this.weightIh, this.biasIh); // (B, G·H)
  }
}

/**
 * One Elman RNN step. @example const h1 = new wt.nn.RNNCell(8, 16).forward(x, h0); // x [B, 8]
 */
export class RNNCell extends CellBase {
  private readonly relu: boolean;
  constructor(inputSize: number, hiddenSize: number, o: { bias?: boolean; nonlinearity?: 'tanh' | 'relu' } = {}) {
    checkRecurrentOptions('RNNCell', o, ['bias', 'nonlinearity']);
    // checked before super() allocates the weights, so a refused option leaks nothing
    const relu = modeOf('RNNCell', o?.nonlinearity) === 'rnnRelu';
    super(1, inputSize, hiddenSize, o.bias ?? true);
    this.relu = relu;
  }
  forward(x: Tensor, h?: Tensor | null): Tensor {
    const p = this.prep(x, [h]);
    const h1 = rnnStep(this.xg(p.x), p.st[0], this.weightHh, this.biasHh, this.relu);
    return p.batched ? h1 : h1.squeeze(0);
  }
}

/**
 * One LSTM step. @example const [h1, c1] = new wt.nn.LSTMCell(8, 16).forward(x, [h0, c0]);
 */
export class LSTMCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, o: { bias?: boolean } = {}) {
    checkRecurrentOptions('LSTMCell', o, ['bias']);
    super(4, inputSize, hiddenSize, o.bias ?? true);
  }
  forward(x: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, Tensor] {
    const p = this.prep(x, lstmState(`${this.constructor.name}.forward`, hx));
    const [h1, c1] = lstmStep(this.xg(p.x), p.st[0], p.st[1], this.weightHh, this.biasHh);
    return p.batched ? [h1, c1] : [h1.squeeze(0), c1.squeeze(0)];
  }
}

/**
 * One GRU step. @example const h1 = new wt.nn.GRUCell(8, 16).forward(x, h0);
 */
export class GRUCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, o: { bias?: boolean } = {}) {
    checkRecurrentOptions('GRUCell', o, ['bias']);
    super(3, inputSize, hiddenSize, o.bias ?? true);
  }
  forward(x: Tensor, h?: Tensor | null): Tensor {
    const p = this.prep(x, [h]);
    const h1 = gruStep(this.xg(p.x), p.st[0], this.weightHh, this.biasHh);
    return p.batched ? h1 : h1.squeeze(0);
  }
}
