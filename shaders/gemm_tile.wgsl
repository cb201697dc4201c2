// Tile loader for gemm.wgsl, rendered once per operand:
//   OP = A, R = M: tileA[k][r/4][r%4] = A[z, m0 + r, k0 + k]
//   OP = B, R = N: tileB[k][r/4][r%4] = B[z, k0 + k, n0 + r]   (r runs over n: B is read as B^T)
// for r < 64, k < 16, and 0 outside the matrix. Seen this way A and B^T are the same problem,
// which is why one template serves both.
//
// Flags pick how the 256 threads cover the 64x16 tile:
//   VEC4_K  one vec4 along k per thread, from load{{OP}}4(z, r, k) (needs K % 4 == 0, so a vec4
//           is either wholly inside the matrix or wholly outside)
//   VEC4_R  one vec4 along r per thread, from load{{OP}}4(z, r, k) (needs R % 4 == 0)
//   KFAST   four scalars, consecutive threads walking k (the operand's unit stride is along k)
//   (none)  four scalars, consecutive threads walking r
// Scalar modes call load{{OP}}(z, r, k) -> f32.

fn loadTile{{OP}}(z: u32, r0: u32, k0: u32, t: u32) {
#if VEC4_K
  let r = t >> 2u;
  let k = (t & 3u) << 2u;
  var v = vec4<f32>(0.0);
  if (r0 + r < u.{{R}} && k0 + k < u.K) { v = load{{OP}}4(z, r0 + r, k0 + k); }
  tile{{OP}}[k][r >> 2u][r & 3u] = v.x;
  tile{{OP}}[k + 1u][r >> 2u][r & 3u] = v.y;
  tile{{OP}}[k + 2u][r >> 2u][r & 3u] = v.z;
  tile{{OP}}[k + 3u][r >> 2u][r & 3u] = v.w;
#elif VEC4_R
  let k = t >> 4u;
  let r = (t & 15u) << 2u;
  var v = vec4<f32>(0.0);
  if (r0 + r < u.{{R}} && k0 + k < u.K) { v = load{{OP}}4(z, r0 + r, k0 + k); }
  tile{{OP}}[k][r >> 2u] = v;
#else
  for (var i = 0u; i < 4u; i++) {
    let e = t + i * 256u;
#if KFAST
    let k = e & 15u;
    let r = e >> 4u;
#else
    let r = e & 63u;
    let k = e >> 6u;
#endif
    var v = 0.0;
    if (r0 + r < u.{{R}} && k0 + k < u.K) { v = load{{OP}}(z, r0 + r, k0 + k); }
    tile{{OP}}[k][r >> 2u][r & 3u] = v;
  }
#endif
}
