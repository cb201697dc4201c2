// Short-sequence attention (L, S ≤ LMAX), forward and backward, one workgroup per matrix
// (b, h): the workgroup walks its rows a block of BR at a time (a thread per row, as
// attention.wgsl) and streams the other side through workgroup memory BC rows at a time. Unlike
// the flash kernels it keeps the weights p [Z, L, S] (short sequences: as the composed path
// does), so the backward recomputes no score and no exp: one launch that puts every query's
// delta = go·o in workgroup memory, then gives the keys' gk, gv (two keys a thread, tiles of
// queries) and writes ds = p·(go·v - delta) to a scratch [Z, L, S], then the queries'
// gq = scale·Σ_j ds·k_j (two queries a thread, tiles of keys); no two threads ever add into one
// gradient row (no float atomics).
//
// Layouts are the ones multi-head attention wants, so that splitting and merging the heads
// costs no copy: q, k, v and go are any-strided [B, H, T, F] views (the heads of a packed
// projection, read in place); o is written merged, [B, L, H, Ev] (row l of batch b the
// concatenation of the heads); the gradients go into one buffer g whose three parts gq, gk, gv
// have the strides (b, h, row, feature) and offsets given in the uniforms (the routine picks
// them: merged [B, T, H, F] each, or interleaved [B, T, 3, H, F] as a packed projection's
// gradient). Legend: Z = B·H matrices, L queries, S keys, E query/key features, Ev value
// features; s = scale·q·k, p = softmax(s), gv = Σ_i p·go_i, gk = Σ_i ds·scale·q_i.
// CAUSAL: query i sees keys j ≤ i; the weights of the keys after it are never written or read.

struct Uniforms {
  H: u32, L: u32, S: u32, E: u32,
  Ev: u32, scale: f32, Z: u32, nL: u32,        // nL, nS: row blocks of queries, keys
  nS: u32, offo: u32, offp: u32, offgo: u32,   // offsets of o, p, go
  qs: vec4<u32>, ks: vec4<u32>, vs: vec4<u32>, gos: vec4<u32>, // strides of b, h, row, feature
  offq: u32, offk: u32, offv: u32, offd: u32,  // offd: the ds scratch's
  gqs: vec4<u32>, gks: vec4<u32>, gvs: vec4<u32>, // strides of the gradient parts in g
  gqo: u32, gko: u32, gvo: u32, pad2: u32,        // and their offsets
}
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
#if FWD
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@group(0) @binding(5) var<storage, read_write> p: array<f32>;  // [Z, L, S]
#else
@group(0) @binding(4) var<storage, read> o: array<f32>;
@group(0) @binding(5) var<storage, read> go: array<f32>;
@group(0) @binding(6) var<storage, read> p: array<f32>;
@group(0) @binding(7) var<storage, read_write> g: array<f32>;
@group(0) @binding(8) var<storage, read_write> ds: array<f32>; // scratch [Z, L, S]
#endif

const BR = {{BR}}u;       // threads = rows per block
const BC = {{BC}}u;       // rows per tile
const M4 = {{M4}}u;       // padded features / 4
const LMAX = {{LMAX}}u;   // most queries and keys (a multiple of BC)
const CAUSAL = {{CAUSAL}};

var<workgroup> ta: array<vec4<f32>, BC * M4>;
var<workgroup> tb: array<vec4<f32>, BC * M4>;
#if !FWD
var<workgroup> td: array<f32, LMAX>;
#endif

// four features of row r of a strided q / k / v / go view (zeros past n features)
fn row4(which: u32, b: u32, h: u32, r: u32, c4: u32, n: u32) -> vec4<f32> {
  var x = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) {
    let e = c4 * 4u + c;
    if (e < n) {
      if (which == 0u) { x[c] = q[u.offq + b * u.qs.x + h * u.qs.y + r * u.qs.z + e * u.qs.w]; }
      else if (which == 1u) { x[c] = k[u.offk + b * u.ks.x + h * u.ks.y + r * u.ks.z + e * u.ks.w]; }
#if FWD
      else { x[c] = v[u.offv + b * u.vs.x + h * u.vs.y + r * u.vs.z + e * u.vs.w]; }
#else
      else if (which == 2u) { x[c] = v[u.offv + b * u.vs.x + h * u.vs.y + r * u.vs.z + e * u.vs.w]; }
      else { x[c] = go[u.offgo + b * u.gos.x + h * u.gos.y + r * u.gos.z + e * u.gos.w]; }
#endif
    }
  }
  return x;
}

// element (b, h, i, f) of the merged output [B, L, H, Ev]
fn oIndex(b: u32, h: u32, i: u32, f: u32) -> u32 {
  return u.offo + ((b * u.L + i) * u.H + h) * u.Ev + f;
}

// loadKV and keysFor: shaders/attention-tiles.wgsl

// keys past the query block's last query are never read when causal
fn keyEnd(rb: u32) -> u32 {
  if (CAUSAL) { return min(u.S, rb * BR + BR); }
  return u.S;
}

@compute @workgroup_size(BR)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let z = wg.x + wg.y * nwg.x;
  if (z >= u.Z) { return; } // the grid's spare workgroups (whole groups: barriers stay uniform)
  let b = z / u.H;
  let h = z % u.H;
#if FWD
  for (var rb = 0u; rb < u.nL; rb++) {
    let row = rb * BR + lid;
    let valid = row < u.L;
    var qr: array<vec4<f32>, M4>;
    if (valid) {
      #unroll c M4
      qr[c] = row4(0u, b, h, row, c, u.E) * u.scale;
      #endunroll
    }
    let kEnd = keyEnd(rb);
    let pRow = u.offp + (z * u.L + min(row, u.L - 1u)) * u.S;
    var acc = array<vec4<f32>, M4>(); // zeros, explicitly: a loop-local var is not re-zeroed on every compiler
    var sc: array<f32, BC>;
    var tm: array<f32, LMAX / BC>; // each tile's running max: its weights are stored as exp(s - tm)
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
        let e = exp(sc[jj] - mt);
        p[pRow + j0 + jj] = e;
        l += e;
        #unroll c M4
        acc[c] += e * tb[jj * M4 + c];
        #endunroll
      }
      tm[j0 / BC] = mt;
      m = mt;
    }
    if (valid) {
      let inv = 1.0 / l;
      #unroll c M4
      for (var e = 0u; e < 4u; e++) {
        let f = c * 4u + e;
        if (f < u.Ev) { o[oIndex(b, h, row, f)] = acc[c][e] * inv; }
      }
      #endunroll
      // the stored exp(s - tm) become the weights exp(s - m) / l: one exp per tile, not per key
      var nk = u.S;
      if (CAUSAL) { nk = min(u.S, row + 1u); }
      for (var j0 = 0u; j0 < nk; j0 += BC) {
        let f = exp(tm[j0 / BC] - m) * inv;
        for (var j = j0; j < min(nk, j0 + BC); j++) { p[pRow + j] *= f; }
      }
    }
  }
#else
  // ---- every query's delta = go·o into workgroup memory ----
  for (var i = lid; i < u.L; i += BR) {
    var d = 0.0;
    for (var f = 0u; f < u.Ev; f++) {
      d += go[u.offgo + b * u.gos.x + h * u.gos.y + i * u.gos.z + f * u.gos.w] * o[oIndex(b, h, i, f)];
    }
    td[i] = d;
  }
  // ---- keys: gk, gv, two adjacent keys a thread (each tile row read once for both) over tiles
  // of queries; ds to the scratch ----
  let nS2 = (u.S + 2u * BR - 1u) / (2u * BR);
  for (var rb = 0u; rb < nS2; rb++) {
    let row0 = rb * 2u * BR + 2u * lid;
    let row1 = row0 + 1u;
    let valid0 = row0 < u.S;
    let valid1 = row1 < u.S;
    var vr0 = array<vec4<f32>, M4>();
    var vr1 = array<vec4<f32>, M4>();
    var dk0 = array<vec4<f32>, M4>(); // zeros, explicitly: a loop-local var is not re-zeroed on every compiler
    var dv0 = array<vec4<f32>, M4>();
    var dk1 = array<vec4<f32>, M4>();
    var dv1 = array<vec4<f32>, M4>();
    if (valid0) {
      #unroll c M4
      vr0[c] = row4(2u, b, h, row0, c, u.Ev);
      #endunroll
    }
    if (valid1) {
      #unroll c M4
      vr1[c] = row4(2u, b, h, row1, c, u.Ev);
      #endunroll
    }
    // queries before the block's first key see none of its keys
    var i0 = 0u;
    if (CAUSAL) { i0 = rb * 2u * BR; }
    for (; i0 < u.L; i0 += BC) {
      workgroupBarrier(); // also orders the td writes above before the first reads
      for (var t = lid; t < BC * M4; t += BR) {
        let r = i0 + t / M4;
        var qx = vec4<f32>(0.0);
        var gx = vec4<f32>(0.0);
        if (r < u.L) {
          qx = row4(0u, b, h, r, t % M4, u.E) * u.scale;
          gx = row4(3u, b, h, r, t % M4, u.Ev);
        }
        ta[t] = qx;
        tb[t] = gx;
      }
      workgroupBarrier();
      var n = 0u;
      if (valid0) { n = min(BC, u.L - i0); }
      var first = 0u;
      if (CAUSAL && row0 > i0) { first = min(row0 - i0, n); }
      for (var ii = first; ii < n; ii++) {
        let i = i0 + ii;
        let at = (z * u.L + i) * u.S + row0;
        var dp0 = 0.0;
        var dp1 = 0.0;
        #unroll c M4
        dp0 += dot(tb[ii * M4 + c], vr0[c]);
        dp1 += dot(tb[ii * M4 + c], vr1[c]);
        #endunroll
        let di = td[i];
        let p0 = p[u.offp + at];
        let d0 = p0 * (dp0 - di);
        ds[u.offd + at] = d0;
        var p1 = 0.0;
        var d1 = 0.0;
        if (valid1 && (!CAUSAL || i >= row1)) {
          p1 = p[u.offp + at + 1u];
          d1 = p1 * (dp1 - di);
          ds[u.offd + at + 1u] = d1;
        }
        #unroll c M4
        dv0[c] += p0 * tb[ii * M4 + c];
        dk0[c] += d0 * ta[ii * M4 + c];
        dv1[c] += p1 * tb[ii * M4 + c];
        dk1[c] += d1 * ta[ii * M4 + c];
        #endunroll
      }
    }
    #unroll c M4
    for (var e = 0u; e < 4u; e++) {
      let f = c * 4u + e;
      if (valid0 && f < u.E) { g[u.gko + b * u.gks.x + h * u.gks.y + row0 * u.gks.z + f * u.gks.w] = dk0[c][e]; }
      if (valid0 && f < u.Ev) { g[u.gvo + b * u.gvs.x + h * u.gvs.y + row0 * u.gvs.z + f * u.gvs.w] = dv0[c][e]; }
      if (valid1 && f < u.E) { g[u.gko + b * u.gks.x + h * u.gks.y + row1 * u.gks.z + f * u.gks.w] = dk1[c][e]; }
      if (valid1 && f < u.Ev) { g[u.gvo + b * u.gvs.x + h * u.gvs.y + row1 * u.gvs.z + f * u.gvs.w] = dv1[c][e]; }
    }
    #endunroll
  }
  storageBarrier(); // the ds above, written by other threads, before the reads below
  // ---- queries: gq = scale·Σ_j ds·k_j, two adjacent queries a thread over tiles of keys ----
  let nL2 = (u.L + 2u * BR - 1u) / (2u * BR);
  for (var rb = 0u; rb < nL2; rb++) {
    let row0 = rb * 2u * BR + 2u * lid;
    let row1 = row0 + 1u;
    let valid0 = row0 < u.L;
    let valid1 = row1 < u.L;
    var dq0 = array<vec4<f32>, M4>();
    var dq1 = array<vec4<f32>, M4>();
    var kEnd = u.S;
    if (CAUSAL) { kEnd = min(u.S, rb * 2u * BR + 2u * BR); }
    let d0Row = u.offd + (z * u.L + min(row0, u.L - 1u)) * u.S;
    let d1Row = u.offd + (z * u.L + min(row1, u.L - 1u)) * u.S;
    for (var j0 = 0u; j0 < kEnd; j0 += BC) {
      workgroupBarrier();
      for (var t = lid; t < BC * M4; t += BR) {
        let r = j0 + t / M4;
        var kx = vec4<f32>(0.0);
        if (r < u.S) { kx = row4(1u, b, h, r, t % M4, u.E); }
        ta[t] = kx;
      }
      workgroupBarrier();
      var n0 = 0u;
      var n1 = 0u;
      if (valid0) { n0 = keysFor(row0, j0, kEnd); }
      if (valid1) { n1 = keysFor(row1, j0, kEnd); }
      for (var jj = 0u; jj < max(n0, n1); jj++) {
        var a0 = 0.0;
        var a1 = 0.0;
        if (jj < n0) { a0 = ds[d0Row + j0 + jj]; }
        if (jj < n1) { a1 = ds[d1Row + j0 + jj]; }
        #unroll c M4
        dq0[c] += a0 * ta[jj * M4 + c];
        dq1[c] += a1 * ta[jj * M4 + c];
        #endunroll
      }
    }
    #unroll c M4
    for (var e = 0u; e < 4u; e++) {
      let f = c * 4u + e;
      if (valid0 && f < u.E) { g[u.gqo + b * u.gqs.x + h * u.gqs.y + row0 * u.gqs.z + f * u.gqs.w] = dq0[c][e] * u.scale; }
      if (valid1 && f < u.E) { g[u.gqo + b * u.gqs.x + h * u.gqs.y + row1 * u.gqs.z + f * u.gqs.w] = dq1[c][e] * u.scale; }
    }
    #endunroll
  }
#endif
}
