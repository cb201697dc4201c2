// Tile loader for gemm.wgsl, rendered once per operand:
//   OP = A, R = M: tileA[k][c + r/4][r%4] = A[z, m0 + r, k0 + k]
//   OP = B, R = N: tileB[k][c + r/4][r%4] = B[z, k0 + k, n0 + r]   (r runs over n: B is read as B^T)
// for r < 64, k < 16, and 0 outside the matrix; c is the first vec4 slot (16 for the second half
// of a 128-row tile). Seen this way A and B^T are the same problem,
// which is why one template serves both.
//
// Tiles hold vec4<H> (gemm.wgsl: f32, or f16 under HALF); every store goes through toH.
//
// Every thread stores whole vec4s: WGSL lets a write to one component of a vector rewrite the
// whole vector, so threads sharing a vec4 component-wise would race.
//
// Flags pick how the tile is read from memory:
//   VEC4_K  vec4s along k from load{{OP}}4(z, r, k) (needs K % 4 == 0, so a vec4 is either
//           wholly inside the matrix or wholly outside); 64 threads each transpose a 4x4 block
//   VEC4_R  one vec4 along r per thread from load{{OP}}4(z, r, k) (needs R % 4 == 0)
//   KFAST   scalars from load{{OP}}(z, r, k), consecutive threads walking k (unit stride on k)
//   (none)  scalars, each thread reading 4 consecutive r (unit stride on r, or no unit stride)

fn loadTile{{OP}}(z: u32, r0: u32, k0: u32, t: u32, c: u32) {
#if VEC4_K
  if (t < 64u) {
    let k = (t & 3u) << 2u;
    let r = (t >> 2u) << 2u;
    var v: array<vec4<f32>, 4>;
    for (var j = 0u; j < 4u; j++) {
      if (r0 + r + j < u.{{R}} && k0 + k < u.K) { v[j] = load{{OP}}4(z, r0 + r + j, k0 + k); }
    }
    for (var i = 0u; i < 4u; i++) {
      tile{{OP}}[k + i][c + (r >> 2u)] = toH(vec4<f32>(v[0][i], v[1][i], v[2][i], v[3][i]));
    }
  }
#elif VEC4_R
  let k = t >> 4u;
  let r = (t & 15u) << 2u;
  var v = vec4<f32>(0.0);
  if (r0 + r < u.{{R}} && k0 + k < u.K) { v = load{{OP}}4(z, r0 + r, k0 + k); }
  tile{{OP}}[k][c + (r >> 2u)] = toH(v);
#else
#if KFAST
  let k = t & 15u;
  let r = (t >> 4u) << 2u;
#else
  let k = t >> 4u;
  let r = (t & 15u) << 2u;
#endif
  var v = vec4<f32>(0.0);
  if (k0 + k < u.K) {
    for (var j = 0u; j < 4u; j++) {
      if (r0 + r + j < u.{{R}}) { v[j] = load{{OP}}(z, r0 + r + j, k0 + k); }
    }
  }
  tile{{OP}}[k][c + (r >> 2u)] = toH(v);
#endif
}
