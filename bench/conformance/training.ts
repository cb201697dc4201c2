/**
 * Training on both backends: every optimizer's fused update kernel (typed over the optimizer
 * classes of wt.optim, so a new optimizer needs a case), whole training steps compiled with
 * wt.compile (and eagerly, under the 'eager' variant), and the first steps of every example
 * (examples/index.ts EXAMPLES) from the same seed, their losses compared step by step.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as wt from '../../src/index.js';
import { EXAMPLES } from '../../examples/index.js';
import type { ExampleOptions } from '../../examples/common.js';
import { CharGPT } from '../../examples/gpt-model.js';
import { MnistCNN } from '../../examples/mnist.js';
import { ONLY_DEFAULT, fmtShape, indices, numel, uniformData, type Case, type Out, type VariantName } from './cases.js';
import { F32_EPS, rel, ulps, type Tol } from './tolerance.js';

// ---- optimizers -------------------------------------------------------------------------------------

type OptimizerClass = abstract new (...args: never[]) => wt.optim.Optimizer;
/** The optimizers wt.optim exports (its classes, less the abstract base). */
export type OptimizerName = Exclude<{ [K in keyof typeof wt.optim]: (typeof wt.optim)[K] extends OptimizerClass ? K : never }[keyof typeof wt.optim], 'Optimizer'>;

const STEPS = 3;

/** Each optimizer with the options that reach every branch of its update (momentum, decay, ...). */
const OPTIMIZERS: { [K in OptimizerName]: { lr: number; make: (params: wt.Tensor[], lr: number) => wt.optim.Optimizer } } = {
  SGD: { lr: 0.05, make: (p, lr) => new wt.optim.SGD(p, { lr, momentum: 0.9, nesterov: true, weightDecay: 1e-2 }) },
  Adam: { lr: 1e-2, make: (p, lr) => new wt.optim.Adam(p, { lr, weightDecay: 1e-2, amsgrad: true }) },
  AdamW: { lr: 1e-2, make: (p, lr) => new wt.optim.AdamW(p, { lr, betas: [0.8, 0.99] }) },
  RMSprop: { lr: 1e-2, make: (p, lr) => new wt.optim.RMSprop(p, { lr, momentum: 0.5, centered: true, weightDecay: 1e-3 }) },
  Adagrad: { lr: 0.1, make: (p, lr) => new wt.optim.Adagrad(p, { lr, lrDecay: 1e-2, weightDecay: 1e-3 }) },
};

/**
 * After `steps` updates: each a few roundings of p (an ulp of |p| each) and an update of at most
 * a few lr whose own error is a few ulps of it (sqrt, division).
 */
const optimizerTol = (lr: number): Tol => ulps(2 * STEPS, STEPS * lr * 64 * F32_EPS);

function optimizerCase(name: OptimizerName, shapes: number[][]): Case {
  const spec = OPTIMIZERS[name];
  const variants: readonly VariantName[] = ['default', 'segments', 'fusion off'];
  return {
    name: `${name} ×${STEPS}`, group: 'optimizer', target: name, size: shapes.map(fmtShape).join(' '), variants,
    run: (ctx) => {
      const params = shapes.map((s, i) => wt.tensor(uniformData(numel(s), 300 + i), { shape: s, requiresGrad: true }));
      const opt = spec.make(params, spec.lr);
      ctx.cleanup(() => opt.dispose());
      for (let t = 0; t < STEPS; t++) {
        // gradients through the public API: d(Σ p·G)/dp = G exactly
        wt.tidy(() => {
          const gs = shapes.map((s, i) => wt.tensor(uniformData(numel(s), 400 + 10 * t + i), { shape: s }));
          params.map((p, i) => p.mul(gs[i]).sum()).reduce((a, b) => a.add(b)).backward();
        });
        opt.step();
        opt.zeroGrad();
      }
      return params.map((p, i) => ({ name: `p${i}`, value: p.detach(), tol: optimizerTol(spec.lr) }));
    },
  };
}

// ---- compiled training steps ----------------------------------------------------------------------

/**
 * Losses of a few training steps: rounding differences of the forward and backward sums move
 * the parameters apart step by step; 1e-4 of the loss over six steps leaves room for that (two
 * float32 backends agree to ~1e-6 there on SwiftShader) while a wrong kernel moves it by more.
 */
const STEP_LOSS = rel(1e-4);
const STEP_CALLS = 6;
const STEP_VARIANTS: readonly VariantName[] = ['default', 'eager', 'fusion off'];
/** Found by this check on SwiftShader (not yet filed in issue 19): see bench/CONFORMANCE.md. */
function stepCase(name: string, size: string, build: () => { model: wt.nn.Module; opt: wt.optim.Optimizer; loss: (x: wt.Tensor, y: wt.Tensor) => wt.Tensor; batch: (i: number) => [wt.Tensor, wt.Tensor] }): Case {
  return {
    name, group: 'step', target: 'compile', size, variants: STEP_VARIANTS,
    run: (ctx) => {
      const { model, opt, loss, batch } = build();
      const step = ctx.compile((x: wt.Tensor, y: wt.Tensor) => {
        opt.zeroGrad();
        const l = loss(x, y);
        l.backward();
        opt.step();
        return l;
      });
      ctx.cleanup(() => {
        opt.dispose();
        model.dispose();
      });
      // eager, two recordings, then replays
      const losses = Array.from({ length: STEP_CALLS }, (_, i) => step(...batch(i)));
      return [{ name: 'losses', value: wt.stack(losses), tol: STEP_LOSS }];
    },
  };
}

function stepCases(small: boolean): Case[] {
  const b = small ? 8 : 128;
  return [
    stepCase('CNN step, SGD momentum', `[${b},1,28,28]`, () => {
      const model = new MnistCNN();
      return {
        model, opt: new wt.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }),
        loss: (x, y) => wt.F.crossEntropy(model.forward(x), y),
        batch: (i) => [wt.tensor(uniformData(b * 784, 500 + i, 0, 1), { shape: [b, 1, 28, 28] }), indices([b], 600 + i, 10)],
      };
    }),
    stepCase('transformer step, AdamW, dropout', small ? '[4,32] tokens' : '[16,128] tokens', () => {
      const [B, T] = small ? [4, 32] : [16, 128];
      const model = new CharGPT({ vocabSize: 65, blockSize: T, nLayer: 2, nHead: 4, nEmbd: small ? 32 : 128, dropout: 0.1 });
      return {
        model, opt: new wt.optim.AdamW(model.parameters(), { lr: 1e-3 }),
        loss: (x, y) => model.loss(x, y),
        batch: (i) => [indices([B, T], 700 + i, 65), indices([B, T], 800 + i, 65)],
      };
    }),
  ];
}

// ---- the examples -----------------------------------------------------------------------------------

/**
 * Example losses after up to 20 steps of training from the same seed: on SwiftShader the two
 * backends stay within ~1e-6 of each other (2026-12, this check); 1e-3 leaves a real GPU's
 * different summation orders and fused multiply-adds room to drift through the steps while a
 * kernel error that matters to training shows as much more.
 */
const EXAMPLE_LOSS = rel(1e-3);

/** MNIST for the examples: a subset next to the bundle (the GPU machine has no node_modules), else the package's. */
export function mnistDir(): string | undefined {
  const dir = fileURLToPath(new URL('./mnist/', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

/**
 * The options each example runs with: its realistic configuration, except char-gpt, whose
 * presets cost the CPU reference minutes (20 steps of its CPU preset, then its validation and
 * 400 sampled characters: 100 s on a 2-core machine): its quick one (the transformer's kernels
 * at realistic sizes are the routine cases' and the transformer step's); `quick` ones with --small.
 */
function exampleOptions(name: string, small: boolean): ExampleOptions {
  return small || name === 'char-gpt' ? { quick: true } : {};
}

function exampleCases(small: boolean, steps: number): Case[] {
  const seen = new Set<unknown>();
  const out: Case[] = [];
  for (const [name, ex] of Object.entries(EXAMPLES)) {
    // aliases (xor is the perceptron example) run once
    if (seen.has(ex.run)) continue;
    seen.add(ex.run);
    const opts = exampleOptions(name, small);
    out.push({
      name: `example ${name}`, group: 'example', target: name, size: `${steps} steps${opts.quick ? ', quick' : ''}`, variants: ONLY_DEFAULT,
      async: true,
      run: async (ctx) => {
        const losses: number[] = [];
        const parts = new Map<string, number[]>();
        await ex.run({
          ...opts, backend: ctx.backend, steps, verbose: 0, log: () => {}, dataDir: mnistDir(),
          onStep: (_step, loss, p) => {
            losses.push(loss);
            for (const [k, v] of Object.entries(p ?? {})) parts.set(k, [...(parts.get(k) ?? []), v]);
          },
        });
        const res: Out[] = [{ name: 'loss', value: losses, tol: EXAMPLE_LOSS }];
        for (const [k, v] of parts) res.push({ name: `loss ${k}`, value: v, tol: EXAMPLE_LOSS });
        return res;
      },
    });
  }
  return out;
}

/** Optimizers, compiled steps and examples at realistic (`small`: SwiftShader) sizes. */
export function trainingCases(small: boolean, exampleSteps: number): { optimizers: Case[]; steps: Case[]; examples: Case[] } {
  const shapes = small ? [[33, 65], [127], [8, 3, 3, 3]] : [[1000, 1003], [4099], [64, 32, 3, 3]];
  const names = Object.keys(OPTIMIZERS) as OptimizerName[];
  return { optimizers: names.map((n) => optimizerCase(n, shapes)), steps: stepCases(small), examples: exampleCases(small, exampleSteps) };
}
