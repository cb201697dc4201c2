// Row plumbing for the row kernels (softmax.wgsl, layernorm.wgsl), in two layouts:
//   default   one workgroup per row: the WG threads stride over the row (lane = lid, step WG)
//             and meet in tree reductions over workgroup memory (2 x WG floats, at most 2 KiB).
//             They contain barriers: call them from uniform control flow. Every thread gets
//             the result.
//   ROWTHREAD one thread per row, WG rows per workgroup: each thread loops over its whole row
//             (lane 0, step 1) and the reductions are the identity: no workgroup memory, no
//             barriers (for short rows on CPU-emulated adapters, where barriers cost per thread).
//   SUBGROUP  one subgroup of SG lanes per row, WG / SG rows per workgroup: the lanes stride
//             over the row (step SG) and reduce with subgroup operations: no workgroup memory,
//             no barriers. Needs the 'subgroups' feature and one fixed subgroup size, and that
//             a workgroup's subgroups are runs of consecutive invocation indices.
// ROWTHREAD and SUBGROUP both come with LANEROWS (rows are not one per workgroup).
// Placeholder WG: threads per workgroup (a power of two from 32 to 256 by default).
// The kernels stride their row loops by STEP from their lane; they compute row and lane in main
// under #if ROWTHREAD (a helper function would make the row non-uniform to WGSL's analysis).

const WG = {{WG}}u;

#if ROWTHREAD
const STEP = 1u;

fn sumAll(v: f32, lid: u32) -> f32 { return v; }
fn sumAll2(v: vec2<f32>, lid: u32) -> vec2<f32> { return v; }
fn mergeMaxSum(m: f32, s: f32, lid: u32) -> vec2<f32> { return vec2<f32>(m, s); }
#elif SUBGROUP
const SG = {{SG}}u;
const STEP = SG;

fn sumAll(v: f32, lid: u32) -> f32 { return subgroupAdd(v); }
fn sumAll2(v: vec2<f32>, lid: u32) -> vec2<f32> { return subgroupAdd(v); }
// the online-softmax merge of the lanes' (max, sum exp(x - max)) pairs, as the tree's below
fn mergeMaxSum(m: f32, s: f32, lid: u32) -> vec2<f32> {
  let mm = subgroupMax(m);
  return vec2<f32>(mm, subgroupAdd(s * wt_fastexp(m - mm)));
}
#else
const STEP = WG;

var<workgroup> redA: array<f32, WG>;
var<workgroup> redB: array<f32, WG>;

fn sumAll(v: f32, lid: u32) -> f32 {
  redA[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { redA[lid] += redA[lid + s]; }
    workgroupBarrier();
  }
  let r = redA[0];
  // the next reduction overwrites redA: everyone must have read the result first
  workgroupBarrier();
  return r;
}

// two sums at once (one pass of barriers instead of two)
fn sumAll2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  redA[lid] = v.x;
  redB[lid] = v.y;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      redA[lid] += redA[lid + s];
      redB[lid] += redB[lid + s];
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(redA[0], redB[0]);
  workgroupBarrier();
  return r;
}

// Merges per-thread (max m, sum of exp(x - m)) pairs into the row's pair: the online softmax
// combine s = s1 * exp(m1 - m) + s2 * exp(m2 - m). The m are never NaN (NaN never wins a >);
// they start at -FLT_MAX, not -inf, so two empty pairs merge to (-FLT_MAX, 0), not NaN.
fn mergeMaxSum(m: f32, s: f32, lid: u32) -> vec2<f32> {
  redA[lid] = m;
  redB[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      let m1 = redA[lid];
      let m2 = redA[lid + st];
      let mm = max(m1, m2);
      redB[lid] = redB[lid] * wt_fastexp(m1 - mm) + redB[lid + st] * wt_fastexp(m2 - mm);
      redA[lid] = mm;
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(redA[0], redB[0]);
  workgroupBarrier();
  return r;
}
#endif
