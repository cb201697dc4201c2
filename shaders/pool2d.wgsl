// 2-D max and average pooling and their backward kernels, NCHW, one thread per element written.
// The backward kernels are gathers: each input pixel sums over the (few) output windows that
// contain it, so nothing is accumulated atomically and results are deterministic.
//
// Flags (one of each pair): MAX / AVG, FORWARD / BACKWARD; CELL (MAX BACKWARD, strides <= 2).
//   MAX FORWARD    x → y, argmax (i32 flat index ih*W + iw of the max; padding counts as -inf)
//   MAX BACKWARD   gy, argmax → gx
//   AVG FORWARD    x → y (divisor: the window clipped to the padded image when countIncludePad,
//                  else to the image, as PyTorch)
//   AVG BACKWARD   gy → gx
//   MAX BACKWARD CELL  one thread per stride cell of SH x SW input pixels (SH, SW: the stride, 1
//                  or 2) instead of one per pixel: the cell's pixels are exactly those that the
//                  windows oh in [ch - (KH-1)*dh/sh, ch] (likewise ow) can have as argmax, so the
//                  thread reads each candidate window's argmax and gy once and adds gy to the
//                  pixel it names (compares, no divisions). A 2x2 stride-2 pool reads one window
//                  per 4 pixels written, where the per-pixel gather tested 4 taps per pixel
//                  with two integer divisions each.
// wt_* helpers come from src/kernel/wgsl-lib.ts (appended by the routine).
// Workgroups: a 2-D grid of WG-thread groups covering `total` threads (x * y * WG >= total):
// elements written, or cells under CELL.

const WG = {{WG}}u;

struct Uniforms {
  total: u32,                     // elements written: planes * Ho * Wo (forward) or planes * H * W
  H: u32, W: u32, Ho: u32, Wo: u32,
  KH: u32, KW: u32, sh: u32, sw: u32,
  ph: u32, pw: u32, dh: u32, dw: u32,
  inOff: u32, outOff: u32, argOff: u32,
  countIncludePad: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;

#if MAX
#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>;
#else
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<i32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
#endif
#else
#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
#endif
#endif

#if CELL
const SH = {{SH}}u;
const SW = {{SW}}u;
#endif

#if AVG
// PyTorch's divisor for the window of output (oh, ow): the window clipped to the padded image
// (countIncludePad) or to the image
fn divisor(oh: u32, ow: u32) -> f32 {
  let h0 = i32(oh * u.sh) - i32(u.ph);
  let w0 = i32(ow * u.sw) - i32(u.pw);
  let h1 = min(h0 + i32(u.KH), i32(u.H + u.ph));
  let w1 = min(w0 + i32(u.KW), i32(u.W + u.pw));
  if (u.countIncludePad != 0u) { return f32((h1 - h0) * (w1 - w0)); }
  return f32((min(h1, i32(u.H)) - max(h0, 0)) * (min(w1, i32(u.W)) - max(w0, 0)));
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i >= u.total) { return; }
#if CELL
  // cell (ch, cw) of plane `plane`: pixels ih = ch*SH - ph + r, iw = cw*SW - pw + c (r < SH, c < SW)
  let H = u.H;
  let W = u.W;
  let Ho = u.Ho;
  let Wo = u.Wo;
  let CW = (W + u.pw + SW - 1u) / SW;
  let CH = (H + u.ph + SH - 1u) / SH;
  let cw = i % CW;
  let ch = (i / CW) % CH;
  let plane = i / (CW * CH);
  let ih0 = i32(ch * SH) - i32(u.ph);
  let iw0 = i32(cw * SW) - i32(u.pw);
  // argmax index of pixel (r, c) is at + r*W + c; a match outside the image is never stored
  let at = ih0 * i32(W) + iw0;
  let oh0 = u32(max(i32(ch) - i32((u.KH - 1u) * u.dh / SH), 0));
  let ow0 = u32(max(i32(cw) - i32((u.KW - 1u) * u.dw / SW), 0));
  let oh1 = min(ch + 1u, Ho);
  let ow1 = min(cw + 1u, Wo);
  let base = plane * Ho * Wo;
  var s00 = 0.0;
  var s01 = 0.0;
  var s10 = 0.0;
  var s11 = 0.0;
  for (var oh = oh0; oh < oh1; oh++) {
    for (var ow = ow0; ow < ow1; ow++) {
      let o = base + oh * Wo + ow;
      let rel = argmax[u.argOff + o] - at;
      let g = gy[u.inOff + o];
      s00 += select(0.0, g, rel == 0);
      if (SW > 1u) { s01 += select(0.0, g, rel == 1); }
      if (SH > 1u) { s10 += select(0.0, g, rel == i32(W)); }
      if (SH > 1u && SW > 1u) { s11 += select(0.0, g, rel == i32(W) + 1); }
    }
  }
  let out = u.outOff + plane * H * W;
  let okH0 = ih0 >= 0 && ih0 < i32(H);
  let okH1 = SH > 1u && ih0 + 1 >= 0 && ih0 + 1 < i32(H);
  let okW0 = iw0 >= 0 && iw0 < i32(W);
  let okW1 = SW > 1u && iw0 + 1 >= 0 && iw0 + 1 < i32(W);
  if (okH0 && okW0) { gx[out + u32(at)] = s00; }
  if (okH0 && okW1) { gx[out + u32(at + 1)] = s01; }
  if (okH1 && okW0) { gx[out + u32(at + i32(W))] = s10; }
  if (okH1 && okW1) { gx[out + u32(at + i32(W) + 1)] = s11; }
#elif FORWARD
  let ow = i % u.Wo;
  let oh = (i / u.Wo) % u.Ho;
  let plane = i / (u.Wo * u.Ho);
  let base = u.inOff + plane * u.H * u.W;
  let h0 = i32(oh * u.sh) - i32(u.ph);
  let w0 = i32(ow * u.sw) - i32(u.pw);
#if MAX
  var best = wt_f32(0xff800000u); // -inf: padding never wins
  var at = -1;
  for (var kh = 0u; kh < u.KH; kh++) {
    let ih = h0 + i32(kh * u.dh);
    if (ih < 0 || ih >= i32(u.H)) { continue; }
    for (var kw = 0u; kw < u.KW; kw++) {
      let iw = w0 + i32(kw * u.dw);
      if (iw < 0 || iw >= i32(u.W)) { continue; }
      let idx = ih * i32(u.W) + iw;
      let v = x[base + u32(idx)];
      // the first in-image pixel is the default; the first NaN wins and sticks, as in PyTorch
      if (at < 0 || v > best || (wt_isnan(v) && !wt_isnan(best))) { best = v; at = idx; }
    }
  }
  y[u.outOff + i] = best;
  argmax[u.argOff + i] = at;
#else
  var s = 0.0;
  for (var kh = 0u; kh < u.KH; kh++) {
    let ih = h0 + i32(kh);
    if (ih < 0 || ih >= i32(u.H)) { continue; }
    for (var kw = 0u; kw < u.KW; kw++) {
      let iw = w0 + i32(kw);
      if (iw < 0 || iw >= i32(u.W)) { continue; }
      s += x[base + u32(ih) * u.W + u32(iw)];
    }
  }
  let div = divisor(oh, ow);
  // a window wholly in the padding (countIncludePad off) averages nothing: 0, as the CPU
  y[u.outOff + i] = select(0.0, s / div, div > 0.0);
#endif
#else
  let iw = i % u.W;
  let ih = (i / u.W) % u.H;
  let plane = i / (u.W * u.H);
  let base = plane * u.Ho * u.Wo;
  var s = 0.0;
#if MAX
  // output windows that put some tap (kh, kw) on this pixel: oh*sh - ph + kh*dh == ih
  let me = i32(ih * u.W + iw);
  for (var kh = 0u; kh < u.KH; kh++) {
    let th = i32(ih + u.ph) - i32(kh * u.dh);
    if (th < 0 || u32(th) % u.sh != 0u || u32(th) / u.sh >= u.Ho) { continue; }
    let oh = u32(th) / u.sh;
    for (var kw = 0u; kw < u.KW; kw++) {
      let tw = i32(iw + u.pw) - i32(kw * u.dw);
      if (tw < 0 || u32(tw) % u.sw != 0u || u32(tw) / u.sw >= u.Wo) { continue; }
      let o = base + oh * u.Wo + u32(tw) / u.sw;
      if (argmax[u.argOff + o] == me) { s += gy[u.inOff + o]; }
    }
  }
#else
  // windows [oh*sh - ph, oh*sh - ph + KH) containing ih: oh in [ceil((ih+ph-KH+1)/sh), (ih+ph)/sh]
  let th = i32(ih + u.ph);
  let tw = i32(iw + u.pw);
  let oh0 = u32(max(th - i32(u.KH) + i32(u.sh), 0)) / u.sh;
  let ow0 = u32(max(tw - i32(u.KW) + i32(u.sw), 0)) / u.sw;
  let oh1 = min(u32(th) / u.sh + 1u, u.Ho);
  let ow1 = min(u32(tw) / u.sw + 1u, u.Wo);
  for (var oh = oh0; oh < oh1; oh++) {
    for (var ow = ow0; ow < ow1; ow++) {
      let div = divisor(oh, ow);
      if (div > 0.0) { s += gy[u.inOff + base + oh * u.Wo + ow] / div; }
    }
  }
#endif
  gx[u.outOff + i] = s;
#endif
}
