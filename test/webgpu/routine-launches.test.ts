/**
 * WebGPU routine launches without a device: the template syntax, grid and split-K arithmetic,
 * the operand-layout choices of matmul, and that every pipeline key names exactly one WGSL
 * source with no template syntax left in it. Runs everywhere (no adapter needed).
 */
import { describe, expect, it } from 'vitest';
import type { View } from '../../src/backend/backend.js';
import type { GpuContext, GpuLaunch } from '../../src/backend/webgpu/launch.js';
import { gpuRoutines } from '../../src/backend/webgpu/routines/index.js';
import { render, grid2d } from '../../src/backend/webgpu/routines/template.js';
import { blockChannels, convPlan, splitK, type ConvDims } from '../../src/backend/webgpu/routines/conv.js';
import { matmulLaunches, matmulPlan, tileMode } from '../../src/backend/webgpu/routines/matmul.js';
import { IR } from '../../src/kernel/ir.js';
import { rowMajor } from './harness.js';

const ctx: GpuContext = { limits: { maxComputeWorkgroupsPerDimension: 65535 } as GPUSupportedLimits, features: new Set(), snapshot: (b) => b };
/** Contexts a plan may meet: emulated or not, 64 or 128 tiles tuned in, f32 or half tiles. */
const CONTEXTS: GpuContext[] = [false, true].flatMap((software) => [64, 128].flatMap((gemmTile) =>
  [undefined, 'f16' as const].flatMap((gemmHalf) => [64, 128].map((gemmTileHalf) => ({ ...ctx, software, gemmTile, gemmHalf, gemmTileHalf }) as GpuContext))));
/** The tile size the active precision's tuning allows (bigTiles). */
const tileOf = (c: GpuContext) => (c.gemmHalf ? c.gemmTileHalf ?? c.gemmTile : c.gemmTile);
const SIZES = [1, 3, 10, 32, 64, 100, 128, 512, 784, 1024, 4096];
const isPow2 = (n: number) => Number.isInteger(Math.log2(n));
const v = (shape: number[], opts: { strides?: number[]; offset?: number; int?: boolean } = {}): View =>
  ({ buf: { numel: 1 << 20 }, dtype: opts.int ? 'int32' : 'float32', shape, strides: opts.strides ?? rowMajor(shape), offset: opts.offset ?? 0 });

describe('template', () => {
  it('substitutes placeholders and keeps the chosen #if branches, nested', () => {
    const src = 'a {{X}}\n#if F\nf\n#if !G\nnot g\n#else\ng\n#endif\n#elif H\nh\n#else\nnone\n#endif\nend';
    expect(render(src, { X: 1 }, ['F'])).toBe('a 1\nf\nnot g\nend');
    expect(render(src, { X: 'y' }, ['F', 'G'])).toBe('a y\nf\ng\nend');
    expect(render(src, { X: 2 }, ['H'])).toBe('a 2\nh\nend');
    expect(render(src, { X: 3 })).toBe('a 3\nnone\nend');
  });
  it('writes out #unroll blocks, the identifier replaced by each index', () => {
    expect(render('a\n#unroll c N\nx[c] += y[c * 2u];\nz(c);\n#endunroll\nb', { N: 2 })).toBe('a\nx[0u] += y[0u * 2u];\nz(0u);\nx[1u] += y[1u * 2u];\nz(1u);\nb');
    expect(render('#if F\n#unroll i 3\nf(i, ci);\n#endunroll\n#endif', {}, ['F'])).toBe('f(0u, ci);\nf(1u, ci);\nf(2u, ci);');
    expect(() => render('#unroll c N\nx', {})).toThrow(/#unroll count N/);
    expect(() => render('#unroll c 2\nx')).toThrow(/unterminated #unroll/);
    expect(() => render('#endunroll')).toThrow(/without #unroll/);
  });
  it('refuses a missing value, a stray directive, an unterminated #if', () => {
    expect(() => render('{{NOPE}}')).toThrow(/no value for \{\{NOPE\}\}/);
    expect(() => render('#endif')).toThrow(/without #if/);
    expect(() => render('#if A\nx')).toThrow(/unterminated/);
  });
  it('grid2d stays within the limit and covers n', () => {
    expect(grid2d(5)).toEqual([5, 1, 1]);
    const [x, y] = grid2d(200_000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(200_000);
    expect(() => grid2d(17, 4)).toThrow(/do not fit/);
  });
});

describe('matmul operand layouts', () => {
  it('picks vec4 loads along the unit-stride axis only when everything is a multiple of 4', () => {
    // [R, K] operand with (sR, sK, sZ, offset)
    expect(tileMode(64, 32, 32, 1, 2048, 0)).toBe('vec4k'); // row-major A
    expect(tileMode(64, 32, 1, 64, 2048, 0)).toBe('vec4r'); // transposed A
    expect(tileMode(64, 30, 30, 1, 1920, 0)).toBe('kfast'); // K not a multiple of 4
    expect(tileMode(64, 32, 32, 1, 2048, 1)).toBe('kfast'); // odd offset
    expect(tileMode(63, 32, 1, 63, 0, 0)).toBe('rfast');
    expect(tileMode(8, 8, 16, 2, 0, 0)).toBe('kfast'); // no unit stride: walk the smaller one
  });
});

// The plans are heuristics, tuned by measurement (bench/RESULTS.md): these tests hold what any
// retuning must keep (every plan is also checked against the CPU in routines.test.ts).
describe('matmul plan', () => {
  it('every plan is well-formed for its context: emulated adapters the direct core, 128 tiles only where tuned in', () => {
    for (const c of CONTEXTS) for (const M of SIZES) for (const N of SIZES) for (const K of [1, 16, 784, 4096, 65536]) {
      const p = matmulPlan(1, M, N, K, c), what = `${M}x${N}x${K} ${JSON.stringify({ ...c, limits: undefined })}`;
      if (c.software) expect(p, what).toMatchObject({ kernel: 'direct', ks: 1 });
      if (p.kernel === 'tiled') {
        if (p.tile) expect([p.tile, tileOf(c)], what).toEqual([128, 128]);
      } else {
        expect(isPow2(p.ks) && p.ks <= 16 && isPow2(p.wg) && p.wg >= 16 && p.wg <= 256, what).toBe(true);
        // K split only while each slice keeps a real share of the terms
        if (p.ks > 1) expect(K / p.ks, what).toBeGreaterThanOrEqual(32);
      }
    }
  });
  it('on GPUs a big product takes the tiles, a tiny one the direct core, and few outputs over a long K split K', () => {
    for (const c of CONTEXTS.filter((x) => !x.software)) {
      expect(matmulPlan(1, 4096, 4096, 4096, c).kernel).toBe('tiled');
      expect(matmulPlan(1, 4, 4, 16, c).kernel).toBe('direct');
      const p = matmulPlan(1, 4, 4, 65536, c);
      expect(p.kernel === 'direct' && p.ks).toBeGreaterThan(1);
    }
  });
});

describe('split-K', () => {
  it('splits only few-tile, long-K GEMMs, in 16-aligned chunks that cover K', () => {
    expect(splitK(200, 100_000, 1000)).toEqual([1, 100_000]);
    expect(splitK(4, 800, 1000)).toEqual([1, 800]);
    const [s, chunk] = splitK(9, 32_768, 1000);
    expect(s).toBeGreaterThan(1);
    expect(chunk % 16).toBe(0);
    expect((s - 1) * chunk).toBeLessThan(32_768);
    expect(s * chunk).toBeGreaterThanOrEqual(32_768);
    expect(splitK(1, 1_000_000, 3)[0]).toBe(3);
  });
  it('conv2dBackwardWeight zeroes gw then accumulates when it splits', () => {
    const geo = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 } as const;
    const ls = gpuRoutines.conv2dBackwardWeight(geo, [v([8, 16, 32, 32]), v([8, 16, 32, 32])], [v([16, 16, 3, 3])], ctx);
    expect(ls.map((l) => l.key)).toEqual(['fill', 'conv2d|BACKWARD_WEIGHT|SPLIT_K']);
    expect(ls[1].code()).toContain('atomicCompareExchangeWeak');
  });
});

describe('conv kernel choice', () => {
  const dims = (N: number, C: number, O: number, H: number, K = 3): ConvDims =>
    ({ N, C, H, W: H, O, Ho: H, Wo: H, KH: K, KW: K, G: 1, Cg: C, Og: O });
  const CASES = [dims(32, 1, 8, 28), dims(32, 3, 64, 28), dims(32, 64, 128, 28), dims(8, 256, 256, 32), dims(32, 64, 256, 28), dims(8, 8, 32, 14), dims(1, 5, 7, 9, 1)];
  it('every plan is well-formed for its context: emulated adapters the direct kernels, split-K only for the weight gradient, 128 tiles only where tuned in', () => {
    for (const c of CONTEXTS) for (const d of CASES) for (const kind of ['FORWARD', 'BACKWARD_INPUT', 'BACKWARD_WEIGHT'] as const) {
      const p = convPlan(kind, d, c), what = `${kind} ${JSON.stringify(d)} software ${c.software}`;
      if (c.software) expect(p.kernel, what).toBe('direct');
      if (p.kernel === 'gemm') {
        if (p.splitK) expect(kind, what).toBe('BACKWARD_WEIGHT');
        if (p.tile) expect([p.tile, tileOf(c)], what).toEqual([128, 128]);
      } else {
        expect(isPow2(p.wg) && p.wg >= 16 && p.wg <= 256, what).toBe(true);
      }
    }
  });
  it('channels per thread: 4 or 8, and 4 below 8 channels', () => {
    for (let n = 1; n <= 80; n++) {
      const b = blockChannels(n);
      expect([4, 8]).toContain(b);
      if (n < 8) expect(b).toBe(4);
    }
  });
});

describe('pipeline keys', () => {
  it('each key names one source, fully rendered', () => {
    const launches: GpuLaunch[] = [];
    const add = (ls: GpuLaunch[]): void => { launches.push(...ls); };
    const a = v([2, 8, 8]), at = v([2, 8, 8], { strides: [64, 1, 8] }), odd = v([2, 8, 8], { offset: 1 });
    for (const [x, y] of [[a, a], [at, at], [odd, a], [a, odd]]) {
      add(gpuRoutines.matmul({ bias: false }, [x, y], [v([2, 8, 8])], ctx));
      add(gpuRoutines.matmul({ bias: true }, [x, y, v([8])], [v([2, 8, 8])], ctx));
    }
    const geo = { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1 } as const;
    const x = v([2, 3, 8, 8]), w = v([4, 3, 3, 3]), y = v([2, 4, 4, 4]);
    add(gpuRoutines.conv2d({ ...geo, bias: true }, [x, w, v([4])], [y], ctx));
    add(gpuRoutines.conv2d({ ...geo, bias: false }, [x, w], [y], ctx));
    add(gpuRoutines.conv2dBackwardInput(geo, [y, w], [x], ctx));
    add(gpuRoutines.conv2dBackwardWeight(geo, [x, y], [w], ctx));
    // every conv kernel variant: GEMM (wide layers on a GPU) and the direct kernels on an
    // emulated adapter, dense (stride 1) and strided, 4 and 8 channels per thread
    const soft: GpuContext = { ...ctx, software: true };
    for (const [c, o, s] of [[3, 4, 2], [64, 64, 1], [16, 32, 1], [16, 32, 2]]) {
      const g2 = { ...geo, stride: [s, s] as [number, number] };
      const xi = v([2, c, 8, 8]), wi = v([o, c, 3, 3]), yi = v([2, o, 8 / s, 8 / s]);
      for (const cx of [ctx, soft]) {
        add(gpuRoutines.conv2d({ ...g2, bias: true }, [xi, wi, v([o])], [yi], cx));
        add(gpuRoutines.conv2d({ ...g2, bias: false }, [xi, wi], [yi], cx));
        add(gpuRoutines.conv2dBackwardInput(g2, [yi, wi], [xi], cx));
        add(gpuRoutines.conv2dBackwardWeight(g2, [xi, yi], [wi], cx));
      }
    }
    // the matmul's direct core: every operand load, with and without the K tail and split-K
    const mmSoft: GpuContext = { ...ctx, software: true };
    for (const [x, y] of [[a, a], [at, at], [odd, odd], [v([2, 8, 7]), v([2, 7, 8])]]) {
      add(matmulLaunches({ bias: true }, [x, y, v([8])], [v([2, 8, 8])], mmSoft));
      add(matmulLaunches({ bias: false }, [x, y], [v([2, 8, 8])], ctx, { kernel: 'direct', ks: 4, wg: 64 }));
    }
    // epilogues (one output, several, with inputs) and row sums, on both cores
    const x0 = IR.load(0, 'float32'), e1 = IR.load(1, 'float32');
    for (const cx of [ctx, mmSoft]) {
      add(matmulLaunches({ bias: true, epilogue: { exprs: [IR.unary('erf', x0)] } }, [a, a, v([8])], [v([2, 8, 8])], cx));
      add(matmulLaunches({ bias: false, epilogue: { exprs: [IR.binary('add', x0, e1), x0] } }, [a, a, v([2, 8, 8])], [v([2, 8, 8]), v([2, 8, 8])], cx));
      add(matmulLaunches({ bias: false, rowSums: true }, [at, a], [v([2, 8, 8]), v([2, 8])], cx));
      add(matmulLaunches({ bias: true, rowSums: true, epilogue: { exprs: [IR.binary('mul', x0, e1)] } }, [a, a, v([8]), v([2, 8, 8])], [v([2, 8, 8]), v([2, 8])], cx));
    }
    add(matmulLaunches({ bias: false, rowSums: true }, [at, a], [v([2, 8, 8]), v([2, 8])], ctx, { kernel: 'tiled', tile: 128 }));
    add(matmulLaunches({ bias: false, rowSums: true }, [at, a], [v([2, 8, 8]), v([2, 8])], ctx, { kernel: 'direct', ks: 4, wg: 64 }));
    const win = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] } as const;
    const p = v([2, 3, 4, 4]), am = v([2, 3, 4, 4], { int: true });
    add(gpuRoutines.maxPool2d(win, [x], [p, am], ctx));
    add(gpuRoutines.maxPool2dBackward(win, [p, am], [x], ctx));
    add(gpuRoutines.maxPool2dBackward(win, [p, am], [x], mmSoft)); // the cell kernel, 64 threads
    add(gpuRoutines.maxPool2dBackward({ ...win, stride: [1, 2] }, [v([2, 3, 7, 4]), v([2, 3, 7, 4], { int: true })], [x], ctx));
    add(gpuRoutines.maxPool2dBackward({ ...win, stride: [3, 3] }, [v([2, 3, 3, 3]), v([2, 3, 3, 3], { int: true })], [x], ctx)); // per pixel
    add(gpuRoutines.avgPool2d({ ...win, countIncludePad: true }, [x], [p], ctx));
    add(gpuRoutines.avgPool2dBackward({ ...win, countIncludePad: false }, [p], [x], ctx));
    for (const D of [3, 100, 1000]) {
      const r = v([5, D]), t = v([5], { int: true }), l = v([5]), m = v([5, 2]);
      for (const log of [false, true]) {
        add(gpuRoutines.softmax({ log }, [r], [r], ctx));
        add(gpuRoutines.softmaxBackward({ log }, [r, r], [r], ctx));
      }
      add(gpuRoutines.crossEntropy({ ignoreIndex: -100 }, [r, t], [l], ctx));
      add(gpuRoutines.crossEntropyBackward({ ignoreIndex: -100 }, [r, t, l], [r], ctx));
      add(gpuRoutines.layerNorm({ eps: 1e-5, affine: true }, [r, v([D]), v([D])], [r, m, l], ctx));
      add(gpuRoutines.layerNorm({ eps: 1e-5, affine: false }, [r], [r, m, l], ctx));
      add(gpuRoutines.layerNormBackward({ affine: true }, [r, r, m, l, v([D])], [r, v([D]), v([D])], ctx));
      add(gpuRoutines.layerNormBackward({ affine: false }, [r, r, m, l], [r], ctx));
    }
    for (const [N, C, S] of [[4, 3, 1], [2, 5, 49], [128, 16, 784]]) {
      const xb = v([N, C, S]), c = v([C]), m = v([C, 2]);
      for (const affine of [false, true]) {
        add(gpuRoutines.batchNorm({ eps: 1e-5, affine }, affine ? [xb, c, c] : [xb], [xb, m, c], ctx));
        add(gpuRoutines.batchNormBackward({ affine }, affine ? [xb, xb, m, c, c] : [xb, xb, m, c], [xb, c, c], ctx));
      }
    }
    for (const [E, Ev] of [[3, 5], [16, 16], [40, 24], [128, 128]]) {
      const [B, H, L, S] = [2, 3, 7, 9];
      const q = v([B, H, L, E]), k = v([B, H, S, E]), vv = v([B, H, S, Ev]), lse = v([B, H, L]);
      for (const causal of [false, true]) {
        add(gpuRoutines.attention({ scale: 0.5, causal }, [q, k, vv], [v([B, H, L, Ev]), lse], ctx));
        add(gpuRoutines.attentionBackward({ scale: 0.5, causal }, [q, k, vv, v([B, H, L, Ev]), lse, lse], [q, k, vv], ctx));
        // short-sequence kernels: separate gradient parts (L ≠ S), and packed ones (L = S, E = Ev)
        const o = v([B, L, H, Ev]), w = v([B, H, L, S]);
        add(gpuRoutines.attentionShort({ scale: 0.5, causal }, [q, k, vv], [o, w], ctx));
        add(gpuRoutines.attentionShortBackward({ scale: 0.5, causal, packed: false }, [q, k, vv, o, v([B, H, L, Ev]), w], [v([B * H * (L * E + S * E + S * Ev)]), w], ctx));
        if (E === Ev) {
          const qs = v([B, H, S, E]), ws = v([B, H, S, S]), os = v([B, S, H, E]);
          add(gpuRoutines.attentionShortBackward({ scale: 0.5, causal, packed: true }, [qs, k, k, os, qs, ws], [v([B, S, 3, H, E]), ws], ctx));
        }
      }
    }
    const i2 = v([3, 4], { int: true }), i1 = v([4], { int: true });
    add(gpuRoutines.gather({ dim: 1 }, [v([3, 5]), i2], [v([3, 4])], ctx));
    add(gpuRoutines.indexSelect({ dim: 0 }, [v([6, 4]), i1], [v([4, 4])], ctx));
    add(gpuRoutines.scatterAdd({ dim: 0 }, [i2, v([3, 4])], [v([5, 4])], ctx));
    add(gpuRoutines.indexAdd({ dim: 1 }, [i1, v([2, 4])], [v([2, 7])], ctx));
    for (const D of [5, 33, 600, 3000]) {
      const r = v([3, D]), ri = v([3, D], { int: true });
      for (const reverse of [false, true]) {
        for (const op of ['sum', 'prod'] as const) {
          add(gpuRoutines.scan({ op, reverse }, [r], [r], ctx));
          add(gpuRoutines.scan({ op, reverse }, [ri], [ri], ctx));
        }
        add(gpuRoutines.scan({ op: 'affine', reverse }, [r, r], [r], ctx));
      }
      add(gpuRoutines.sort({ descending: D % 2 === 1 }, [r], [r, ri], ctx));
      add(gpuRoutines.sort({ descending: false }, [ri], [ri, ri], ctx));
    }
    add(gpuRoutines.sampleCategorical({}, [v([3, 40]), v([3, 40]), v([3, 5])], [v([3, 5], { int: true })], ctx));

    const byKey = new Map<string, string>();
    for (const l of launches) {
      const code = l.code();
      expect(code, l.key).not.toMatch(/\{\{|^\s*#(if|else|elif|endif|unroll|endunroll)/m);
      const seen = byKey.get(l.key);
      if (seen !== undefined) expect(code === seen, `key ${l.key} names two sources`).toBe(true);
      byKey.set(l.key, code);
      // every declared binding is bound: uniforms + inputs + outputs
      const bindings = new Set([...code.matchAll(/@binding\((\d+)\)/g)].map((m) => Number(m[1])));
      expect(bindings.size, l.key).toBe(1 + l.inputs.length + l.outputs.length);
      expect(Math.max(...l.workgroups), l.key).toBeLessThanOrEqual(65535);
    }
    expect(byKey.size).toBeGreaterThan(40);
  });
});
