// Layer norm over rows of length D, forward and backward. Legend: R rows, D row length.
// One flag picks the kernel; the bindings follow the routine's inputs then outputs:
//   FORWARD   x, [w, b] → y, mean, rstd         one workgroup per row, two passes: the mean m0,
//             then the sums of d = x - m0 and d² (no E[x²] - E[x]² cancellation). m0 is off by
//             a few of its ulps (a float32 sum of D values), which is a lot next to the spread
//             when |mean| ≫ std (mean 1000, std 0.05: 0.1%), so the mean is m0 + m1 with
//             m1 = mean(d), and var = mean(d²) - m1² (m1 is tiny: no cancellation); mean is
//             stored as the pair (m0, m1); biased variance
//   BACKWARD  x, gy, mean, rstd, [w], [gres] → gx       one workgroup per row:
//             gx = rstd * (ĝ - mean(ĝ) - x̂ * mean(ĝ x̂)) [+ gres], x̂ = ((x - m0) - m1) * rstd,
//             ĝ = gy * w; RESIDUAL adds gres, the gradient x has from its other consumers
//             (FORWARD/BACKWARD follow rowreduce.wgsl: with ROWTHREAD, one thread per row)
//   PARAMS    x, gy, mean, rstd → gw, gb        gw = Σ_rows gy x̂, gb = Σ_rows gy; 32 columns
//             per workgroup, 8 lanes splitting the rows, summed in workgroup memory
// AFFINE adds the w (and b) bindings. Placeholders: WG (FORWARD/BACKWARD threads per row), the
// binding numbers of the outputs (Y, MEAN, RSTD, GX) and, for BACKWARD, the uniform offset
// fields of w, gres and gx (OW, ORES, OGX: the bindings before them vary).

struct Uniforms {
  R: u32, D: u32, eps: f32,
  o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, o6: u32,   // element offsets, in binding order
}
@group(0) @binding(0) var<uniform> u: Uniforms;

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if AFFINE
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
#endif
@group(0) @binding({{Y}}) var<storage, read_write> y: array<f32>;
@group(0) @binding({{MEAN}}) var<storage, read_write> mean: array<f32>;
@group(0) @binding({{RSTD}}) var<storage, read_write> rstd: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
#if BACKWARD
#if AFFINE
@group(0) @binding(5) var<storage, read> w: array<f32>;
#endif
#if RESIDUAL
@group(0) @binding({{RES}}) var<storage, read> gres: array<f32>;
#endif
@group(0) @binding({{GX}}) var<storage, read_write> gx: array<f32>;
#else
@group(0) @binding(5) var<storage, read_write> gw: array<f32>;
@group(0) @binding(6) var<storage, read_write> gb: array<f32>;
#endif
#endif

#if PARAMS
var<workgroup> partW: array<array<f32, 32>, 8>;
var<workgroup> partB: array<array<f32, 32>, 8>;

@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let col = (wg.y * nwg.x + wg.x) * 32u + lid.x;
  var sw = 0.0;
  var sb = 0.0;
  // no early return for col >= D: every thread must reach the barrier
  if (col < u.D) {
    for (var r = lid.y; r < u.R; r += 8u) {
      let g = gy[u.o1 + r * u.D + col];
      sw += g * ((x[u.o0 + r * u.D + col] - mean[u.o2 + 2u * r]) - mean[u.o2 + 2u * r + 1u]) * rstd[u.o3 + r];
      sb += g;
    }
  }
  partW[lid.y][lid.x] = sw;
  partB[lid.y][lid.x] = sb;
  workgroupBarrier();
  if (lid.y == 0u && col < u.D) {
    for (var i = 1u; i < 8u; i++) {
      sw += partW[i][lid.x];
      sb += partB[i][lid.x];
    }
    gw[u.o4 + col] = sw;
    gb[u.o5 + col] = sb;
  }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
#if ROWTHREAD
  let row = (wg.y * nwg.x + wg.x) * WG + tid;
  let lid = 0u;
#elif SUBGROUP
  let row = (wg.y * nwg.x + wg.x) * (WG / SG) + tid / SG;
  let lid = tid % SG;
#else
  let row = wg.y * nwg.x + wg.x;
  let lid = tid;
#endif
  // uniform across the workgroup (or one thread per row, ROWTHREAD), so the reductions'
  // barriers stay in uniform control flow
  if (row >= u.R) { return; }
  let base = row * u.D;
  let n = f32(u.D);
#if FORWARD
  var s = 0.0;
  for (var j = lid; j < u.D; j += STEP) { s += x[u.o0 + base + j]; }
  let m0 = sumAll(s, lid) / n;
  var acc = vec2<f32>(0.0);
  for (var j = lid; j < u.D; j += STEP) {
    let d = x[u.o0 + base + j] - m0;
    acc += vec2<f32>(d, d * d);
  }
  let t = sumAll2(acc, lid) / n;
  let m1 = t.x;
  let rs = 1.0 / sqrt(max(t.y - m1 * m1, 0.0) + u.eps);
  for (var j = lid; j < u.D; j += STEP) {
    var v = ((x[u.o0 + base + j] - m0) - m1) * rs;
#if AFFINE
    v = v * w[u.o1 + j] + b[u.o2 + j];
    y[u.o3 + base + j] = v;
#else
    y[u.o1 + base + j] = v;
#endif
  }
  if (lid == 0u) {
#if AFFINE
    mean[u.o4 + 2u * row] = m0;
    mean[u.o4 + 2u * row + 1u] = m1;
    rstd[u.o5 + row] = rs;
#else
    mean[u.o2 + 2u * row] = m0;
    mean[u.o2 + 2u * row + 1u] = m1;
    rstd[u.o3 + row] = rs;
#endif
  }
#else
  let m0 = mean[u.o2 + 2u * row];
  let m1 = mean[u.o2 + 2u * row + 1u];
  let rs = rstd[u.o3 + row];
  var acc = vec2<f32>(0.0);
  for (var j = lid; j < u.D; j += STEP) {
    let h = ((x[u.o0 + base + j] - m0) - m1) * rs;
    var g = gy[u.o1 + base + j];
#if AFFINE
    g *= w[u.{{OW}} + j];
#endif
    acc += vec2<f32>(g, g * h);
  }
  let m = sumAll2(acc, lid) / n;
  for (var j = lid; j < u.D; j += STEP) {
    let h = ((x[u.o0 + base + j] - m0) - m1) * rs;
    var g = gy[u.o1 + base + j];
#if AFFINE
    g *= w[u.{{OW}} + j];
#endif
    var v = rs * (g - m.x - h * m.y);
#if RESIDUAL
    v += gres[u.{{ORES}} + base + j];
#endif
    gx[u.{{OGX}} + base + j] = v;
  }
#endif
}
#endif
