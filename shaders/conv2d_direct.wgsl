// conv2d and its two backward kernels as direct convolutions, for layers with few channels and
// for CPU-emulated adapters: no workgroup tiles, no per-element im2col index maps. Each thread
// keeps a block of results in registers and walks the reduction with running offsets, so its
// inner loop is loads, bounds tests and FMAs. All views NCHW / OIHW contiguous, element offsets
// in the uniforms. Legend: N batch, C/O channels in/out, G groups, Cg = C/G, Og = O/G, H/W
// input, Ho/Wo output, KH/KW kernel, KK = KH*KW.
//
// FORWARD and BACKWARD_INPUT are one kernel, a "gather" convolution: a thread writes 4 (CH8: 8)
// channels of one output row of `out` at 4 adjacent columns, summing over the `cin` channels of
// its group in `in` and over the taps (kh, j):
//   out[b, g*cout + o, r, q] = sum_{c, kh, j} w[g*wG + o*wb + c*wl + kh*KW + kw0 + j*kwStep]
//                                             * in[b, g*cin + c, r*rs + r0 + kh*rk, q*cs + c0 + j*ck]
// with zeros outside `in`. The routine (conv.ts) fills the uniforms so that this is
//   FORWARD          out = y, in = x, o < Og, c < Cg: rows oh*sh - ph + kh*dh, columns
//                    ow*sw - pw + kw*dw (j = kw); plus bias with BIAS (binding 3; placeholder
//                    OUT is the output's binding)
//   BACKWARD_INPUT   out = gx, in = gy, o < Cg, c < Og: the taps that land on output pixel
//                    (oh, ow) = ((ih + ph - kh*dh) / sh, (iw + pw - kw*dw) / sw). At stride 1
//                    the columns run j = KW-1-kw so that they increase with j, like the
//                    forward's; with STRIDED (stride > 1) rows and columns are first tested for
//                    divisibility by sh / sw, then divided.
// DENSE (column step ck = 1 and cs = 1, i.e. unit stride and dilation along the width): the 4
// input columns a thread needs for tap j + 1 are those of tap j shifted by one, so each tap loads
// one new input value instead of 4 (a sliding window in registers).
//
// BACKWARD_WEIGHT  a workgroup owns a block of gw: OB output channels o (4, CH8: 8) x 4
//                  consecutive taps t = (c, kh, kw) of one group,
//                  gw[o, t] = sum_{b, oh, ow} gy[b, o, oh, ow] * x[b, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
//                  Its {{WG}} threads take every WG-th (b, oh) row of that sum; the partial blocks
//                  meet in workgroup memory behind one barrier: no atomics, no second pass, and a
//                  fixed summation order (deterministic results).
// Blocks that run past a channel or tap count compute on clamped indices and are not stored.
// Workgroups: {{WG}} threads, numbered wg.y * nwg.x + wg.x over a 2-D grid.

#if BACKWARD_WEIGHT
struct Uniforms {
  N: u32, C: u32, H: u32, W: u32,
  O: u32, Ho: u32, Wo: u32, KH: u32,
  KW: u32, Cg: u32, Og: u32, G: u32,
  sh: u32, sw: u32, ph: u32, pw: u32,
  dh: u32, dw: u32, xOff: u32, wOff: u32,
  yOff: u32, cBlocks: u32, tBlocks: u32, total: u32,   // OB-channel and 4-tap blocks per group; workgroups
}
#else
struct Uniforms {
  inC: u32, inH: u32, inW: u32, inOff: u32,
  outC: u32, outH: u32, outW: u32, outOff: u32,
  G: u32, cin: u32, cout: u32, total: u32,             // total: threads with work
  KH: u32, KW: u32, pBlocks: u32, cBlocks: u32,        // 4-column blocks per row; channel blocks per group
  rs: u32, r0: i32, rk: i32, sh: u32,                  // rows (sh: STRIDED only)
  cs: u32, c0: i32, ck: i32, sw: u32,                  // columns (sw: STRIDED only)
  wOff: u32, wG: u32, wb: u32, wl: u32,                // weight offset and strides
  kw0: u32, kwStep: i32, biasOff: u32,
}
#endif
@group(0) @binding(0) var<uniform> u: Uniforms;

const WG = {{WG}}u;

#if FORWARD
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if BIAS
@group(0) @binding(3) var<storage, read> bias: array<f32>;
#endif
@group(0) @binding({{OUT}}) var<storage, read_write> dst: array<f32>;
#elif BACKWARD_INPUT
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
#else
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gw: array<f32>;
#if CH8
const OB = 8u;                                         // output channels per block
#else
const OB = 4u;
#endif
// one partial block per thread (OB channels x 4 taps), summed across the workgroup at the end
var<workgroup> part: array<array<vec4<f32>, OB>, WG>;
#endif

// src[base + p] for 0 <= p < lim, else 0, never reading past [base, base + n): lim is n, or 0
// on a row outside the image (so that every column tests out of range, without a branch)
fn at(base: u32, p: i32, n: u32, lim: u32) -> f32 {
  let v = src[base + u32(clamp(p, 0, i32(n) - 1))];
  return select(0.0, v, p >= 0 && p < i32(lim));
}

#if STRIDED
// the input-gradient gather at stride > 1: column p / sw of gy's row if p >= 0 is a multiple of
// sw, else 0
fn atStrided(base: u32, p: i32, n: u32, lim: u32) -> f32 {
  let q = u32(max(p, 0)) / u.sw;
  return select(0.0, at(base, i32(q), n, lim), p >= 0 && q * u.sw == u32(p));
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
#if !BACKWARD_WEIGHT
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= u.total) { return; }
  // uniforms read once: each read in a loop would be a load on CPU-emulated adapters
  let inH = u.inH;
  let inW = u.inW;
  let KH = u.KH;
  let KW = u.KW;
  let cin = u.cin;
  let rk = u.rk;
  let ck = u.ck;
  let kwStep = u.kwStep;
  let wl = u.wl;
  let cs = i32(u.cs);
  let q0 = (t % u.pBlocks) * 4u;
  var rest = t / u.pBlocks;
  let orow = rest % u.outH;
  rest /= u.outH;
#if CH8
  let o0 = (rest % u.cBlocks) * 8u;
#else
  let o0 = (rest % u.cBlocks) * 4u;
#endif
  rest /= u.cBlocks;
  let g = rest % u.G;
  let b = rest / u.G;
  // weight rows of the block's channels; past `cout` they repeat the last one (never stored)
  let last = u.cout - 1u;
  let wg0 = u.wOff + g * u.wG;
  var w0 = wg0 + o0 * u.wb;
  var w1 = wg0 + min(o0 + 1u, last) * u.wb;
  var w2 = wg0 + min(o0 + 2u, last) * u.wb;
  var w3 = wg0 + min(o0 + 3u, last) * u.wb;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
#if CH8
  var w4 = wg0 + min(o0 + 4u, last) * u.wb;
  var w5 = wg0 + min(o0 + 5u, last) * u.wb;
  var w6 = wg0 + min(o0 + 6u, last) * u.wb;
  var w7 = wg0 + min(o0 + 7u, last) * u.wb;
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
#endif
  let rowAt = i32(orow * u.rs) + u.r0;               // input row at kh = 0
  let colAt = i32(q0 * u.cs) + u.c0;                 // input column of the first pixel at j = 0
  var plane = u.inOff + (b * u.inC + g * cin) * inH * inW;
  // one loop over the (c, kh) rows of taps, not two nested ones, and no branch for the rows
  // outside the image: on CPU-emulated adapters loop levels and branches cost as much as loads
  var kh = 0u;
  for (var ckh = 0u; ckh < cin * KH; ckh++) {
    let rr = rowAt + i32(kh) * rk;
#if STRIDED
    let ir = i32(u32(max(rr, 0)) / u.sh);
    let ok = rr >= 0 && u32(ir) * u.sh == u32(rr) && ir < i32(inH);
#else
    let ir = rr;
    let ok = ir >= 0 && ir < i32(inH);
#endif
    let lim = select(0u, inW, ok);
    let row = plane + u32(clamp(ir, 0, i32(inH) - 1)) * inW;
    var k = i32(kh * KW + u.kw0);                    // weight column of tap j
    var col = colAt;
#if DENSE
    var v = vec4<f32>(at(row, col, inW, lim), at(row, col + 1, inW, lim), at(row, col + 2, inW, lim), at(row, col + 3, inW, lim));
#endif
    for (var j = 0u; j < KW; j++) {
#if DENSE
      // v holds the 4 columns of this tap; the next tap's are one further
#elif STRIDED
      let v = vec4<f32>(atStrided(row, col, inW, lim), atStrided(row, col + 1, inW, lim), atStrided(row, col + 2, inW, lim), atStrided(row, col + 3, inW, lim));
#else
      let v = vec4<f32>(at(row, col, inW, lim), at(row, col + cs, inW, lim), at(row, col + 2 * cs, inW, lim), at(row, col + 3 * cs, inW, lim));
#endif
      let uk = u32(k);
      a0 = fma(vec4<f32>(w[w0 + uk]), v, a0);
      a1 = fma(vec4<f32>(w[w1 + uk]), v, a1);
      a2 = fma(vec4<f32>(w[w2 + uk]), v, a2);
      a3 = fma(vec4<f32>(w[w3 + uk]), v, a3);
#if CH8
      a4 = fma(vec4<f32>(w[w4 + uk]), v, a4);
      a5 = fma(vec4<f32>(w[w5 + uk]), v, a5);
      a6 = fma(vec4<f32>(w[w6 + uk]), v, a6);
      a7 = fma(vec4<f32>(w[w7 + uk]), v, a7);
#endif
      k += kwStep;
      col += ck;
#if DENSE
      v = vec4<f32>(v.yzw, at(row, col + 3, inW, lim));
#endif
    }
    // after the last kernel row of channel c, step to channel c + 1
    kh++;
    let next = kh == KH;
    kh = select(kh, 0u, next);
    plane += select(0u, inH * inW, next);
    let dwl = select(0u, wl, next);
    w0 += dwl;
    w1 += dwl;
    w2 += dwl;
    w3 += dwl;
#if CH8
    w4 += dwl;
    w5 += dwl;
    w6 += dwl;
    w7 += dwl;
#endif
  }
#if CH8
  let acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
  let nb = 8u;
#else
  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  let nb = 4u;
#endif
  let outW = u.outW;
  for (var i = 0u; i < nb; i++) {
    let o = o0 + i;
    if (o >= u.cout) { break; }
    let oc = g * u.cout + o;
    var r = acc[i];
#if BIAS
    r += vec4<f32>(bias[u.biasOff + oc]);
#endif
    let at0 = u.outOff + ((b * u.outC + oc) * u.outH + orow) * outW + q0;
    for (var jj = 0u; jj < 4u; jj++) {
      if (q0 + jj < outW) { dst[at0 + jj] = r[jj]; }
    }
  }
#else
  let blk = wid.y * nwg.x + wid.x;
  // the whole workgroup leaves together, so the barrier below stays in uniform control flow
  if (blk >= u.total) { return; }
  let KK = u.KH * u.KW;
  let t0 = (blk % u.tBlocks) * 4u;
  let r = blk / u.tBlocks;
  let o0 = (r % u.cBlocks) * OB;
  let g = r / u.cBlocks;
  // the 4 taps (c, kh, kw) of this block; past Cg*KK they repeat the last one (never stored)
  let lastT = u.Cg * KK - 1u;
  let tap = vec4<u32>(t0, min(t0 + 1u, lastT), min(t0 + 2u, lastT), min(t0 + 3u, lastT));
  let kw = tap % u.KW;
  let kh = (tap / u.KW) % u.KH;
  let xc = ((g * u.Cg + tap / KK) * u.H) * u.W;                       // channel planes, batch 0
  let dh = vec4<i32>(kh * u.dh) - i32(u.ph);
  let dw = vec4<i32>(kw * u.dw) - i32(u.pw);
  // gy planes of the block's output channels; past Og they repeat the last one (never stored)
  let lastO = u.Og - 1u;
  let hw = u.Ho * u.Wo;
  let yc = (g * u.Og + vec4<u32>(o0, min(o0 + 1u, lastO), min(o0 + 2u, lastO), min(o0 + 3u, lastO))) * hw;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
#if CH8
  let yd = (g * u.Og + min(vec4<u32>(o0 + 4u, o0 + 5u, o0 + 6u, o0 + 7u), vec4<u32>(lastO))) * hw;
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
#endif
  let rows = u.N * u.Ho;
  let H = u.H;
  let W = u.W;
  let Wo = u.Wo;
  let sw = i32(u.sw);
  for (var row = lid; row < rows; row += WG) {
    let b = row / u.Ho;
    let oh = row % u.Ho;
    let ys = u.yOff + b * u.O * hw + oh * Wo;
    let xs = u.xOff + b * u.C * H * W;
    // per tap: its input row, and whether that row is inside the image
    let ih = vec4<i32>(i32(oh * u.sh)) + dh;
    let ihc = vec4<u32>(clamp(ih, vec4<i32>(0), vec4<i32>(i32(H) - 1)));
    let lim = select(vec4<u32>(0u), vec4<u32>(W), (ih >= vec4<i32>(0)) & (ih < vec4<i32>(i32(H))));
    let xr = xs + xc + ihc * W;
    let y0 = ys + yc;
#if CH8
    let y1 = ys + yd;
#endif
    var iw = dw;
    for (var ow = 0u; ow < Wo; ow++) {
      let xv = vec4<f32>(at(xr.x, iw.x, W, lim.x), at(xr.y, iw.y, W, lim.y), at(xr.z, iw.z, W, lim.z), at(xr.w, iw.w, W, lim.w));
      a0 = fma(vec4<f32>(gy[y0.x + ow]), xv, a0);
      a1 = fma(vec4<f32>(gy[y0.y + ow]), xv, a1);
      a2 = fma(vec4<f32>(gy[y0.z + ow]), xv, a2);
      a3 = fma(vec4<f32>(gy[y0.w + ow]), xv, a3);
#if CH8
      a4 = fma(vec4<f32>(gy[y1.x + ow]), xv, a4);
      a5 = fma(vec4<f32>(gy[y1.y + ow]), xv, a5);
      a6 = fma(vec4<f32>(gy[y1.z + ow]), xv, a6);
      a7 = fma(vec4<f32>(gy[y1.w + ow]), xv, a7);
#endif
      iw += vec4<i32>(sw);
    }
  }
#if CH8
  part[lid] = array<vec4<f32>, OB>(a0, a1, a2, a3, a4, a5, a6, a7);
#else
  part[lid] = array<vec4<f32>, OB>(a0, a1, a2, a3);
#endif
  workgroupBarrier();
  // entry e = (o0 + e / 4, tap t0 + e % 4), summed over the workgroup in thread order
  for (var e = lid; e < OB * 4u; e += WG) {
    let i = e / 4u;
    let j = e % 4u;
    var s = 0.0;
    for (var q = 0u; q < WG; q++) { s += part[q][i][j]; }
    if (o0 + i < u.Og && t0 + j <= lastT) {
      gw[u.wOff + (g * u.Og + o0 + i) * u.Cg * KK + t0 + j] = s;
    }
  }
#endif
}
