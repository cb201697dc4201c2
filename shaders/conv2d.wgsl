// conv2d and its two backward kernels as implicit GEMMs on gemm.wgsl: no im2col buffer is ever
// written; the loaders below compute the im2col element on the fly. z = group, all views NCHW
// contiguous (offsets in the uniforms). Legend: N batch, C/O channels in/out, Cg = C/groups,
// Og = O/groups, H/W input size, Ho/Wo output size, KH/KW kernel size.
//
// One flag picks the kernel:
//   FORWARD          y[b,o,oh,ow] = bias[o] + sum_{c,kh,kw} w[o,c,kh,kw] * x[b,c,ih,iw]
//                    GEMM: M = Og, N = N*Ho*Wo, K = Cg*KH*KW; A = w, B = im2col(x)
//                    (BIAS adds binding 3; placeholder OUT is the output's binding)
//   BACKWARD_INPUT   gx[b,c,ih,iw] = sum_{o,kh,kw} w[o,c,kh,kw] * gy[b,o,oh,ow] where
//                    ih = oh*sh - ph + kh*dh (only kh, kw for which oh, ow are whole and in range)
//                    GEMM: M = Cg, N = N*H*W, K = Og*KH*KW; A = w^T, B = col2im gather of gy
//   BACKWARD_WEIGHT  gw[o,c,kh,kw] = sum_{b,oh,ow} gy[b,o,oh,ow] * x[b,c,ih,iw]
//                    GEMM: M = Og, N = Cg*KH*KW, K = N*Ho*Wo; A = gy, B = im2col(x)^T
//                    With SPLIT_K (few output tiles, long K) each K slice adds its partial sum
//                    into gw, zeroed by fill.wgsl first, with a compare-exchange loop.
// with ih = oh*sh - ph + kh*dh, iw = ow*sw - pw + kw*dw, and out-of-image pixels reading 0.

struct Uniforms {
  M: u32, N: u32, K: u32, batch: u32,
  C: u32, H: u32, W: u32, O: u32,
  Ho: u32, Wo: u32, KH: u32, KW: u32,
  Cg: u32, Og: u32, sh: u32, sw: u32,
  ph: u32, pw: u32, dh: u32, dw: u32,
  xOff: u32, wOff: u32, yOff: u32, biasOff: u32,
  splits: u32, kChunk: u32,                  // SPLIT_K only (see gemm.wgsl)
}
@group(0) @binding(0) var<uniform> u: Uniforms;

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if BIAS
@group(0) @binding(3) var<storage, read> bias: array<f32>;
#endif
@group(0) @binding({{OUT}}) var<storage, read_write> y: array<f32>;
#elif BACKWARD_INPUT
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
#if SPLIT_K
@group(0) @binding(3) var<storage, read_write> w: array<atomic<u32>>;
#else
@group(0) @binding(3) var<storage, read_write> w: array<f32>;
#endif
#endif

#if !BACKWARD_INPUT
// x[b, c, ih, iw] with zero padding outside the image; c is the absolute channel
fn xAt(b: u32, c: u32, ih: i32, iw: i32) -> f32 {
  if (ih < 0 || iw < 0 || ih >= i32(u.H) || iw >= i32(u.W)) { return 0.0; }
  return x[u.xOff + ((b * u.C + c) * u.H + u32(ih)) * u.W + u32(iw)];
}

// im2col(x)[(c, kh, kw), (b, oh, ow)] within group g
fn im2col(g: u32, ckk: u32, pix: u32) -> f32 {
  let ow = pix % u.Wo;
  let t = pix / u.Wo;
  let oh = t % u.Ho;
  let b = t / u.Ho;
  let kw = ckk % u.KW;
  let t2 = ckk / u.KW;
  let kh = t2 % u.KH;
  let c = t2 / u.KH;
  let ih = i32(oh * u.sh + kh * u.dh) - i32(u.ph);
  let iw = i32(ow * u.sw + kw * u.dw) - i32(u.pw);
  return xAt(b, g * u.Cg + c, ih, iw);
}
#endif

#if FORWARD
fn loadA(g: u32, m: u32, k: u32) -> f32 { return w[u.wOff + (g * u.Og + m) * u.K + k]; }
fn loadB(g: u32, n: u32, k: u32) -> f32 { return im2col(g, k, n); }
fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let o = g * u.Og + m;
  let hw = u.Ho * u.Wo;
  var r = v;
#if BIAS
  r += bias[u.biasOff + o];
#endif
  y[u.yOff + ((n / hw) * u.O + o) * hw + n % hw] = r;
}
#elif BACKWARD_INPUT
// w^T: row c, column (o, kh, kw)
fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let khw = u.KH * u.KW;
  return w[u.wOff + ((g * u.Og + k / khw) * u.Cg + m) * khw + k % khw];
}
// gy[b, o, oh, ow] for the output pixel whose window puts tap (kh, kw) on input pixel (ih, iw)
fn loadB(g: u32, n: u32, k: u32) -> f32 {
  let iw = n % u.W;
  let t = n / u.W;
  let ih = t % u.H;
  let b = t / u.H;
  let kw = k % u.KW;
  let t2 = k / u.KW;
  let kh = t2 % u.KH;
  let o = t2 / u.KH;
  let th = i32(ih + u.ph) - i32(kh * u.dh);
  let tw = i32(iw + u.pw) - i32(kw * u.dw);
  if (th < 0 || tw < 0) { return 0.0; }
  let oh = u32(th) / u.sh;
  let ow = u32(tw) / u.sw;
  if (oh * u.sh != u32(th) || ow * u.sw != u32(tw) || oh >= u.Ho || ow >= u.Wo) { return 0.0; }
  return y[u.yOff + ((b * u.O + g * u.Og + o) * u.Ho + oh) * u.Wo + ow];
}
fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let hw = u.H * u.W;
  x[u.xOff + ((n / hw) * u.C + g * u.Cg + m) * hw + n % hw] = v;
}
#else
// gy as [Og, (b, oh, ow)] within group g
fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let hw = u.Ho * u.Wo;
  return y[u.yOff + ((k / hw) * u.O + g * u.Og + m) * hw + k % hw];
}
fn loadB(g: u32, n: u32, k: u32) -> f32 { return im2col(g, n, k); }
#if SPLIT_K
fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let i = u.wOff + (g * u.Og + m) * u.N + n;
  var old = atomicLoad(&w[i]);
  loop {
    let r = atomicCompareExchangeWeak(&w[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}
#else
fn storeC(g: u32, m: u32, n: u32, v: f32) { w[u.wOff + (g * u.Og + m) * u.N + n] = v; }
#endif
#endif
