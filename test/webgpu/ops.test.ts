/**
 * Every expression kernel on WebGPU against the CPU backend, through the public API: the whole
 * ELEMENTWISE table (forward and gradient), casts, integer semantics, broadcasting,
 * non-contiguous inputs, reductions, creation ops, seeded randomness, dropout, cat / stack /
 * pad / copies into strided views and in-place updates. Sizes 1, 3, 17, 33, 65, 127.
 *
 * Tolerances (|gpu - cpu| <= atol + rtol*|cpu|, NaN must match NaN): exact for arithmetic that
 * both backends round once to float32 (add, mul, comparisons, casts, max/min, where, floor...);
 * rtol 1e-6 for division (GPU division may be 2.5 ulp); atol 1e-6 + rtol 1e-5 for
 * transcendental functions (exp, log, tanh, erf, ... whose WGSL accuracy is a few ulp); sin/cos
 * atol 1e-5; gradients, which compose several such ops, atol 1e-5 + rtol 1e-4.
 *
 * WebGPU runs on SwiftShader here; without an adapter these tests fail, they do not skip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { ELEMENTWISE, elementwise, type ElementwiseName } from '../../src/ops/elementwise.js';
import { compare, values, EXACT, type Tol } from './compare.js';

const SIZES = [1, 3, 17, 33, 65, 127];
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 0.5, -0.5, 1, -1, 2.5, -2.5, 3.5, 1e-5, -1e-5, 20, -20, 3, -3];

let gpu: wt.Backend;

beforeAll(async () => {
  gpu = await wt.init({ backend: 'webgpu' });
  expect(gpu.name).toBe('webgpu');
});

const t = (v: ArrayLike<number>, shape?: number[], dtype?: wt.DType) => wt.tensor(Float32Array.from(v), { shape, dtype });

// ---- the elementwise table ------------------------------------------------------------------

const TRANSCENDENTAL: Tol = [1e-6, 1e-5];
const TOLS: Partial<Record<ElementwiseName, Tol>> = {
  div: [0, 1e-6], reciprocal: [0, 1e-6], remainder: [1e-6, 1e-6], floorDivide: [0, 0],
  exp: TRANSCENDENTAL, log: TRANSCENDENTAL, sqrt: TRANSCENDENTAL, rsqrt: TRANSCENDENTAL, tanh: TRANSCENDENTAL,
  sigmoid: TRANSCENDENTAL, elu: TRANSCENDENTAL, gelu: TRANSCENDENTAL, geluTanh: TRANSCENDENTAL, silu: TRANSCENDENTAL,
  softplus: TRANSCENDENTAL, log1p: TRANSCENDENTAL, expm1: TRANSCENDENTAL, erf: TRANSCENDENTAL, pow: TRANSCENDENTAL, bce: TRANSCENDENTAL,
  sin: [1e-5, 1e-5], cos: [1e-5, 1e-5],
  tan: TRANSCENDENTAL, asin: TRANSCENDENTAL, acos: TRANSCENDENTAL, atan: TRANSCENDENTAL, atan2: TRANSCENDENTAL,
  sinh: TRANSCENDENTAL, cosh: TRANSCENDENTAL, asinh: TRANSCENDENTAL, acosh: TRANSCENDENTAL, atanh: TRANSCENDENTAL,
  log2: TRANSCENDENTAL, log10: TRANSCENDENTAL, fmod: [1e-6, 1e-6],
};
const GRAD_TOL: Tol = [1e-5, 1e-4];
/** Extra scalar parameters of ops that take them. */
const PARAMS: Partial<Record<ElementwiseName, number[]>> = { leakyRelu: [0.1], elu: [1.5], softplus: [1, 20] };
const tested = new Set<string>(['dropout']);

describe('elementwise table on webgpu', () => {
  for (const name of Object.keys(ELEMENTWISE) as ElementwiseName[]) {
    if (name === 'dropout') continue;
    tested.add(name);
    const def = ELEMENTWISE[name];
    it(name, async () => {
      for (const n of SIZES) {
        const ins = (special: boolean) => Array.from({ length: def.arity }, (_, k) => {
          if (name === 'where' && k === 0) return t(values(n, 7 + n, -1, 1, false)).gt(0);
          // pow: exponents mix integers and fractions
          if (name === 'pow' && k === 1) return t(values(n, 11 + n, -4, 4, special).map((v, i) => (i % 2 ? Math.round(v) : v)));
          return t(values(n, 3 * k + n, -3, 3, special));
        });
        await compare(`${name} [${n}]`, () => elementwise(name, ins(true), PARAMS[name] ?? []), TOLS[name] ?? EXACT);
        if (!def.grad) continue;
        await compare(`${name} gradient [${n}]`, () => {
          const xs = ins(false).map((x) => (x.dtype === 'float32' ? x.requiresGrad_() : x));
          const y = elementwise(name, xs, PARAMS[name] ?? []);
          if (y.requiresGrad) y.backward(t(values(n, 99, -1, 1, false)));
          return xs.map((x) => x.grad);
        }, GRAD_TOL);
      }
    });
  }
  it('covers every entry of ELEMENTWISE', () => {
    expect([...tested].sort()).toEqual(Object.keys(ELEMENTWISE).sort());
  });
});

// ---- dtypes, broadcasting, strides --------------------------------------------------------------

describe('casts and integer semantics on webgpu', () => {
  const wild = [0, -0, 0.5, -0.5, 1.5, -2.7, 2.7, 3e9, -3e9, 2147483647, -2147483648, 1e20, NaN, Infinity, -Infinity, 65536.5];
  it('float → int32 wraps like ToInt32, float → bool, int ↔ float, bool → numbers', async () => {
    await compare('f→i', () => t(wild).int());
    await compare('f→b', () => t(wild).bool());
    await compare('i→f', () => wt.tensor([0, 1, -7, 2147483647, -2147483648, 16777217], { dtype: 'int32' }).float());
    await compare('i→b, b→i, b→f', () => {
      const b = wt.tensor([0, 3, -1, 0], { dtype: 'int32' }).bool();
      return [b, b.int(), b.float()];
    });
  });
  it('int32 arithmetic wraps; floor division and modulo by zero give 0', async () => {
    const a = [7, -7, 7, -7, 0, 2147483647, -2147483648, 5, 123456789, -3];
    const b = [2, 2, -2, -2, 3, 1, -1, 0, 1000, 0];
    const ints = () => [wt.tensor(a, { dtype: 'int32' }), wt.tensor(b, { dtype: 'int32' })];
    for (const op of ['add', 'sub', 'mul', 'remainder', 'floorDivide', 'maximum', 'minimum', 'eq', 'lt', 'ge'] as const) {
      await compare(`int ${op}`, () => {
        const [x, y] = ints();
        return x[op](y);
      });
    }
    await compare('int unary', () => {
      const x = wt.tensor(a, { dtype: 'int32' });
      return [x.neg(), x.abs(), x.sign(), x.square(), x.div(3), x.pow(2)];
    }, [0, 1e-6]);
    await compare('int reductions', () => {
      const x = wt.tensor(a, { dtype: 'int32' }).reshape([2, 5]);
      return [x.sum(1), x.amax(0), x.amin(1), x.argmax(1), x.mean(1)];
    }, [0, 1e-6]);
    // products that fit (one that does not is refused: test/lifetime.test.ts)
    await compare('int prod', () => wt.tensor([7, -7, 3, 0, 46340, 1, 5, -2, 9, 46340], { dtype: 'int32' }).reshape([5, 2]).prod(1), [0, 0]);
  });
  it('integer-valued floats divide exactly (no off-by-one floor)', async () => {
    const a = Array.from({ length: 60 }, (_, i) => i - 30);
    const b = Array.from({ length: 60 }, (_, i) => [3, -3, 7, 0.5, 6, -4][i % 6]);
    await compare('float floorDivide/remainder', () => [t(a).floorDivide(t(b)), t(a).remainder(t(b))]);
  });
  it('numbers become scalars of the right dtype', async () => {
    await compare('scalars', () => {
      const x = t(values(17, 1));
      const i = wt.arange(17);
      return [x.add(2.5), x.mul(-3), i.add(2), i.mul(2.5), i.gt(8), x.pow(2), x.clamp(-1, null), x.maximum(0), wt.where(x.gt(0), x, 7)];
    }, [0, 1e-6]);
  });
});

describe('broadcasting and non-contiguous views on webgpu', () => {
  it('broadcasts shapes of every rank', async () => {
    for (const n of SIZES) {
      await compare(`broadcast ${n}`, () => {
        const a = t(values(3 * n, n), [3, 1, n]);
        const b = t(values(4 * n, n + 1), [4, n]);
        const c = t(values(1, n + 2), []);
        return [a.add(b), a.mul(c), b.sub(a).div(c.add(5)), wt.where(b.gt(0), a, c)];
      }, [0, 1e-6]);
    }
  });
  it('reads transposes, stepped slices, flips, expands and offsets', async () => {
    for (const n of SIZES) {
      await compare(`views ${n}`, () => {
        const x = t(values(5 * n, n), [5, n]);
        const y = t(values(5 * n, n + 9), [n, 5]);
        return [
          x.T.add(y),
          x.slice(0, 1, 5, 2).exp(),
          x.slice(1, 0, null, 2).neg(),
          x.flip(1).sub(x),
          x.flip([0, 1]).T.contiguous(),
          x.select(0, 2).expand([3, n]).mul(2),
          y.T.slice(1, 1).abs(),
          x.permute(1, 0).flip(0).sigmoid(),
        ];
      }, TRANSCENDENTAL);
    }
  });
  it('writes into strided views: cat, stack, pad, copy_, in-place ops', async () => {
    for (const n of SIZES) {
      await compare(`writes ${n}`, () => {
        const a = t(values(2 * n, n), [2, n]);
        const b = t(values(3 * n, n + 1), [3, n]);
        const out = wt.zeros([4, n + 2]);
        out.slice(1, 1, n + 1).slice(0, 0, 4, 2).copy_(a);
        const inplace = t(values(3 * n, n + 5), [3, n]);
        inplace.add_(b);
        inplace.slice(1, 0, null, 2).mul_(3);
        inplace.T.sub_(b.T, 0.5);
        inplace.div_(2);
        const self = b.clone();
        self.add_(self);
        self.slice(0, 1).mul_(self.slice(0, 2, 3));
        return [wt.cat([a, b], 0), wt.cat([a.T, b.T], 1), wt.stack([a, a.flip(1)], 1), a.pad([1, 2, 0, 1], -1), out, inplace, self];
      });
    }
  });
  it('copies between overlapping views of one buffer as the CPU does', async () => {
    await compare('overlap', () => {
      const x = wt.arange(12).float();
      x.slice(0, 1).copy_(x.slice(0, 0, 11));
      const y = wt.arange(12).float().reshape([3, 4]);
      y.copy_(y.flip(1));
      return [x, y];
    });
  });
});

// ---- reductions -------------------------------------------------------------------------------

describe('long reductions: shared-memory tree and subgroup shuffles', () => {
  // rows longer than the one-thread-per-output limit on software adapters (1024) take the tree;
  // with subgroups of one fixed size its subgroups finish with shuffles and one barrier
  const backends = new Map<string, WebGPUBackend>();
  beforeAll(async () => {
    backends.set('tree', await createWebGPUBackend(undefined, { subgroupOps: false }));
    backends.set('subgroup tree', await createWebGPUBackend(undefined, { subgroupOps: true }));
  });
  afterAll(() => backends.forEach((b) => b.destroy()));
  for (const name of ['tree', 'subgroup tree']) {
    it(`${name}: sum, mean, max, min, prod, argmax, argmin over 1025 and 5000 terms, NaN and ties`, async () => {
      const be = backends.get(name)!;
      const prev = wt.getBackend();
      wt.setBackend(be);
      try {
        for (const R of [1025, 5000]) {
          await compare(`${name} R=${R}`, () => {
            const v = values(3 * R, R, -2, 2, false);
            v[R + 7] = NaN; // row 1 has a NaN
            v[2 * R + 3] = 5; v[2 * R + R - 2] = 5; // row 2: a tie for the max (the lower index wins)
            const x = t(v, [3, R]);
            const p = t(values(3 * R, R + 1, 0.999, 1.001, false), [3, R]);
            return [x.sum(1), x.mean(1), x.amax(1), x.amin(1), p.prod(1), x.argmax(1), x.argmin(1), x.abs().sum()];
          }, [1e-5, 1e-4]);
        }
      } finally {
        wt.setBackend(prev);
      }
    });
  }
});

describe('reductions on webgpu', () => {
  it('sum, mean, max, min, prod, argmax, argmin over axes with keepdim', async () => {
    for (const n of SIZES) {
      for (const [dims, keep] of [[undefined, false], [0, false], [1, true], [-1, false], [[0, 2], true], [[1, 2], false]] as const) {
        await compare(`reduce ${n} ${JSON.stringify(dims)} ${keep}`, () => {
          const x = t(values(2 * n * 5, n, -2, 2, false), [2, n, 5]);
          const d = dims as number | number[] | undefined;
          const out = [x.sum(d, keep), x.mean(d, keep), x.amax(d, keep), x.amin(d, keep), x.prod(d, keep), x.T.sum(d, keep), x.logsumexp(d, keep)];
          if (typeof d === 'number') out.push(x.argmax(d, keep), x.argmin(d, keep), x.T.argmax(d, keep));
          return out;
        }, [1e-5, 1e-5]);
      }
    }
  });
  it('long rows (tree reduction), NaN wins, ties pick the first index, var/std, all/any', async () => {
    // on a software adapter rows up to 1024 run one thread per output, longer ones as trees
    for (const n of [1, 33, 127, 1024, 1025, 5000]) {
      await compare(`long ${n}`, () => {
        const v = values(3 * n, n, -3, 3, false);
        const x = t(v, [3, n]);
        // column sums over a leading dim with few outputs (bias gradients)
        const cols = t(v, [n, 3]);
        const nan = t(v.map((e, i) => (i === Math.floor(n / 2) || i === 2 * n + n - 1 ? NaN : e)), [3, n]);
        const ties = t(v.map((e) => Math.round(e)), [3, n]);
        return [x.sum(1), x.mean(), x.amax(1), x.argmin(1), nan.amax(1), nan.argmax(1), nan.amin(1), nan.argmin(1), ties.argmax(1), ties.argmin(1),
          x.var(1), x.std(), x.gt(0).all(1), x.gt(2.9).any(1), ties.eq(0).any(), cols.sum(0), cols.argmax(0), cols.T.sum(1)];
      }, [1e-4, 1e-5]);
    }
  });
  it('many outputs (a 2-D grid of workgroups beyond 65535)', async () => {
    await compare('many rows', () => t(values(70000 * 40, 5, -1, 1, false), [70000, 40]).sum(1), [1e-5, 1e-5]);
  });
  it('gradients of reductions', async () => {
    await compare('reduce grads', () => {
      const x = t(values(4 * 33, 1, -2, 2, false), [4, 33]).requiresGrad_();
      x.sum(1).mul(t(values(4, 2))).sum().add(x.amax(0).sum()).add(x.mean()).add(x.logsumexp(1).sum()).backward();
      return [x.grad];
    }, [1e-5, 1e-4]);
  });
});

// ---- creation and randomness -------------------------------------------------------------------

describe('creation and random ops on webgpu', () => {
  it('arange, linspace, eye, full, zeros, ones', async () => {
    for (const n of SIZES) {
      await compare(`create ${n}`, () => [
        wt.arange(n), wt.arange(-3, n, 2), wt.arange(0.5, n, 0.25), wt.linspace(-1, 2, n), wt.eye(n), wt.eye(n, 3),
        wt.full([2, n], 7.5), wt.full([n], true), wt.full([n], 3, { dtype: 'int32' }), wt.zeros([n, 2]), wt.ones([n]),
      ], [0, 1e-6]);
    }
  });
  it('triu and tril (odd shapes, batch dims, diagonals, int and bool)', async () => {
    for (const n of SIZES) {
      const x = () => t(values(2 * n * 5, n, -3, 3, false), [2, n, 5]);
      await compare(`triangles ${n}`, () => [
        x().triu(), x().tril(), x().triu(2), x().tril(-1), x().triu(-n), x().tril(n),
        x().int().triu(1), x().gt(0).tril(), x().mul(2).add(1).triu(-1), // a pending input folds in
      ]);
    }
  });
  it('rand and randint are bit-identical to the CPU; randn is close', async () => {
    for (const n of SIZES) {
      await compare(`rand ${n}`, () => [wt.rand([n, 3], { seed: 42 + n }), wt.randint(-5, 17, [n], { seed: 7 }), wt.rand([n], { seed: 2 ** 40 + 3 })]);
      await compare(`randn ${n}`, () => wt.randn([n, 2], { seed: n }), [1e-5, 1e-5]);
    }
  });
  it('the global generator advances identically', async () => {
    await compare('global', () => {
      wt.manualSeed(123);
      return [wt.rand([5]), wt.rand([5]), wt.randn([3])];
    }, [1e-5, 1e-5]);
  });
  it('dropout with a seed gives the same mask and gradient', async () => {
    for (const n of SIZES) {
      await compare(`dropout ${n}`, () => {
        const x = t(values(4 * n, n, -2, 2, false), [4, n]).requiresGrad_();
        const y = wt.dropout(x, 0.3, true, 1234);
        y.backward(wt.onesLike(y));
        return [y, x.grad];
      });
    }
  });
  it('zero-size tensors', async () => {
    await compare('empty', () => [wt.zeros([0]), wt.zeros([3, 0]).add(1), wt.zeros([0, 4]).sum(0), wt.ones([2, 0]).sum(1), wt.cat([wt.zeros([0]), wt.ones([2])])]);
  });
});

describe('fused optimizer updates on webgpu (multi-output, in place)', () => {
  const makers: [string, (ps: wt.Tensor[]) => wt.optim.Optimizer][] = [
    ['SGD momentum nesterov', (ps) => new wt.optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
    ['Adam amsgrad', (ps) => new wt.optim.Adam(ps, { lr: 0.01, amsgrad: true })],
    ['AdamW', (ps) => new wt.optim.AdamW(ps, { lr: 0.01, weightDecay: 0.1 })],
    ['RMSprop', (ps) => new wt.optim.RMSprop(ps, { lr: 0.01, momentum: 0.5 })],
    ['Adagrad', (ps) => new wt.optim.Adagrad(ps, { lr: 0.1 })],
  ];
  for (const [name, make] of makers) {
    it(name, async () => {
      for (const n of [3, 64, 127]) {
        await compare(`${name} ${n}`, () => {
          const w = t(values(n, 1, -1, 1, false)).requiresGrad_();
          const b = t(values(4, 2, -1, 1, false), [4, 1]).requiresGrad_();
          const opt = make([w, b]);
          for (let step = 0; step < 3; step++) {
            wt.tidy(() => w.mul(b).sin().sum().backward());
            opt.step();
            opt.zeroGrad();
          }
          return [w.clone(), b.clone()];
        }, [1e-5, 1e-4]);
      }
    });
  }
});

describe('one update kernel for many parameters on webgpu', () => {
  const LENS = [5, 64, 1, 127, 300, 8, 33, 1000, 2, 17, 4, 256, 9];
  const makers: [string, (ps: wt.Tensor[]) => wt.optim.Optimizer, number][] = [
    ['SGD', (ps) => new wt.optim.SGD(ps, { lr: 0.1, weightDecay: 0.01 }), 0],
    ['SGD momentum', (ps) => new wt.optim.SGD(ps, { lr: 0.1, momentum: 0.9 }), 1],
    ['AdamW amsgrad', (ps) => new wt.optim.AdamW(ps, { lr: 0.01, amsgrad: true }), 3],
  ];
  type Gpu = wt.Backend & { stats(): { dispatches: number }; segmentBuffers: number; device: GPUDevice };
  /** the update's dispatches at the third step; results compared with the CPU */
  async function run(gpu: Gpu, name: string, make: (ps: wt.Tensor[]) => wt.optim.Optimizer): Promise<number> {
    const prev = wt.getBackend();
    wt.setBackend(gpu);
    let dispatches = -1;
    try {
      await compare(name, () => {
        // odd lengths and offsets: some segments run four elements per thread, some one
        const ps = LENS.map((n, i) => t(values(n, 10 + i, -1, 1, false)).requiresGrad_());
        const opt = make(ps);
        for (let step = 0; step < 3; step++) {
          ps.forEach((p, i) => (p.grad = t(values(p.shape[0], 50 + 7 * step + i, -1, 1, false))));
          wt.getBackend().flush();
          const before = wt.getBackend() === gpu ? gpu.stats().dispatches : 0;
          opt.step();
          // step 1 computes the optimizer's zero-filled state first; later steps are the update alone
          if (wt.getBackend() === gpu && step === 2) dispatches = gpu.stats().dispatches - before;
        }
        return ps.map((p) => p.clone());
      }, [1e-6, 1e-5]);
    } finally {
      wt.setBackend(prev);
    }
    return dispatches;
  }
  let packed: Gpu;
  // the packing path is the optimizers' without parameter arenas (with them a group is one kernel
  // over its arenas: test/optim.test.ts)
  beforeAll(async () => {
    wt.optim.Optimizer.arenas = false;
    packed = (await createWebGPUBackend(undefined, { segments: true })) as unknown as Gpu;
  });
  afterAll(() => {
    wt.optim.Optimizer.arenas = true;
    packed?.destroy();
  });
  for (const [name, make, nState] of makers) {
    it(`${name}: ${LENS.length} parameters match the CPU, packed by the device's buffer limit`, async () => {
      const dispatches = await run(packed, name, make);
      const perDispatch = Math.floor(packed.segmentBuffers / (2 + nState));
      expect(dispatches).toBe(Math.ceil(LENS.length / Math.min(perDispatch, 32)));
    });
  }
  it('is off by default (one kernel per parameter without arenas)', async () => {
    const gpu = wt.getBackend() as Gpu;
    expect(gpu.segmentBuffers).toBe(0);
    expect(await run(gpu, 'SGD default', makers[0][1])).toBe(LENS.length);
  });
});

describe('a small model on webgpu', () => {
  it('forward and backward of a composite loss match the CPU', async () => {
    await compare('mlp-ish', () => {
      const x = t(values(8 * 17, 1, -1, 1, false), [8, 17]);
      const w = t(values(17, 2, -1, 1, false), [17]).requiresGrad_();
      const b = t([0.1]).requiresGrad_();
      const h = x.mul(w).add(b).gelu();
      const loss = h.sum(1).tanh().sub(t(values(8, 3))).square().mean();
      loss.backward();
      return [loss, w.grad, b.grad];
    }, [1e-5, 1e-4]);
  });
});
