/**
 * Medium matmul precision on WebGPU (wt.setFloat32MatmulPrecision; shaders/gemm.wgsl HALF): which
 * GEMM tiles a backend picks, that a device without shader-f16 stays in float32, why loss scaling
 * is needed with f16 tiles (and that it works), and GradScaler on this backend. The f16-tile
 * kernels themselves are checked against float64 in routines.test.ts (emulated: SwiftShader has
 * no shader-f16).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../../src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { matmulLaunches } from '../../src/backend/webgpu/routines/matmul.js';
import { probeGemmHalf } from '../../src/backend/webgpu/probe.js';
import type { GpuContext } from '../../src/backend/webgpu/launch.js';
import { createHarness, type Harness } from './harness.js';

let be: WebGPUBackend;
const h = (await createHarness()) as Harness;

beforeAll(async () => {
  be = (await wt.init({ backend: 'webgpu' })) as WebGPUBackend;
});

afterAll(() => {
  wt.setFloat32MatmulPrecision('highest');
  be?.destroy();
});

const ctxOf = (b: WebGPUBackend): GpuContext => (b as unknown as { ctx: GpuContext }).ctx;

describe('medium matmul precision on WebGPU', () => {
  it('f16 tiles with shader-f16, emulated ones only when asked, float32 otherwise; each after its check', async () => {
    const f16 = be.info().features.includes('shader-f16');
    wt.setFloat32MatmulPrecision('medium');
    expect(ctxOf(be).gemmHalf).toBeUndefined(); // until the check on this device has passed
    expect(await be.halfReady()).toBe(f16);
    expect(ctxOf(be).gemmHalf).toBe(f16 ? 'f16' : undefined);
    wt.setFloat32MatmulPrecision('high');
    expect(ctxOf(be).gemmHalf).toBeUndefined();
    // a backend made later gets the precision in force when it becomes current
    const emu = await createWebGPUBackend(undefined, { emulateF16: true });
    try {
      wt.setFloat32MatmulPrecision('medium');
      wt.setBackend(emu);
      expect(await emu.halfReady()).toBe(true);
      expect(ctxOf(emu).gemmHalf).toBe(f16 ? 'f16' : 'emulate');
      wt.setFloat32MatmulPrecision('highest');
      expect(ctxOf(emu).gemmHalf).toBeUndefined();
      // the check runs once; later switches take effect at once
      wt.setFloat32MatmulPrecision('medium');
      expect(ctxOf(emu).gemmHalf).toBe(f16 ? 'f16' : 'emulate');
    } finally {
      wt.setBackend(be);
      wt.setFloat32MatmulPrecision('highest');
      emu.destroy();
    }
    expect(ctxOf(be).gemmHalf).toBeUndefined();
  });

  it('the check passes the emulated tiles and catches a shader that does not compile or computes wrongly', async () => {
    const dev = be.device;
    expect(await probeGemmHalf(dev, h.ctx, 'emulate')).toBeNull();
    expect(await probeGemmHalf(dev, h.ctx, 'emulate', (c) => c.replace('fn toH(', 'fn toH(oops'))).toMatch(/the shader does not compile/);
    expect(await probeGemmHalf(dev, h.ctx, 'emulate', (c) => c.replace('acc[1] += vec4<f32>(p1);', 'acc[1] += vec4<f32>(p1) * 1.001;'))).toMatch(/wrong result: element \d+ is/);
    // and the backend is none the worse for it
    const x = wt.tensor([[1, 2], [3, 4]]);
    expect(Array.from(await x.matmul(x).data())).toEqual([7, 10, 15, 22]);
  });

  it('without shader-f16, medium gives the float32 results', async () => {
    if (be.info().features.includes('shader-f16')) return; // there it is the f16 path, tested below
    const a = wt.randn([37, 70], { seed: 3 }), b = wt.randn([70, 29], { seed: 4 });
    const full = await a.matmul(b).data();
    wt.setFloat32MatmulPrecision('medium');
    try {
      expect(await a.matmul(b).data()).toEqual(full);
    } finally {
      wt.setFloat32MatmulPrecision('highest');
    }
  });

  it('f16 tiles lose gradient-sized products; scaled by 2^16 they survive', async () => {
    // backward-pass sizes: g ~ 1e-6 (a mean loss's activation gradient), x ~ 1: in f16, 1e-6 is
    // a subnormal with a few bits left (and 1e-8 is 0); times 2^16 it is a normal f16 again
    const M = 8, N = 8, K = 32, scale = 2 ** 16;
    const g = Float32Array.from({ length: M * K }, (_, i) => 1e-6 * Math.sin(i + 1));
    const x = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i));
    const ref = new Float64Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) ref[m * N + n] += g[m * K + k] * x[k * N + n];
    const run = async (a: Float32Array): Promise<Float32Array> => {
      const out = h.zeros(M * N);
      const ctx: GpuContext = { ...h.ctx, gemmHalf: 'emulate' };
      const cfg = { bias: false };
      h.run('matmul', cfg, [h.view(h.upload(a), [1, M, K]), h.view(h.upload(x), [1, K, N])], [h.view(out, [1, M, N])], (ins, outs) => matmulLaunches(cfg, ins, outs, ctx, { kernel: 'tiled' }));
      return h.read(out);
    };
    const relErr = (got: Float32Array, k = 1): number => Math.max(...ref.map((r, i) => Math.abs(got[i] / k - r))) / Math.max(...ref.map(Math.abs));
    const plain = await run(g);
    const scaled = await run(g.map((v) => v * scale));
    expect(relErr(plain)).toBeGreaterThan(1e-2);
    expect(relErr(scaled, scale)).toBeLessThan(2e-3);
  });

  it('GradScaler trains bit-identically to unscaled float32 steps on this backend', async () => {
    const make = () => {
      wt.manualSeed(21);
      const model = new wt.nn.Sequential(new wt.nn.Linear(6, 16), new wt.nn.ReLU(), new wt.nn.Linear(16, 4));
      return { model, opt: new wt.optim.Adam(model.parameters(), { lr: 0.01 }) };
    };
    const a = make(), b = make();
    const x = wt.randn([12, 6], { seed: 22 }), y = wt.randint(0, 4, [12], { seed: 23 });
    const scaler = new wt.amp.GradScaler();
    for (let i = 0; i < 3; i++) {
      wt.tidy(() => {
        a.opt.zeroGrad();
        wt.F.crossEntropy(a.model.forward(x), y).backward();
        a.opt.step();
      });
      b.opt.zeroGrad();
      wt.tidy(() => scaler.scale(wt.F.crossEntropy(b.model.forward(x), y)).backward());
      expect(await scaler.step(b.opt)).toBe(true);
      scaler.update();
    }
    const pa = await Promise.all(a.model.parameters().map((p) => p.data()));
    const pb = await Promise.all(b.model.parameters().map((p) => p.data()));
    expect(pb).toEqual(pa);
  });

  it('GradScaler.scale inside a compiled step: the scale lives in a tensor, so replays follow its changes', async () => {
    const x = wt.randn([12, 6], { seed: 31 }), y = wt.randint(0, 4, [12], { seed: 32 });
    const run = async (compiled: boolean) => {
      wt.manualSeed(33);
      const model = new wt.nn.Sequential(new wt.nn.Linear(6, 16), new wt.nn.ReLU(), new wt.nn.Linear(16, 4));
      const opt = new wt.optim.SGD(model.parameters(), { lr: 0.1 });
      // 2^127 times a loss of about 1e6 overflows: steps are skipped until the scale has backed off
      const scaler = new wt.amp.GradScaler({ initScale: 2 ** 127, backoffFactor: 2 ** -16, growthInterval: 2 });
      const body = (a: wt.Tensor, b: wt.Tensor) => {
        opt.zeroGrad();
        const l = wt.F.crossEntropy(model.forward(a), b);
        scaler.scale(l.mul(1e6)).backward();
        return l;
      };
      const step = compiled ? wt.compile(body) : (a: wt.Tensor, b: wt.Tensor) => wt.tidy(() => body(a, b));
      const stepped: boolean[] = [], scales: number[] = [];
      for (let i = 0; i < 10; i++) {
        step(x, y).dispose();
        stepped.push(await scaler.step(opt));
        scaler.update();
        scales.push(scaler.getScale());
      }
      const p = await Promise.all(model.parameters().map((t) => t.data()));
      const replayed = compiled ? (step as wt.Compiled<[wt.Tensor, wt.Tensor], wt.Tensor>).stats.replayed : 0;
      if (compiled) (step as wt.Compiled<[wt.Tensor, wt.Tensor], wt.Tensor>).dispose();
      scaler.dispose();
      opt.dispose();
      model.dispose();
      return { stepped, scales, p, replayed };
    };
    const eager = await run(false), compiled = await run(true);
    expect(eager.stepped).toContain(false);
    expect(eager.stepped).toContain(true);
    expect(new Set(eager.scales).size).toBeGreaterThan(2);
    expect(compiled.replayed).toBeGreaterThan(0);
    expect(compiled.stepped).toEqual(eager.stepped);
    expect(compiled.scales).toEqual(eager.scales);
    expect(compiled.p).toEqual(eager.p);
    wt.dispose([x, y]);
  });
});
