/**
 * Fused attention (src/ops/attention.ts; the flash `attention` / `attentionBackward` routines and
 * the short-sequence `attentionShort` / `attentionShortBackward` ones, L, S ≤ 256): the CPU
 * routines against float64 loops written here, and gradients by finite differences (gradcheck);
 * then the WebGPU kernels (shaders/attention.wgsl, attention-short.wgsl), each kind, against the
 * CPU on odd sizes: row blocks and key tiles that do not divide (L, S of 1, 7, 65, 100), head
 * dims padded to 16 / 32 / 64 / 128, causal with L ≠ S, broadcast batches, strided (head-split)
 * operands, the packed and the separate gradient layouts. Also: scaled-dot-product attention takes
 * the fused path exactly when it should, and gives the composed path's numbers; multi-head
 * attention splits and merges its heads with no copy.
 *
 * Tolerances: forward atol 2e-6 + rtol 2e-5 (float32 accumulation of a softmax; GPU exp/log are a
 * few ulp off), gradients atol 2e-5 + rtol 2e-4 (differences of products summed over S or L).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { compare, type Tol } from './webgpu/compare.js';
import { expectClose, rng } from './helpers.js';
import { fusedAttentionApplies, setShortAttention } from '../src/ops/attention.js';

const FWD: Tol = [2e-6, 2e-5];
const GRAD: Tol = [2e-5, 2e-4];

/** Seeded values in [-a, a). */
function vals(n: number, seed: number, a = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => a * (2 * r() - 1));
}
const rand = (shape: number[], seed: number, a = 1) => wt.tensor(vals(shape.reduce((x, y) => x * y, 1), seed, a), { shape });

/** float64 softmax(scale·q kᵀ) v of one [L, E] × [S, E] × [S, Ev] head. */
function ref(q: Float32Array, k: Float32Array, v: Float32Array, L: number, S: number, E: number, Ev: number, scale: number, causal: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < L; i++) {
    const n = causal ? Math.min(S, i + 1) : S;
    const s = Array.from({ length: n }, (_, j) => { let d = 0; for (let e = 0; e < E; e++) d += q[i * E + e] * k[j * E + e]; return d * scale; });
    const m = Math.max(...s);
    const p = s.map((x) => Math.exp(x - m));
    const z = p.reduce((a, b) => a + b, 0);
    for (let e = 0; e < Ev; e++) out.push(p.reduce((a, w, j) => a + w * v[j * Ev + e], 0) / z);
  }
  return out;
}

for (const short of [true, false]) describe(`fused attention on the CPU (${short ? 'short-sequence' : 'flash'} routines)`, () => {
  let was = true;
  beforeAll(() => { wt.setBackend(new CpuBackend()); was = setShortAttention(short); });
  afterAll(() => { setShortAttention(was); });

  it('matches float64 loops: odd sizes, several query blocks, causal with L ≠ S, explicit scale', async () => {
    for (const [L, S, E, Ev, causal, scale] of [[5, 7, 3, 6, false, undefined], [7, 5, 4, 2, true, undefined], [1, 1, 1, 1, false, 0.3], [9, 9, 8, 8, true, 2], [70, 75, 5, 3, true, undefined], [130, 66, 4, 4, false, undefined]] as const) {
      const q = rand([L, E], 1), k = rand([S, E], 2), v = rand([S, Ev], 3);
      const y = wt.fusedAttention(q, k, v, { causal, scale });
      expect(y.shape).toEqual([L, Ev]);
      const want = ref(await q.data() as Float32Array, await k.data() as Float32Array, await v.data() as Float32Array, L, S, E, Ev, scale ?? 1 / Math.sqrt(E), causal);
      expectClose(Array.from(await y.data()), want, 1e-6);
    }
  });

  it('equals the composed scaled-dot-product attention, broadcast batches and head-split views included', async () => {
    const cases: [number[], number[], number[], boolean][] = [
      [[2, 3, 6, 5], [2, 3, 4, 5], [2, 3, 4, 7], false],
      [[2, 3, 6, 5], [1, 3, 6, 5], [3, 6, 4], true], // k broadcast over B, v over B with one batch dim fewer
      [[2, 2, 2, 4, 3], [2, 2, 2, 4, 3], [2, 2, 2, 4, 3], true], // three batch dims
    ];
    for (const [qs, ks, vs, causal] of cases) {
      const q = rand(qs, 4), k = rand(ks, 5), v = rand(vs, 6);
      const was = wt.setFusedAttention(true);
      const fused = wt.nn.scaledDotProductAttention(q, k, v, { isCausal: causal });
      wt.setFusedAttention(false);
      const composed = wt.nn.scaledDotProductAttention(q, k, v, { isCausal: causal });
      wt.setFusedAttention(was);
      expect(fused.shape).toEqual(composed.shape);
      expectClose(Array.from(await fused.data()), Array.from(await composed.data()), 1e-6);
    }
    // [B, T, H, D] permuted to [B, H, T, D]: strided operands read in place
    const x = rand([2, 5, 3, 4], 7);
    const h = x.permute(0, 2, 1, 3);
    const y = wt.fusedAttention(h, h, h, { causal: true });
    const y2 = wt.fusedAttention(h.contiguous(), h.contiguous(), h.contiguous(), { causal: true });
    expectClose(Array.from(await y.data()), Array.from(await y2.data()), 0);
  });

  it('gradients pass gradcheck (causal, broadcast key/value, strided query)', async () => {
    const q = rand([2, 4, 3], 8).requiresGrad_(), k = rand([1, 5, 3], 9).requiresGrad_(), v = rand([5, 2], 10).requiresGrad_();
    for (const causal of [false, true]) {
      await wt.gradcheck((a, b, c) => wt.fusedAttention(a, b, c, { causal }).mul(rand([2, 4, 2], 11)).sum(), [q, k, v]);
    }
    const x = rand([3, 2, 4], 12).requiresGrad_();
    await wt.gradcheck((a) => { const t = a.permute(1, 0, 2); return wt.fusedAttention(t, t, t, { causal: true, scale: 0.7 }).sin().sum(); }, [x]);
  });

  it('a causal transformer layer gives the composed path\'s output and parameter gradients', async () => {
    wt.manualSeed(3);
    const layer = new wt.nn.TransformerEncoderLayer(12, 3, { dimFeedforward: 24, dropout: 0, batchFirst: true, normFirst: true });
    const x = rand([2, 7, 12], 50);
    const run = async (mode: boolean) => {
      const was = wt.setFusedAttention(mode);
      layer.zeroGrad();
      const y = layer.forward(x, { isCausal: true });
      y.mul(rand(y.shape, 51)).sum().backward();
      wt.setFusedAttention(was);
      return [Array.from(await y.data()), ...(await Promise.all(layer.parameters().map(async (p) => Array.from(await p.grad!.data()))))];
    };
    const fused = await run(true), composed = await run(false);
    fused.forEach((f, i) => expectClose(f, composed[i], 1e-5));
  });

  it('a NaN or +inf score poisons its row only; no keys gives NaN', async () => {
    const q = wt.tensor([[1, 0], [NaN, 0], [0, 1]]), k = rand([3, 2], 13), v = rand([3, 2], 14);
    const y = (await wt.fusedAttention(q, k, v).array()) as number[][];
    expect(y[1].every(Number.isNaN)).toBe(true);
    expect(y[0].concat(y[2]).every(Number.isFinite)).toBe(true);
    const e = await wt.fusedAttention(rand([2, 3], 15), wt.zeros([0, 3]), wt.zeros([0, 4])).data();
    expect(e.length).toBe(8);
    expect(Array.from(e).every(Number.isNaN)).toBe(true);
  });

  it('bad input throws errors naming the op, the argument and the shapes', () => {
    const q = rand([4, 8], 1);
    expect(() => wt.fusedAttention(q, rand([5, 7], 2), rand([5, 8], 3))).toThrow(/fusedAttention: query \[4,8\], key \[5,7\] and value \[5,8\]/);
    expect(() => wt.fusedAttention(q, rand([5, 8], 2), rand([6, 8], 3))).toThrow(/fusedAttention/);
    expect(() => wt.fusedAttention(rand([4, 130], 1), rand([5, 130], 2), rand([5, 8], 3))).toThrow(/E 130 .* at most 128/);
    expect(() => wt.fusedAttention(q.int(), q, q)).toThrow(/fusedAttention: query must be float32, got int32/);
    expect(() => wt.fusedAttention(rand([8], 1), q, q)).toThrow(/query must be at least 2-D/);
    expect(() => wt.fusedAttention(rand([2, 4, 8], 1), rand([3, 4, 8], 1), rand([3, 4, 8], 1))).toThrow(/fusedAttention/);
  });

  it("'auto' picks the fused kernels for short sequences and large score tensors; true / false force it", () => {
    const q = wt.zeros([1, 1, 1, 1]).expand([4, 8, 1024, 64]); // 4·8·1024·1024 = 2^25 scores, no memory
    const small = rand([2, 3, 8, 4], 1);
    expect(wt.setFusedAttention('auto')).toBe('auto');
    expect(fusedAttentionApplies(q, q, q)).toBe(true);
    // short sequences (L, S ≤ 128, head dims ≤ 64): the short-sequence kernels, unless those are switched off
    expect(fusedAttentionApplies(small, small, small)).toBe(short);
    const q128 = q.narrow(2, 0, 128), q129 = q.narrow(2, 0, 129);
    expect(fusedAttentionApplies(q128, q128, q128)).toBe(short);
    expect(fusedAttentionApplies(q128, q129, q129)).toBe(false);
    expect(fusedAttentionApplies(small, small, rand([2, 3, 8, 65], 2))).toBe(false);
    expect(fusedAttentionApplies(q.narrow(2, 0, 512), q, q)).toBe(true); // 2^24 exactly
    expect(fusedAttentionApplies(q.narrow(2, 0, 511), q, q)).toBe(false);
    wt.setFusedAttention(true);
    expect(fusedAttentionApplies(small, small, small)).toBe(true);
    expect(fusedAttentionApplies(small, small, rand([2, 3, 8, 129], 2))).toBe(false); // head dim too large
    wt.setFusedAttention(false);
    expect(fusedAttentionApplies(q, q, q)).toBe(false);
    wt.setFusedAttention('auto');
    expect(() => wt.setFusedAttention('yes' as never)).toThrow(/setFusedAttention: mode must be true, false or 'auto', got "yes"/);
  });

  it('scaledDotProductAttention and MultiheadAttention take the fused kernels only where they apply', async () => {
    const was = wt.setFusedAttention(true);
    const q = rand([1, 2, 6, 4], 20);
    const kernels = async (fn: () => wt.Tensor) => {
      const p = await wt.profile(async () => { const y = fn(); await y.data(); y.dispose(); });
      return p.kernels.map((x) => x.name);
    };
    expect(await kernels(() => wt.nn.scaledDotProductAttention(q, q, q, { isCausal: true }))).toContain(short ? 'attentionShort causal' : 'attention causal');
    expect(await kernels(() => wt.nn.scaledDotProductAttention(q, q, q, { attnMask: wt.ones([6, 6], { dtype: 'bool' }) }))).not.toContain('attention');
    wt.manualSeed(1);
    const mha = new wt.nn.MultiheadAttention(8, 2, { batchFirst: true });
    const x = rand([2, 5, 8], 21);
    expect((await kernels(() => mha.forward(x, x, x, { needWeights: false })[0])).some((n) => n.startsWith('attention'))).toBe(true);
    expect((await kernels(() => mha.forward(x, x, x)[0])).some((n) => n.startsWith('attention'))).toBe(false);
    wt.setFusedAttention('auto');
    expect((await kernels(() => wt.nn.scaledDotProductAttention(q, q, q, { isCausal: true }))).some((n) => n.startsWith('attention'))).toBe(short);
    wt.setFusedAttention(was);
  });
});

describe('short-sequence attention: where it applies, and no copies around multi-head attention', () => {
  beforeAll(() => wt.setBackend(new CpuBackend()));
  const kernels = async (fn: () => void) => (await wt.profile(fn)).kernels.flatMap((k) => Array(k.count).fill(k.name) as string[]);

  it('takes L, S ≤ 256; the flash kernels past that', async () => {
    const was = wt.setFusedAttention(true);
    const names = async (L: number, S: number) => kernels(() => { wt.fusedAttention(rand([L, 4], 1), rand([S, 4], 2), rand([S, 4], 3)).dispose(); });
    expect(await names(256, 256)).toEqual(['attentionShort']);
    expect(await names(257, 3)).toEqual(['attention']);
    expect(await names(3, 257)).toEqual(['attention']);
    wt.setFusedAttention(was);
  });

  it('MultiheadAttention reads q, k, v in the packed projection and writes its gradient whole: no copies', async () => {
    const was = wt.setFusedAttention(true);
    wt.manualSeed(2);
    const mha = new wt.nn.MultiheadAttention(12, 3, { batchFirst: true });
    const x = rand([2, 7, 12], 70).requiresGrad_(), gy = rand([2, 7, 12], 71);
    let y: wt.Tensor | null = null;
    const fwd = await kernels(() => { y = mha.forward(x, x, x, { isCausal: true, needWeights: false })[0]; });
    const bwd = await kernels(() => y!.backward(gy));
    expect(fwd.filter((n) => !n.startsWith('matmul'))).toEqual(['attentionShort causal']);
    expect(bwd.filter((n) => !n.startsWith('matmul') && !n.startsWith('sum'))).toEqual(['attentionShortBackward causal packed']);
    // and the composed path's gradient
    const gx = await x.grad!.data();
    x.grad = null;
    wt.setFusedAttention(false);
    mha.forward(x, x, x, { isCausal: true, needWeights: false })[0].backward(gy);
    expectClose(Array.from(gx), Array.from(await x.grad!.data()), 1e-5);
    wt.setFusedAttention(was);
    mha.dispose();
  });
});

for (const short of [true, false]) describe(`fused attention on WebGPU against the CPU (${short ? 'short-sequence' : 'flash'} kernels)`, () => {
  let gpu: wt.Backend;
  let was = true;
  beforeAll(async () => {
    gpu = await wt.init({ backend: 'webgpu' });
    expect(gpu.name).toBe('webgpu');
    was = setShortAttention(short);
  });
  afterAll(() => { setShortAttention(was); gpu?.destroy(); });

  /** forward and the three gradients of sum(y · w) */
  const run = (qs: number[], ks: number[], vs: number[], causal: boolean, seed: number, strided = false) => () => {
    let q = rand(qs, seed, 2), k = rand(ks, seed + 1, 2), v = rand(vs, seed + 2);
    if (strided) [q, k, v] = [q, k, v].map((t) => t.transpose(-3, -2)); // operands given as [B, T, H, F]
    [q, k, v].forEach((t) => t.requiresGrad_());
    const y = wt.fusedAttention(q, k, v, { causal });
    y.mul(rand(y.shape, seed + 3)).sum().backward();
    return [y, q.grad!, k.grad!, v.grad!];
  };

  it('odd sizes, every padded head dim, causal with L ≠ S', async () => {
    const cases: [number, number, number, number, number, number][] = [
      // B, H, L, S, E, Ev
      [1, 1, 1, 1, 1, 1],
      [2, 3, 7, 9, 3, 5],
      [1, 2, 65, 33, 16, 16],
      [2, 1, 33, 100, 40, 24],
      [1, 1, 100, 65, 64, 64],
      [1, 1, 17, 20, 128, 128],
    ];
    for (const [B, H, L, S, E, Ev] of cases) {
      for (const causal of [false, true]) {
        const what = `B${B} H${H} L${L} S${S} E${E} Ev${Ev}${causal ? ' causal' : ''}`;
        const f = run([B, H, L, E], [B, H, S, E], [B, H, S, Ev], causal, L + S);
        await compare(`${what} forward`, () => f()[0], FWD);
        await compare(what, f, GRAD);
      }
    }
  });

  it('gradients: broadcast batches and head-split (strided) operands', async () => {
    await compare('broadcast k, v', run([2, 3, 9, 8], [1, 3, 11, 8], [3, 11, 4], true, 30), GRAD);
    await compare('strided', run([2, 9, 3, 8], [2, 9, 3, 8], [2, 9, 3, 8], true, 31, true), GRAD);
    await compare('strided, not causal', run([1, 70, 2, 12], [1, 40, 2, 12], [1, 40, 2, 20], false, 32, true), GRAD);
  });

  it('a causal transformer layer: output and parameter gradients equal the composed path\'s', async () => {
    // pre-norm, 4 heads of 6, T 37: the short kernels read q, k, v in the packed projection and write its gradient whole
    await compare('transformer layer', () => {
      wt.manualSeed(5);
      const layer = new wt.nn.TransformerEncoderLayer(24, 4, { dimFeedforward: 48, dropout: 0, batchFirst: true, normFirst: true });
      const x = rand([3, 37, 24], 60);
      const out: wt.Tensor[] = [];
      for (const mode of [true, false]) {
        const before = wt.setFusedAttention(mode);
        layer.zeroGrad();
        const y = layer.forward(x, { isCausal: true });
        y.mul(rand(y.shape, 61)).sum().backward();
        wt.setFusedAttention(before);
        out.push(y, ...layer.parameters().map((p) => p.grad!.clone()));
      }
      layer.dispose();
      const n = out.length / 2;
      // the fused values (against the CPU's), and whether each is within 1e-4 of the composed path's on the same backend
      return [...out.slice(0, n), ...out.slice(0, n).map((f, i) => f.sub(out[n + i]).abs().max().lt(1e-4).float())];
    }, GRAD);
  });

  it('a NaN in a query poisons that row only', async () => {
    await compare('nan row', () => {
      const q = rand([1, 1, 5, 4], 40);
      const qn = q.add(wt.tensor([0, 0, NaN, 0, 0]).reshape([1, 1, 5, 1]));
      return wt.fusedAttention(qn, rand([1, 1, 6, 4], 41), rand([1, 1, 6, 3], 42));
    }, FWD);
  });
});
