/**
 * CPU 2-D pooling and its backward. Views are contiguous [N,C,H,W] (possibly at an offset);
 * each (n, c) plane is pooled independently, so N·C is treated as one plane index.
 *
 * The backward routines are gathers, like the WebGPU shaders: each input pixel visits the
 * windows that contain it (the taps ki with (ih + ph - ki·dh) divisible by the stride) and sums
 * their contributions in a fixed order, so nothing is scattered and the result is
 * deterministic.
 */
import type { CpuRoutine, CpuView } from './view.js';

function planes(v: CpuView): number {
  return v.shape[0] * v.shape[1];
}

/** maxPool2d: x[N,C,H,W] → y[N,C,Ho,Wo], argmax int32[N,C,Ho,Wo] (flat index into H·W). */
export const maxPool2d: CpuRoutine<'maxPool2d'> = (cfg, inputs, outputs) => {
  const x = inputs[0];
  const [y, am] = outputs;
  const [H, W] = [x.shape[2], x.shape[3]], [Ho, Wo] = [y.shape[2], y.shape[3]];
  const [kh, kw] = cfg.kernel, [sh, sw] = cfg.stride, [ph, pw] = cfg.padding, [dh, dw] = cfg.dilation;
  const xd = x.data, yd = y.data, ad = am.data;
  const P = planes(x);
  if (tiles(cfg, H, W, Ho, Wo) && kh === 2 && kw === 2) return maxPool2x2(xd, x.offset, yd, y.offset, ad, am.offset, P, H, W, Ho, Wo);
  for (let pl = 0; pl < P; pl++) {
    const xb = x.offset + pl * H * W, yb = y.offset + pl * Ho * Wo, ab = am.offset + pl * Ho * Wo;
    for (let oh = 0; oh < Ho; oh++) {
      const h0 = oh * sh - ph;
      for (let ow = 0; ow < Wo; ow++) {
        const w0 = ow * sw - pw;
        // padding acts as -inf: only real pixels compete; NaN wins and sticks (as PyTorch)
        let best = -Infinity, arg = -1;
        for (let ki = 0; ki < kh; ki++) {
          const ih = h0 + ki * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kj = 0; kj < kw; kj++) {
            const iw = w0 + kj * dw;
            if (iw < 0 || iw >= W) continue;
            const v = xd[xb + ih * W + iw];
            if (arg < 0 || v > best || (v !== v && best === best)) {
              best = v;
              arg = ih * W + iw;
            }
          }
        }
        yd[yb + oh * Wo + ow] = best;
        ad[ab + oh * Wo + ow] = arg;
      }
    }
  }
};

/**
 * Whether the windows tile the input: kernel = stride, no padding or dilation, every window
 * inside it (the common 2x2 pooling of CNNs). Then each input pixel is in at most one window.
 */
function tiles(cfg: { kernel: readonly number[]; stride: readonly number[]; padding: readonly number[]; dilation: readonly number[] }, H: number, W: number, Ho: number, Wo: number): boolean {
  const [kh, kw] = cfg.kernel, [sh, sw] = cfg.stride, [ph, pw] = cfg.padding, [dh, dw] = cfg.dilation;
  return kh === sh && kw === sw && ph === 0 && pw === 0 && dh === 1 && dw === 1 && Ho * kh <= H && Wo * kw <= W;
}

/** maxPool2d's loop for tiling 2x2 windows: the same taps in the same order, no bounds checks. */
function maxPool2x2(xd: ArrayLike<number>, xo: number, yd: CpuView['data'], yo: number, ad: CpuView['data'], ao: number, P: number, H: number, W: number, Ho: number, Wo: number): void {
  for (let pl = 0; pl < P; pl++) {
    const xb = xo + pl * H * W, yb = yo + pl * Ho * Wo, ab = ao + pl * Ho * Wo;
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0, r = 2 * oh * W; ow < Wo; ow++, r += 2) {
        // as the general loop: the first tap, then a larger value, or a NaN over a number
        let best = xd[xb + r], arg = r;
        let v = xd[xb + r + 1];
        if (v > best || (v !== v && best === best)) { best = v; arg = r + 1; }
        v = xd[xb + r + W];
        if (v > best || (v !== v && best === best)) { best = v; arg = r + W; }
        v = xd[xb + r + W + 1];
        if (v > best || (v !== v && best === best)) { best = v; arg = r + W + 1; }
        yd[yb + oh * Wo + ow] = best;
        ad[ab + oh * Wo + ow] = arg;
      }
    }
  }
}

/**
 * The output rows (or cols) whose window covers input index i: the taps k with
 * (i + pad - k·dil) = o·stride for 0 ≤ o < outSize. Calls visit(o) in increasing k.
 */
function forEachWindow(i: number, pad: number, k: number, dil: number, stride: number, outSize: number, visit: (o: number) => void): void {
  for (let t = 0; t < k; t++) {
    const s = i + pad - t * dil;
    if (s < 0) break;
    const o = (s / stride) | 0;
    if (o * stride === s && o < outSize) visit(o);
  }
}

/** maxPool2dBackward: gy[N,C,Ho,Wo], argmax int32[N,C,Ho,Wo] → gx[N,C,H,W]. */
export const maxPool2dBackward: CpuRoutine<'maxPool2dBackward'> = (cfg, inputs, outputs) => {
  const [gy, am] = inputs;
  const gx = outputs[0];
  const [H, W] = [gx.shape[2], gx.shape[3]], [Ho, Wo] = [gy.shape[2], gy.shape[3]];
  const [kh, kw] = cfg.kernel, [sh, sw] = cfg.stride, [ph, pw] = cfg.padding, [dh, dw] = cfg.dilation;
  const gd = gy.data, ad = am.data, xd = gx.data;
  const P = planes(gx);
  if (tiles(cfg, H, W, Ho, Wo)) {
    // each pixel is in at most one window: zeros, then each window's gradient at its argmax
    // (0 + g: the gather below adds onto +0, so a -0 gradient becomes +0 there too)
    for (let pl = 0; pl < P; pl++) {
      const gb = gy.offset + pl * Ho * Wo, ab = am.offset + pl * Ho * Wo, xb = gx.offset + pl * H * W;
      xd.fill(0, xb, xb + H * W);
      for (let o = 0; o < Ho * Wo; o++) xd[xb + ad[ab + o]] = 0 + gd[gb + o];
    }
    return;
  }
  // the windows covering each input row / col, precomputed once (flattened lists)
  const rows = windowLists(H, ph, kh, dh, sh, Ho), cols = windowLists(W, pw, kw, dw, sw, Wo);
  for (let pl = 0; pl < P; pl++) {
    const gb = gy.offset + pl * Ho * Wo, ab = am.offset + pl * Ho * Wo, xb = gx.offset + pl * H * W;
    for (let ih = 0; ih < H; ih++) {
      for (let iw = 0; iw < W; iw++) {
        const me = ih * W + iw;
        let acc = 0;
        for (let r = rows.start[ih]; r < rows.start[ih + 1]; r++) {
          const rowOff = rows.list[r] * Wo;
          for (let c = cols.start[iw]; c < cols.start[iw + 1]; c++) {
            const o = rowOff + cols.list[c];
            if (ad[ab + o] === me) acc += gd[gb + o];
          }
        }
        xd[xb + me] = acc;
      }
    }
  }
};

/** For each input index i < n, the output indices whose window covers it (CSR layout). */
function windowLists(n: number, pad: number, k: number, dil: number, stride: number, outSize: number): { start: Int32Array; list: Int32Array } {
  const start = new Int32Array(n + 1);
  const list: number[] = [];
  for (let i = 0; i < n; i++) {
    start[i] = list.length;
    forEachWindow(i, pad, k, dil, stride, outSize, (o) => list.push(o));
  }
  start[n] = list.length;
  return { start, list: Int32Array.from(list) };
}

/**
 * Per output row (or col), the divisor factor as PyTorch computes it: the window clipped to
 * the padded extent (countIncludePad) or to the real input (otherwise). The 2-D divisor is
 * the product of the row and column factors.
 */
function avgFactors(n: number, outSize: number, k: number, stride: number, pad: number, includePad: boolean): Float64Array {
  const f = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const s = o * stride - pad;
    const e = Math.min(s + k, n + pad);
    f[o] = includePad ? e - s : Math.min(e, n) - Math.max(s, 0);
  }
  return f;
}

/** avgPool2d: x[N,C,H,W] → y[N,C,Ho,Wo]. */
export const avgPool2d: CpuRoutine<'avgPool2d'> = (cfg, inputs, outputs) => {
  const x = inputs[0], y = outputs[0];
  const [H, W] = [x.shape[2], x.shape[3]], [Ho, Wo] = [y.shape[2], y.shape[3]];
  const [kh, kw] = cfg.kernel, [sh, sw] = cfg.stride, [ph, pw] = cfg.padding;
  const fr = avgFactors(H, Ho, kh, sh, ph, cfg.countIncludePad), fc = avgFactors(W, Wo, kw, sw, pw, cfg.countIncludePad);
  const xd = x.data, yd = y.data;
  const P = planes(x);
  for (let pl = 0; pl < P; pl++) {
    const xb = x.offset + pl * H * W, yb = y.offset + pl * Ho * Wo;
    for (let oh = 0; oh < Ho; oh++) {
      const h0 = Math.max(oh * sh - ph, 0), h1 = Math.min(oh * sh - ph + kh, H);
      for (let ow = 0; ow < Wo; ow++) {
        const w0 = Math.max(ow * sw - pw, 0), w1 = Math.min(ow * sw - pw + kw, W);
        let acc = 0;
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) acc += xd[xb + ih * W + iw];
        const div = fr[oh] * fc[ow];
        yd[yb + oh * Wo + ow] = div > 0 ? acc / div : 0;
      }
    }
  }
};

/** avgPool2dBackward: gy[N,C,Ho,Wo] → gx[N,C,H,W]. */
export const avgPool2dBackward: CpuRoutine<'avgPool2dBackward'> = (cfg, inputs, outputs) => {
  const gy = inputs[0], gx = outputs[0];
  const [H, W] = [gx.shape[2], gx.shape[3]], [Ho, Wo] = [gy.shape[2], gy.shape[3]];
  const [kh, kw] = cfg.kernel, [sh, sw] = cfg.stride, [ph, pw] = cfg.padding;
  const fr = avgFactors(H, Ho, kh, sh, ph, cfg.countIncludePad), fc = avgFactors(W, Wo, kw, sw, pw, cfg.countIncludePad);
  const rows = windowLists(H, ph, kh, 1, sh, Ho), cols = windowLists(W, pw, kw, 1, sw, Wo);
  const gd = gy.data, xd = gx.data;
  const P = planes(gx);
  for (let pl = 0; pl < P; pl++) {
    const gb = gy.offset + pl * Ho * Wo, xb = gx.offset + pl * H * W;
    for (let ih = 0; ih < H; ih++) {
      for (let iw = 0; iw < W; iw++) {
        let acc = 0;
        for (let r = rows.start[ih]; r < rows.start[ih + 1]; r++) {
          const oh = rows.list[r];
          for (let c = cols.start[iw]; c < cols.start[iw + 1]; c++) {
            const ow = cols.list[c];
            const div = fr[oh] * fc[ow];
            if (div > 0) acc += gd[gb + oh * Wo + ow] / div;
          }
        }
        xd[xb + ih * W + iw] = acc;
      }
    }
  }
};
