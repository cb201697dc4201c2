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
//   - fn loadTileA(z, m0, k0, t) and fn loadTileB(z, n0, k0, t): fill tileA / tileB with zeros
//     outside the matrix (rendered from gemm_tile.wgsl, which picks vec4 or scalar loads)
//   - fn storeC(z, m, n, v): the epilogue, called only for m < M and n < N
// Workgroups: x * y >= ceil(M / 64) * ceil(N / 64) output tiles, numbered row-major over (x, y)
// so that neither dimension passes the 65535 limit; z = batch.
//
// SPLIT_K (flag): z = batch * u.splits + s, and slice s covers k in [s * u.kChunk, +u.kChunk)
// (kChunk a multiple of 16); storeC then receives a partial sum and must accumulate it. For
// GEMMs with few output tiles and a long K, which would otherwise leave most of the GPU idle.

const TM = 64u;
const TN = 64u;
const TK = 16u;

// tile[k][r / 4] holds rows r..r+3 at depth k, so the inner loop reads a whole vec4 at once
var<workgroup> tileA: array<array<vec4<f32>, 16>, 16>;
var<workgroup> tileB: array<array<vec4<f32>, 16>, 16>;

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
  var acc: array<vec4<f32>, 4>;
  for (var k0 = kBegin; k0 < kEnd; k0 += TK) {
    loadTileA(z, m0, k0, t);
    loadTileB(z, n0, k0, t);
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let a = tileA[k][lid.y];
      let b = tileB[k][lid.x];
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
    // the next iteration overwrites the tiles: every thread must be done reading them
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m >= u.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n >= u.N) { break; }
      storeC(z, m, n, acc[i][j]);
    }
  }
}
