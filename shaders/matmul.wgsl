// Batched matmul operands and epilogue, shared by the two cores: the tiled gemm.wgsl (with the tile
// loaders of gemm_tile.wgsl) and the direct matmul_direct.wgsl for small outputs.
//
//   out[z, m, n] = sum_k a[z, m, k] * b[z, k, n] + bias[n]
//   (EPI: out_k[z, m, n] = wt_expr(that value, e1[z, m, n], e2[z, m, n], ...).v_k)
//
// a and b are read in place through element strides (a transposed view is just other strides),
// a batch stride of 0 broadcasts an operand. Flags:
//   A_VEC4 / B_VEC4  the operand is bound as array<vec4<f32>>; the routine sets them only when
//                    the unit-stride axis, the other strides and the offset are multiples of 4
//   BIAS             a bias[N] binding exists (binding 3; the output then moves to 4)
//   Z2               two batch levels: batch z sits at (z / zIn) * xZ + (z % zIn) * xZ2 in each
//                    operand (a head-split view read in place); else at z * xZ
//   ROWSUM           also rowsum[z, m] = sum_k a[z, m, k] (a linear layer's bias gradient next to
//                    its weight gradient: a = gᵀ), the output after the others; one batch level
//   EPI              an elementwise epilogue (kernel.ts MatmulEpilogue): the routine appends
//                    `fn wt_epi(z, m, n, x)`, generated from its expressions, which reads the
//                    epilogue inputs and writes every output; their offsets and strides are the
//                    uniforms' `ev` (offset, z, m, n per view: outputs 1.., then inputs)
// Placeholders: OUT (output binding), NEV (EPI: entries of `ev`).

struct Uniforms {
  M: u32, N: u32, K: u32,
  z0: u32,                                   // first batch of this launch (launches split z > 65535)
  aOff: u32, aZ: u32, aM: u32, aK: u32,      // element offset and strides of a
  bOff: u32, bZ: u32, bK: u32, bN: u32,
  cOff: u32, cZ: u32, cM: u32, cN: u32,
  biasOff: u32, biasN: u32,
  Z: u32,                                    // batches in all (read by matmul_direct.wgsl only)
  zIn: u32, aZ2: u32, bZ2: u32, cZ2: u32,    // inner batch count and strides (flag Z2)
#if EXTRA
  pad: u32,                                  // (EXTRA: EPI or ROWSUM)
#endif
#if ROWSUM
  rs: vec4<u32>,                             // offset, z and m strides of the row sums (flag ROWSUM)
#endif
#if EPI
  ev: array<vec4<u32>, {{NEV}}>,             // further outputs, then epilogue inputs (flag EPI)
#endif
}
@group(0) @binding(0) var<uniform> u: Uniforms;

// element offset of batch z in an operand with batch strides (outer, inner)
fn zOff(z: u32, outer: u32, inner: u32) -> u32 {
#if Z2
  return (z / u.zIn) * outer + (z % u.zIn) * inner;
#else
  return z * outer;
#endif
}

#if A_VEC4
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
// the unit stride is 1, so the same formula addresses a vec4 along k or along m
fn loadA4(z: u32, m: u32, k: u32) -> vec4<f32> {
  return a[(u.aOff + zOff(u.z0 + z, u.aZ, u.aZ2) + m * u.aM + k * u.aK) >> 2u];
}
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
fn loadA(z: u32, m: u32, k: u32) -> f32 {
  return a[u.aOff + zOff(u.z0 + z, u.aZ, u.aZ2) + m * u.aM + k * u.aK];
}
#endif

#if B_VEC4
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
fn loadB4(z: u32, n: u32, k: u32) -> vec4<f32> {
  return b[(u.bOff + zOff(u.z0 + z, u.bZ, u.bZ2) + k * u.bK + n * u.bN) >> 2u];
}
#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
fn loadB(z: u32, n: u32, k: u32) -> f32 {
  return b[u.bOff + zOff(u.z0 + z, u.bZ, u.bZ2) + k * u.bK + n * u.bN];
}
#endif

#if BIAS
@group(0) @binding(3) var<storage, read> bias: array<f32>;
#endif
@group(0) @binding({{OUT}}) var<storage, read_write> c: array<f32>;
#if ROWSUM
@group(0) @binding({{RS}}) var<storage, read_write> rowsum: array<f32>;
// rowsum[z, m] = sum_k a[z, m, k], called by the core once per row (m < M)
fn storeRowSum(z: u32, m: u32, v: f32) {
  rowsum[u.rs.x + (u.z0 + z) * u.rs.y + m * u.rs.z] = v;
}
#endif

fn storeC(z: u32, m: u32, n: u32, v: f32) {
  var x = v;
#if BIAS
  x += bias[u.biasOff + n * u.biasN];
#endif
#if EPI
  wt_epi(u.z0 + z, m, n, x);
#else
  c[u.cOff + zOff(u.z0 + z, u.cZ, u.cZ2) + m * u.cM + n * u.cN] = x;
#endif
}
