/**
 * Keras and PyTorch habits (issue 21, section 2): `using` frees tensors, modules and optimizers
 * at the end of a block; console.log prints a tensor as PyTorch does and a module as its tree;
 * model.summary() prints the Keras table; debug mode warns when live tensors grow step after step.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inspect } from 'node:util';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

const { nn, optim, F } = wt;

afterEach(() => {
  vi.restoreAllMocks();
  wt.setDebug(false);
});

forEachBackend((kind) => {
  describe('using (explicit resource management)', () => {
    it('a using declaration frees a tensor, a module and an optimizer at the end of its block', () => {
      const before = wt.memory().tensors;
      let t: wt.Tensor, model: wt.nn.Linear;
      {
        using x = wt.randn([2, 3]);
        using m = new nn.Linear(3, 2);
        using opt = new optim.Adam(m.parameters(), { lr: 0.1 });
        wt.tidy(() => m.forward(x).sum().backward());
        opt.step(); // makes its state tensors
        expect(wt.memory().tensors).toBeGreaterThan(before + 4);
        t = x;
        model = m;
      }
      expect(t.isDisposed).toBe(true);
      expect(model.parameters().every((p) => p.isDisposed)).toBe(true);
      expect(wt.memory().tensors).toBe(before);
    });

    it('[Symbol.dispose] is dispose, also inside tidy and after an explicit dispose', () => {
      const before = wt.memory().tensors;
      const opt = new optim.SGD([nn.parameter(wt.ones([2]))], { lr: 0.1, momentum: 0.9 });
      opt.paramGroups[0].params[0].grad = wt.ones([2]);
      opt.step();
      opt[Symbol.dispose]();
      opt.paramGroups[0].params[0].dispose();
      expect(wt.memory().tensors).toBe(before);
      wt.tidy(() => {
        using y = wt.ones([2]);
        y.dispose();
      });
      expect(wt.memory().tensors).toBe(before);
    });
  });
  describe('console.log', () => {
    it(`shows a tensor as PyTorch prints it (${kind === 'cpu' ? 'values, read synchronously' : 'shape, dtype and device: no synchronous read on WebGPU'})`, async () => {
      const t = wt.tensor([[1.5, 2], [3, 4]]);
      const g = wt.tensor([1, 2], { requiresGrad: true });
      const i = wt.tensor(new Int32Array([1, 2, 3]));
      if (kind === 'cpu') {
        expect(inspect(t)).toBe('tensor([[1.5000, 2.0000],\n        [3.0000, 4.0000]])');
        expect(inspect(g)).toBe('tensor([1., 2.], requiresGrad=true)');
        expect(inspect(i)).toBe('tensor([1, 2, 3], dtype=int32)');
        for (const x of [t, g, i]) expect(inspect(x)).toBe(await x.format());
        // a non-contiguous view, and inside an object
        expect(inspect(t.T)).toBe('tensor([[1.5000, 3.0000],\n        [2.0000, 4.0000]])');
        expect(inspect({ w: i })).toBe('{ w: tensor([1, 2, 3], dtype=int32) }');
      } else {
        expect(inspect(t)).toBe('Tensor(shape=[2, 2], dtype=float32, device=webgpu) <values on the GPU: console.log(await t.format()) prints them>');
        expect(inspect(g)).toBe('Tensor(shape=[2], dtype=float32, device=webgpu, requiresGrad=true) <values on the GPU: console.log(await t.format()) prints them>');
        expect(inspect(i)).toMatch(/^Tensor\(shape=\[3\], dtype=int32, device=webgpu\) /);
      }
      // past 1000 elements: the first and last 3 along each dim, as PyTorch
      const big = wt.arange(2000).reshape([40, 50]).float();
      const text = await big.format();
      expect(text).toBe([
        'tensor([[   0.,    1.,    2.,  ...,   47.,   48.,   49.],',
        '        [  50.,   51.,   52.,  ...,   97.,   98.,   99.],',
        '        [ 100.,  101.,  102.,  ...,  147.,  148.,  149.],',
        '        ...,',
        '        [1850., 1851., 1852.,  ..., 1897., 1898., 1899.],',
        '        [1900., 1901., 1902.,  ..., 1947., 1948., 1949.],',
        '        [1950., 1951., 1952.,  ..., 1997., 1998., 1999.]])',
      ].join('\n'));
      if (kind === 'cpu') expect(inspect(big)).toBe(text);
      const dead = wt.ones([2, 3]);
      dead.dispose();
      expect(inspect(dead)).toBe('tensor(<disposed>, shape=[2,3])');
      wt.dispose([t, g, i, big]);
    });

    it('shows a module as its toString() tree', () => {
      const m = new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU());
      expect(inspect(m)).toBe(m.toString());
      expect(inspect(m)).toMatch(/^Sequential\(\n {2}\((layers\.)?0\): Linear\(/);
      m.dispose();
    });

    it('model.summary() prints the Keras table and returns it', () => {
      wt.manualSeed(0);
      const m = new nn.Sequential(new nn.Linear(4, 16), new nn.ReLU(), new nn.Linear(16, 3));
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const text = m.summary([2, 4]);
      expect(log).toHaveBeenCalledTimes(1);
      expect(log).toHaveBeenCalledWith(text);
      const lines = text.split('\n');
      expect(lines[0]).toBe('Model: "Sequential"');
      expect(lines[2]).toMatch(/^ Layer \(type\) +Output Shape +Param #$/);
      expect(text).toMatch(/\n (layers\.)?0 \(Linear\) +\[2, 16\] +80\n (layers\.)?1 \(ReLU\) +\[2, 16\] +0\n (layers\.)?2 \(Linear\) +\[2, 3\] +51\n/);
      expect(text).toContain('\nTotal params: 131\nTrainable params: 131\nNon-trainable params: 0\n');
      // without an input shape nothing runs: the shapes are unknown
      const lines2: string[] = [];
      const t2 = m.summary(undefined, { printFn: (s) => lines2.push(s) });
      expect(lines2).toEqual([t2]);
      expect(t2).toMatch(/\n (layers\.)?0 \(Linear\) +\? +80\n/);
      expect(log).toHaveBeenCalledTimes(1);
      expect(() => m.summary([2, 4], { printFn: 3 as never })).toThrow('summary: printFn must be a function, got 3');
      m.dispose();
    });
  });
  describe('debug mode: live tensors growing from step to step', () => {
    const data = () => [wt.randn([8, 4], { seed: 1 }), wt.randn([8, 2], { seed: 2 })] as const;

    it('warns once when a loop keeps tensors at every optimizer step; a tidy loop does not warn', () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      const [x, y] = data();
      const m = new nn.Linear(4, 2);
      const opt = new optim.SGD(m.parameters(), { lr: 0.01 });
      wt.setDebug(true);
      // the tidy loop first: flat, no warning
      for (let i = 0; i < 12; i++) {
        opt.zeroGrad();
        wt.tidy(() => F.mseLoss(m.forward(x), y).backward());
        opt.step();
      }
      expect(warn).not.toHaveBeenCalled();
      // the same loop without tidy keeps the output and the loss at each step
      const leaked: wt.Tensor[] = [];
      for (let i = 0; i < 20; i++) {
        opt.zeroGrad();
        const out = m.forward(x);
        const loss = F.mseLoss(out, y);
        loss.backward();
        opt.step();
        leaked.push(out, loss);
      }
      const growing = warn.mock.calls.filter((c) => /live tensors grew/.test(String(c[0])));
      expect(growing).toHaveLength(1);
      expect(String(growing[0][0])).toMatch(/^webtensor \(debug\): live tensors grew at each of the last 5 SGD\.step\(\) calls \(\d+ → \d+, about \+\d+ per step\): .*wt\.tidy\(\(\) => \{ \.\.\. \}\), declare its temporaries with `using`/);
      // with debug mode off, nothing is watched
      wt.setDebug(false);
      for (let i = 0; i < 8; i++) {
        const out = m.forward(x);
        leaked.push(out);
        opt.step();
      }
      expect(warn.mock.calls.filter((c) => /live tensors grew/.test(String(c[0])))).toHaveLength(1);
      wt.dispose(leaked);
      wt.dispose([x, y]);
      opt.dispose();
      m.dispose();
    });

    it('fit in debug mode stays quiet, and warns when a hook keeps tensors each step', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      const [x, y] = data();
      const m = new nn.Linear(4, 2);
      wt.setDebug(true);
      const o = { loss: 'mse' as const, epochs: 2, batchSize: 1, verbose: 0 as const, shuffle: false };
      await m.fit(x, y, o);
      expect(warn.mock.calls.filter((c) => /live tensors grew/.test(String(c[0])))).toHaveLength(0);
      const kept: wt.Tensor[] = [];
      await m.fit(x, y, { ...o, callbacks: [{ onBatchEnd: () => void kept.push(wt.ones([1])) }] });
      const growing = warn.mock.calls.filter((c) => /live tensors grew/.test(String(c[0])));
      expect(growing).toHaveLength(1);
      expect(String(growing[0][0])).toMatch(/the last 5 fit step calls/);
      wt.dispose(kept);
      wt.dispose([x, y]);
      m.dispose();
    });
  });
});
