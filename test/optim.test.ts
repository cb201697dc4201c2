import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose } from './helpers.js';
import { forEachBackend } from './backends.js';

const P0 = [0.5, -1.0, 2.0];
const GRADS = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.1, 0.2]];

/** Runs 3 steps with the given gradients and returns the parameter values after each. */
async function run(make: (ps: wt.Tensor[]) => wt.optim.Optimizer): Promise<number[][]> {
  const p = wt.tensor(P0, { requiresGrad: true });
  const opt = make([p]);
  const out: number[][] = [];
  for (const g of GRADS) {
    p.grad = wt.tensor(g);
    opt.step();
    out.push(Array.from(await p.data()));
  }
  return out;
}

/** Float64 references written from PyTorch's documented algorithms. */
function refSGD(lr: number, momentum = 0, dampening = 0, wd = 0, nesterov = false): number[][] {
  const p = [...P0], buf = [0, 0, 0], out: number[][] = [];
  GRADS.forEach((gr, t) => {
    for (let i = 0; i < 3; i++) {
      let g = gr[i] + wd * p[i];
      if (momentum) {
        buf[i] = t === 0 ? g : momentum * buf[i] + (1 - dampening) * g;
        g = nesterov ? g + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * g;
    }
    out.push([...p]);
  });
  return out;
}

function refAdam(lr: number, b1: number, b2: number, eps: number, wd: number, decoupled: boolean, amsgrad = false): number[][] {
  const p = [...P0], m = [0, 0, 0], v = [0, 0, 0], vmax = [0, 0, 0], out: number[][] = [];
  GRADS.forEach((gr, t) => {
    const step = t + 1;
    for (let i = 0; i < 3; i++) {
      let g = gr[i];
      if (decoupled) p[i] *= 1 - lr * wd;
      else g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      vmax[i] = Math.max(vmax[i], v[i]);
      const mhat = m[i] / (1 - b1 ** step), vhat = (amsgrad ? vmax[i] : v[i]) / (1 - b2 ** step);
      p[i] -= (lr * mhat) / (Math.sqrt(vhat) + eps);
    }
    out.push([...p]);
  });
  return out;
}

function refRMSprop(lr: number, alpha: number, eps: number, momentum: number, centered: boolean): number[][] {
  const p = [...P0], sq = [0, 0, 0], buf = [0, 0, 0], ga = [0, 0, 0], out: number[][] = [];
  GRADS.forEach((gr) => {
    for (let i = 0; i < 3; i++) {
      const g = gr[i];
      sq[i] = alpha * sq[i] + (1 - alpha) * g * g;
      let avg: number;
      if (centered) {
        ga[i] = alpha * ga[i] + (1 - alpha) * g;
        avg = Math.sqrt(sq[i] - ga[i] * ga[i]) + eps;
      } else avg = Math.sqrt(sq[i]) + eps;
      if (momentum > 0) {
        buf[i] = momentum * buf[i] + g / avg;
        p[i] -= lr * buf[i];
      } else p[i] -= (lr * g) / avg;
    }
    out.push([...p]);
  });
  return out;
}

function refAdagrad(lr: number, lrDecay: number, eps: number, init: number): number[][] {
  const p = [...P0], s = [init, init, init], out: number[][] = [];
  GRADS.forEach((gr, t) => {
    const clr = lr / (1 + t * lrDecay);
    for (let i = 0; i < 3; i++) {
      s[i] += gr[i] * gr[i];
      p[i] -= (clr * gr[i]) / (Math.sqrt(s[i]) + eps);
    }
    out.push([...p]);
  });
  return out;
}

const close = (a: number[][], b: number[][]) => a.forEach((row, i) => expectClose(row, b[i], 1e-6, 1e-5, `step ${i + 1}`));

forEachBackend((kind) => {
  describe('optimizers match PyTorch formulas step by step', () => {
    it('SGD plain, with weight decay, momentum, dampening and nesterov', async () => {
      close(await run((ps) => new wt.optim.SGD(ps, { lr: 0.1 })), refSGD(0.1));
      close(await run((ps) => new wt.optim.SGD(ps, { lr: 0.1, weightDecay: 0.01 })), refSGD(0.1, 0, 0, 0.01));
      close(await run((ps) => new wt.optim.SGD(ps, { lr: 0.1, momentum: 0.9 })), refSGD(0.1, 0.9));
      close(await run((ps) => new wt.optim.SGD(ps, { lr: 0.1, momentum: 0.9, dampening: 0.5 })), refSGD(0.1, 0.9, 0.5));
      close(await run((ps) => new wt.optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1 })), refSGD(0.1, 0.9, 0, 0.1, true));
    });
    it('Adam, with L2 weight decay and amsgrad', async () => {
      close(await run((ps) => new wt.optim.Adam(ps, { lr: 0.01 })), refAdam(0.01, 0.9, 0.999, 1e-8, 0, false));
      close(await run((ps) => new wt.optim.Adam(ps, { lr: 0.01, weightDecay: 0.1, betas: [0.8, 0.99] })), refAdam(0.01, 0.8, 0.99, 1e-8, 0.1, false));
      close(await run((ps) => new wt.optim.Adam(ps, { lr: 0.01, amsgrad: true })), refAdam(0.01, 0.9, 0.999, 1e-8, 0, false, true));
    });
    it('AdamW decouples weight decay', async () => {
      close(await run((ps) => new wt.optim.AdamW(ps, { lr: 0.01 })), refAdam(0.01, 0.9, 0.999, 1e-8, 0.01, true));
    });
    it('RMSprop plain, centered, with momentum', async () => {
      close(await run((ps) => new wt.optim.RMSprop(ps, { lr: 0.01 })), refRMSprop(0.01, 0.99, 1e-8, 0, false));
      close(await run((ps) => new wt.optim.RMSprop(ps, { lr: 0.01, centered: true, momentum: 0.9 })), refRMSprop(0.01, 0.99, 1e-8, 0.9, true));
    });
    it('Adagrad with lr decay and an initial accumulator', async () => {
      close(await run((ps) => new wt.optim.Adagrad(ps, { lr: 0.1, lrDecay: 0.1, initialAccumulatorValue: 0.5 })), refAdagrad(0.1, 0.1, 1e-10, 0.5));
    });
    it('skips parameters without gradients and validates lr', () => {
      const p = wt.ones([2], { requiresGrad: true });
      const opt = new wt.optim.SGD([p], { lr: 0.1 });
      opt.step();
      expect(() => new wt.optim.SGD([p], { lr: -1 })).toThrow(wt.ArgumentError);
      expect(() => new wt.optim.Adam([])).toThrow(/empty parameter list/);
    });
    it('state round-trips through stateDict', async () => {
      const p = wt.tensor([1, 2], { requiresGrad: true });
      const a = new wt.optim.Adam([p], { lr: 0.1 });
      p.grad = wt.tensor([0.5, -0.5]);
      a.step();
      const q = wt.tensor(Array.from(await p.data()), { requiresGrad: true });
      const b = new wt.optim.Adam([q], { lr: 0.1 });
      b.loadStateDict(a.stateDict());
      p.grad = wt.tensor([0.1, 0.2]);
      q.grad = wt.tensor([0.1, 0.2]);
      a.step();
      b.step();
      expect(Array.from(await q.data())).toEqual(Array.from(await p.data()));
    });
  });

  describe('one update kernel for many parameters (runSegmentsInto)', () => {
    const SHAPES = [[3, 4], [5], [2, 3, 2], [1], [7, 3], [4, 4]];
    /** params (one non-contiguous leaf, one skipped at step 1) updated by one optimizer or one each */
    async function train(make: (ps: wt.Tensor[]) => wt.optim.Optimizer, shared: boolean): Promise<number[][]> {
      const ps = SHAPES.map((s, i) => wt.arange(s.reduce((a, b) => a * b, 1)).float().mul(0.1 * (i + 1)).sub(0.3).reshape(s).detach().requiresGrad_());
      ps.push(wt.arange(12).float().reshape([3, 4]).mul(0.05).detach().T.requiresGrad_()); // strided leaf
      const opts = shared ? [make(ps)] : ps.map((p) => make([p]));
      for (let step = 0; step < 3; step++) {
        ps.forEach((p, i) => {
          // parameter 2 has no gradient at the first step: its own step count (and Adam's bias correction) lags
          p.grad = step === 0 && i === 2 ? null : wt.arange(p.shape.reduce((a, b) => a * b, 1)).float().mul(0.07 * (step + 1)).sin().reshape(p.shape);
        });
        opts.forEach((o) => o.step());
      }
      return Promise.all(ps.map(async (p) => Array.from(await p.data())));
    }
    const makers: [string, (ps: wt.Tensor[]) => wt.optim.Optimizer][] = [
      ['SGD', (ps) => new wt.optim.SGD(ps, { lr: 0.1, weightDecay: 0.01 })],
      ['SGD momentum nesterov', (ps) => new wt.optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true })],
      ['Adam', (ps) => new wt.optim.Adam(ps, { lr: 0.01 })],
      ['AdamW amsgrad', (ps) => new wt.optim.AdamW(ps, { lr: 0.01, amsgrad: true })],
      ['RMSprop centered momentum', (ps) => new wt.optim.RMSprop(ps, { lr: 0.01, momentum: 0.5, centered: true })],
      ['Adagrad', (ps) => new wt.optim.Adagrad(ps, { lr: 0.1, lrDecay: 0.01 })],
    ];
    for (const [name, make] of makers) {
      it(`${name}: bit-identical to one optimizer per parameter`, async () => {
        expect(await train(make, true)).toEqual(await train(make, false));
      });
    }
    it('a segmented kernel runs per segment on the CPU with shared scalars', async () => {
      const ps = [wt.tensor([1, 2, 3]), wt.tensor([10, 20])];
      const gs = [wt.tensor([0.5, 0.5, 0.5]), wt.tensor([1, 2])];
      const { runSegmentsInto } = await import('../src/ops/run.js');
      const { IR } = await import('../src/kernel/ir.js');
      const expr = IR.binary('sub', IR.load(0, 'float32'), IR.binary('mul', IR.scalar(0), IR.load(1, 'float32')));
      runSegmentsInto('test', [expr], ps.map((p, i) => [p, gs[i]]), ps.map((p) => [p]), [2]);
      expect(Array.from(await ps[0].data())).toEqual([0, 1, 2]);
      expect(Array.from(await ps[1].data())).toEqual([8, 16]);
    });
  });

  describe('parameter arena: one update kernel per parameter group (src/arena.ts)', () => {
    // odd sizes: slots start at aligned offsets (64 floats on WebGPU), so every slot but the first has padding before it
    const SHAPES = [[3, 5], [7], [2, 3, 2], [1], [65], [33, 3]];
    const useArenas = async <T>(on: boolean, fn: () => Promise<T>): Promise<T> => {
      const was = wt.optim.Optimizer.arenas;
      wt.optim.Optimizer.arenas = on;
      try {
        return await fn();
      } finally {
        wt.optim.Optimizer.arenas = was;
      }
    };
    const makeParams = () => wt.tidy(() => SHAPES.map((s, i) => wt.arange(s.reduce((a, b) => a * b, 1)).float().mul(0.1 * (i + 1)).sub(0.3).sin().reshape(s).detach().requiresGrad_()));
    /** a loss whose gradients autograd computes (pending ones go straight into their slots) */
    const lossOf = (ps: wt.Tensor[], step: number) => ps.map((p, i) => p.mul(p).mul(0.5 + 0.1 * i).add(p.mul(Math.cos(step + i))).sum()).reduce((a, b) => a.add(b));
    /** two parameter groups with different lr and weight decay; returns the parameters after each step, and the kernels of the last step() */
    async function train(make: (groups: wt.optim.ParamGroup[]) => wt.optim.Optimizer, steps = 4) {
      const ps = makeParams();
      const opt = make([{ params: ps.slice(0, 3), lr: 0.05, weightDecay: 0.01 }, { params: ps.slice(3), lr: 0.02, weightDecay: 0 }]);
      const out: number[][][] = [];
      let kernels = 0;
      for (let step = 0; step < steps; step++) {
        opt.zeroGrad();
        wt.tidy(() => lossOf(ps, step).backward());
        if (step === steps - 1) {
          for (const p of ps) await p.grad!.data(); // computed: the profile counts the update alone
          const prof = await wt.profile(() => opt.step());
          kernels = prof.kernels.reduce((n, k) => n + k.count, 0);
        } else opt.step();
        out.push(await Promise.all(ps.map(async (p) => Array.from(await p.data()))));
      }
      opt.zeroGrad();
      opt.dispose();
      wt.dispose(ps);
      return { out, kernels };
    }
    const makers: [string, (g: wt.optim.ParamGroup[]) => wt.optim.Optimizer][] = [
      ['SGD momentum, weight decay', (g) => new wt.optim.SGD(g, { lr: 0.1, momentum: 0.9 })],
      ['Adam, weight decay', (g) => new wt.optim.Adam(g, { lr: 0.01 })],
      ['AdamW', (g) => new wt.optim.AdamW(g, { lr: 0.01 })],
      ['RMSprop centered', (g) => new wt.optim.RMSprop(g, { lr: 0.01, centered: true })],
      ['Adagrad', (g) => new wt.optim.Adagrad(g, { lr: 0.1, initialAccumulatorValue: 0.1 })],
    ];
    for (const [name, make] of makers) {
      it(`${name}, two groups: bit-identical to one kernel per parameter, one kernel per group`, async () => {
        const arena = await useArenas(true, () => train(make));
        const plain = await useArenas(false, () => train(make));
        expect(arena.out).toEqual(plain.out);
        // without arenas: one kernel per parameter on WebGPU; the CPU packs each group's into one segmented kernel
        expect(plain.kernels).toBe(kind === 'webgpu' ? SHAPES.length : 2);
        expect(arena.kernels).toBe(2);
      });
    }

    it('parameters read, save and load as before; state round-trips; the arena goes with its optimizer and parameters', async () => {
      const base = wt.memory();
      const ps = makeParams();
      const before = await Promise.all(ps.map(async (p) => Array.from(await p.data())));
      const opt = new wt.optim.Adam(ps, { lr: 0.01 });
      // moved into the arena, the values and shapes are the same, and a state dict saves them
      expect(await Promise.all(ps.map(async (p) => Array.from(await p.data())))).toEqual(before);
      wt.tidy(() => lossOf(ps, 0).backward());
      const g1 = Array.from(await ps[4].grad!.data());
      opt.step();
      expect(Array.from(await ps[4].grad!.data())).toEqual(g1); // the user's view of .grad survives the move into its slot
      const sd = opt.stateDict();
      expect(Object.keys(sd.state)).toHaveLength(SHAPES.length);
      const qs = await Promise.all(ps.map(async (p) => wt.tensor(Array.from(await p.data()), { shape: [...p.shape], requiresGrad: true })));
      const opt2 = new wt.optim.Adam(qs, { lr: 0.01 });
      opt2.loadStateDict(sd);
      opt.zeroGrad();
      wt.tidy(() => lossOf(ps, 1).backward());
      wt.tidy(() => lossOf(qs, 1).backward());
      opt.step();
      opt2.step();
      expect(await Promise.all(qs.map(async (p) => Array.from(await p.data())))).toEqual(await Promise.all(ps.map(async (p) => Array.from(await p.data()))));
      // after zeroGrad (set to none) a parameter read alone, a slice, an in-place change
      opt.zeroGrad();
      expect(ps[0].grad).toBeNull();
      const part = ps[4].slice(0, 2, 5);
      expect(Array.from(await part.data())).toEqual(Array.from(await ps[4].data()).slice(2, 5));
      part.dispose();
      opt.dispose();
      opt2.zeroGrad();
      opt2.dispose();
      // a parameter outlives its optimizer, in its slot
      const v = Array.from(await ps[1].data());
      wt.noGrad(() => ps[1].add_(1));
      expect(Array.from(await ps[1].data())).toEqual(v.map((x) => Math.fround(x + 1)));
      wt.dispose([...ps, ...qs]);
      const after = wt.memory();
      expect(after.tensors).toBe(base.tensors);
      expect(after.bytesInUse ?? 0).toBe(base.bytesInUse ?? 0);
    });

    it('layers whose backward routines write the weight gradient into its slot (linear, layerNorm), one used twice: the same numbers', async () => {
      const scenario = async () => {
        wt.manualSeed(4);
        const l1 = new wt.nn.Linear(5, 8), ln = new wt.nn.LayerNorm(8), l2 = new wt.nn.Linear(8, 8), head = new wt.nn.Linear(8, 3);
        const params = [...l1.parameters(), ...ln.parameters(), ...l2.parameters(), ...head.parameters()];
        const opt = new wt.optim.AdamW(params, { lr: 0.05 });
        const x = wt.randn([6, 5], { seed: 1 });
        const out: number[][][] = [];
        for (let step = 0; step < 3; step++) {
          opt.zeroGrad();
          // l2 runs twice: its second gradient adds onto the first, which took the slot
          wt.tidy(() => head.forward(l2.forward(l2.forward(ln.forward(l1.forward(x))).relu())).square().mean().backward());
          opt.step();
          out.push(await Promise.all(params.map(async (p) => Array.from(await p.data()))));
        }
        opt.zeroGrad();
        opt.dispose();
        [l1, ln, l2, head].forEach((m) => m.dispose());
        x.dispose();
        return out;
      };
      expect(await useArenas(true, scenario)).toEqual(await useArenas(false, scenario));
    });

    it('an embedding\'s gradient written into its slot, alone and tied to the output head (two gradients): the same numbers', async () => {
      const scenario = async () => {
        wt.manualSeed(5);
        const emb = new wt.nn.Embedding(11, 6), emb2 = new wt.nn.Embedding(7, 6), ln = new wt.nn.LayerNorm(6);
        const params = [...emb.parameters(), ...emb2.parameters(), ...ln.parameters()];
        const opt = new wt.optim.Adam(params, { lr: 0.05 });
        // repeated ids, an unused row (10); the head reuses emb's table (weight tying)
        const ids = wt.tensor([[1, 4, 4, 0], [9, 1, 1, 2]], { dtype: 'int32' }), pos = wt.tensor([0, 1, 2, 3], { dtype: 'int32' });
        const out: number[][][] = [];
        for (let step = 0; step < 3; step++) {
          opt.zeroGrad();
          wt.tidy(() => {
            const h = ln.forward(emb.forward(ids).add(emb2.forward(pos)));
            wt.F.crossEntropy(h.matmul(emb.weight.T).reshape([8, 11]), wt.tensor([4, 4, 0, 3, 1, 1, 2, 5], { dtype: 'int32' })).backward();
          });
          opt.step();
          out.push(await Promise.all(params.map(async (p) => Array.from(await p.data()))));
        }
        opt.zeroGrad();
        opt.dispose();
        [emb, emb2, ln].forEach((m) => m.dispose());
        wt.dispose([ids, pos]);
        return out;
      };
      expect(await useArenas(true, scenario)).toEqual(await useArenas(false, scenario));
    });

    it('a one-element parameter (a slot smaller than a 16-byte word) read broadcast by a vectorized kernel', async () => {
      const scenario = async () => {
        const ps = wt.tidy(() => [wt.tensor([0.5]).requiresGrad_(), wt.arange(16).float().mul(0.1).reshape([4, 4]).detach().requiresGrad_(), wt.tensor([0.25, -1]).requiresGrad_()]);
        const opt = new wt.optim.Adam(ps, { lr: 0.1 });
        const x = wt.arange(16).float().reshape([4, 4]);
        const out: number[][][] = [];
        for (let step = 0; step < 3; step++) {
          opt.zeroGrad();
          wt.tidy(() => x.mul(ps[0]).add(ps[1]).square().sum().add(ps[2].square().sum()).backward());
          opt.step();
          out.push(await Promise.all(ps.map(async (p) => Array.from(await p.data()))));
        }
        opt.zeroGrad();
        opt.dispose();
        wt.dispose([...ps, x]);
        return out;
      };
      expect(await useArenas(true, scenario)).toEqual(await useArenas(false, scenario));
    });

    it('falls back per parameter where the arena cannot serve, with the same numbers', async () => {
      const scenario = async () => {
        const ps = makeParams();
        ps.push(wt.arange(12).float().reshape([3, 4]).mul(0.05).detach().T.requiresGrad_()); // strided: never in an arena
        const opt = new wt.optim.SGD(ps.slice(0, 4), { lr: 0.1, momentum: 0.5 });
        const other = new wt.optim.Adam([ps[0], ps[5], ps[6]], { lr: 0.01 }); // ps[0] is in opt's arena: other updates it alone
        opt.paramGroups[0].params.push(ps[4]); // added after construction: its own kernel
        const kept: wt.Tensor[] = [];
        const out: number[][][] = [];
        for (let step = 0; step < 4; step++) {
          if (step === 2) {
            // an old gradient still held: its slot is not reused (the next gradients go per parameter)
            kept.push(wt.keep(ps[1].grad!));
            ps[1].grad = null;
          } else {
            opt.zeroGrad();
          }
          other.zeroGrad();
          wt.tidy(() => lossOf(ps, step).backward());
          // two micro-batches: the second backward adds onto the first's gradients
          if (step === 3) wt.tidy(() => lossOf(ps, step + 1).backward());
          if (step === 1) ps[3].grad = null; // a parameter without gradient: skipped, as PyTorch
          opt.step();
          other.step();
          out.push(await Promise.all(ps.map(async (p) => Array.from(await p.data()))));
        }
        expect(Array.from(await kept[0].data())).toHaveLength(7);
        opt.zeroGrad();
        other.zeroGrad();
        opt.dispose();
        other.dispose();
        wt.dispose([...ps, ...kept]);
        return out;
      };
      expect(await useArenas(true, scenario)).toEqual(await useArenas(false, scenario));
    });
  });
});
