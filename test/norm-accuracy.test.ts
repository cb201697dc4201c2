/**
 * layerNorm and batchNorm statistics where |mean| ≫ std (mean 1000, std 0.05: the case of
 * issue 19, 3.6, where WebGPU lost ~0.1-0.5%), forward and backward, against float64 on every
 * backend, and on WebGPU with and without subgroup rows (the three row layouts: a thread per
 * short row on a software adapter, a subgroup per row, a workgroup per row). The routines keep
 * each mean as a pair m0 + m1 (kernel.ts), so x - mean stays exact.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { createWebGPUBackend } from '../src/backend/webgpu/index.js';
import { BACKENDS, forEachBackend } from './backends.js';
import { rng } from './helpers.js';

/** Largest |a - e| over the largest |e|. */
function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let m = 0, s = 0;
  for (let i = 0; i < e.length; i++) {
    m = Math.max(m, Math.abs(a[i] - e[i]));
    s = Math.max(s, Math.abs(e[i]));
  }
  return m / s;
}

/** n float32 values around `mean` with spread `std` (Box-Muller on a seeded generator). */
function offsetValues(n: number, seed: number, mean: number, std: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()));
}
const uniform = (n: number, seed: number, lo: number, hi: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
};

const TOL = 2e-6;

/** layerNorm over rows of D of data with |mean| ≫ std: y, gx, gw, gb against float64. */
async function layerNormErrors(R: number, D: number, seed: number): Promise<Record<string, number>> {
  const x = offsetValues(R * D, seed, 1000, 0.05), g = uniform(R * D, seed + 1, -1, 1);
  const w = uniform(D, seed + 2, 0.5, 1.5), b = uniform(D, seed + 3, -0.5, 0.5);
  const xt = wt.tensor(x, { shape: [R, D] }).requiresGrad_(), wt_ = wt.tensor(w).requiresGrad_(), bt = wt.tensor(b).requiresGrad_();
  const y = wt.layerNorm(xt, [D], wt_, bt);
  y.backward(wt.tensor(g, { shape: [R, D] }));
  const y64 = new Float64Array(R * D), gx64 = new Float64Array(R * D), gw64 = new Float64Array(D), gb64 = new Float64Array(D);
  for (let r = 0; r < R; r++) {
    const o = r * D;
    let mu = 0;
    for (let j = 0; j < D; j++) mu += x[o + j];
    mu /= D;
    let q = 0;
    for (let j = 0; j < D; j++) q += (x[o + j] - mu) ** 2;
    const rs = 1 / Math.sqrt(q / D + 1e-5);
    let m1 = 0, m2 = 0;
    for (let j = 0; j < D; j++) {
      const h = (x[o + j] - mu) * rs, gg = g[o + j] * w[j];
      y64[o + j] = h * w[j] + b[j];
      m1 += gg / D;
      m2 += (gg * h) / D;
      gw64[j] += g[o + j] * h;
      gb64[j] += g[o + j];
    }
    for (let j = 0; j < D; j++) gx64[o + j] = rs * (g[o + j] * w[j] - m1 - (x[o + j] - mu) * rs * m2);
  }
  const out = { y: relErr(await y.data(), y64), gx: relErr(await xt.grad!.data(), gx64), gw: relErr(await wt_.grad!.data(), gw64), gb: relErr(await bt.grad!.data(), gb64) };
  wt.dispose([xt, wt_, bt, y]);
  return out;
}

/** batchNorm (training) of [N, C, S] data with |mean| ≫ std: y, gx, gw, gb, running mean against float64. */
async function batchNormErrors(N: number, C: number, S: number, seed: number): Promise<Record<string, number>> {
  const n = N * C * S, shape = S === 1 ? [N, C] : [N, C, S];
  const x = offsetValues(n, seed, -1000, 0.05), g = uniform(n, seed + 1, -1, 1);
  const w = uniform(C, seed + 2, 0.5, 1.5), b = uniform(C, seed + 3, -0.5, 0.5);
  const xt = wt.tensor(x, { shape }).requiresGrad_(), wt_ = wt.tensor(w).requiresGrad_(), bt = wt.tensor(b).requiresGrad_();
  const rm = wt.zeros([C]), rv = wt.ones([C]);
  const y = wt.batchNorm(xt, rm, rv, wt_, bt, { training: true, momentum: 1 });
  y.backward(wt.tensor(g, { shape }));
  const M = N * S, at = (i: number, c: number, s: number) => (i * C + c) * S + s;
  const y64 = new Float64Array(n), gx64 = new Float64Array(n), gw64 = new Float64Array(C), gb64 = new Float64Array(C), rm64 = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let mu = 0, q = 0, sg = 0, sgh = 0;
    for (let i = 0; i < N; i++) for (let s = 0; s < S; s++) mu += x[at(i, c, s)] / M;
    for (let i = 0; i < N; i++) for (let s = 0; s < S; s++) q += (x[at(i, c, s)] - mu) ** 2;
    const is = 1 / Math.sqrt(q / M + 1e-5);
    for (let i = 0; i < N; i++) for (let s = 0; s < S; s++) {
      const k = at(i, c, s), h = (x[k] - mu) * is;
      y64[k] = h * w[c] + b[c];
      sg += g[k];
      sgh += g[k] * h;
    }
    gw64[c] = sgh;
    gb64[c] = sg;
    rm64[c] = mu;
    for (let i = 0; i < N; i++) for (let s = 0; s < S; s++) {
      const k = at(i, c, s);
      gx64[k] = w[c] * is * (g[k] - sg / M - (x[k] - mu) * is * (sgh / M));
    }
  }
  const out = {
    y: relErr(await y.data(), y64), gx: relErr(await xt.grad!.data(), gx64), gw: relErr(await wt_.grad!.data(), gw64),
    gb: relErr(await bt.grad!.data(), gb64), runningMean: relErr(await rm.data(), rm64),
  };
  wt.dispose([xt, wt_, bt, y, rm, rv]);
  return out;
}

async function expectAccurate(errors: Promise<Record<string, number>>, what: string): Promise<void> {
  for (const [k, e] of Object.entries(await errors)) expect(e, `${what} ${k}`).toBeLessThanOrEqual(TOL);
}

forEachBackend(() => {
  describe('normalisation statistics where |mean| ≫ std', () => {
    it('layerNorm forward and backward on short and long rows', async () => {
      let seed = 1;
      for (const D of [17, 64, 512, 1000, 4097]) await expectAccurate(layerNormErrors(4, D, (seed += 4)), `layerNorm D ${D}`);
    });

    it('batchNorm forward, backward and running mean', async () => {
      let seed = 100;
      for (const [N, C, S] of [[64, 3, 1], [16, 4, 49], [128, 2, 196]]) await expectAccurate(batchNormErrors(N, C, S, (seed += 4)), `batchNorm ${N}x${C}x${S}`);
    });
  });
});

describe.runIf(BACKENDS.includes('webgpu'))('normalisation statistics on WebGPU without subgroup rows (webgpu)', () => {
  let be: wt.Backend | null = null;
  afterAll(() => be?.destroy());

  it('layerNorm in a workgroup per row, and batchNorm', async () => {
    be = await createWebGPUBackend(undefined, { subgroupOps: false });
    wt.setBackend(be);
    let seed = 200;
    for (const D of [300, 1000, 4097]) await expectAccurate(layerNormErrors(3, D, (seed += 4)), `layerNorm D ${D}`);
    await expectAccurate(batchNormErrors(16, 4, 49, 300), 'batchNorm 16x4x49');
  });
});
