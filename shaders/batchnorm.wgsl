// Batch norm in training mode over x[N,C,S] per channel (S = H·W·…, 1 for [N,C]); one
// workgroup per channel, its WG threads striding over the channel's M = N·S values and meeting
// in the workgroup-memory tree reductions of rowreduce.wgsl (sumAll, sumAll2).
// One flag picks the kernel; the bindings follow the routine's inputs then outputs:
//   FORWARD   x, [w, b] → y, mean, invstd        three sweeps of the channel: the mean m0, the
//             sums of d = x - m0 and d² (no E[x²] - E[x]² cancellation), then
//             y = (x - mean)·invstd·w + b; biased variance, as the CPU routine. As in
//             layernorm.wgsl, the mean is the pair (m0, m1 = mean(d)): m0 alone, a float32 sum's
//             quotient, is off by ulps of itself, a lot next to the spread when |mean| ≫ std
//   BACKWARD  x, gy, mean, invstd, [w] → gx, gw, gb
//             one sweep for gb = Σ gy and gw = Σ gy·x̂ (one sumAll2), one to write
//             gx = w·invstd·(gy - gb/M - x̂·gw/M), x̂ = ((x - m0) - m1)·invstd
// AFFINE adds the w (and b) bindings. Placeholders: the binding numbers that move with AFFINE
// (Y, MEAN, INVSTD forward; GX, GW, GB backward). Every element offset travels in the uniforms
// by role, so the code reads the same with and without AFFINE.
//
// Element (n, c, s) of a channel lives at (n·C + c)·S + s: the channel is N runs of S
// contiguous values. The loops walk i = n·S + s in [0, M) so consecutive threads read
// consecutive addresses within a run; one u32 division per element recovers n.

struct Uniforms {
  N: u32, C: u32, S: u32, eps: f32,
  ox: u32, ow: u32, ob: u32, oy: u32,        // x, w, b, y   (BACKWARD: oy is gy)
  om: u32, oi: u32, ogx: u32, ogw: u32,      // mean, invstd, gx, gw
  ogb: u32,                                  // gb
}
@group(0) @binding(0) var<uniform> u: Uniforms;

@group(0) @binding(1) var<storage, read> x: array<f32>;
#if FORWARD
#if AFFINE
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
#endif
@group(0) @binding({{Y}}) var<storage, read_write> y: array<f32>;
@group(0) @binding({{MEAN}}) var<storage, read_write> mean: array<f32>;
@group(0) @binding({{INVSTD}}) var<storage, read_write> invstd: array<f32>;
#else
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> invstd: array<f32>;
#if AFFINE
@group(0) @binding(5) var<storage, read> w: array<f32>;
#endif
@group(0) @binding({{GX}}) var<storage, read_write> gx: array<f32>;
@group(0) @binding({{GW}}) var<storage, read_write> gw: array<f32>;
@group(0) @binding({{GB}}) var<storage, read_write> gb: array<f32>;
#endif

// the flat position of the i-th value (i = n·S + s) of channel c, before the view's offset
fn at(i: u32, c: u32) -> u32 {
  let n = i / u.S;
  return (n * u.C + c) * u.S + (i - n * u.S);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = wg.y * nwg.x + wg.x;
  // uniform across the workgroup, so the reductions' barriers stay in uniform control flow
  if (c >= u.C) { return; }
  let M = u.N * u.S;
  let m = f32(M);
#if FORWARD
  var s = 0.0;
  for (var i = lid; i < M; i += WG) { s += x[u.ox + at(i, c)]; }
  let m0 = sumAll(s, lid) / m;
  var acc = vec2<f32>(0.0);
  for (var i = lid; i < M; i += WG) {
    let d = x[u.ox + at(i, c)] - m0;
    acc += vec2<f32>(d, d * d);
  }
  let t = sumAll2(acc, lid) / m;
  let m1 = t.x;
  let rs = 1.0 / sqrt(max(t.y - m1 * m1, 0.0) + u.eps);
#if AFFINE
  let scale = rs * w[u.ow + c];
  let shift = b[u.ob + c];
#else
  let scale = rs;
  let shift = 0.0;
#endif
  for (var i = lid; i < M; i += WG) {
    let k = at(i, c);
    y[u.oy + k] = ((x[u.ox + k] - m0) - m1) * scale + shift;
  }
  if (lid == 0u) {
    mean[u.om + 2u * c] = m0;
    mean[u.om + 2u * c + 1u] = m1;
    invstd[u.oi + c] = rs;
  }
#else
  let m0 = mean[u.om + 2u * c];
  let m1 = mean[u.om + 2u * c + 1u];
  let rs = invstd[u.oi + c];
  var acc = vec2<f32>(0.0);
  for (var i = lid; i < M; i += WG) {
    let k = at(i, c);
    let g = gy[u.oy + k];
    acc += vec2<f32>(g, g * ((x[u.ox + k] - m0) - m1) * rs);
  }
  let tot = sumAll2(acc, lid);   // (Σ gy, Σ gy·x̂)
  if (lid == 0u) {
    gb[u.ogb + c] = tot.x;
    gw[u.ogw + c] = tot.y;
  }
  let mg = tot / m;
#if AFFINE
  let scale = rs * w[u.ow + c];
#else
  let scale = rs;
#endif
  for (var i = lid; i < M; i += WG) {
    let k = at(i, c);
    gx[u.ogx + k] = scale * (gy[u.oy + k] - mg.x - ((x[u.ox + k] - m0) - m1) * rs * mg.y);
  }
#endif
}
