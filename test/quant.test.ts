/**
 * Weight-only quantization (issue 25): the qmatmul routine against a scalar
 * dequantize-then-matmul float64 reference, the quantizer's round-trip bounds, QuantizedLinear /
 * wt.quantize on models, gradients to the input, LoRA on a quantized base.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { dequantizeArrays, quantizeArrays } from '../src/ops/quant.js';
import { setWasmQmatmul } from '../src/backend/cpu/routines/qmatmul.js';
import { BACKENDS, forEachBackend, gradcheck, useBackend } from './backends.js';
import { createHarness, type Harness } from './webgpu/harness.js';
import { randomValues } from './helpers.js';

type Case = { bits: 4 | 8; groupSize: number; mins: boolean };
const CASES: Case[] = [
  { bits: 8, groupSize: 32, mins: false },
  { bits: 8, groupSize: 64, mins: true },
  { bits: 4, groupSize: 32, mins: false },
  { bits: 4, groupSize: 128, mins: true },
];
/**
 * Internal group sizes below the public minimum of 32 (the GGUF Q6_K repack keeps 8-bit codes
 * with a scale per 16): built from the host arrays, since wt.quantizeData refuses them.
 */
const KERNEL_CASES: Case[] = [...CASES, { bits: 8, groupSize: 16, mins: false }, { bits: 8, groupSize: 16, mins: true }, { bits: 4, groupSize: 16, mins: true }];

/** The weight as tensors on the current backend (any group size the kernels take). */
function quantized(w: ArrayLike<number>, N: number, K: number, c: Case): wt.QuantizedWeight {
  if (c.groupSize % 32 === 0) return wt.quantizeData(w, [N, K], c);
  const a = quantizeArrays(w, N, K, c);
  return {
    q: wt.tensor(a.q, { shape: [N, a.words], dtype: 'int32' }),
    scales: wt.tensor(a.scales, { shape: [N, a.groups] }),
    mins: a.mins ? wt.tensor(a.mins, { shape: [N, a.groups] }) : null,
    bits: c.bits, groupSize: c.groupSize, shape: [N, K],
  };
}

/** x[M,K] @ Wᵀ in float64 from the dequantized reference. */
function refMatmul(x: ArrayLike<number>, w: Float64Array, M: number, N: number, K: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) {
    let a = 0;
    for (let k = 0; k < K; k++) a += Math.fround(x[i * K + k]) * w[n * K + k];
    y[i * N + n] = a;
  }
  return y;
}

/** max |got - want| relative to Σ|x||w| per entry (float32 summation bound). */
function worstRel(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / (scale[i] + 1e-30));
  return m;
}

describe('quantize on the host', () => {
  for (const c of CASES) {
    it(`round trip within s/2 per value (${c.bits}-bit, group ${c.groupSize}${c.mins ? ', mins' : ''}), K not a multiple of the pack width`, () => {
      const N = 5, K = 2 * c.groupSize + 3; // the last group padded
      const w = randomValues(N * K, 11);
      const a = quantizeArrays(w, N, K, c);
      const d = dequantizeArrays(a, N, K, c);
      let worst = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
        const s = a.scales[n * a.groups + Math.floor(k / c.groupSize)];
        const err = Math.abs(Math.fround(w[n * K + k]) - d[n * K + k]);
        worst = Math.max(worst, err / s);
      }
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-5);
    });
  }
});

forEachBackend((kind) => {
  describe('qmatmul kernel vs the dequantize-then-matmul reference', () => {
    for (const c of KERNEL_CASES) {
      // (the last shape of the first case: several panels of the CPU's blocked path, both ways;
      // from 32 rows WebGPU's tiled kernel, M, N, K not multiples of its 64×64×16 tiles)
      const shapes: (readonly [number, number, number])[] = [[1, 5, c.groupSize], [1, 67, 3 * c.groupSize + 9], [3, 33, 2 * c.groupSize], [17, 130, 3 * c.groupSize], [3, 33, c.groupSize + 5], [5, 33, c.groupSize + 5], [37, 71, 2 * c.groupSize + 13], [70, 130, 5 * c.groupSize + 4]];
      if (c === CASES[0]) shapes.push([5, 700, 520], [40, 700, 520]);
      // Q6_K's repack (8-bit, groups of 16): K not a multiple of 16, one row, the CPU's blocked path
      if (c.groupSize === 16 && c.bits === 8 && !c.mins) shapes.push([1, 7, 41], [3, 5, 48], [6, 9, 33], [5, 130, 80]);
      for (const [M, N, K] of shapes) {
        it(`${c.bits}-bit group ${c.groupSize}${c.mins ? ' mins' : ''}: [${M}, ${K}] @ [${N}, ${K}]ᵀ and its transpose`, async () => {
          const w = randomValues(N * K, M * 7 + N), xv = randomValues(M * K, K + 3), gv = randomValues(M * N, N + 5);
          const a = quantizeArrays(w, N, K, c);
          const d = dequantizeArrays(a, N, K, c);
          const qw = quantized(w, N, K, c);
          const x = wt.tensor(Float32Array.from(xv), { shape: [M, K] });
          const y = await wt.qlinear(x, qw).data();
          const want = refMatmul(xv, d, M, N, K);
          const absx = Array.from(xv, Math.abs), absd = d.map(Math.abs);
          const scale = refMatmul(absx, absd, M, N, K);
          expect(worstRel(y, want, scale), `${kind} forward`).toBeLessThan(K * 1.2e-7);
          // the transpose: g[M,N] @ W → [M,K]
          const g = wt.tensor(Float32Array.from(gv), { shape: [M, N] });
          const gx = await wt.tidy(() => {
            const xr = x.clone().requiresGrad_();
            wt.qlinear(xr, qw).mul(g).sum().backward();
            return wt.keep(xr.grad!);
          }).data();
          const wantT = new Float64Array(M * K), scaleT = new Float64Array(M * K);
          for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
            wantT[i * K + k] += Math.fround(gv[i * N + n]) * d[n * K + k];
            scaleT[i * K + k] += Math.abs(gv[i * N + n] * d[n * K + k]);
          }
          expect(worstRel(gx, wantT, scaleT), `${kind} transpose`).toBeLessThan(N * 1.2e-7);
          // dequantize: exact for symmetric codes (s·(u - z) is one rounding) and on the CPU
          // (float64); with mins on WebGPU s·u + m rounds twice in float32 (or once, fused)
          const dw = await wt.dequantize(qw).data();
          const exact = !c.mins || kind === 'cpu';
          let worst = 0;
          for (let i = 0; i < dw.length; i++) {
            const n = Math.floor(i / K), gi = n * a.groups + Math.floor((i % K) / c.groupSize);
            const bound = exact ? 0 : 2 ** -23 * (Math.abs(d[i] - a.mins![gi]) + Math.abs(d[i]) + Math.abs(a.mins![gi]));
            worst = Math.max(worst, Math.abs(dw[i] - d[i]) - bound - (exact ? Math.abs(Math.fround(d[i]) - d[i]) : 0));
          }
          expect(worst, `${kind} dequantize`).toBeLessThanOrEqual(0);
          wt.dispose([x, g, qw.q, qw.scales, ...(qw.mins ? [qw.mins] : [])]);
        });
      }
    }
  });
});

/**
 * The tiled WebGPU kernel (prefill on GPUs) where the adapter would not pick it: software
 * adapters (SwiftShader here) always take the direct kernel, so the routine is launched with a
 * hardware context (software: false) through the harness, on views with offsets.
 */
// (declared where the run covers WebGPU, as forEachBackend's suites: WT_TEST_BACKENDS)
if (BACKENDS.includes('webgpu')) describe('webgpu: the tiled qmatmul (what a GPU runs from 32 rows) vs the reference', () => {
  let h: Harness | null = null;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h?.backend.destroy());
  for (const c of KERNEL_CASES) {
    it(`${c.bits}-bit group ${c.groupSize}${c.mins ? ' mins' : ''}: forward and transpose on odd sizes past the 64×64×16 tiles`, async () => {
      expect(h, 'a WebGPU adapter').not.toBeNull();
      const ctx = { ...h!.ctx, software: false };
      for (const [M, N, K] of [[37, 71, 2 * c.groupSize + 13], [66, 130, 3 * c.groupSize + 4], [32, 5, c.groupSize]] as const) {
        const w = randomValues(N * K, M * 3 + N), xv = randomValues(M * K, K + 1), gv = randomValues(M * N, N + 2);
        const a = quantizeArrays(w, N, K, c);
        const d = dequantizeArrays(a, N, K, c);
        const parts = [h!.view(h!.upload(a.q), [N, a.words], { dtype: 'int32' }), h!.view(h!.upload(a.scales), [N, a.groups]), ...(a.mins ? [h!.view(h!.upload(a.mins), [N, a.groups])] : [])];
        const run = async (transpose: boolean, v: number[], R: number, C: number): Promise<Float32Array> => {
          const xin = h!.view(h!.upload(Float32Array.from([9, 9, 9, ...v])), [M, R], { offset: 3 });
          const out = h!.zeros(M * C + 5, -1);
          h!.run('qmatmul', { bits: c.bits, groupSize: c.groupSize, mins: c.mins, transpose }, [xin, ...parts], [h!.view(out, [M, C], { offset: 5 })], ctx);
          const got = await h!.read(out);
          expect(Array.from(got.subarray(0, 5)), 'nothing written before the view').toEqual([-1, -1, -1, -1, -1]);
          return got.subarray(5);
        };
        const y = await run(false, xv, K, N);
        const absd = d.map(Math.abs);
        expect(worstRel(y, refMatmul(xv, d, M, N, K), refMatmul(Array.from(xv, Math.abs), absd, M, N, K)), `forward [${M}, ${K}] @ [${N}, ${K}]ᵀ`).toBeLessThan(K * 1.2e-7);
        const gx = await run(true, gv, N, K);
        const wantT = new Float64Array(M * K), scaleT = new Float64Array(M * K);
        for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
          wantT[i * K + k] += Math.fround(gv[i * N + n]) * d[n * K + k];
          scaleT[i * K + k] += Math.abs(gv[i * N + n] * d[n * K + k]);
        }
        expect(worstRel(gx, wantT, scaleT), `transpose [${M}, ${N}] @ [${N}, ${K}]`).toBeLessThan(N * 1.2e-7);
      }
    });
  }
});

describe('cpu: the JavaScript decode loops and panel dequantization the wasm SIMD ones replace (engines without it)', () => {
  beforeEach(async () => {
    await useBackend('cpu');
  });
  afterEach(() => setWasmQmatmul(true));
  for (const c of KERNEL_CASES) {
    it(`${c.bits}-bit group ${c.groupSize}${c.mins ? ' mins' : ''}: 1, 3 and 6 rows, wasm on and off, vs the reference`, async () => {
      for (const [M, N, K] of [[1, 67, 3 * c.groupSize + 9], [3, 33, 2 * c.groupSize + 5], [6, 37, 2 * c.groupSize + 7]] as const) {
        const w = randomValues(N * K, M + N), xv = randomValues(M * K, K);
        const d = dequantizeArrays(quantizeArrays(w, N, K, c), N, K, c);
        const want = refMatmul(xv, d, M, N, K), scale = refMatmul(Array.from(xv, Math.abs), d.map(Math.abs), M, N, K);
        const qw = quantized(w, N, K, c);
        const x = wt.tensor(Float32Array.from(xv), { shape: [M, K] });
        for (const on of [true, false]) {
          setWasmQmatmul(on);
          const yt = wt.qlinear(x, qw);
          const y = await yt.data();
          yt.dispose();
          expect(worstRel(y, want, scale), `wasm ${on ? 'on' : 'off'} [${M}, ${K}] @ [${N}, ${K}]ᵀ`).toBeLessThan(K * 1.2e-7);
        }
        wt.dispose([x, qw.q, qw.scales, ...(qw.mins ? [qw.mins] : [])]);
      }
    });
  }
});

const FIXTURES = new URL('./fixtures/lm/', import.meta.url).pathname;

/** max and mean |a - b|, and max |b|. */
function errors(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number; ref: number } {
  let max = 0, sum = 0, ref = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    max = Math.max(max, e);
    sum += e;
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return { max, mean: sum / b.length, ref };
}

const report: string[] = [];

forEachBackend((kind) => {
  describe('wt.quantize', () => {
    it('a small MLP: Linear layers replaced in place, exclude honoured, outputs near f32', async () => {
      const mlp = new wt.nn.Sequential(new wt.nn.Linear(96, 64), new wt.nn.ReLU(), new wt.nn.Linear(64, 33), new wt.nn.ReLU(), new wt.nn.Linear(33, 7));
      const x = wt.randn([5, 96], { seed: 3 });
      const ref = await wt.tidy(() => mlp.forward(x) as wt.Tensor).data();
      for (const bits of [8, 4] as const) {
        const m = new wt.nn.Sequential(new wt.nn.Linear(96, 64), new wt.nn.ReLU(), new wt.nn.Linear(64, 33), new wt.nn.ReLU(), new wt.nn.Linear(33, 7));
        m.loadStateDict(mlp.stateDict());
        await wt.quantize(m, { bits, groupSize: 32, exclude: ['4'] });
        const names = m.namedModules().map(([n, l]) => `${n}:${l.constructor.name}`);
        expect(names).toEqual([':Sequential', '0:QuantizedLinear', '1:ReLU', '2:QuantizedLinear', '3:ReLU', '4:Linear']);
        expect(m.parameters().some((p) => p.dtype === 'int32')).toBe(false);
        expect(Object.keys(m.stateDict())).toContain('0.qweight');
        const y = await wt.tidy(() => m.forward(x) as wt.Tensor).data();
        const e = errors(y, ref);
        report.push(`${kind} MLP ${bits}-bit g32: max ${e.max.toExponential(2)} mean ${e.mean.toExponential(2)} (|y| ≤ ${e.ref.toFixed(2)})`);
        expect(e.max / e.ref).toBeLessThan(bits === 8 ? 0.01 : 0.15);
        m.dispose?.();
      }
      x.dispose();
    });

    it('tiny-llama: logits vs f32 and vs the dequantized float model, greedy tokens', async () => {
      const { loadCausalLM } = await import('../src/lm/index.js');
      const ids = [[1, 17, 42, 99, 7, 250, 3, 11]];
      const greedyOf = async (m: Awaited<ReturnType<typeof loadCausalLM>>): Promise<number[]> => {
        const out: number[] = [];
        for await (const t of m.generate([1, 17, 42, 99], { maxNewTokens: 12, temperature: 0 })) out.push(t);
        return out;
      };
      const f = await loadCausalLM(`${FIXTURES}tiny-llama`);
      const ref = await wt.tidy(() => f.forward(ids)).data();
      const refTokens = await greedyOf(f);
      f.dispose();
      for (const [bits, groupSize, mins] of [[8, 32, false], [4, 32, true], [4, 64, false]] as const) {
        const opts = { bits, groupSize, mins };
        // the float model with every Linear weight replaced by its dequantized values: what the
        // quantized model computes, up to summation order
        const dq = await loadCausalLM(`${FIXTURES}tiny-llama`);
        for (const [, l] of dq.namedModules()) {
          if (!(l instanceof wt.nn.Linear)) continue;
          const qw = await wt.quantizeWeight(l.weight, opts);
          const d = wt.dequantize(qw);
          wt.noGrad(() => l.weight.copy_(d));
          wt.dispose([d, qw.q, qw.scales, ...(qw.mins ? [qw.mins] : [])]);
        }
        const dqy = await wt.tidy(() => dq.forward(ids)).data();
        const dqTokens = await greedyOf(dq);
        dq.dispose();
        const m = await loadCausalLM(`${FIXTURES}tiny-llama`);
        await wt.quantize(m, opts);
        const n = m.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedLinear).length;
        expect(n).toBe(2 * 7 + 1); // q k v o gate up down per layer, and lm_head
        const y = await wt.tidy(() => m.forward(ids)).data();
        const e = errors(y, ref), k = errors(y, dqy);
        const toks = await greedyOf(m);
        m.dispose();
        const agree = toks.filter((t, i) => t === refTokens[i]).length;
        report.push(`${kind} tiny-llama ${bits}-bit g${groupSize}${mins ? ' mins' : ''}: logits vs f32 max ${e.max.toExponential(2)} mean ${e.mean.toExponential(2)} (|logit| ≤ ${e.ref.toFixed(2)}); vs the dequantized float model max ${k.max.toExponential(2)}; greedy ${agree}/${refTokens.length} tokens agree with f32, ${toks.filter((t, i) => t === dqTokens[i]).length}/${dqTokens.length} with the dequantized model`);
        expect(k.max / k.ref).toBeLessThan(1e-5);
        expect(toks).toEqual(dqTokens);
        // (a random tiny model: 4-bit moves its logits a lot; the kernels add nothing, as above)
        if (bits === 8) expect(e.max / e.ref).toBeLessThan(0.05);
        else expect(e.mean / e.ref).toBeLessThan(0.12);
      }
    });
  });

  describe('GPT-2 Conv1D (weight [in, out]) is quantized transposed', () => {
    it('tiny-gpt2: every Conv1D becomes a QuantizedLinear; logits match the dequantized float model', async () => {
      const { loadCausalLM } = await import('../src/lm/index.js');
      const ids = [[1, 5, 9, 3, 7]];
      const opts = { bits: 8, groupSize: 32 } as const;
      const f = await loadCausalLM(`${FIXTURES}tiny-gpt2`);
      const ref = await wt.tidy(() => f.forward(ids)).data();
      let convs = 0;
      for (const [, l] of f.namedModules()) {
        const c = l as unknown as { weight?: wt.Tensor; nx?: number; nf?: number };
        if (typeof c.nx !== 'number' || !c.weight) continue;
        convs++;
        const qw = await wt.quantizeWeight(c.weight.T, opts);
        const d = wt.dequantize(qw);
        wt.noGrad(() => c.weight!.copy_(d.T));
        wt.dispose([d, qw.q, qw.scales]);
      }
      const dqy = await wt.tidy(() => f.forward(ids)).data();
      f.dispose();
      const m = await loadCausalLM(`${FIXTURES}tiny-gpt2`);
      await wt.quantize(m, opts);
      expect(m.namedModules().filter(([, l]) => l instanceof wt.nn.QuantizedLinear).length).toBe(convs);
      const y = await wt.tidy(() => m.forward(ids)).data();
      m.dispose();
      const e = errors(y, ref), k = errors(y, dqy);
      report.push(`${kind} tiny-gpt2 8-bit g32 (${convs} Conv1D): logits vs f32 max ${e.max.toExponential(2)} mean ${e.mean.toExponential(2)} (|logit| ≤ ${e.ref.toFixed(2)}); vs the dequantized float model max ${k.max.toExponential(2)}`);
      expect(convs).toBeGreaterThan(0);
      expect(k.max / k.ref).toBeLessThan(1e-5);
    });
  });

  describe('memory', () => {
    it('forward and backward leave no tensor behind', async () => {
      const layer = new wt.nn.QuantizedLinear(wt.quantizeData(randomValues(8 * 64, 3), [8, 64], { bits: 4, groupSize: 32 }), wt.zeros([8]));
      const x = wt.randn([5, 64], { seed: 1, requiresGrad: true });
      const step = async () => {
        wt.tidy(() => layer.forward(x).square().sum().backward());
        await x.grad!.data();
        x.grad!.dispose();
        x.grad = null;
      };
      await step();
      const before = wt.memory().tensors;
      for (let i = 0; i < 3; i++) await step();
      expect(wt.memory().tensors).toBe(before);
      layer.dispose?.();
      x.dispose();
    });
  });

  describe('save and load', () => {
    it('a quantized model round-trips through safetensors (the packed codes as I32, scales and mins as F32)', async () => {
      const make = () => new wt.nn.Sequential(new wt.nn.Linear(64, 40), new wt.nn.ReLU(), new wt.nn.Linear(40, 6));
      const a = make();
      await wt.quantize(a, { bits: 4, groupSize: 32, mins: true });
      const bytes = await wt.save(a.stateDict());
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))));
      expect(header['0.qweight']).toMatchObject({ dtype: 'I32', shape: [40, 8] });
      expect(header['0.scales']).toMatchObject({ dtype: 'F32', shape: [40, 2] });
      expect(header['2.mins']).toMatchObject({ dtype: 'F32', shape: [6, 2] });
      // a fresh model takes the same structure (quantize), then the saved tensors
      const b = make();
      await wt.quantize(b, { bits: 4, groupSize: 32, mins: true });
      b.loadStateDict(await wt.load(bytes));
      const x = wt.randn([3, 64], { seed: 9 });
      const [ya, yb] = await Promise.all([wt.tidy(() => a.forward(x) as wt.Tensor).data(), wt.tidy(() => b.forward(x) as wt.Tensor).data()]);
      expect(Array.from(yb)).toEqual(Array.from(ya));
      x.dispose();
    });
  });

  describe('gradients', () => {
    it('to the input by finite differences; the quantized weight gets none', async () => {
      // (gradcheck runs fn on a private float64 CPU backend: the weight is made there)
      const wv = randomValues(9 * 64, 5);
      const b = wt.randn([9], { seed: 2 });
      for (const cfg of [{ bits: 4, groupSize: 32, mins: true }, { bits: 8, groupSize: 64, mins: false }] as const) {
        await gradcheck((x, bias) => wt.qlinear(x, wt.quantizeData(wv, [9, 64], cfg), bias).tanh(), [wt.randn([3, 64], { seed: 1 }), b]);
      }
    });

    it('LoRA on a 4-bit and an 8-bit base: the loss falls over AdamW steps, the base gets no gradient or state', async () => {
      for (const bits of [4, 8] as const) {
        const model = new wt.nn.Sequential(new wt.nn.Linear(64, 64), new wt.nn.ReLU(), new wt.nn.Linear(64, 8));
        await wt.quantize(model, { bits, groupSize: 32 });
        wt.nn.lora.apply(model, { r: 4, alpha: 8, targetModules: ['0', '2'] });
        const trainable = model.parameters().filter((p) => p.requiresGrad);
        expect(trainable.length).toBe(4); // A and B of both layers
        const opt = new wt.optim.AdamW(trainable, { lr: 1e-2 });
        const x = wt.randn([16, 64], { seed: 4 }), t = wt.randn([16, 8], { seed: 5 });
        const losses: number[] = [];
        for (let s = 0; s < 8; s++) {
          const loss = wt.tidy(() => {
            opt.zeroGrad();
            const l = (model.forward(x) as wt.Tensor).sub(t).square().mean();
            l.backward();
            opt.step();
            return wt.keep(l);
          });
          losses.push(await loss.item());
          loss.dispose();
        }
        expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.9);
        for (const [, m] of model.namedModules()) {
          if (m instanceof wt.nn.QuantizedLinear) {
            expect(m.qweight.grad ?? null).toBeNull();
            expect(m.qweight.requiresGrad).toBe(false);
          }
        }
        const base = model.namedModules().find(([, m]) => m instanceof wt.nn.QuantizedLinear)![1] as wt.nn.QuantizedLinear;
        expect(() => wt.nn.lora.merge(model)).toThrow(wt.ArgumentError);
        report.push(`${kind} LoRA r4 on a ${bits}-bit base: loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)} in 8 AdamW steps`);
        void base;
        wt.dispose([x, t]);
      }
    });
  });

  describe('wt.compile', () => {
    it('a LoRA step on a 4-bit base replays with the eager losses', async () => {
      const build = async () => {
        wt.manualSeed(3);
        const model = new wt.nn.Sequential(new wt.nn.Linear(64, 32), new wt.nn.ReLU(), new wt.nn.Linear(32, 4));
        await wt.quantize(model, { bits: 4, groupSize: 32 });
        wt.nn.lora.apply(model, { r: 2, targetModules: ['0', '2'], initLoraWeights: 'gaussian' });
        const opt = new wt.optim.AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-2 });
        const step = (x: wt.Tensor, t: wt.Tensor): wt.Tensor => {
          opt.zeroGrad();
          const l = (model.forward(x) as wt.Tensor).sub(t).square().mean();
          l.backward();
          opt.step();
          return l;
        };
        return { model, step };
      };
      const x = wt.randn([8, 64], { seed: 4 }), t = wt.randn([8, 4], { seed: 5 });
      const eager = await build(), comp = await build();
      const compiled = wt.compile(comp.step);
      const want: number[] = [], got: number[] = [];
      for (let i = 0; i < 6; i++) {
        const a = wt.tidy(() => eager.step(x, t)), b = compiled(x, t);
        want.push(await a.item());
        got.push(await b.item());
        wt.dispose([a, b]);
      }
      expect(got).toEqual(want);
      expect(compiled.reason).toBeNull();
      expect(compiled.stats.replayed).toBeGreaterThan(0);
      compiled.dispose();
      wt.dispose([x, t]);
    });
  });

  describe('bad inputs', () => {
    it('typed errors naming the op, the argument and the shapes', () => {
      const qw = wt.quantizeData(new Float32Array(4 * 32), [4, 32], { bits: 8, groupSize: 32 });
      expect(() => wt.qlinear(wt.randn([2, 31]), qw)).toThrow(/qlinear: input features differ: x is \[2,31\], the weight is \[4,32\]/);
      expect(() => wt.qlinear(wt.randn([2, 32]), qw, wt.zeros([5]))).toThrow(wt.ShapeError);
      expect(() => wt.quantizeData(new Float32Array(8), [2, 4], { bits: 3 as 4 })).toThrow(/quantizeData: bits must be 8 or 4/);
      expect(() => wt.quantizeData(new Float32Array(8), [2, 4], { groupSize: 48 })).toThrow(/groupSize must be a multiple of 32/);
      expect(() => wt.quantizeData(new Float32Array(7), [2, 4])).toThrow(/data has 7 values, shape \[2,4\] needs 8/);
      expect(() => wt.qlinear(wt.randn([2, 32]), { ...qw, q: wt.zeros([4, 9], { dtype: 'int32' }) })).toThrow(/weight.q must be int32 \[4, 8\]/);
    });
  });
});

describe('report', () => {
  it('prints the accuracy figures', () => {
    console.log(`quant accuracy:\n${report.join('\n')}`);
  });
});
