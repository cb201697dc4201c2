/**
 * What the demo's training code shares on either side of the worker boundary (the pages'
 * common.ts re-exports it; the tasks in the training worker import it directly, without the
 * pages' DOM helpers): a seeded random generator, optimizers by the names of the pages' selects.
 */
import * as wt from '../../src/index.js';

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds an optimizer by its name in the pages' selects. */
export function makeOptimizer(name: string, params: wt.Tensor[], lr: number): wt.optim.Optimizer {
  switch (name) {
    case 'sgd': return new wt.optim.SGD(params, { lr });
    case 'momentum': return new wt.optim.SGD(params, { lr, momentum: 0.9 });
    case 'adamw': return new wt.optim.AdamW(params, { lr });
    case 'rmsprop': return new wt.optim.RMSprop(params, { lr });
    case 'adagrad': return new wt.optim.Adagrad(params, { lr });
    default: return new wt.optim.Adam(params, { lr });
  }
}

/** Sets the learning rate of every parameter group (takes effect at the next step). */
export function setLr(opt: wt.optim.Optimizer, lr: number): void {
  for (const g of opt.paramGroups) g.lr = lr;
}
