// Weight-only quantized matmul (src/kernel/kernel.ts `qmatmul`, `QuantConfig`): codes of BITS
// bits, P = 32/BITS to a u32 word along K, an f32 scale (MINS: and minimum) per group of G
// along K. Dequantized in registers inside the K loop; the weight is never widened in memory.
//
// Two kernels share the bindings and the decoding below:
//
// Direct (no TILED flag; decode and small M): barrier-free, one thread per block (the direct
// matmul core's structure): forward, R rows of x (4, or 1 for a matrix-vector product) by 4
// output columns, the K loop a word at a time (P codes per column unpacked with shifts);
// TRANSPOSE (the input gradient g[M,N] @ W → [M,K]), R rows by the P values of one word, the loop
// over N. Rows and columns past the end are clamped on load and not written; x past K reads as 0
// (the last group's padding codes never count).
//
// TILED (prefill): the operand of the tiled GEMM core shaders/gemm.wgsl (64x64 output tiles,
// 16-deep workgroup tiles of x and of W; the routine prepends the core and x's tile loader from
// gemm_tile.wgsl). x's tile is loaded as any GEMM operand; W's tile is dequantized while it is
// staged (loadTileB below): packed u32 words read once per 4 codes, decoded in registers, f32
// values stored into workgroup memory. The core's u.M, u.N, u.K are the GEMM's: forward (M, N, K)
// as for the direct kernel, TRANSPOSE (M, K, N): the output's columns are the weight's K and the
// depth is the weight's N. G must be a multiple of 4 (a vec4 of codes never leaves a word or a group).
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

#if TILED
fn loadA(z: u32, m: u32, k: u32) -> f32 {
  return x[u.xOff + m * u.K + k];
}

fn storeC(z: u32, m: u32, n: u32, v: f32) {
  o[u.oOff + m * u.N + n] = v;
}

// tileB[k][c + r/4] = the dequantized W at depth k0 + k, GEMM column n0 + r (zeros outside)
fn loadTileB(z: u32, n0: u32, k0: u32, t: u32, c: u32) {
#if TRANSPOSE
  // depth d = weight row n, columns = weight k: one vec4 of 4 consecutive codes of one word per thread
  let d = t >> 4u;
  let n = k0 + d;
  let k = n0 + ((t & 15u) << 2u);
  var v = vec4<f32>(0.0);
  if (n < u.K && k < u.N) {
    let word = q[u.qOff + n * u.Wd + k / {{P}}u];
    let g = k / G;
    let s = sc[u.sOff + n * u.Gn + g];
    let mm = minOf(n, g);
    let i0 = k % {{P}}u;
    v = vec4<f32>(deq(word, i0, s, mm), deq(word, i0 + 1u, s, mm), deq(word, i0 + 2u, s, mm), deq(word, i0 + 3u, s, mm));
  }
  tileB[d][c + (t & 15u)] = v;
#else
  // 64 threads, each 4 weight rows by 4 consecutive k (one word's worth per row), stored
  // transposed as 4 vec4s along the rows (whole vec4 stores: see gemm_tile.wgsl)
  if (t < 64u) {
    let kq = (t & 3u) << 2u;
    let r = (t >> 2u) << 2u;
    let k = k0 + kq;
    var v: array<vec4<f32>, 4>;
    if (k < u.K) {
      let g = k / G;
      let i0 = k % {{P}}u;
      for (var j = 0u; j < 4u; j++) {
        let n = n0 + r + j;
        if (n < u.N) {
          let word = q[u.qOff + n * u.Wd + k / {{P}}u];
          let s = sc[u.sOff + n * u.Gn + g];
          let mm = minOf(n, g);
          v[j] = vec4<f32>(deq(word, i0, s, mm), deq(word, i0 + 1u, s, mm), deq(word, i0 + 2u, s, mm), deq(word, i0 + 3u, s, mm));
        }
      }
    }
    for (var i = 0u; i < 4u; i++) {
      tileB[kq + i][c + (r >> 2u)] = vec4<f32>(v[0][i], v[1][i], v[2][i], v[3][i]);
    }
  }
#endif
}
#else
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
#endif
