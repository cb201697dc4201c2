// Weight-only quantized matmul (src/kernel/kernel.ts `qmatmul`, `QuantConfig`): codes of BITS
// bits, P = 32/BITS to a u32 word along K, an f32 scale (MINS: and minimum) per group of G
// along K. Dequantized in registers inside the K loop; the weight is never widened in memory.
//
// Barrier-free, one thread per block (the direct matmul core's structure): forward, R rows of x
// (4, or 1 for a matrix-vector product) by 4 output columns, the K loop a word at a time (P codes
// per column unpacked with shifts); TRANSPOSE (the input gradient g[M,N] @ W → [M,K]), R rows by
// the P values of one word, the loop over N. Rows and columns past the end are clamped on load
// and not written; x past K reads as 0 (the last group's padding codes never count).
struct Uniforms {
  M: u32, N: u32, K: u32, Wd: u32,
  Gn: u32, xOff: u32, qOff: u32, sOff: u32,
  mOff: u32, oOff: u32, rowBlocks: u32, colBlocks: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<u32>;
@group(0) @binding(3) var<storage, read> sc: array<f32>;
#if MINS
@group(0) @binding(4) var<storage, read> mn: array<f32>;
@group(0) @binding(5) var<storage, read_write> o: array<f32>;
#else
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
#endif

const BITS = {{BITS}}u;
const G = {{G}}u;
const WG = 64u;
const MASK = (1u << BITS) - 1u;
const ZERO = f32(1u << (BITS - 1u));

fn minOf(n: u32, g: u32) -> f32 {
#if MINS
  return mn[u.mOff + n * u.Gn + g];
#else
  return 0.0;
#endif
}

fn deq(word: u32, i: u32, s: f32, m: f32) -> f32 {
  let c = f32((word >> (i * BITS)) & MASK);
#if MINS
  return s * c + m;
#else
  return s * (c - ZERO);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * nwg.x + wg.x) * WG + li;
  if (t >= u.rowBlocks * u.colBlocks) { return; }
  let rb = t / u.colBlocks;
  let cb = t % u.colBlocks;
  let m0 = rb * {{R}}u;
#if TRANSPOSE
  let j = cb;
  let g = (j * {{P}}u) / G;
  var acc: array<array<f32, {{P}}>, {{R}}>;
  for (var n = 0u; n < u.N; n++) {
    let word = q[u.qOff + n * u.Wd + j];
    let s = sc[u.sOff + n * u.Gn + g];
    let mm = minOf(n, g);
    var w: array<f32, {{P}}>;
    for (var i = 0u; i < {{P}}u; i++) { w[i] = deq(word, i, s, mm); }
    for (var r = 0u; r < {{R}}u; r++) {
      let gv = x[u.xOff + min(m0 + r, u.M - 1u) * u.N + n];
      for (var i = 0u; i < {{P}}u; i++) { acc[r][i] += gv * w[i]; }
    }
  }
  for (var r = 0u; r < {{R}}u; r++) {
    if (m0 + r >= u.M) { break; }
    for (var i = 0u; i < {{P}}u; i++) {
      let k = j * {{P}}u + i;
      if (k < u.K) { o[u.oOff + (m0 + r) * u.K + k] = acc[r][i]; }
    }
  }
#else
  let n0 = cb * 4u;
  var acc: array<array<f32, 4>, {{R}}>;
  for (var j = 0u; j < u.Wd; j++) {
    let k0 = j * {{P}}u;
    if (k0 >= u.K) { break; }
    let g = k0 / G;
    var xs: array<array<f32, {{P}}>, {{R}}>;
    for (var r = 0u; r < {{R}}u; r++) {
      let row = u.xOff + min(m0 + r, u.M - 1u) * u.K;
      for (var i = 0u; i < {{P}}u; i++) {
        let k = k0 + i;
        xs[r][i] = select(0.0, x[row + min(k, u.K - 1u)], k < u.K);
      }
    }
    for (var c = 0u; c < 4u; c++) {
      let n = min(n0 + c, u.N - 1u);
      let word = q[u.qOff + n * u.Wd + j];
      let s = sc[u.sOff + n * u.Gn + g];
      let mm = minOf(n, g);
      for (var i = 0u; i < {{P}}u; i++) {
        let w = deq(word, i, s, mm);
        for (var r = 0u; r < {{R}}u; r++) { acc[r][c] += xs[r][i] * w; }
      }
    }
  }
  for (var r = 0u; r < {{R}}u; r++) {
    if (m0 + r >= u.M) { break; }
    for (var c = 0u; c < 4u; c++) {
      if (n0 + c < u.N) { o[u.oOff + (m0 + r) * u.N + n0 + c] = acc[r][c]; }
    }
  }
#endif
}
