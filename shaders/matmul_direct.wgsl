// Direct (barrier-free) matmul core for small outputs, rendered after matmul.wgsl (operands,
// uniforms, storeC epilogue). The tiled core gemm.wgsl is the other one; matmul.ts picks.
//
//   C[z, m, n] = sum_k A[z, m, k] * B[z, k, n]
//
// Each thread owns a 4 x 4 block of C (rows m0..m0+3, columns n0..n0+3) in registers and reads
// A and B straight from global memory, 4 k at a time: 8 vec4s (or their scalars) per 64 FMAs. No workgroup memory, no barriers: on CPU-emulated adapters (SwiftShader) a barrier
// parks every thread of the group and workgroup memory costs as much as global memory, and a
// 64x64 tile of a small output is mostly padding.
//
// In-workgroup split-K (KS > 1): KS consecutive threads share one block, thread s summing the
// 4-k groups s, s + KS, s + 2 KS, ...; then they meet in workgroup memory and the first adds the
// KS partial sums in slice order. One barrier, no atomics: the result is deterministic. For
// long-K / small-MN products (weight gradients: K = batch) on GPUs, where blocks alone would
// leave most of the device idle.
//
// Placeholders: KS (threads per block, a power of 2), WG (threads per workgroup, a multiple of KS). Flags (the routine sets them from the operands' strides; the
// matching A_VEC4 / B_VEC4 binds the operand as array<vec4<f32>>):
//   A_K4   A's unit stride is along k (K, other strides, offset multiples of 4): a vec4 per row
//   A_M4   A's unit stride is along m (M multiple of 4): a vec4 per k, transposed
//   B_N4   B's unit stride is along n (N multiple of 4): a vec4 per k
//   B_K4   B's unit stride is along k (K multiple of 4): a vec4 per column, transposed
//   (none) scalar loads through the strides
//   K4     K is a multiple of 4: no tail loop (required by A_K4 and B_K4)
//   ROW1   M is 1 (a matrix-vector product: a decoding language model's every matmul): a block is
//          1 x 4 and rows 1..3 are compiled out, instead of being computed and thrown away
// Out-of-range rows and columns of edge blocks are clamped to the last one (valid memory, no
// branches in the loop) and simply not stored.
// Written out per row and column, not as loops over small arrays: CPU-emulated adapters keep a
// dynamically indexed private array in memory, which made the first version 3x slower than the
// tiled core. Uniforms are read once into locals for the same reason.
// Workgroups: a 2-D grid of WG-thread groups over Z * ceil(M / 4) * ceil(N / 4) * KS threads,
// the block index running n fastest, then m, then the batch.

const KS = {{KS}}u;
const WG = {{WG}}u;

#if SPLIT
var<workgroup> part: array<array<vec4<f32>, 4>, WG>;
#if ROWSUM
var<workgroup> partRows: array<vec4<f32>, WG>;
#endif
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wg.y * nwg.x + wg.x) * WG + lid;
  let block = t / KS;
  let slice = t % KS;
  let M = u.M;
  let N = u.N;
  let K = u.K;
  let aM = u.aM;
  let aK = u.aK;
  let bN = u.bN;
  let bK = u.bK;
  let nBlocks = (N + 3u) / 4u;
#if ROW1
  let perZ = nBlocks * M;
#else
  let perZ = nBlocks * ((M + 3u) / 4u);
#endif
  // without split-K a thread past the end can leave; with it, it must still reach the barrier
  let valid = block < perZ * u.Z;
#if !SPLIT
  if (!valid) { return; }
#endif
  let z = min(block / perZ, u.Z - 1u);
  let r = block % perZ;
#if ROW1
  let m0 = r / nBlocks;
#else
  let m0 = (r / nBlocks) * 4u;
#endif
  let n0 = (r % nBlocks) * 4u;

  // element index of (row i, k = 4 * slice) in a and of (k = 4 * slice, column j) in b
  let aBase = u.aOff + zOff(z, u.aZ, u.aZ2) + slice * 4u * aK;
  let bBase = u.bOff + zOff(z, u.bZ, u.bZ2) + slice * 4u * bK;
  var a0 = aBase + m0 * aM;
  var a1 = aBase + min(m0 + 1u, M - 1u) * aM;
  var a2 = aBase + min(m0 + 2u, M - 1u) * aM;
  var a3 = aBase + min(m0 + 3u, M - 1u) * aM;
  var b0 = bBase + n0 * bN;
  var b1 = bBase + min(n0 + 1u, N - 1u) * bN;
  var b2 = bBase + min(n0 + 2u, N - 1u) * bN;
  var b3 = bBase + min(n0 + 3u, N - 1u) * bN;
  let aStep = KS * 4u * aK;
  let bStep = KS * 4u * bK;
  let aK2 = 2u * aK;
  let aK3 = 3u * aK;
  let bK2 = 2u * bK;
  let bK3 = 3u * bK;
  let bN2 = 2u * bN;
  let bN3 = 3u * bN;

  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
#if ROWSUM
  // ROWSUM: the four rows' sums over this thread's k (every thread: no branch in the loop)
  var rows = vec4<f32>(0.0);
#endif
  let groups = K / 4u;
  for (var g = slice; g < groups; g += KS) {
    // rI = A[m0 + i, k..k+3] along k; kJ = B[k + j, n0..n0+3] along n
#if A_K4
    let r0 = a[a0 >> 2u];
#if !ROW1
    let r1 = a[a1 >> 2u];
    let r2 = a[a2 >> 2u];
    let r3 = a[a3 >> 2u];
#endif
#elif A_M4
    let x0 = a[a0 >> 2u];
    let x1 = a[(a0 + aK) >> 2u];
    let x2 = a[(a0 + aK2) >> 2u];
    let x3 = a[(a0 + aK3) >> 2u];
    let r0 = vec4<f32>(x0.x, x1.x, x2.x, x3.x);
    let r1 = vec4<f32>(x0.y, x1.y, x2.y, x3.y);
    let r2 = vec4<f32>(x0.z, x1.z, x2.z, x3.z);
    let r3 = vec4<f32>(x0.w, x1.w, x2.w, x3.w);
#else
    let r0 = vec4<f32>(a[a0], a[a0 + aK], a[a0 + aK2], a[a0 + aK3]);
#if !ROW1
    let r1 = vec4<f32>(a[a1], a[a1 + aK], a[a1 + aK2], a[a1 + aK3]);
    let r2 = vec4<f32>(a[a2], a[a2 + aK], a[a2 + aK2], a[a2 + aK3]);
    let r3 = vec4<f32>(a[a3], a[a3 + aK], a[a3 + aK2], a[a3 + aK3]);
#endif
#endif
#if B_N4
    let k0 = b[b0 >> 2u];
    let k1 = b[(b0 + bK) >> 2u];
    let k2 = b[(b0 + bK2) >> 2u];
    let k3 = b[(b0 + bK3) >> 2u];
#elif B_K4
    let y0 = b[b0 >> 2u];
    let y1 = b[b1 >> 2u];
    let y2 = b[b2 >> 2u];
    let y3 = b[b3 >> 2u];
    let k0 = vec4<f32>(y0.x, y1.x, y2.x, y3.x);
    let k1 = vec4<f32>(y0.y, y1.y, y2.y, y3.y);
    let k2 = vec4<f32>(y0.z, y1.z, y2.z, y3.z);
    let k3 = vec4<f32>(y0.w, y1.w, y2.w, y3.w);
#else
    let k0 = vec4<f32>(b[b0], b[b1], b[b2], b[b3]);
    let k1 = vec4<f32>(b[b0 + bK], b[b1 + bK], b[b2 + bK], b[b3 + bK]);
    let k2 = vec4<f32>(b[b0 + bK2], b[b1 + bK2], b[b2 + bK2], b[b3 + bK2]);
    let k3 = vec4<f32>(b[b0 + bK3], b[b1 + bK3], b[b2 + bK3], b[b3 + bK3]);
#endif
    c0 = fma(vec4<f32>(r0.x), k0, fma(vec4<f32>(r0.y), k1, fma(vec4<f32>(r0.z), k2, fma(vec4<f32>(r0.w), k3, c0))));
#if ROW1
#if ROWSUM
    rows.x += r0.x + r0.y + r0.z + r0.w;
#endif
#else
    c1 = fma(vec4<f32>(r1.x), k0, fma(vec4<f32>(r1.y), k1, fma(vec4<f32>(r1.z), k2, fma(vec4<f32>(r1.w), k3, c1))));
    c2 = fma(vec4<f32>(r2.x), k0, fma(vec4<f32>(r2.y), k1, fma(vec4<f32>(r2.z), k2, fma(vec4<f32>(r2.w), k3, c2))));
    c3 = fma(vec4<f32>(r3.x), k0, fma(vec4<f32>(r3.y), k1, fma(vec4<f32>(r3.z), k2, fma(vec4<f32>(r3.w), k3, c3))));
#if ROWSUM
    rows += vec4<f32>(r0.x + r0.y + r0.z + r0.w, r1.x + r1.y + r1.z + r1.w, r2.x + r2.y + r2.z + r2.w, r3.x + r3.y + r3.z + r3.w);
#endif
    a1 += aStep;
    a2 += aStep;
    a3 += aStep;
#endif
    a0 += aStep;
    b0 += bStep;
    b1 += bStep;
    b2 += bStep;
    b3 += bStep;
  }
#if !K4
  // the last K % 4 terms, one k each, spread over the slices like the groups; a and b are at
  // k = 4 * groups + 4 * (slice - first slice past the end) here, so index from scratch
  for (var k = groups * 4u + slice; k < K; k += KS) {
    let pa = u.aOff + zOff(z, u.aZ, u.aZ2) + k * aK;
    let pb = u.bOff + zOff(z, u.bZ, u.bZ2) + k * bK;
#if B_N4
    let kk = b[(pb + n0) >> 2u];
#else
    let kk = vec4<f32>(b[pb + n0 * bN], b[pb + min(n0 + 1u, N - 1u) * bN], b[pb + min(n0 + 2u, N - 1u) * bN], b[pb + min(n0 + 3u, N - 1u) * bN]);
#endif
#if A_M4
    let rk = a[(pa + m0) >> 2u];
#else
    let rk = vec4<f32>(a[pa + m0 * aM], a[pa + min(m0 + 1u, M - 1u) * aM], a[pa + min(m0 + 2u, M - 1u) * aM], a[pa + min(m0 + 3u, M - 1u) * aM]);
#endif
    c0 = fma(vec4<f32>(rk.x), kk, c0);
#if !ROW1
    c1 = fma(vec4<f32>(rk.y), kk, c1);
    c2 = fma(vec4<f32>(rk.z), kk, c2);
    c3 = fma(vec4<f32>(rk.w), kk, c3);
#endif
#if ROWSUM
    rows += rk;
#endif
  }
#endif

#if SPLIT
  part[lid] = array<vec4<f32>, 4>(c0, c1, c2, c3);
#if ROWSUM
  partRows[lid] = rows;
#endif
  workgroupBarrier();
  if (!valid || slice != 0u) { return; }
  for (var s = 1u; s < KS; s++) {
    let q = part[lid + s];
    c0 += q[0];
    c1 += q[1];
    c2 += q[2];
    c3 += q[3];
#if ROWSUM
    rows += partRows[lid + s];
#endif
  }
#endif
#if ROWSUM
  // the first column block stores its rows' sums
  if (n0 == 0u) {
    for (var i = 0u; i < 4u; i++) {
      if (m0 + i < M) { storeRowSum(z, m0 + i, rows[i]); }
    }
  }
#endif
  let c = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= N) { break; }
      storeC(z, m, n, c[i][j]);
    }
  }
}
