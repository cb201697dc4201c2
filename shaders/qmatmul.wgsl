// Weight-only quantized matmul (src/kernel/kernel.ts `qmatmul`, `QuantConfig`): codes of BITS
// bits, P = 32/BITS to a u32 word along K, an f32 scale (MINS: and minimum) per group of G
// along K. Dequantized in registers inside the K loop; the weight is never widened in memory.
//
// Two kernels share the bindings and the decoding below:
//
// Direct (no TILED flag; decode, and every product on software adapters): barrier-free, one
// thread per block (the structure of the direct matmul core, matmul_direct.wgsl): forward, R
// rows of x (4, or 1 under ROW1 for a matrix-vector product) by 4 output columns, the K loop a
// word of each column at a time (its P/4 vec4s of codes unpacked at constant shifts, HALVES =
// P/4 copies by #unroll), per group the dots of x with the raw codes, scaled (and the minimum
// times Σx added) once per group; X4: x read as vec4s (K and x's offset multiples of 4); TRANSPOSE (the input
// gradient g[M,N] @ W → [M,K]), R rows by 4 consecutive k, the loop over N. Written per row and
// column (vec4 / mat4x4 arithmetic), not as loops over small private arrays, which
// CPU-emulated adapters keep in memory. Rows and columns past the end are clamped on load and
// not written; x past K reads as 0 (the last group's padding codes never count).
//
// TILED (prefill): the operand of the tiled GEMM core shaders/gemm.wgsl (64x64 output tiles,
// 16-deep workgroup tiles of x and of W; the routine prepends the core and x's tile loader from
// gemm_tile.wgsl). x's tile is loaded as any GEMM operand; W's tile is dequantized while it is
// staged (loadTileB below): packed u32 words read once per 4 codes, decoded in registers, f32
// values stored into workgroup memory. The core's u.M, u.N, u.K are the GEMM's: forward (M, N, K)
// as for the direct kernel, TRANSPOSE (M, K, N): the output's columns are the weight's K and the
// depth is the weight's N. G must be a multiple of 4 (a vec4 of codes never leaves a word or a group).
//
// GATHER (with TRANSPOSE and ROW1; the `qembedding` routine, a quantized embedding's lookup):
// binding 1 holds int32 ids instead of x; each thread writes 4 consecutive k of row ids[m]
// (clamped to [0, N)) of the dequantized weight, decoded by the same deq4 as the transposed
// product, so a lookup equals `dequantize` (that product on an identity) then a gather.
struct Uniforms {
  M: u32, N: u32, K: u32, Wd: u32,
  Gn: u32, xOff: u32, qOff: u32, sOff: u32,
  mOff: u32, oOff: u32, rowBlocks: u32, colBlocks: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
#if GATHER
@group(0) @binding(1) var<storage, read> ids: array<i32>;
#elif X4
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
#endif
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

// the 4 codes of `word` from bit `sh` (4 consecutive k), as floats; symmetric: minus the zero point
fn codes4(word: u32, sh: u32) -> vec4<f32> {
  let c = vec4<f32>((vec4<u32>(word) >> (vec4<u32>(sh) + vec4<u32>(0u, BITS, 2u * BITS, 3u * BITS))) & vec4<u32>(MASK));
#if MINS
  return c;
#else
  return c - vec4<f32>(ZERO);
#endif
}

// the 4 values those codes stand for, at scale s (and minimum m)
fn deq4(word: u32, sh: u32, s: f32, m: f32) -> vec4<f32> {
#if MINS
  return s * codes4(word, sh) + m;
#else
  return s * codes4(word, sh);
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
    v = deq4(word, (k % {{P}}u) * BITS, s, mm);
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
      let sh = (k % {{P}}u) * BITS;
      for (var j = 0u; j < 4u; j++) {
        let n = n0 + r + j;
        if (n < u.N) {
          let word = q[u.qOff + n * u.Wd + k / {{P}}u];
          let s = sc[u.sOff + n * u.Gn + g];
          let mm = minOf(n, g);
          v[j] = deq4(word, sh, s, mm);
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
  let M = u.M;
  let N = u.N;
  let K = u.K;
  let Wd = u.Wd;
  let Gn = u.Gn;
  let m0 = rb * {{R}}u;
#if TRANSPOSE
  // 4 consecutive k (one vec4 of codes, within a word and a group) by R rows of g
  let k = cb * 4u;
  let j = k / {{P}}u;
  let sh = (k % {{P}}u) * BITS;
  let g = k / G;
#if GATHER
  // GATHER (with ROW1): row ids[m0] of the weight, each value as deq4 gives it to the product below
  let n = u32(clamp(ids[u.xOff + m0], 0, i32(N) - 1));
  storeT(m0, k, deq4(q[u.qOff + n * Wd + j], sh, sc[u.sOff + n * Gn + g], minOf(n, g)));
#else
  let x0 = u.xOff + m0 * N;
#if !ROW1
  let x1 = u.xOff + min(m0 + 1u, M - 1u) * N;
  let x2 = u.xOff + min(m0 + 2u, M - 1u) * N;
  let x3 = u.xOff + min(m0 + 3u, M - 1u) * N;
#endif
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var n = 0u; n < N; n++) {
    let w = deq4(q[u.qOff + n * Wd + j], sh, sc[u.sOff + n * Gn + g], minOf(n, g));
    a0 += x[x0 + n] * w;
#if !ROW1
    a1 += x[x1 + n] * w;
    a2 += x[x2 + n] * w;
    a3 += x[x3 + n] * w;
#endif
  }
  storeT(m0, k, a0);
#if !ROW1
  storeT(m0 + 1u, k, a1);
  storeT(m0 + 2u, k, a2);
  storeT(m0 + 3u, k, a3);
#endif
#endif
#else
  // R rows by 4 columns; per group the dots of x with the raw codes, then scaled (and the
  // minimum times Σx added) once per group. Edge rows and columns are clamped and not stored.
  let n0 = cb * 4u;
  let x0 = u.xOff + m0 * K;
#if !ROW1
  let x1 = u.xOff + min(m0 + 1u, M - 1u) * K;
  let x2 = u.xOff + min(m0 + 2u, M - 1u) * K;
  let x3 = u.xOff + min(m0 + 3u, M - 1u) * K;
#endif
  let nc = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(N - 1u));
  let qb = vec4<u32>(u.qOff) + nc * Wd;
  let sb = nc * Gn;
  // ROW1: acc1, the 4 columns; else accm, column c = output column n0 + c, its rows in the components
  var acc1 = vec4<f32>(0.0);
  var accm = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var dm = accm;
  for (var g = 0u; g < Gn; g++) {
    var d1 = vec4<f32>(0.0);
    var xs = vec4<f32>(0.0);
    dm = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    // a word of each column at a time (its P/4 vec4s of codes at constant shifts); the words
    // of this group that hold some k < K
    let jEnd = (min(g * G + G, K) + {{P}}u - 1u) / {{P}}u;
    for (var j = g * (G / {{P}}u); j < jEnd; j++) {
      let wv = vec4<u32>(q[qb.x + j], q[qb.y + j], q[qb.z + j], q[qb.w + j]);
#unroll h HALVES
      {
        // column c: the 4 codes of output column n0 + c at k..k+3 (x is 0 past K)
        let k = j * {{P}}u + h * 4u;
        let wm = mat4x4<f32>(codes4(wv.x, h * 4u * BITS), codes4(wv.y, h * 4u * BITS), codes4(wv.z, h * 4u * BITS), codes4(wv.w, h * 4u * BITS));
#if ROW1
        let xv = loadX4(x0, k, K);
#if MINS
        xs.x += dot(xv, vec4<f32>(1.0));
#endif
        d1 += xv * wm;
#else
        let xm = mat4x4<f32>(loadX4(x0, k, K), loadX4(x1, k, K), loadX4(x2, k, K), loadX4(x3, k, K));
#if MINS
        xs += vec4<f32>(1.0) * xm;
#endif
        dm += transpose(xm) * wm;
#endif
      }
#endunroll
    }
    let s = vec4<f32>(sc[u.sOff + sb.x + g], sc[u.sOff + sb.y + g], sc[u.sOff + sb.z + g], sc[u.sOff + sb.w + g]);
#if MINS
    let mv = vec4<f32>(mn[u.mOff + sb.x + g], mn[u.mOff + sb.y + g], mn[u.mOff + sb.z + g], mn[u.mOff + sb.w + g]);
#else
    let mv = vec4<f32>(0.0);
#endif
#if ROW1
    acc1 += s * d1 + mv * xs.x;
#else
    accm[0] += s.x * dm[0] + mv.x * xs;
    accm[1] += s.y * dm[1] + mv.y * xs;
    accm[2] += s.z * dm[2] + mv.z * xs;
    accm[3] += s.w * dm[3] + mv.w * xs;
#endif
  }
#if ROW1
  for (var c = 0u; c < 4u; c++) {
    if (n0 + c < N) { o[u.oOff + m0 * N + n0 + c] = acc1[c]; }
  }
#else
  let rows = transpose(accm);
  for (var r = 0u; r < 4u; r++) {
    if (m0 + r >= M) { break; }
    for (var c = 0u; c < 4u; c++) {
      if (n0 + c < N) { o[u.oOff + (m0 + r) * N + n0 + c] = rows[r][c]; }
    }
  }
#endif
#endif
}

#if !TRANSPOSE
// x[b + k .. b + k + 3], zero past K (X4: b and K multiples of 4, one vec4 load)
fn loadX4(b: u32, k: u32, K: u32) -> vec4<f32> {
#if X4
  return select(vec4<f32>(0.0), x[(b + min(k, K - 4u)) >> 2u], k < K);
#else
  let l = K - 1u;
  let v = vec4<f32>(x[b + min(k, l)], x[b + min(k + 1u, l)], x[b + min(k + 2u, l)], x[b + min(k + 3u, l)]);
  return select(vec4<f32>(0.0), v, vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(K));
#endif
}
#endif

#if TRANSPOSE
fn storeT(m: u32, k: u32, v: vec4<f32>) {
  if (m >= u.M) { return; }
  for (var i = 0u; i < 4u; i++) {
    if (k + i < u.K) { o[u.oOff + m * u.K + k + i] = v[i]; }
  }
}
#endif
#endif
