import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose } from './helpers.js';
import { forEachBackend } from './backends.js';

const { nn } = wt;

class Net extends nn.Module {
  conv = new nn.Conv2d(1, 4, 3, { padding: 1 });
  bn = new nn.BatchNorm2d(4);
  pool = new nn.MaxPool2d(2);
  head = new nn.Sequential(new nn.Flatten(), new nn.ReLU(), new nn.Linear(4 * 2 * 2, 3));
  forward(x: wt.Tensor): wt.Tensor {
    return this.head.forward(this.pool.forward(this.bn.forward(this.conv.forward(x)).relu()));
  }
}

forEachBackend((kind) => {
  describe('nn.Module', () => {
    it('finds parameters, buffers and children by property, with dotted names', () => {
      const net = new Net();
      const names = net.namedParameters().map(([n]) => n);
      expect(names).toEqual(['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'head.2.weight', 'head.2.bias']);
      expect(net.namedBuffers().map(([n]) => n)).toEqual(['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
      expect(net.numParameters()).toBe(4 * 9 + 4 + 4 + 4 + 16 * 3 + 3);
      expect(net.toString()).toContain('(conv): Conv2d');
    });

    it('train/eval propagate; stateDict round trip gives identical outputs', async () => {
      const a = new Net(), b = new Net();
      const x = wt.randn([2, 1, 4, 4], { seed: 3 });
      a.forward(x); // updates running stats
      a.eval();
      expect(a.bn.training).toBe(false);
      b.loadStateDict(a.stateDict());
      b.eval();
      expect(Array.from(await b.forward(x).data())).toEqual(Array.from(await a.forward(x).data()));
      expect(() => b.loadStateDict({})).toThrow(/missing keys/);
    });

    it('default initialisations follow PyTorch bounds', async () => {
      const l = new nn.Linear(100, 50);
      const w = await l.weight.data();
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(0.1);
      expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.09);
      const e = await new nn.Embedding(10, 400).weight.std().item();
      expect(e).toBeGreaterThan(0.9);
      expect(e).toBeLessThan(1.1);
      const bn = new nn.BatchNorm1d(3);
      expect(Array.from(await bn.weight!.data())).toEqual([1, 1, 1]);
    });

    it('Linear matches x Wᵀ + b; gradients reach every parameter', async () => {
      const l = new nn.Linear(3, 2);
      const x = wt.randn([4, 3], { seed: 1 });
      const y = l.forward(x);
      const W = await l.weight.array() as number[][], b = await l.bias!.data(), X = await x.array() as number[][];
      const want = X.flatMap((r) => W.map((w, j) => r.reduce((s, v, k) => s + v * w[k], b[j])));
      expectClose(await y.data(), want, 1e-5);
      y.sum().backward();
      expect(l.weight.grad!.shape).toEqual([2, 3]);
      expect(l.bias!.grad!.shape).toEqual([2]);
    });

    it('Dropout is identity in eval mode; BatchNorm uses running stats in eval', async () => {
      const d = new nn.Dropout(0.5);
      const x = wt.ones([100]);
      expect((await d.forward(x).data()).some((v) => v === 0)).toBe(true);
      d.eval();
      expect(d.forward(x)).toBe(x);
      const bn = new nn.BatchNorm1d(2, { momentum: 0.5 });
      bn.forward(wt.tensor([[1, 10], [3, 20]]));
      expectClose(await bn.runningMean.data(), [1, 7.5], 1e-6);
      expectClose(await bn.runningVar.data(), [0.5 + 0.5 * 2, 0.5 + 0.5 * 50], 1e-5);
      // num_batches_tracked counts training-mode batches only, as PyTorch
      expect(bn.numBatchesTracked.dtype).toBe('int32');
      bn.forward(wt.tensor([[1, 10], [3, 20]]));
      bn.eval();
      bn.forward(wt.tensor([[1, 10], [3, 20]]));
      expect(await bn.numBatchesTracked.item()).toBe(2);
      // a refused input is not counted
      bn.train();
      expect(() => bn.forward(wt.ones([2, 3]))).toThrow(/BatchNorm1d\.forward/);
      expect(await bn.numBatchesTracked.item()).toBe(2);
    });

    it("state-dict keys are PyTorch's: snake_case properties, Sequential children 0, 1, ...", async () => {
      class Block extends nn.Module {
        selfAttn = new nn.Linear(2, 2);
        convQKV = new nn.Linear(2, 6, { bias: false });
        blocks = [new nn.LayerNorm(2), new nn.LayerNorm(2)];
        seq = new nn.Sequential(new nn.Linear(2, 2), new nn.ReLU(), new nn.BatchNorm1d(2));
        forward(x: wt.Tensor): wt.Tensor { return x; }
      }
      const m = new Block();
      expect(Object.keys(m.stateDict())).toEqual([
        'self_attn.weight', 'self_attn.bias', 'conv_qkv.weight', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias',
        'seq.0.weight', 'seq.0.bias', 'seq.2.weight', 'seq.2.bias', 'seq.2.running_mean', 'seq.2.running_var', 'seq.2.num_batches_tracked',
      ]);
      expect(m.namedModules().map(([n]) => n)).toEqual(['', 'self_attn', 'conv_qkv', 'blocks.0', 'blocks.1', 'seq', 'seq.0', 'seq.1', 'seq.2']);
      expect(m.seq.toString()).toContain('(0): Linear');
      // older webtensor checkpoints (property names as written, no num_batches_tracked) still load
      const src = new Block();
      wt.noGrad(() => src.seq.layers[2].stateDict().running_mean.copy_(wt.tensor([3, 4])));
      const old: Record<string, wt.Tensor> = {};
      for (const [k, t] of Object.entries(src.stateDict())) {
        if (k.endsWith('num_batches_tracked')) continue;
        old[k.replace('self_attn', 'selfAttn').replace('conv_qkv', 'convQKV').replace(/^seq\./, 'seq.layers.').replace('running_mean', 'runningMean').replace('running_var', 'runningVar')] = t;
      }
      expect(Object.keys(old)).toContain('seq.layers.2.runningMean');
      expect(m.loadStateDict(old)).toEqual({ missing: [], unexpected: [] });
      expect(Array.from(await (m.seq.layers[2] as wt.nn.BatchNorm1d).runningMean.data())).toEqual([3, 4]);
      expect(Array.from(await m.selfAttn.weight.data())).toEqual(Array.from(await src.selfAttn.weight.data()));
      // new keys: num_batches_tracked is required with strict
      const cur = src.stateDict();
      delete cur['seq.2.num_batches_tracked'];
      expect(() => m.loadStateDict(cur)).toThrow(/missing keys \[seq\.2\.num_batches_tracked\]/);
      // a shape mismatch refuses the whole state dict before copying anything
      const before = Array.from(await m.selfAttn.weight.data());
      const bad = { ...src.stateDict(), 'seq.0.weight': wt.zeros([3, 3]) };
      wt.noGrad(() => src.selfAttn.weight.add_(1));
      expect(() => m.loadStateDict(bad)).toThrow(/seq\.0\.weight has shape \[3,3\]/);
      expect(Array.from(await m.selfAttn.weight.data())).toEqual(before);
    });

    it('two properties with the same key are refused', () => {
      class Clash extends nn.Module {
        fooBar = new nn.Linear(1, 1);
        foo_bar = new nn.Linear(1, 1);
        forward(x: wt.Tensor): wt.Tensor { return x; }
      }
      expect(() => new Clash().stateDict()).toThrow(/share the key "foo_bar\.weight"/);
    });

    it('activation modules and PReLU', async () => {
      const x = wt.tensor([-2, 0.5]);
      expect(Array.from(await new nn.ReLU().forward(x).data())).toEqual([0, 0.5]);
      expectClose(await new nn.LeakyReLU(0.1).forward(x).data(), [-0.2, 0.5], 1e-7);
      expectClose(await new nn.PReLU().forward(x).data(), [-0.5, 0.5], 1e-7);
      expectClose(await new nn.Softmax(0).forward(x).data(), [Math.exp(-2) / (Math.exp(-2) + Math.exp(0.5)), Math.exp(0.5) / (Math.exp(-2) + Math.exp(0.5))], 1e-6);
    });

    it('a small CNN learns to separate two classes with Adam', async () => {
      const net = new Net();
      const opt = new wt.optim.Adam(net.parameters(), { lr: 0.01 });
      const x = wt.randn([8, 1, 4, 4], { seed: 5 });
      const y = wt.tensor([0, 1, 2, 0, 1, 2, 0, 1], { dtype: 'int32' });
      let first = 0, last = 0;
      for (let i = 0; i < 40; i++) {
        const loss = wt.tidy(() => {
          const l = wt.F.crossEntropy(net.forward(x), y);
          l.backward();
          return l;
        });
        opt.step();
        opt.zeroGrad();
        last = await loss.item();
        if (i === 0) first = last;
        loss.dispose();
      }
      expect(last).toBeLessThan(first * 0.5);
    });
  });

  describe('summary', () => {
    it('lists output shapes and parameter counts', () => {
      const net = new Net();
      const s = wt.nn.summary(net, [2, 1, 4, 4]);
      const conv = s.rows.find((r) => r.name === 'conv')!;
      expect(conv.outputShape).toEqual([2, 4, 4, 4]);
      expect(conv.params).toBe(40);
      expect(s.rows.find((r) => r.name === 'head')!.outputShape).toEqual([2, 3]);
      expect(s.totalParams).toBe(net.numParameters());
      expect(s.text).toContain(`Total params: ${net.numParameters()}`);
      expect(s.text).toMatch(/conv \(Conv2d\) +\[2, 4, 4, 4\] +40/);
    });
  });
});
