/**
 * conv2d, convTranspose2d, maxPool2d, avgPool2d and adaptiveAvgPool2d against float64
 * references written here (naive loops; the transposed conv reference scatters, so it is
 * independent of the gather the routines use), on seeded inputs with stride / padding /
 * dilation / groups combinations, odd sizes, 'same' padding, ceil mode and zero-size batches.
 *
 * Tolerances: conv forward and its gradients |y − ref| ≤ 1e-6·Σ|x·w| + 1e-6 (float64
 * accumulation, float32 stores); pooling atol 1e-6, rtol 1e-6 (max pooling is exact).
 * Gradients through wt.gradcheck use its defaults (atol 1e-5, rtol 1e-3).
 */
import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { expectClose, numelOf, randomTensor } from './helpers.js';
import { forEachBackend, gradcheck } from './backends.js';

type P2 = [number, number];
interface ConvCfg { stride: P2; padding: P2; dilation: P2; groups: number }

// ---- float64 references ------------------------------------------------------------------------

/** Direct conv2d; returns values and Σ|x·w| per output (the error scale). */
function refConv(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], b: ArrayLike<number> | null, c: ConvCfg) {
  const [N, C, H, W] = xs, [O, Cg, kh, kw] = ws, Og = O / c.groups;
  const Ho = Math.floor((H + 2 * c.padding[0] - c.dilation[0] * (kh - 1) - 1) / c.stride[0]) + 1;
  const Wo = Math.floor((W + 2 * c.padding[1] - c.dilation[1] * (kw - 1) - 1) / c.stride[1]) + 1;
  const vals = new Float64Array(N * O * Ho * Wo), mag = new Float64Array(vals.length);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
    const g = Math.floor(o / Og);
    let s = b ? b[o] : 0, m = b ? Math.abs(b[o]) : 0;
    for (let cc = 0; cc < Cg; cc++) for (let ki = 0; ki < kh; ki++) for (let kj = 0; kj < kw; kj++) {
      const ih = oh * c.stride[0] - c.padding[0] + ki * c.dilation[0], iw = ow * c.stride[1] - c.padding[1] + kj * c.dilation[1];
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const p = x[((n * C + g * Cg + cc) * H + ih) * W + iw] * w[((o * Cg + cc) * kh + ki) * kw + kj];
      s += p;
      m += Math.abs(p);
    }
    vals[((n * O + o) * Ho + oh) * Wo + ow] = s;
    mag[((n * O + o) * Ho + oh) * Wo + ow] = m;
  }
  return { shape: [N, O, Ho, Wo], vals, mag };
}

/** Transposed conv by scattering every input pixel through the kernel (x[N,Cin,H,W], w[Cin,Cout/g,kh,kw]). */
function refConvT(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], b: ArrayLike<number> | null, c: ConvCfg, outPad: P2) {
  const [N, Cin, H, W] = xs, [, Coutg, kh, kw] = ws, G = c.groups, Cing = Cin / G, Cout = Coutg * G;
  const Ho = (H - 1) * c.stride[0] - 2 * c.padding[0] + c.dilation[0] * (kh - 1) + outPad[0] + 1;
  const Wo = (W - 1) * c.stride[1] - 2 * c.padding[1] + c.dilation[1] * (kw - 1) + outPad[1] + 1;
  const vals = new Float64Array(N * Cout * Ho * Wo), mag = new Float64Array(vals.length);
  for (let n = 0; n < N; n++) for (let ci = 0; ci < Cin; ci++) for (let ih = 0; ih < H; ih++) for (let iw = 0; iw < W; iw++) {
    const g = Math.floor(ci / Cing);
    for (let co = 0; co < Coutg; co++) for (let ki = 0; ki < kh; ki++) for (let kj = 0; kj < kw; kj++) {
      const oh = ih * c.stride[0] - c.padding[0] + ki * c.dilation[0], ow = iw * c.stride[1] - c.padding[1] + kj * c.dilation[1];
      if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
      const p = x[((n * Cin + ci) * H + ih) * W + iw] * w[((ci * Coutg + co) * kh + ki) * kw + kj];
      const at = ((n * Cout + g * Coutg + co) * Ho + oh) * Wo + ow;
      vals[at] += p;
      mag[at] += Math.abs(p);
    }
  }
  if (b) for (let i = 0; i < vals.length; i++) vals[i] += b[Math.floor(i / (Ho * Wo)) % Cout];
  return { shape: [N, Cout, Ho, Wo], vals, mag };
}

interface PoolCfg { kernel: P2; stride: P2; padding: P2; dilation?: P2; ceil?: boolean; countIncludePad?: boolean }

function poolOut(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = n + 2 * p - d * (k - 1) - 1;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= n + p) o--;
  return o;
}

/** PyTorch's max / avg pooling, written from its documented definitions. */
function refPool(kind: 'max' | 'avg', x: ArrayLike<number>, xs: number[], c: PoolCfg) {
  const [N, C, H, W] = xs, [kh, kw] = c.kernel, [sh, sw] = c.stride, [ph, pw] = c.padding, [dh, dw] = c.dilation ?? [1, 1];
  const Ho = poolOut(H, kh, sh, ph, dh, !!c.ceil), Wo = poolOut(W, kw, sw, pw, dw, !!c.ceil);
  const out: number[] = [];
  for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
    if (kind === 'max') {
      let m = -Infinity;
      for (let ki = 0; ki < kh; ki++) for (let kj = 0; kj < kw; kj++) {
        const ih = oh * sh - ph + ki * dh, iw = ow * sw - pw + kj * dw;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
          const v = x[(pl * H + ih) * W + iw];
          m = Number.isNaN(v) || Number.isNaN(m) ? NaN : Math.max(m, v);
        }
      }
      out.push(m);
    } else {
      const hs = oh * sh - ph, ws = ow * sw - pw;
      const he = Math.min(hs + kh, H + ph), we = Math.min(ws + kw, W + pw);
      const poolSize = (he - hs) * (we - ws);
      let s = 0, cnt = 0;
      for (let ih = Math.max(hs, 0); ih < Math.min(he, H); ih++) for (let iw = Math.max(ws, 0); iw < Math.min(we, W); iw++) {
        s += x[(pl * H + ih) * W + iw];
        cnt++;
      }
      out.push(s / (c.countIncludePad === false ? cnt : poolSize));
    }
  }
  return { shape: [N, C, Ho, Wo], vals: out };
}

async function expectConv(y: wt.Tensor, r: { shape: number[]; vals: Float64Array; mag: Float64Array }, what: string): Promise<void> {
  expect(y.shape, `${what} shape`).toEqual(r.shape);
  const got = await y.data();
  for (let i = 0; i < r.vals.length; i++) {
    const tol = 1e-6 * r.mag[i] + 1e-6;
    if (!(Math.abs(got[i] - r.vals[i]) <= tol)) throw new Error(`${what}[${i}]: got ${got[i]}, expected ${r.vals[i]} (tol ${tol})`);
  }
}

let seed = 100;
const rnd = (shape: number[], opts: { requiresGrad?: boolean } = {}) => randomTensor(shape, seed++, -2, 2, opts);
const cfgOf = (c: Partial<ConvCfg>): ConvCfg => ({ stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...c });

// ---- conv2d ------------------------------------------------------------------------------------

interface ConvCase { x: number[]; w: number[]; c: Partial<ConvCfg> }
const convCases: ConvCase[] = [
  { x: [2, 3, 7, 9], w: [4, 3, 3, 3], c: {} },
  { x: [2, 3, 7, 9], w: [4, 3, 3, 3], c: { stride: [2, 2], padding: [1, 1] } },
  { x: [1, 2, 17, 13], w: [3, 2, 3, 2], c: { stride: [2, 1], padding: [1, 2], dilation: [2, 1] } },
  { x: [2, 4, 6, 5], w: [6, 2, 3, 3], c: { groups: 2, padding: [1, 1] } },
  { x: [1, 3, 9, 9], w: [6, 1, 3, 3], c: { groups: 3, stride: [2, 2], dilation: [2, 2], padding: [2, 2] } }, // depthwise ×2
  { x: [3, 5, 4, 4], w: [7, 5, 1, 1], c: {} }, // 1×1
  { x: [1, 1, 1, 33], w: [1, 1, 1, 3], c: { padding: [0, 1] } },
  { x: [2, 5, 17, 33], w: [8, 5, 5, 5], c: { padding: [2, 2] } }, // crosses the GEMM blocks
  { x: [1, 3, 5, 5], w: [2, 3, 5, 5], c: { stride: [3, 3], padding: [2, 2] } },
];

forEachBackend((kind) => {
  describe('conv2d forward', () => {
    for (const { x: xs, w: ws, c } of convCases) {
      it(`x ${JSON.stringify(xs)} w ${JSON.stringify(ws)} ${JSON.stringify(c)}`, async () => {
        const cfg = cfgOf(c);
        const [x, xv] = rnd(xs), [w, wv] = rnd(ws), [b, bv] = rnd([ws[0]]);
        await expectConv(wt.conv2d(x, w, b, cfg), refConv(xv, xs, wv, ws, bv, cfg), 'with bias');
        await expectConv(wt.conv2d(x, w, null, cfg), refConv(xv, xs, wv, ws, null, cfg), 'no bias');
      });
    }

    it("padding 'same' (odd and even kernels, dilation) and 'valid'", async () => {
      for (const [k, d] of [[3, 1], [4, 1], [3, 2], [2, 3]] as const) {
        const [x, xv] = rnd([1, 2, 7, 8]), [w, wv] = rnd([3, 2, k, k]);
        const y = wt.conv2d(x, w, null, { padding: 'same', dilation: d });
        expect(y.shape).toEqual([1, 3, 7, 8]);
        // 'same' = pad total d·(k−1): the extra one of an odd total goes bottom/right
        const tot = d * (k - 1), lo = tot >> 1, hi = tot - lo;
        const xp = new Float64Array(2 * (7 + tot) * (8 + tot));
        for (let c = 0; c < 2; c++) for (let i = 0; i < 7; i++) for (let j = 0; j < 8; j++) xp[(c * (7 + tot) + i + lo) * (8 + tot) + j + lo] = xv[(c * 7 + i) * 8 + j];
        await expectConv(y, refConv(xp, [1, 2, 7 + tot, 8 + tot], wv, [3, 2, k, k], null, cfgOf({ dilation: [d, d] })), `same k${k} d${d}`);
        void hi;
      }
      const [x, xv] = rnd([1, 2, 6, 6]), [w, wv] = rnd([2, 2, 3, 3]);
      await expectConv(wt.conv2d(x, w, null, { padding: 'valid' }), refConv(xv, [1, 2, 6, 6], wv, [2, 2, 3, 3], null, cfgOf({})), 'valid');
    });

    it('accepts an unbatched input, a non-contiguous input, a zero batch', async () => {
      const [x, xv] = rnd([3, 6, 7]), [w, wv] = rnd([2, 3, 3, 3]);
      const y = wt.conv2d(x, w, null, { padding: 1 });
      expect(y.shape).toEqual([2, 6, 7]);
      await expectConv(y, { ...refConv(xv, [1, 3, 6, 7], wv, [2, 3, 3, 3], null, cfgOf({ padding: [1, 1] })), shape: [2, 6, 7] }, 'unbatched');
      // NHWC storage viewed as NCHW
      const [nhwc, nv] = rnd([2, 5, 4, 3]);
      const nchw = nhwc.permute(0, 3, 1, 2);
      const cv = Float64Array.from({ length: 120 }, (_, i) => {
        const n = Math.floor(i / 60), c = Math.floor(i / 20) % 3, h = Math.floor(i / 4) % 5, ww = i % 4;
        return nv[((n * 5 + h) * 4 + ww) * 3 + c];
      });
      const [w2, w2v] = rnd([4, 3, 2, 2]);
      await expectConv(wt.conv2d(nchw, w2, null, { stride: 2 }), refConv(cv, [2, 3, 5, 4], w2v, [4, 3, 2, 2], null, cfgOf({ stride: [2, 2] })), 'permuted');
      expect(wt.conv2d(wt.zeros([0, 3, 5, 5]), wt.ones([2, 3, 3, 3])).shape).toEqual([0, 2, 3, 3]);
    });
  });

  describe('conv2d gradients', () => {
    it('gradcheck: stride, padding, dilation, groups, bias', async () => {
      const cases: [number[], number[], Partial<ConvCfg>][] = [
        [[1, 2, 4, 5], [2, 2, 3, 3], { stride: [2, 2], padding: [1, 1] }],
        [[2, 2, 5, 4], [4, 1, 2, 3], { groups: 2, dilation: [2, 1], padding: [1, 0] }],
        [[1, 1, 5, 5], [1, 1, 3, 3], { stride: [2, 3], dilation: [2, 2], padding: [2, 1] }],
        [[1, 2, 5, 6], [3, 2, 1, 1], { stride: [2, 2] }], // 1×1 downsampling: odd pixels get no gradient
      ];
      for (const [xs, ws, c] of cases) {
        const cfg = cfgOf(c);
        await expect(gradcheck((x, w, b) => wt.conv2d(x, w, b, cfg), [rnd(xs)[0], rnd(ws)[0], rnd([ws[0]])[0]])).resolves.toBe(true);
      }
      await expect(gradcheck((x, w) => wt.conv2d(x, w, null, { padding: 'same' }), [rnd([1, 1, 4, 4])[0], rnd([1, 1, 2, 2])[0]])).resolves.toBe(true);
    });

    // the second case's input gradient sums over K = 80·(taps of a phase) > 256: several K blocks
    // accumulate into the scattered columns of one stride phase
    const bigCases: [number[], number[], Partial<ConvCfg>][] = [
      [[2, 4, 9, 8], [6, 2, 3, 3], { stride: [2, 2], padding: [1, 1], dilation: [1, 2], groups: 2 }],
      [[1, 3, 9, 9], [80, 3, 3, 3], { stride: [2, 2], padding: [1, 1] }],
    ];
    for (const [xs, ws, c] of bigCases) {
      it(`match the reference: x ${JSON.stringify(xs)} w ${JSON.stringify(ws)} ${JSON.stringify(c)}`, async () => {
        // L = Σ conv(x, w)·r: ∂L/∂x is the transposed conv of r, ∂L/∂w[o,c,ki,kj] = Σ r·x at the tap
        const cfg = cfgOf(c);
        const [N, C, H, W] = xs, [O, Cg, kh, kw] = ws, Og = O / cfg.groups;
        const [x, xv] = rnd(xs, { requiresGrad: true }), [w, wv] = rnd(ws, { requiresGrad: true }), [b] = rnd([O], { requiresGrad: true });
        const y = wt.conv2d(x, w, b, cfg);
        const [, , Ho, Wo] = y.shape;
        const [r, rv] = rnd([...y.shape]);
        y.mul(r).sum().backward();
        // ∂L/∂x by scattering r through w (w read as a transposed conv's [Cin=O, Cout/g, kh, kw]);
        // outputPadding makes the scatter's extent exactly H×W
        const extent = (n: number, k: number, i: 0 | 1) => (n - 1) * cfg.stride[i] - 2 * cfg.padding[i] + cfg.dilation[i] * (k - 1) + 1;
        const op: P2 = [H - extent(Ho, kh, 0), W - extent(Wo, kw, 1)];
        await expectConv(x.grad!, refConvT(rv, [...y.shape], wv, ws, null, cfg, op), 'grad x');
        const gw = new Float64Array(numelOf(ws)), gwm = new Float64Array(gw.length);
        for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let cc = 0; cc < Cg; cc++) for (let ki = 0; ki < kh; ki++) for (let kj = 0; kj < kw; kj++) {
          const g = Math.floor(o / Og), at = ((o * Cg + cc) * kh + ki) * kw + kj;
          for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
            const ih = oh * cfg.stride[0] - cfg.padding[0] + ki * cfg.dilation[0], iw = ow * cfg.stride[1] - cfg.padding[1] + kj * cfg.dilation[1];
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const p = rv[((n * O + o) * Ho + oh) * Wo + ow] * xv[((n * C + g * Cg + cc) * H + ih) * W + iw];
            gw[at] += p;
            gwm[at] += Math.abs(p);
          }
        }
        await expectConv(w.grad!, { shape: ws, vals: gw, mag: gwm }, 'grad w');
        const gb = Array.from({ length: O }, (_, o) => {
          let s = 0;
          for (let n = 0; n < N; n++) for (let i = 0; i < Ho * Wo; i++) s += rv[(n * O + o) * Ho * Wo + i];
          return s;
        });
        expectClose(await b.grad!.data(), gb, 1e-5, 1e-5, 'grad b');
      });
    }
  });

  // ---- convTranspose2d ---------------------------------------------------------------------------

  describe('convTranspose2d', () => {
    const cases: [number[], number[], Partial<ConvCfg>, P2][] = [
      [[2, 3, 4, 5], [3, 2, 3, 3], {}, [0, 0]],
      [[1, 4, 5, 3], [4, 3, 3, 2], { stride: [2, 2], padding: [1, 0] }, [1, 1]],
      [[2, 4, 3, 3], [4, 2, 3, 3], { stride: [2, 3], dilation: [2, 1], groups: 2, padding: [1, 1] }, [1, 2]],
      [[1, 8, 16, 16], [8, 4, 2, 2], { stride: [2, 2] }, [0, 0]],
    ];
    for (const [xs, ws, c, op] of cases) {
      it(`x ${JSON.stringify(xs)} w ${JSON.stringify(ws)} ${JSON.stringify(c)} outputPadding ${JSON.stringify(op)}`, async () => {
        const cfg = cfgOf(c);
        const [x, xv] = rnd(xs), [w, wv] = rnd(ws), [b, bv] = rnd([ws[1] * cfg.groups]);
        await expectConv(wt.convTranspose2d(x, w, b, { ...cfg, outputPadding: op }), refConvT(xv, xs, wv, ws, bv, cfg, op), 'y');
      });
    }
    it('gradcheck', async () => {
      const cfg = { stride: [2, 1] as P2, padding: [1, 0] as P2, outputPadding: [1, 0] as P2, groups: 2 };
      await expect(gradcheck((x, w, b) => wt.convTranspose2d(x, w, b, cfg), [rnd([1, 2, 3, 3])[0], rnd([2, 2, 2, 3])[0], rnd([4])[0]])).resolves.toBe(true);
      await expect(gradcheck((x, w) => wt.convTranspose2d(x, w, null, { dilation: 2 }), [rnd([1, 1, 2, 3])[0], rnd([1, 2, 2, 2])[0]])).resolves.toBe(true);
    });
  });

  // ---- pooling -----------------------------------------------------------------------------------

  describe('maxPool2d', () => {
    const cases: [number[], number | P2, Partial<PoolCfg>][] = [
      [[2, 3, 8, 8], 2, {}],
      [[1, 2, 7, 9], 3, { stride: [2, 2], padding: [1, 1] }],
      [[1, 2, 9, 9], [3, 2], { stride: [2, 1], padding: [1, 1], dilation: [2, 2] }],
      [[2, 1, 7, 6], 3, { stride: [2, 2], padding: [0, 1], ceil: true }],
      [[1, 1, 1, 33], [1, 3], { stride: [1, 2] }],
    ];
    for (const [xs, k, o] of cases) {
      it(`x ${JSON.stringify(xs)} k ${JSON.stringify(k)} ${JSON.stringify(o)}`, async () => {
        const kernel: P2 = typeof k === 'number' ? [k, k] : k;
        const c: PoolCfg = { kernel, stride: kernel, padding: [0, 0], ...o };
        const [x, xv] = rnd(xs);
        const y = wt.maxPool2d(x, k, { stride: c.stride, padding: c.padding, dilation: c.dilation, ceilMode: c.ceil });
        const r = refPool('max', xv, xs, c);
        expect(y.shape).toEqual(r.shape);
        expectClose(await y.data(), r.vals, 0, 0, 'y');
      });
    }
    it('propagates NaN and treats padding as -inf', async () => {
      const x = wt.tensor([[[[NaN, 1], [2, 3]]]]);
      expect(Array.from(await wt.maxPool2d(x, 2).data())).toEqual([NaN]);
      const neg = wt.tensor([[[[-5, -6], [-7, -8]]]]);
      expect(Array.from(await wt.maxPool2d(neg, 2, { stride: 1, padding: 1 }).data())).toEqual([-5, -5, -6, -5, -5, -6, -7, -7, -8]);
    });
    it('gradcheck, including an unbatched input', async () => {
      await expect(gradcheck((x) => wt.maxPool2d(x, 3, { stride: 2, padding: 1 }), [rnd([1, 2, 5, 6])[0]])).resolves.toBe(true);
      await expect(gradcheck((x) => wt.maxPool2d(x, 2, { stride: 1, dilation: 2, ceilMode: true }), [rnd([2, 5, 5])[0]])).resolves.toBe(true);
    });
    it('tiling windows (kernel = stride, the fast loops): the gradient goes to each window\'s first maximum, odd sizes', async () => {
      for (const [xs, k] of [[[2, 3, 7, 9], 2], [[1, 2, 9, 10], 3]] as [number[], number][]) {
        const [x, xv] = rnd(xs, { requiresGrad: true });
        const y = wt.maxPool2d(x, k);
        const [N, C, H, W] = xs, Ho = Math.floor(H / k), Wo = Math.floor(W / k);
        const [g, gv] = rnd([N, C, Ho, Wo]);
        y.mul(g).sum().backward();
        const want = new Float64Array(xv.length), ys: number[] = [];
        for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
          let best = -Infinity, arg = -1;
          for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
            const at = pl * H * W + (oh * k + i) * W + ow * k + j;
            if (xv[at] > best) { best = xv[at]; arg = at; }
          }
          ys.push(best);
          want[arg] = gv[(pl * Ho + oh) * Wo + ow];
        }
        expectClose(await y.data(), ys, 0, 0, `y k${k}`);
        expectClose(await x.grad!.data(), Array.from(want), 0, 0, `grad k${k}`);
      }
      // a NaN wins its window and keeps it
      const n = wt.tensor([[[[1, NaN, 5, 2], [3, 4, 0, 1]]]], { requiresGrad: true });
      const p = wt.maxPool2d(n, 2);
      expect(Array.from(await p.data())).toEqual([NaN, 5]);
      p.sum().backward();
      expect(Array.from(await n.grad!.data())).toEqual([0, 1, 1, 0, 0, 0, 0, 0]);
    });
    it('overlapping windows send the gradient to each argmax', async () => {
      const x = wt.tensor([[[[1, 9, 2], [3, 4, 5], [6, 7, 8]]]], { requiresGrad: true });
      wt.maxPool2d(x, 2, { stride: 1 }).sum().backward();
      expect(Array.from(await x.grad!.data())).toEqual([0, 2, 0, 0, 0, 0, 0, 1, 1]);
    });
  });

  describe('avgPool2d', () => {
    const cases: [number[], number | P2, Partial<PoolCfg>][] = [
      [[2, 3, 8, 8], 2, {}],
      [[1, 2, 7, 9], 3, { stride: [2, 2], padding: [1, 1] }],
      [[1, 2, 7, 9], 3, { stride: [2, 2], padding: [1, 1], countIncludePad: false }],
      [[2, 1, 7, 6], [3, 2], { stride: [2, 2], padding: [1, 1], ceil: true }],
      [[2, 1, 7, 6], [3, 2], { stride: [2, 2], padding: [1, 1], ceil: true, countIncludePad: false }],
      [[1, 1, 17, 33], [5, 3], { stride: [3, 1] }],
    ];
    for (const [xs, k, o] of cases) {
      it(`x ${JSON.stringify(xs)} k ${JSON.stringify(k)} ${JSON.stringify(o)}`, async () => {
        const kernel: P2 = typeof k === 'number' ? [k, k] : k;
        const c: PoolCfg = { kernel, stride: kernel, padding: [0, 0], ...o };
        const [x, xv] = rnd(xs);
        const y = wt.avgPool2d(x, k, { stride: c.stride, padding: c.padding, ceilMode: c.ceil, countIncludePad: c.countIncludePad });
        const r = refPool('avg', xv, xs, c);
        expect(y.shape).toEqual(r.shape);
        expectClose(await y.data(), r.vals, 1e-6, 1e-6, 'y');
      });
    }
    it('gradcheck with and without countIncludePad, ceil mode', async () => {
      for (const countIncludePad of [true, false]) {
        await expect(gradcheck((x) => wt.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad }), [rnd([1, 2, 5, 6])[0]])).resolves.toBe(true);
      }
      await expect(gradcheck((x) => wt.avgPool2d(x, [2, 3], { stride: 2, padding: 1, ceilMode: true }), [rnd([1, 1, 5, 6])[0]])).resolves.toBe(true);
    });
  });

  describe('adaptiveAvgPool2d', () => {
    /** Reference: output cell i averages rows ⌊i·H/o⌋ … ⌈(i+1)·H/o⌉−1 (and the same for columns). */
    function refAdaptive(xv: ArrayLike<number>, xs: number[], oh: number, ow: number): number[] {
      const [N, C, H, W] = xs, out: number[] = [];
      for (let pl = 0; pl < N * C; pl++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
        const h0 = Math.floor((i * H) / oh), h1 = Math.ceil(((i + 1) * H) / oh), w0 = Math.floor((j * W) / ow), w1 = Math.ceil(((j + 1) * W) / ow);
        let s = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += xv[(pl * H + h) * W + w];
        out.push(s / ((h1 - h0) * (w1 - w0)));
      }
      return out;
    }
    for (const [xs, o] of [[[2, 3, 8, 8], [4, 4]], [[1, 2, 7, 7], [1, 1]], [[1, 2, 7, 5], [3, 2]], [[2, 1, 5, 9], [5, 4]]] as [number[], P2][]) {
      it(`x ${JSON.stringify(xs)} → ${JSON.stringify(o)}`, async () => {
        const [x, xv] = rnd(xs);
        const y = wt.adaptiveAvgPool2d(x, o);
        expect(y.shape).toEqual([xs[0], xs[1], ...o]);
        expectClose(await y.data(), refAdaptive(xv, xs, o[0], o[1]), 1e-6, 1e-6, 'y');
      });
    }
    it('null keeps a dim; gradcheck', async () => {
      expect(wt.adaptiveAvgPool2d(wt.ones([3, 6, 5]), [2, null]).shape).toEqual([3, 2, 5]);
      await expect(gradcheck((x) => wt.adaptiveAvgPool2d(x, [2, 3]), [rnd([1, 2, 5, 4])[0]])).resolves.toBe(true);
    });
  });

  // ---- memory ------------------------------------------------------------------------------------

  describe('conv / pool memory', () => {
    it('leave no temporaries behind, forward or backward', () => {
      const before = wt.memory();
      const x = wt.randn([2, 4, 9, 8], { requiresGrad: true }), w = wt.randn([6, 2, 3, 3], { requiresGrad: true }), b = wt.randn([6], { requiresGrad: true });
      const wtT = wt.randn([6, 3, 2, 2], { requiresGrad: true });
      // every intermediate (views, sums) is created inside tidy; the ops' own temporaries must go too
      wt.tidy(() => {
        const y = wt.conv2d(x.permute(0, 1, 3, 2), w, b, { padding: 'same', groups: 2 }); // even total padding
        const y2 = wt.conv2d(x, w.narrow(2, 0, 2).narrow(3, 0, 2), null, { padding: 'same', groups: 2 }); // odd: pads x
        const p = wt.maxPool2d(y, 2), q = wt.avgPool2d(y2, 3, { stride: 2, padding: 1 }), r = wt.adaptiveAvgPool2d(y, [3, 3]);
        const t = wt.convTranspose2d(p, wtT, null, { stride: 2 });
        p.sum().add(q.sum()).add(r.sum()).add(t.sum()).backward();
      });
      const grads = [x, w, b, wtT].map((z) => z.grad!);
      expect(grads.map((g) => g.shape)).toEqual([[2, 4, 9, 8], [6, 2, 3, 3], [6], [6, 3, 2, 2]]);
      wt.dispose([x, w, b, wtT, grads]);
      const after = wt.memory();
      expect(after.tensors).toBe(before.tensors);
      expect(after.bytes).toBe(before.bytes);
    });
  });

  // ---- errors ------------------------------------------------------------------------------------

  describe('conv / pool errors', () => {
    it('conv2d shapes', () => {
      const ch = () => wt.conv2d(wt.ones([1, 3, 8, 8]), wt.ones([4, 2, 3, 3]));
      expect(ch).toThrow(wt.ShapeError);
      expect(ch).toThrow(/conv2d: input \[1,3,8,8\] has 3 channels but weight \[4,2,3,3\]/);
      const small = () => wt.conv2d(wt.ones([1, 1, 2, 2]), wt.ones([1, 1, 3, 3]));
      expect(small).toThrow(wt.ShapeError);
      expect(small).toThrow(/\[1,1,2,2\].*\[1,1,3,3\]/);
      expect(() => wt.conv2d(wt.ones([8, 8]), wt.ones([1, 1, 3, 3]))).toThrow(/conv2d: input must be 3-D .* got \[8,8\]/);
      expect(() => wt.conv2d(wt.ones([1, 1, 8, 8]), wt.ones([1, 3, 3]))).toThrow(/weight must be 4-D.*\[1,3,3\]/);
      expect(() => wt.conv2d(wt.ones([1, 1, 8, 8]), wt.ones([2, 1, 3, 3]), wt.ones([3]))).toThrow(/bias must have shape \[2\].*\[3\]/);
      expect(() => wt.conv2d(wt.ones([1, 4, 8, 8]), wt.ones([3, 2, 3, 3]), null, { groups: 2 })).toThrow(/not divisible by groups=2/);
    });
    it('conv2d arguments and dtypes', () => {
      const x = wt.ones([1, 1, 8, 8]), w = wt.ones([1, 1, 3, 3]);
      expect(() => wt.conv2d(x, w, null, { stride: 0 })).toThrow(wt.ArgumentError);
      expect(() => wt.conv2d(x, w, null, { padding: -1 })).toThrow(/padding must be a non-negative integer/);
      expect(() => wt.conv2d(x, w, null, { padding: 'same', stride: 2 })).toThrow(/'same' needs stride 1/);
      expect(() => wt.conv2d(x, w, null, { groups: 1.5 })).toThrow(wt.ArgumentError);
      const dt = () => wt.conv2d(wt.ones([1, 1, 8, 8], { dtype: 'int32' }), w);
      expect(dt).toThrow(wt.DTypeError);
      expect(dt).toThrow(/conv2d: input must be float32, got int32 of shape \[1,1,8,8\]/);
    });
    it('convTranspose2d', () => {
      const f = () => wt.convTranspose2d(wt.ones([1, 3, 4, 4]), wt.ones([2, 2, 3, 3]));
      expect(f).toThrow(wt.ShapeError);
      expect(f).toThrow(/\[1,3,4,4\].*\[2,2,3,3\]/);
      expect(() => wt.convTranspose2d(wt.ones([1, 2, 4, 4]), wt.ones([2, 2, 3, 3]), null, { stride: 2, outputPadding: 2 })).toThrow(/outputPadding \[2,2\] must be smaller/);
    });
    it('pooling', () => {
      const f = () => wt.maxPool2d(wt.ones([1, 1, 2, 2]), 3);
      expect(f).toThrow(wt.ShapeError);
      expect(f).toThrow(/maxPool2d: input \[1,1,2,2\] is too small for kernel \[3,3\]/);
      expect(() => wt.avgPool2d(wt.ones([1, 1, 8, 8]), 2, { padding: 2 })).toThrow(/at most half the kernel size/);
      expect(() => wt.maxPool2d(wt.ones([8, 8]), 2)).toThrow(/maxPool2d: input must be 3-D .* got \[8,8\]/);
      expect(() => wt.adaptiveAvgPool2d(wt.ones([1, 1, 4, 4]), 0)).toThrow(wt.ArgumentError);
    });
  });
});
