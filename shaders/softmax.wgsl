// Row softmax / log-softmax, their backward, and the fused softmax-cross-entropy forward and
// backward. One workgroup per row (rows on a 2-D grid of workgroups); the WG threads stride
// over the row and meet in rowreduce.wgsl's reductions. With ROWTHREAD (rowreduce.wgsl), one
// thread per row instead, no barriers. Legend: R rows, D row length.
//
// One flag picks the kernel (bindings after the uniforms, inputs then outputs):
//   SOFTMAX           x → y                     y = softmax(x) or log_softmax(x) (const LOG)
//   SOFTMAX_BACKWARD  y, gy → gx                gx = y*(gy - sum(gy*y)) | gy - exp(y)*sum(gy)
//   XENT              x, target → loss          loss = logsumexp(x) - x[target]
//   XENT_BACKWARD     x, target, gloss → gx     gx = (softmax(x) - onehot(target)) * gloss; gloss
//                     read with stride u.gstride (0: one upstream gradient for every row)
// CAUSAL (with SOFTMAX): row r keeps columns j <= r % L (u.L rows per matrix); the others are
// taken as -inf, so they get weight 0 (-inf for log-softmax) and the backward needs no change.
// target == ignoreIndex gives 0 (loss and gradient); any other target outside [0, D) gives NaN
// and is never used as an index (as the CPU routines do).
//
// The row statistics are (m, s) = (max, sum exp(x - m)) in one pass (online softmax); outputs
// use exp(x - m) / s and x - m - log(s), which stay accurate for large logits where x - lse
// would not. A row with +inf or NaN, or of all -inf, gives NaN, as on the CPU.

struct Uniforms {
  R: u32, D: u32,
  off0: u32, off1: u32, off2: u32, off3: u32,   // element offsets of the bindings, in order
  ignoreIndex: i32,
  L: u32,                                       // rows per matrix (CAUSAL)
  gstride: u32,                                 // gloss's stride (XENT_BACKWARD)
}
@group(0) @binding(0) var<uniform> u: Uniforms;

const LOG = {{LOG}};

#if SOFTMAX
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#elif SOFTMAX_BACKWARD
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
#elif XENT
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<i32>;
@group(0) @binding(3) var<storage, read> gloss: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;
#endif

#if !SOFTMAX_BACKWARD
// (max, sum exp(x - max)) of the row at x[base..base + n]; s is NaN for the NaN cases above
fn rowStats(base: u32, lid: u32, n: u32) -> vec2<f32> {
  var m = -3.4028234663852886e38; // -FLT_MAX
  var s = 0.0;
  for (var j = lid; j < n; j += STEP) {
    let v = x[base + j];
    if (v > m) {
      s = s * wt_fastexp(m - v) + 1.0;
      m = v;
    } else {
      // a NaN v lands here and poisons s
      s += wt_fastexp(v - m);
    }
  }
  let r = mergeMaxSum(m, s, lid);
  // s == 0: every element was -inf; m == +inf: inf - inf
  return vec2<f32>(r.x, select(r.y, wt_nan(), r.y == 0.0 || wt_isinf(r.x)));
}
#endif

#if !LANEROWS
#if XENT
var<workgroup> rowTarget: i32;
#elif XENT_BACKWARD
var<workgroup> rowTarget: i32;
#endif
#endif

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
  // uniform across the workgroup (or one thread per row), so barriers stay in uniform control flow
  if (row >= u.R) { return; }
  let base = row * u.D;
#if SOFTMAX
#if CAUSAL
  let n = min(u.D, row % u.L + 1u);
#else
  let n = u.D;
#endif
  let st = rowStats(u.off0 + base, lid, n);
  let logS = wt_log(st.y);
  for (var j = lid; j < n; j += STEP) {
    let d = x[u.off0 + base + j] - st.x;
    y[u.off1 + base + j] = select(wt_fastexp(d) / st.y, d - logS, LOG);
  }
#if CAUSAL
  for (var j = n + lid; j < u.D; j += STEP) {
    y[u.off1 + base + j] = select(0.0, wt_f32(0xff800000u), LOG); // -inf
  }
#endif
#elif SOFTMAX_BACKWARD
  // compensated (Kahan) per-thread sums: gx = y * (g - s) cancels, so s must be accurate
  var p = 0.0;
  var comp = 0.0;
  for (var j = lid; j < u.D; j += STEP) {
    let g = gy[u.off1 + base + j];
    let t = select(g * y[u.off0 + base + j], g, LOG) - comp;
    let q = p + t;
    comp = (q - p) - t;
    p = q;
  }
  let s = sumAll(p, lid);
  for (var j = lid; j < u.D; j += STEP) {
    let yv = y[u.off0 + base + j];
    let g = gy[u.off1 + base + j];
    gx[u.off2 + base + j] = select(yv * (g - s), g - wt_fastexp(yv) * s, LOG);
  }
#else
  // the target through workgroup memory: a uniform value, so ignored rows can leave early
#if LANEROWS
  let t = tgt[u.off1 + row];
#else
  if (lid == 0u) { rowTarget = tgt[u.off1 + row]; }
  let t = workgroupUniformLoad(&rowTarget);
#endif
  let bad = t < 0 || t >= i32(u.D);
#if XENT
  if (t == u.ignoreIndex) {
    if (lid == 0u) { loss[u.off2 + row] = 0.0; }
    return;
  }
  let st = rowStats(u.off0 + base, lid, u.D);
  if (lid == 0u) {
    // clamped so that a bad target is never used as an index (select evaluates both sides)
    let xt = x[u.off0 + base + u32(clamp(t, 0, i32(u.D) - 1))];
    loss[u.off2 + row] = select(st.x + wt_log(st.y) - xt, wt_nan(), bad);
  }
#else
  if (t == u.ignoreIndex) {
    for (var j = lid; j < u.D; j += STEP) { gx[u.off3 + base + j] = 0.0; }
    return;
  }
  let st = rowStats(u.off0 + base, lid, u.D);
  let g = gloss[u.off2 + row * u.gstride];
  for (var j = lid; j < u.D; j += STEP) {
    let p = wt_fastexp(x[u.off0 + base + j] - st.x) / st.y;
    let v = (p - select(0.0, 1.0, i32(j) == t)) * g;
    gx[u.off3 + base + j] = select(v, wt_nan(), bad);
  }
#endif
#endif
}
