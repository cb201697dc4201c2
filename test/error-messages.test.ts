/**
 * Issue 19, 2.11 and 2.13, case by case on both backends: the untyped errors found by trying the
 * API (a string as the first operand of a function form, a BigInt in a shape, a 20,000-deep
 * array, model files at paths that cannot be written or read, a deeply nested header, a tensor
 * named `__proto__`, `forward(null)` on every layer) and the messages that named an internal op
 * instead of the one called (`full:` for zeros, `var:` for std, `view:` for select, `linear:` for
 * RNN inputs, "different backends (cpu and cpu)", NaN printed as null). test/error-walk.test.ts
 * covers the whole API generically; these pin the exact messages.
 */
import { expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

const { nn, F } = wt;

/** The error fn throws or rejects with. */
async function thrown(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, got none');
}

/** A safetensors file from a header string (not validated) and no data. */
function headerFile(json: string): Uint8Array {
  const b = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + b.length);
  new DataView(out.buffer).setUint32(0, b.length, true);
  out.set(b, 8);
  return out;
}

forEachBackend((kind) => {
  it('function forms check their first operand: wt.sub("a", t) is an error, not "<sub>a</sub>"', async () => {
    const t = wt.ones([2]);
    for (const [name, call] of [
      ['sub', () => wt.sub('a' as never, t)], ['add', () => wt.add('a' as never, t)], ['mul', () => wt.mul(null as never, t)],
      ['exp', () => wt.exp('a' as never)], ['clamp', () => wt.clamp(5 as never, 0, 1)], ['relu', () => F.relu('a' as never)],
      ['softplus', () => F.softplus({} as never)],
    ] as const) {
      const e = await thrown(call);
      expect(e, name).toBeInstanceOf(wt.ArgumentError);
      expect(e.message).toMatch(new RegExp(`^${name}: input must be a Tensor, got `));
    }
    t.dispose();
  });

  it('shapes: a BigInt, NaN or Infinity is refused and printed as itself (not null, not a TypeError)', async () => {
    expect(() => wt.zeros([2n] as never)).toThrow('zeros: shape must be a list of non-negative integers, got [2n]');
    expect(() => wt.ones([2, NaN])).toThrow('ones: shape must be a list of non-negative integers, got [2,NaN]');
    expect(() => wt.rand([Infinity])).toThrow('rand: shape must be a list of non-negative integers, got [Infinity]');
    expect(() => new nn.Linear(NaN, 2)).toThrow('Linear: inFeatures must be a positive integer, got NaN');
    expect(() => new nn.Linear(3n as never, 2)).toThrow('Linear: inFeatures must be a positive integer, got 3n (a BigInt)');
    expect(() => wt.ones([2, 3]).sum(NaN)).toThrow('sum: dim must be an integer, got NaN');
  });

  it('tensor() refuses nesting deeper than 64 dims, a cyclic array included, without overflowing the stack', () => {
    let deep: unknown = [1];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(() => wt.tensor(deep as never)).toThrow(/^tensor: the nested arrays are more than 64 levels deep/);
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    expect(() => wt.tensor(cyclic as never)).toThrow(wt.ArgumentError);
    let ok: unknown = 5;
    for (let i = 0; i < 64; i++) ok = [ok];
    const t = wt.tensor(ok as never);
    expect(t.ndim).toBe(64);
    t.dispose();
  });

  it('messages name the op called, not the op it is built on', async () => {
    const x = wt.randn([2, 3]);
    expect(() => wt.zeros([-1])).toThrow(/^zeros: shape/);
    expect(() => wt.ones([2], { dtype: 'half' as never })).toThrow(/^ones: unknown dtype "half"/);
    expect(() => wt.zerosLike(x, { dtype: 'half' as never })).toThrow(/^zerosLike: unknown dtype/);
    expect(() => wt.fullLike(x, 'a' as never)).toThrow(/^fullLike: value must be a number/);
    expect(() => x.std('a' as never)).toThrow(/^std: dim must be an integer or a list of integers, got "a"/);
    expect(() => x.std(0, false, -1)).toThrow(/^std: correction must be a finite number >= 0, got -1/);
    expect(() => wt.tensor(3).select(0, 0)).toThrow('select: cannot select from a 0-D tensor (it has no dims)');
    const dead = wt.ones([2]);
    dead.dispose();
    for (const m of ['float', 'int', 'bool', 'clone', 'detach', 'flatten', 'transpose', 'narrow', 'squeeze'] as const) {
      expect(() => (dead as unknown as Record<string, (...a: number[]) => unknown>)[m](0, 0, 1), m).toThrow(new RegExp(`^${m}: tensor #\\d+ of shape \\[2\\] was disposed`));
    }
    for (const m of ['item', 'array', 'format', 'data'] as const) expect((await thrown(() => dead[m]())).message).toMatch(new RegExp(`^${m}: tensor`));
    const rnn = new nn.RNN(3, 4);
    expect(() => rnn.forward(wt.ones([2, 1, 3], { dtype: 'int32' }))).toThrow(/^RNN.forward: input must be float32, got int32 of shape \[2,1,3\]/);
    expect(() => rnn.forward(wt.ones([2, 1, 3]), wt.ones([1, 1, 4], { dtype: 'int32' }))).toThrow(/^RNN.forward: initial hidden state must be float32/);
    expect(() => new nn.LSTM(3, 4).forward(wt.ones([2, 1, 3]), wt.zeros([1, 1, 4]) as never)).toThrow(/^LSTM.forward: the state must be a pair \[h, c\]/);
    rnn.dispose();
    // two distinct backends of the same kind are still two backends
    const other = new wt.CpuBackend();
    const here = wt.getBackend();
    wt.setBackend(other);
    const y = wt.ones([2, 3]);
    wt.setBackend(here);
    const which = kind === 'cpu' ? 'two different cpu backends' : 'webgpu and cpu';
    expect(() => x.add(y)).toThrow(`add: tensors live on different backends (${which})`);
    wt.dispose([x, y]);
  });

  it('the requiresGrad setter takes only true or false', () => {
    const t = wt.ones([2]);
    expect(() => {
      (t as { requiresGrad: unknown }).requiresGrad = 'yes';
    }).toThrow('requiresGrad: value must be true or false, got "yes"');
    expect(t.requiresGrad).toBe(false);
    t.dispose();
  });

  it('pad reaches only the dims its pairs name (a 3-D tensor padded in its last dim kept NaN sizes)', async () => {
    const y = wt.ones([1, 2, 3]).pad([1, 1]);
    expect(y.shape).toEqual([1, 2, 5]);
    expect(await y.array()).toEqual([[[0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]]);
    y.dispose();
  });

  it('every layer checks its input: forward(null) names the layer', () => {
    const layers: [string, nn.Module][] = [
      ['Linear', new nn.Linear(3, 2)], ['Conv2d', new nn.Conv2d(1, 1, 1)], ['ConvTranspose2d', new nn.ConvTranspose2d(1, 1, 1)],
      ['MaxPool2d', new nn.MaxPool2d(2)], ['AvgPool2d', new nn.AvgPool2d(2)], ['AdaptiveAvgPool2d', new nn.AdaptiveAvgPool2d(1)],
      ['Flatten', new nn.Flatten()], ['Dropout', new nn.Dropout()], ['Embedding', new nn.Embedding(3, 2)], ['LayerNorm', new nn.LayerNorm(3)],
      ['BatchNorm1d', new nn.BatchNorm1d(3)], ['BatchNorm2d', new nn.BatchNorm2d(3)], ['Sequential', new nn.Sequential(new nn.ReLU())],
      ['ReLU', new nn.ReLU()], ['Sigmoid', new nn.Sigmoid()], ['Tanh', new nn.Tanh()], ['SiLU', new nn.SiLU()], ['LeakyReLU', new nn.LeakyReLU()],
      ['ELU', new nn.ELU()], ['GELU', new nn.GELU()], ['Softmax', new nn.Softmax()], ['LogSoftmax', new nn.LogSoftmax()], ['PReLU', new nn.PReLU()],
      ['MultiheadAttention', new nn.MultiheadAttention(4, 2)], ['TransformerEncoderLayer', new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 })],
      ['TransformerEncoder', new nn.TransformerEncoder(() => new nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 }), 1)],
      ['SinusoidalPositionalEncoding', new nn.SinusoidalPositionalEncoding(4, 8)], ['LearnedPositionalEmbedding', new nn.LearnedPositionalEmbedding(8, 4)],
      ['RNN', new nn.RNN(3, 4)], ['LSTM', new nn.LSTM(3, 4)], ['GRU', new nn.GRU(3, 4)], ['RNNCell', new nn.RNNCell(3, 4)], ['LSTMCell', new nn.LSTMCell(3, 4)], ['GRUCell', new nn.GRUCell(3, 4)],
    ];
    for (const [name, layer] of layers) {
      const f = layer.forward.bind(layer) as (...a: unknown[]) => unknown;
      expect(() => f(null, null, null), name).toThrow(new RegExp(`^${name}\\.forward: (input|indices|query|src) must be a Tensor, got null`));
      layer.dispose();
    }
  });

  it('model files: paths that cannot be written or read, a deeply nested header and a tensor named __proto__', async () => {
    const t = wt.ones([2]);
    const dir = mkdtempSync(join(tmpdir(), 'wt-errors-'));
    let e = await thrown(() => wt.save({ t }, join(dir, 'no-such-folder', 'm.safetensors')));
    expect(e).toBeInstanceOf(wt.ArgumentError);
    expect(e.message).toMatch(/^save: cannot write .*no-such-folder.*ENOENT/);
    e = await thrown(() => wt.load(dir));
    expect(e).toBeInstanceOf(wt.ArgumentError);
    expect(e.message).toBe(`load: ${dir} is a directory; expected a safetensors file`);
    const deep = headerFile(`{"__metadata__":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`);
    for (const load of [wt.load, wt.loadMetadata]) {
      e = await thrown(() => load(deep));
      expect(e).toBeInstanceOf(wt.FormatError);
      expect(e.message).toMatch(/malformed safetensors file: __metadata__.a must be a string, got an array of length 1$/);
    }
    e = await thrown(() => wt.load(headerFile(`{"x":{"dtype":"F32","shape":${'['.repeat(20_000)}${']'.repeat(20_000)},"data_offsets":[0,0]}}`)));
    expect(e).toBeInstanceOf(wt.FormatError);

    // "__proto__" as an ordinary key: written by save, kept by load (and the object stays a plain one)
    const state: Record<string, wt.Tensor> = {};
    Object.defineProperty(state, '__proto__', { value: wt.tensor([1, 2, 3]), enumerable: true });
    state.b = t;
    const bytes = await wt.save(state, { metadata: JSON.parse('{"__proto__":"meta"}') });
    const back = await wt.load(bytes);
    expect(Object.keys(back)).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toBeInstanceOf(wt.Tensor);
    expect(Array.from(await Object.getOwnPropertyDescriptor(back, '__proto__')!.value.data())).toEqual([1, 2, 3]);
    expect(Object.entries(await wt.loadMetadata(bytes))).toEqual([['__proto__', 'meta']]);
    wt.dispose(back);
    wt.dispose(Object.values(state));
  });

  it('profile and the constructors of datasets and layers name themselves', async () => {
    expect((await thrown(() => wt.profile(null as never))).message).toBe('profile: fn must be a function, got null');
    expect(() => new wt.data.CharDataset(5 as never, 2)).toThrow('CharDataset: text must be a string, got 5');
    expect(() => new wt.data.CharDataset('abcdef', 2, new wt.data.CharTokenizer('abc'))).toThrow(/^CharDataset: character "d" at position 3 is not in the tokenizer's vocabulary of 3/);
    expect(() => new nn.Linear(2 ** 31, 3)).toThrow(/^Linear: weight of shape \[3,2147483648\] would have 6442450944 elements, more than a tensor holds/);
    expect(() => new nn.SinusoidalPositionalEncoding(4, 2 ** 31)).toThrow(/^SinusoidalPositionalEncoding: pe of shape/);
    expect(() => wt.data.randperm(2 ** 31, 0)).toThrow(/^randperm: n must be an integer in \[0, 2147483647\]/);
  });
  it('class targets that mix up indices and probabilities say which is which and the fix', () => {
    const logits = wt.randn([4, 3], { seed: 1 });
    const labels = wt.tensor(new Int32Array([0, 2, 1, 1]));
    const oneHot = wt.oneHot(labels, 3); // int32 [4, 3]
    const floatLabels = labels.float();
    const logp = logits.logSoftmax(-1);
    const msg = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(wt.DTypeError);
        return (e as Error).message;
      }
      throw new Error('expected an error');
    };
    const oneHotMsg = 'target is int32 of the same shape as the logits [4,3]; int32 means class indices, of shape [4]: use target.float() for one-hot or probability targets';
    expect(msg(() => wt.crossEntropy(logits, oneHot))).toBe(`crossEntropy: ${oneHotMsg}`);
    expect(msg(() => F.crossEntropy(logits, oneHot, { labelSmoothing: 0.1 }))).toBe(`crossEntropy: ${oneHotMsg}`);
    const floatMsg = (name: string) => `target is float32 [4], the shape of class indices for ${name} [4,3]: pass int32 class indices (target.int()) or float32 probabilities of shape [4,3]`;
    expect(msg(() => wt.crossEntropy(logits, floatLabels))).toBe(`crossEntropy: ${floatMsg('logits')}`);
    expect(msg(() => F.crossEntropy(logits, floatLabels, { weight: wt.ones([3]) }))).toBe(`crossEntropy: ${floatMsg('input')}`);
    // 1-D logits: one sample, a 0-d index
    expect(msg(() => wt.crossEntropy(logits.select(0, 0), wt.tensor(2).float()))).toMatch(/^crossEntropy: target is float32 \[\], the shape of class indices for logits \[3\]: pass int32 class indices \(target.int\(\)\)/);
    // nllLoss takes indices only
    expect(msg(() => F.nllLoss(logp, oneHot))).toBe('nllLoss: target is int32 of the same shape as the input [4,3]; int32 means class indices, of shape [4]: for one-hot targets pass target.argmax(1), the class indices');
    expect(msg(() => F.nllLoss(logp, floatLabels))).toBe('nllLoss: target is float32 [4], the shape of class indices for input [4,3]: pass int32 class indices (target.int())');
    // the forms that are right still work
    expect(wt.crossEntropy(logits, oneHot.float()).shape).toEqual([]);
    expect(F.nllLoss(logp, labels).shape).toEqual([]);
    wt.dispose([logits, labels, oneHot, floatLabels, logp]);
  });
});
