// Tiled GEMM core, shared by matmul and the three implicit-GEMM conv2d kernels.
//
//   C[z, m, n] = sum_k A[z, m, k] * B[z, k, n]      z = batch (matmul) or group (conv)
//
// One workgroup of 16x16 threads computes a 64x64 tile of C; each thread owns a 4x4 block held in
// registers (rows 4*ty.., cols 4*tx..). K is walked 16 at a time through two workgroup tiles
// (2 x 4 KiB, well inside the 16 KiB guarantee). Per k step a thread reads one vec4 of A and one
// vec4 of B from workgroup memory and does 16 FMAs: the register blocking that makes this pay.
//
// The including shader provides (the rest of the module; WGSL declarations are order-free):
//   - `u`, a uniform struct with u32 fields M, N, K
//   - fn loadTileA(z, m0, k0, t, c) and fn loadTileB(z, n0, k0, t, c): fill 64 rows of tileA /
//     tileB from slot c (zeros outside the matrix; rendered from gemm_tile.wgsl, which picks vec4
//     or scalar loads)
//   - fn storeC(z, m, n, v): the epilogue, called only for m < M and n < N
// Workgroups: x * y >= ceil(M / TM) * ceil(N / TN) output tiles, numbered row-major over (x, y)
// so that neither dimension passes the 65535 limit; z = batch.
//
// BIG (flag): 128x128 tiles, each thread an 8x8 block (rows 4*ty.. and
// 64 + 4*ty.., the same for columns): per k step four vec4 reads from workgroup memory feed 64
// FMAs instead of two feeding 16, which is what large products on real GPUs are bound by. The
// float32 tiles fill the 16 KiB of workgroup memory WebGPU guarantees.
//
// SPLIT_K (flag): z = batch * u.splits + s, and slice s covers k in [s * u.kChunk, +u.kChunk)
// (kChunk a multiple of 16); storeC then receives a partial sum and must accumulate it. For
// GEMMs with few output tiles and a long K, which would otherwise leave most of the GPU idle.
//
// HALF (flag): medium matmul precision (wt.setFloat32MatmulPrecision('medium')). The operands
// pass through workgroup memory as half precision, vec4<H> tiles: H = f16 with the F16 flag (the
// device has shader-f16; gemmProgram then starts the module with `enable f16;`), else H = f32
// holding f16-rounded values (F16 off: the same numerics without f16 hardware, for testing the
// variant on adapters that lack it). Each 16-deep k tile is summed in H, then added into the f32
// accumulators: f16 FMAs, f32 for the long sum over K.

#if BIG
const TM = 128u;
const TN = 128u;
#else
const TM = 64u;
const TN = 64u;
#endif
const TK = 16u;

#if F16
alias H = f16;
fn toH(v: vec4<f32>) -> vec4<H> { return vec4<H>(v); }
#elif HALF
alias H = f32;
// the f16 nearest to each component, as f32
fn toH(v: vec4<f32>) -> vec4<H> {
  return vec4<f32>(unpack2x16float(pack2x16float(v.xy)), unpack2x16float(pack2x16float(v.zw)));
}
#else
alias H = f32;
fn toH(v: vec4<f32>) -> vec4<H> { return v; }
#endif

// tile[k][r / 4] holds rows r..r+3 at depth k, so the inner loop reads a whole vec4 at once
var<workgroup> tileA: array<array<vec4<H>, TM / 4u>, 16>;
var<workgroup> tileB: array<array<vec4<H>, TN / 4u>, 16>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let tilesN = (u.N + TN - 1u) / TN;
  let tile = wg.y * nwg.x + wg.x;
  // the whole workgroup leaves together, so the barriers below stay in uniform control flow
  if (tile >= tilesN * ((u.M + TM - 1u) / TM)) { return; }
  let m0 = (tile / tilesN) * TM;
  let n0 = (tile % tilesN) * TN;
#if SPLIT_K
  let z = wg.z / u.splits;
  let kBegin = (wg.z % u.splits) * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
#else
  let z = wg.z;
  let kBegin = 0u;
  let kEnd = u.K;
#endif
#if BIG
  // rows lid.y*4 + i (i < 4) and 64 + lid.y*4 + (i - 4); pL: columns lid.x*4.., pR: 64 + lid.x*4..
  var pL: array<vec4<H>, 8>;
  var pR: array<vec4<H>, 8>;
#if HALF
  // under HALF pL / pR sum one 16-deep tile in H, and these the long sum over K in f32
  var accL: array<vec4<f32>, 8>;
  var accR: array<vec4<f32>, 8>;
#endif
#else
  var acc: array<vec4<f32>, 4>;
#endif
#if ROWSUM
  // ROWSUM (matmul): the first tile column's lid.x == 0 threads sum their rows of A over k (rowsL:
  // rows lid.y*4.., rowsR: 64 + lid.y*4.. under BIG); storeRowSum stores them
  let rowSums = n0 == 0u && lid.x == 0u;
  var rowsL = vec4<f32>(0.0);
  var rowsR = vec4<f32>(0.0);
#endif
  for (var k0 = kBegin; k0 < kEnd; k0 += TK) {
    loadTileA(z, m0, k0, t, 0u);
    loadTileB(z, n0, k0, t, 0u);
#if BIG
    loadTileA(z, m0 + 64u, k0, t, 16u);
    loadTileB(z, n0 + 64u, k0, t, 16u);
#endif
    workgroupBarrier();
#if ROWSUM
    if (rowSums) {
      for (var k = 0u; k < TK; k++) {
        rowsL += vec4<f32>(tileA[k][lid.y]);
#if BIG
        rowsR += vec4<f32>(tileA[k][lid.y + 16u]);
#endif
      }
    }
#endif
#if BIG
#if HALF
    for (var i = 0u; i < 8u; i++) {
      pL[i] = vec4<H>(0.0);
      pR[i] = vec4<H>(0.0);
    }
#endif
    for (var k = 0u; k < TK; k++) {
      let a0 = tileA[k][lid.y];
      let a1 = tileA[k][lid.y + 16u];
      let b0 = tileB[k][lid.x];
      let b1 = tileB[k][lid.x + 16u];
      pL[0] = fma(vec4<H>(a0.x), b0, pL[0]);
      pL[1] = fma(vec4<H>(a0.y), b0, pL[1]);
      pL[2] = fma(vec4<H>(a0.z), b0, pL[2]);
      pL[3] = fma(vec4<H>(a0.w), b0, pL[3]);
      pL[4] = fma(vec4<H>(a1.x), b0, pL[4]);
      pL[5] = fma(vec4<H>(a1.y), b0, pL[5]);
      pL[6] = fma(vec4<H>(a1.z), b0, pL[6]);
      pL[7] = fma(vec4<H>(a1.w), b0, pL[7]);
      pR[0] = fma(vec4<H>(a0.x), b1, pR[0]);
      pR[1] = fma(vec4<H>(a0.y), b1, pR[1]);
      pR[2] = fma(vec4<H>(a0.z), b1, pR[2]);
      pR[3] = fma(vec4<H>(a0.w), b1, pR[3]);
      pR[4] = fma(vec4<H>(a1.x), b1, pR[4]);
      pR[5] = fma(vec4<H>(a1.y), b1, pR[5]);
      pR[6] = fma(vec4<H>(a1.z), b1, pR[6]);
      pR[7] = fma(vec4<H>(a1.w), b1, pR[7]);
    }
#if HALF
    for (var i = 0u; i < 8u; i++) {
      accL[i] += vec4<f32>(pL[i]);
      accR[i] += vec4<f32>(pR[i]);
    }
#endif
#elif HALF
    // four named sums, reset per tile (a private array declared in the loop was not, on SwiftShader)
    var p0 = vec4<H>(0.0);
    var p1 = vec4<H>(0.0);
    var p2 = vec4<H>(0.0);
    var p3 = vec4<H>(0.0);
    for (var k = 0u; k < TK; k++) {
      let a = tileA[k][lid.y];
      let b = tileB[k][lid.x];
      p0 = fma(vec4<H>(a.x), b, p0);
      p1 = fma(vec4<H>(a.y), b, p1);
      p2 = fma(vec4<H>(a.z), b, p2);
      p3 = fma(vec4<H>(a.w), b, p3);
    }
    acc[0] += vec4<f32>(p0);
    acc[1] += vec4<f32>(p1);
    acc[2] += vec4<f32>(p2);
    acc[3] += vec4<f32>(p3);
#else
    for (var k = 0u; k < TK; k++) {
      let a = tileA[k][lid.y];
      let b = tileB[k][lid.x];
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
#endif
    // the next iteration overwrites the tiles: every thread must be done reading them
    workgroupBarrier();
  }
#if ROWSUM
  if (rowSums) {
    for (var i = 0u; i < 4u; i++) {
      let m = m0 + lid.y * 4u + i;
      if (m < u.M) { storeRowSum(z, m, rowsL[i]); }
#if BIG
      if (m + 64u < u.M) { storeRowSum(z, m + 64u, rowsR[i]); }
#endif
    }
  }
#endif
#if BIG
#if !HALF
  let accL = pL;
  let accR = pR;
#endif
  for (var i = 0u; i < 8u; i++) {
    let m = m0 + (i / 4u) * 64u + lid.y * 4u + (i % 4u);
    if (m >= u.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n < u.N) { storeC(z, m, n, accL[i][j]); }
      if (n + 64u < u.N) { storeC(z, m, n + 64u, accR[i][j]); }
    }
  }
#else
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m >= u.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n >= u.N) { break; }
      storeC(z, m, n, acc[i][j]);
    }
  }
#endif
}
