// The gradient of an embedding lookup (indexSelect along dim 0), deterministic and without a
// separate zero-fill: index int32[N], g[N,C] (any strides) → out[V,C], every row written:
//   out[v, c] = Σ_{i : index[i] = v} g[i, c], summed in increasing i (0 where no index is v).
// One thread per column c and block of R rows [lo, lo + R): it zeroes its cells, then walks the
// whole index and adds g[i, c] into out[index[i], c] where index[i] falls in its block. No two
// threads share a cell, so no atomics, and each cell's sum runs in index order, as the CPU
// routine's loop: the two agree bit for bit. R (u.R) trades threads for index walks: a GPU wants
// many threads (R small), a software adapter few walks (R = V: one thread per column).
// Out-of-range indices fall in no block (skipped).

struct Uniforms {
  N: u32, C: u32, V: u32, R: u32,
  iOff: u32, iStr: u32, gOff: u32, gRow: u32,
  gCol: u32, oOff: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wg.y * nwg.x + wg.x) * 64u + lid;
  let c = t % u.C;
  let lo = (t / u.C) * u.R;
  if (lo >= u.V) { return; }
  let hi = min(u.V, lo + u.R);
  for (var v = lo; v < hi; v++) { out[u.oOff + v * u.C + c] = 0.0; }
  for (var i = 0u; i < u.N; i++) {
    let v = index[u.iOff + i * u.iStr];
    if (v >= i32(lo) && v < i32(hi)) {
      let o = u.oOff + u32(v) * u.C + c;
      out[o] = out[o] + g[u.gOff + i * u.gRow + c * u.gCol];
    }
  }
}
