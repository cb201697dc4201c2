// Stable sort of contiguous rows (src/kernel/kernel.ts `sort`) by a bitonic network.
//
// Keys: each element becomes a u32 whose unsigned order is the sort's order: int32 with its sign
// bit flipped; a float's bits with NaN made one positive NaN (above +inf) and -0 made +0, negative
// floats inverted and positive ones given the top bit; descending inverts the key. Ties are broken
// by the original position, so the network's (unstable) exchanges give the stable order.
//
// The network is the all-ascending form of bitonic sort: stage k (k = 2, 4, …, P, P the row length
// rounded up to a power of two) first compares position i with i ^ (k-1) (the "flip", i in the
// lower half of its k-block), then with i ^ j for j = k/4, …, 1 (i with bit j clear); the smaller
// goes to the lower position. Positions from D to P count as +inf keys that are never moved: a
// comparison whose upper position is D or beyond is skipped, so rows of any length sort in place.
//
// Launches (MODE, a uniform): LOCAL (0) loads blocks of B = 2·WG positions of a row into
// workgroup memory, runs every stage up to min(B, P) there; MERGE (1) reloads a block from the
// outputs and runs the steps j < B of stage k; GLOBAL (2) runs one step (k, j ≥ B) over the
// outputs, one thread per compared pair; ROWS (3), for short rows, sorts a row per thread by
// insertion. Between launches `values` holds the keys; the last launch
// (`last`) writes each sorted position's original word from x instead. Words move as u32 (float
// bits never pass through an f32 variable).

struct Uniforms {
  R: u32, D: u32, P: u32, k: u32,
  j: u32, mode: u32, last: u32, desc: u32,
  isInt: u32, xOff: u32, vOff: u32, iOff: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;

const WG = {{WG}}u;
const B = 2u * WG;

var<workgroup> sk: array<u32, B>;
var<workgroup> si: array<u32, B>;

fn keyOf(bits: u32) -> u32 {
  var k = bits ^ 0x80000000u;
  if (u.isInt == 0u) {
    var b = bits;
    if ((b & 0x7fffffffu) > 0x7f800000u) { b = 0x7fc00000u; }
    if (b == 0x80000000u) { b = 0u; }
    k = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
  }
  if (u.desc != 0u) { k = ~k; }
  return k;
}

/** Whether (ka, ia) sorts before (kb, ib). */
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka < kb || (ka == kb && ia < ib);
}

/** q with a zero bit inserted at bit s (a power of two): the lower position of pair q. */
fn lowOf(q: u32, s: u32) -> u32 {
  return ((q & ~(s - 1u)) << 1u) | (q & (s - 1u));
}

/** One compare-exchange of the block in workgroup memory: pair `t` of step (k, j), flip when j == k/2. */
fn localStep(t: u32, k: u32, j: u32, base: u32) {
  var lo: u32;
  var hi: u32;
  if (2u * j == k) {
    lo = lowOf(t, j);
    hi = lo ^ (k - 1u);
  } else {
    lo = lowOf(t, j);
    hi = lo | j;
  }
  if (base + hi < u.D) {
    let kl = sk[lo];
    let kh = sk[hi];
    let il = si[lo];
    let ih = si[hi];
    if (before(kh, ih, kl, il)) {
      sk[lo] = kh;
      sk[hi] = kl;
      si[lo] = ih;
      si[hi] = il;
    }
  }
}

/** GLOBAL: one pair per thread (in a function of its own: its returns end only it). */
fn globalStep(g: u32, lid: u32) {
    let npairs = u.P / 2u;
    let t = g * WG + lid;
    if (t >= u.R * npairs) { return; }
    let row = t / npairs;
    let q = t % npairs;
    let lo = lowOf(q, u.j);
    var hi = lo | u.j;
    if (2u * u.j == u.k) { hi = lo ^ (u.k - 1u); }
    if (hi >= u.D) { return; }
    let a = u.vOff + row * u.D;
    let c = u.iOff + row * u.D;
    let kl = values[a + lo];
    let kh = values[a + hi];
    let il = indices[c + lo];
    let ih = indices[c + hi];
    if (before(kh, ih, kl, il)) {
      values[a + lo] = kh;
      values[a + hi] = kl;
      indices[c + lo] = ih;
      indices[c + hi] = il;
    }
}

/**
 * ROWS: one thread per row (short rows), an insertion sort of the keys in the outputs, then the
 * original words in sorted order; no workgroup memory, no barriers.
 */
fn rowSort(g: u32, lid: u32) {
  let row = g * WG + lid;
  if (row >= u.R) { return; }
  let a = u.vOff + row * u.D;
  let c = u.iOff + row * u.D;
  let xo = u.xOff + row * u.D;
  for (var p = 0u; p < u.D; p++) {
    let k = keyOf(x[xo + p]);
    var q = p;
    // equal keys stay behind: p is above every index placed so far
    while (q > 0u && before(k, p, values[a + q - 1u], indices[c + q - 1u])) {
      values[a + q] = values[a + q - 1u];
      indices[c + q] = indices[c + q - 1u];
      q--;
    }
    values[a + q] = k;
    indices[c + q] = p;
  }
  for (var p = 0u; p < u.D; p++) { values[a + p] = x[xo + indices[c + p]]; }
}

/** LOCAL / MERGE: its only early return depends on the workgroup alone. */
fn blockSort(g: u32, lid: u32) {
  // LOCAL / MERGE: block `g % nb` of row `g / nb` (uniform over the workgroup)
  let nb = (u.D + B - 1u) / B;
  let row = g / nb;
  if (row >= u.R) { return; }
  let base = (g % nb) * B;
  for (var h = 0u; h < 2u; h++) {
    let l = lid + h * WG;
    let p = base + l;
    if (p < u.D) {
      if (u.mode == 0u) {
        sk[l] = keyOf(x[u.xOff + row * u.D + p]);
        si[l] = p;
      } else {
        sk[l] = values[u.vOff + row * u.D + p];
        si[l] = indices[u.iOff + row * u.D + p];
      }
    }
  }
  workgroupBarrier();
  if (u.mode == 0u) {
    let kmax = min(B, u.P);
    for (var k = 2u; k <= kmax; k <<= 1u) {
      for (var j = k / 2u; j > 0u; j >>= 1u) {
        localStep(lid, k, j, base);
        workgroupBarrier();
      }
    }
  } else {
    for (var j = B / 2u; j > 0u; j >>= 1u) {
      localStep(lid, u.k, j, base);
      workgroupBarrier();
    }
  }
  for (var h = 0u; h < 2u; h++) {
    let l = lid + h * WG;
    let p = base + l;
    if (p < u.D) {
      if (u.last != 0u) {
        values[u.vOff + row * u.D + p] = x[u.xOff + row * u.D + si[l]];
      } else {
        values[u.vOff + row * u.D + p] = sk[l];
      }
      indices[u.iOff + row * u.D + p] = si[l];
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wg.y * nwg.x + wg.x;
  if (u.mode == 2u) {
    globalStep(g, lid);
  } else if (u.mode == 3u) {
    rowSort(g, lid);
  } else {
    blockSort(g, lid);
  }
}
