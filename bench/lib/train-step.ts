/** One training step as the examples run it, shared by the benches that time steps. */
import * as wt from '../../src/index.js';

/**
 * A classifier step as the examples run it: forward, loss, backward, optimizer step; `step`
 * awaits the loss, `done` frees the model, the optimizer and the data.
 */
export function classifierStep(model: wt.nn.Module, x: wt.Tensor, y: wt.Tensor, opt: { step(): void; zeroGrad(): void; dispose(): void }, lossOf: (m: wt.nn.Module, x: wt.Tensor, y: wt.Tensor) => wt.Tensor) {
  return {
    step: async () => {
      const l = wt.tidy(() => {
        const v = lossOf(model, x, y);
        v.backward();
        return v;
      });
      opt.step();
      opt.zeroGrad();
      await l.item();
      l.dispose();
    },
    done: () => {
      model.dispose();
      opt.dispose();
      wt.dispose([x, y]);
    },
  };
}
