// out[off + i] = value for i < total: zeroes an accumulator before a split-K GEMM adds into it.
// Workgroups: a 2-D grid of 256-thread groups covering `total`.

struct Uniforms {
  total: u32, off: u32, value: f32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid;
  if (i < u.total) { out[u.off + i] = u.value; }
}
