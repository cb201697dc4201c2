// The draws of multinomial with replacement (src/kernel/kernel.ts `sampleCategorical`), one thread
// per draw: a binary search of the row's cumulative weights for the first entry above the draw's
// point t, then on to the next category of positive weight if that one has none (a rounding
// corner of the cumulative sum), else back to the last one. As the CPU routine, step for step.

struct Uniforms {
  R: u32, D: u32, S: u32, cOff: u32,
  wOff: u32, tOff: u32, oOff: u32, pad: u32,
}
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> cdf: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> t: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * 64u + lid;
  if (i >= u.R * u.S) { return; }
  let r = i / u.S;
  let c = u.cOff + r * u.D;
  let wo = u.wOff + r * u.D;
  let v = t[u.tOff + i];
  var lo = 0u;
  var hi = u.D;
  loop {
    if (lo >= hi) { break; }
    let mid = (lo + hi) / 2u;
    if (cdf[c + mid] > v) { hi = mid; } else { lo = mid + 1u; }
  }
  var j = lo;
  loop {
    if (j >= u.D) { break; }
    if (w[wo + j] > 0.0) { break; }
    j++;
  }
  if (j == u.D) {
    j = u.D - 1u;
    loop {
      if (j == 0u) { break; }
      if (w[wo + j] > 0.0) { break; }
      j--;
    }
  }
  out[u.oOff + i] = i32(j);
}
