// Batch norm in training mode over x[N,C,S] per channel (S = H·W·…, 1 for [N,C]); one
// workgroup per channel, its WG threads striding over the channel's M = N·S values and meeting
// in the workgroup-memory tree reductions of rowreduce.wgsl (sumAll, sumAll2).
// One flag picks the kernel; the bindings follow the routine's inputs then outputs:
//   FORWARD   x, [w, b] → y, mean, invstd        three sweeps of the channel: the mean, the
//             centred sum of squares (two-pass: no E[x²] - E[x]² cancellation), then
//             y = (x - mean)·invstd·w + b; biased variance, as the CPU routine
//   BACKWARD  x, gy, mean, invstd, [w] → gx, gw, gb
//             one sweep for gb = Σ gy and gw = Σ gy·x̂ (one sumAll2), one to write
//             gx = w·invstd·(gy - gb/M - x̂·gw/M), x̂ = (x - mean)·invstd
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
  let mu = sumAll(s, lid) / m;
  var q = 0.0;
  for (var i = lid; i < M; i += WG) {
    let d = x[u.ox + at(i, c)] - mu;
    q += d * d;
  }
  let rs = 1.0 / sqrt(sumAll(q, lid) / m + u.eps);
#if AFFINE
  let scale = rs * w[u.ow + c];
  let shift = b[u.ob + c];
#else
  let scale = rs;
  let shift = 0.0;
#endif
  for (var i = lid; i < M; i += WG) {
    let k = at(i, c);
    y[u.oy + k] = (x[u.ox + k] - mu) * scale + shift;
  }
  if (lid == 0u) {
    mean[u.om + c] = mu;
    invstd[u.oi + c] = rs;
  }
#else
  let mu = mean[u.om + c];
  let rs = invstd[u.oi + c];
  var acc = vec2<f32>(0.0);
  for (var i = lid; i < M; i += WG) {
    let k = at(i, c);
    let g = gy[u.oy + k];
    acc += vec2<f32>(g, g * (x[u.ox + k] - mu) * rs);
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
    gx[u.ogx + k] = scale * (gy[u.oy + k] - mg.x - (x[u.ox + k] - mu) * rs * mg.y);
  }
#endif
}
