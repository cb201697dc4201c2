// Fused ("flash") attention, forward and backward: the L×S scores never reach memory. Each
// thread owns one row (a query in FWD and BWD_Q, a key in BWD_KV) and keeps it, and its
// accumulators, in registers; the workgroup streams the other side through workgroup memory a
// tile of BC rows at a time. Legend: Z = B·H matrices, L queries, S keys, E query/key features,
// Ev value features; rows of q, k, v are any-strided ([B, H, T, F] views), the rest contiguous.
//
//   FWD     q, k, v → o[Z,L,Ev], lse[Z,L]           online softmax over the key tiles
//   BWD_KV  q, k, v, go, lse, delta → gk, gv        thread per key; tiles of queries
//   BWD_Q   q, k, v, go, lse, delta → gq            thread per query; tiles of keys
//
// with s = scale·q·k, p = exp(s - lse), delta = rowsum(go·o) (the front end's reduction):
// gv = Σ_i p·go_i, ds = p·(go·v - delta), gk = Σ_i ds·scale·q_i, gq = Σ_j ds·scale·k_j.
// CAUSAL: query i sees keys j ≤ i (top-left aligned); tiles wholly past a row's last key are
// skipped by the whole workgroup. Features are padded to MAXE (a multiple of 4, ≥ E and Ev) with
// zeros, so the inner loops have constant trip counts over vec4s, written out by #unroll (the
// private rows then live in registers on SwiftShader too, which keeps arrays indexed by a loop
// variable in memory: forward 1.5x faster there).

struct Uniforms {
  H: u32, L: u32, S: u32, E: u32,
  Ev: u32, scale: f32, nb: u32, Z: u32,        // nb: row blocks per matrix
  qs: vec4<u32>, ks: vec4<u32>, vs: vec4<u32>, // strides of b, h, row, feature
  offq: u32, offk: u32, offv: u32, off3: u32,  // element offsets: q, k, v, then the 4th binding on
  off4: u32, off5: u32, off6: u32, off7: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
#if FWD
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
#else
@group(0) @binding(4) var<storage, read> go: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
#if BWD_KV
@group(0) @binding(7) var<storage, read_write> gk: array<f32>;
@group(0) @binding(8) var<storage, read_write> gv: array<f32>;
#else
@group(0) @binding(7) var<storage, read_write> gq: array<f32>;
#endif
#endif

const BR = {{BR}}u;       // threads = rows per workgroup
const BC = {{BC}}u;       // rows per tile
const M4 = {{M4}}u;       // MAXE / 4
const CAUSAL = {{CAUSAL}};

var<workgroup> ta: array<vec4<f32>, BC * M4>;
var<workgroup> tb: array<vec4<f32>, BC * M4>;
#if BWD_KV
var<workgroup> tl: array<f32, BC>;
var<workgroup> td: array<f32, BC>;
#endif

// four features of row r of a strided q / k / v view (zeros past n features)
fn row4(which: u32, b: u32, h: u32, r: u32, c4: u32, n: u32) -> vec4<f32> {
  var x = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) {
    let e = c4 * 4u + c;
    if (e < n) {
      if (which == 0u) { x[c] = q[u.offq + b * u.qs.x + h * u.qs.y + r * u.qs.z + e * u.qs.w]; }
      else if (which == 1u) { x[c] = k[u.offk + b * u.ks.x + h * u.ks.y + r * u.ks.z + e * u.ks.w]; }
      else { x[c] = v[u.offv + b * u.vs.x + h * u.vs.y + r * u.vs.z + e * u.vs.w]; }
    }
  }
  return x;
}

#if !FWD
// four features of row r of go (contiguous [Z, L, Ev]; zeros past Ev)
fn go4(z: u32, r: u32, c4: u32) -> vec4<f32> {
  var x = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) {
    let e = c4 * 4u + c;
    if (e < u.Ev) { x[c] = go[u.off3 + (z * u.L + r) * u.Ev + e]; }
  }
  return x;
}
#endif

// loadKV and keysFor: shaders/attention-tiles.wgsl

@compute @workgroup_size(BR)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let flat = wg.x + wg.y * nwg.x;
  let z = flat / u.nb;
  if (z >= u.Z) { return; } // the grid's spare workgroups (whole groups: barriers stay uniform)
  let blk = flat % u.nb;
  let b = z / u.H;
  let h = z % u.H;
  let row = blk * BR + lid;
#if BWD_KV
  // ---- one key per thread: gk, gv over tiles of queries ----
  let valid = row < u.S;
  var kr: array<vec4<f32>, M4>;
  var vr: array<vec4<f32>, M4>;
  var dk: array<vec4<f32>, M4>;
  var dv: array<vec4<f32>, M4>;
  if (valid) {
    #unroll c M4
    kr[c] = row4(1u, b, h, row, c, u.E);
    vr[c] = row4(2u, b, h, row, c, u.Ev);
    #endunroll
  }
  // queries before the block's first key see none of its keys
  var i0 = 0u;
  if (CAUSAL) { i0 = blk * BR; }
  for (; i0 < u.L; i0 += BC) {
    workgroupBarrier();
    for (var t = lid; t < BC * M4; t += BR) {
      let r = i0 + t / M4;
      var qx = vec4<f32>(0.0);
      var gx = vec4<f32>(0.0);
      if (r < u.L) {
        qx = row4(0u, b, h, r, t % M4, u.E) * u.scale;
        gx = go4(z, r, t % M4);
      }
      ta[t] = qx;
      tb[t] = gx;
    }
    for (var t = lid; t < BC; t += BR) {
      let r = min(i0 + t, u.L - 1u);
      tl[t] = lse[u.off4 + z * u.L + r];
      td[t] = delta[u.off5 + z * u.L + r];
    }
    workgroupBarrier();
    var n = 0u;
    if (valid) { n = min(BC, u.L - i0); }
    var first = 0u;
    if (CAUSAL && row > i0) { first = min(row - i0, n); }
    for (var ii = first; ii < n; ii++) {
      var s = 0.0;
      var dp = 0.0;
      #unroll c M4
      s += dot(ta[ii * M4 + c], kr[c]);
      dp += dot(tb[ii * M4 + c], vr[c]);
      #endunroll
      let p = exp(s - tl[ii]);
      let ds = p * (dp - td[ii]);
      #unroll c M4
      dv[c] += p * tb[ii * M4 + c];
      dk[c] += ds * ta[ii * M4 + c];
      #endunroll
    }
  }
  if (valid) {
    let base = (z * u.S + row);
    #unroll c M4
    for (var e = 0u; e < 4u; e++) {
      let f = c * 4u + e;
      if (f < u.E) { gk[u.off6 + base * u.E + f] = dk[c][e]; }
      if (f < u.Ev) { gv[u.off7 + base * u.Ev + f] = dv[c][e]; }
    }
    #endunroll
  }
#else
  // ---- one query per thread, tiles of keys ----
  let valid = row < u.L;
  var qr: array<vec4<f32>, M4>;
  if (valid) {
    #unroll c M4
    qr[c] = row4(0u, b, h, row, c, u.E) * u.scale;
    #endunroll
  }
  // keys past the block's last query are never read when causal
  var kEnd = u.S;
  if (CAUSAL) { kEnd = min(u.S, blk * BR + BR); }
#if FWD
  var acc: array<vec4<f32>, M4>;
  var sc: array<f32, BC>;
  var m = -3.4028234663852886e38; // -FLT_MAX: exp(m - finite) is 0, never inf - inf
  var l = 0.0;
  for (var j0 = 0u; j0 < kEnd; j0 += BC) {
    workgroupBarrier();
    loadKV(b, h, j0, lid);
    workgroupBarrier();
    var n = 0u;
    if (valid) { n = keysFor(row, j0, kEnd); }
    // the tile's scores and their max first: the accumulators rescale once per tile
    var mt = m;
    for (var jj = 0u; jj < n; jj++) {
      var s = 0.0;
      #unroll c M4
      s += dot(qr[c], ta[jj * M4 + c]);
      #endunroll
      sc[jj] = s;
      mt = max(mt, s);
    }
    let corr = exp(m - mt);
    l *= corr;
    #unroll c M4
    acc[c] *= corr;
    #endunroll
    for (var jj = 0u; jj < n; jj++) {
      let p = exp(sc[jj] - mt);
      l += p;
      #unroll c M4
      acc[c] += p * tb[jj * M4 + c];
      #endunroll
    }
    m = mt;
  }
  if (valid) {
    let base = z * u.L + row;
    let inv = 1.0 / l;
    #unroll c M4
    for (var e = 0u; e < 4u; e++) {
      let f = c * 4u + e;
      if (f < u.Ev) { o[u.off3 + base * u.Ev + f] = acc[c][e] * inv; }
    }
    #endunroll
    lse[u.off4 + base] = m + log(l);
  }
#else
  var gr: array<vec4<f32>, M4>;
  var dq: array<vec4<f32>, M4>;
  var li = 0.0;
  var di = 0.0;
  if (valid) {
    let base = z * u.L + row;
    #unroll c M4
    gr[c] = go4(z, row, c);
    #endunroll
    li = lse[u.off4 + base];
    di = delta[u.off5 + base];
  }
  for (var j0 = 0u; j0 < kEnd; j0 += BC) {
    workgroupBarrier();
    loadKV(b, h, j0, lid);
    workgroupBarrier();
    var n = 0u;
    if (valid) { n = keysFor(row, j0, kEnd); }
    for (var jj = 0u; jj < n; jj++) {
      var s = 0.0;
      var dp = 0.0;
      #unroll c M4
      s += dot(qr[c], ta[jj * M4 + c]);
      dp += dot(gr[c], tb[jj * M4 + c]);
      #endunroll
      let ds = exp(s - li) * (dp - di);
      #unroll c M4
      dq[c] += ds * ta[jj * M4 + c];
      #endunroll
    }
  }
  if (valid) {
    let base = z * u.L + row;
    #unroll c M4
    for (var e = 0u; e < 4u; e++) {
      let f = c * 4u + e;
      if (f < u.E) { gq[u.off6 + base * u.E + f] = dq[c][e] * u.scale; }
    }
    #endunroll
  }
#endif
#endif
}
