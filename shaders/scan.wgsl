// Inclusive scans along contiguous rows (src/kernel/kernel.ts `scan`): y_i = x_0 + … + x_i (SUM),
// x_0 · … · x_i (PROD), or the affine recurrence y_i = a_i·y_{i-1} + b_i (AFFINE: elements are the
// maps s ↦ a·s + b, composed; the result is the composition applied to 0). REVERSE takes each row
// from its end. Element type {{E}}: f32 or i32 (INT; i32 arithmetic wraps), vec2<f32> for AFFINE.
//
// Default: one workgroup of WG threads per row. The row goes by in tiles of WG·CH elements; each
// thread scans its CH consecutive elements sequentially, the threads' totals are scanned across
// the workgroup (Hillis–Steele over workgroup memory, log2(WG) barrier steps), and a carry (the
// composition of the tiles before) goes from tile to tile, so any row length works.
// ROWTHREAD: one thread per row, WG rows per workgroup, each thread scanning its whole row
// sequentially: no workgroup memory, no barriers (short rows).

struct Uniforms {
  R: u32, D: u32, xOff: u32, bOff: u32, yOff: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
#if AFFINE
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<{{E}}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{E}}>;
#endif

const WG = {{WG}}u;
const CH = {{CH}}u;
const REVERSE = {{REVERSE}};

#if AFFINE
const ID = vec2<f32>(1.0, 0.0);
// l first, then r: s ↦ r.x·(l.x·s + l.y) + r.y
fn comb(l: vec2<f32>, r: vec2<f32>) -> vec2<f32> { return vec2<f32>(l.x * r.x, r.x * l.y + r.y); }
fn load(i: u32) -> vec2<f32> { return vec2<f32>(x[u.xOff + i], b[u.bOff + i]); }
fn store(i: u32, e: vec2<f32>) { y[u.yOff + i] = e.y; }
#else
#if PROD
const ID = {{E}}(1);
fn comb(l: {{E}}, r: {{E}}) -> {{E}} { return l * r; }
#else
const ID = {{E}}(0);
fn comb(l: {{E}}, r: {{E}}) -> {{E}} { return l + r; }
#endif
fn load(i: u32) -> {{E}} { return x[u.xOff + i]; }
fn store(i: u32, e: {{E}}) { y[u.yOff + i] = e; }
#endif

/** Element offset (from the views' offsets) of the t-th element of the row in scan order. */
fn at(row: u32, t: u32) -> u32 {
  var j = t;
  if (REVERSE) { j = u.D - 1u - t; }
  return row * u.D + j;
}

#if ROWTHREAD
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wg.y * nwg.x + wg.x) * WG + lid;
  if (row >= u.R) { return; }
  var s = ID;
  for (var t = 0u; t < u.D; t++) {
    let i = at(row, t);
    s = comb(s, load(i));
    store(i, s);
  }
}
#else
var<workgroup> sh: array<{{E}}, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  // the same for the whole workgroup: no thread leaves while others wait at a barrier
  if (row >= u.R) { return; }
  var carry = ID;
  for (var base = 0u; base < u.D; base += WG * CH) {
    var loc: array<{{E}}, CH>;
    var acc = ID;
    for (var c = 0u; c < CH; c++) {
      let t = base + lid * CH + c;
      if (t < u.D) { acc = comb(acc, load(at(row, t))); }
      loc[c] = acc;
    }
    // inclusive scan of the threads' totals
    sh[lid] = acc;
    workgroupBarrier();
    for (var off = 1u; off < WG; off <<= 1u) {
      var v = sh[lid];
      if (lid >= off) { v = comb(sh[lid - off], v); }
      workgroupBarrier();
      sh[lid] = v;
      workgroupBarrier();
    }
    var pre = carry;
    if (lid > 0u) { pre = comb(carry, sh[lid - 1u]); }
    for (var c = 0u; c < CH; c++) {
      let t = base + lid * CH + c;
      if (t < u.D) { store(at(row, t), comb(pre, loc[c])); }
    }
    carry = comb(carry, sh[WG - 1u]);
    // the next tile overwrites sh: every thread must have read it
    workgroupBarrier();
  }
}
#endif
