/**
 * Keras and PyTorch habits (issue 21, section 2): `using` frees tensors, modules and optimizers
 * at the end of a block; console.log prints a tensor as PyTorch does and a module as its tree;
 * model.summary() prints the Keras table; debug mode warns when live tensors grow step after step.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

const { nn, optim } = wt;

afterEach(() => {
  vi.restoreAllMocks();
  wt.setDebug(false);
});

forEachBackend(() => {
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
});
