// Index-driven data movement over views of any rank (<= 8) and any strides, one thread per
// element of the iteration shape (2-D grid of 256-thread workgroups).
//   GATHER   x, index → out        out[i] = x[i with dim := index[i]]        (gather, indexSelect)
//   SCATTER  index, src → out (rw) out[i with dim := index[i]] += src[i]     (scatterAdd, indexAdd)
// indexSelect / indexAdd arrive here as gather / scatter with the 1-D index broadcast (stride 0)
// over the other dims. An index outside [0, size) reads 0 (gather) or is skipped (scatter), never
// touching memory out of bounds, as the CPU routines do.
//
// GATHER moves 32-bit words as u32, whatever the dtype (float32, int32, bool): never through an
// f32 variable, since a GPU may flush denormals and small int32 bit patterns are denormal floats.
// SCATTER adds int32 (INT) with i32 atomics, and floats with a compare-exchange loop on the bits
// (WGSL has no float atomics), so repeated indices accumulate correctly in an order that may vary
// between runs.

struct Uniforms {
  total: u32, rank: u32, dim: u32, size: u32,   // size: extent of dim in the indexed view
  tOff: u32, iOff: u32, eOff: u32, pad: u32,    // offsets: indexed view, index, the other view
  shape: array<vec4<u32>, 2>,                   // iteration shape (index's), dims padded with 1
  tStr: array<vec4<u32>, 2>,                    // strides of the indexed view (x, or out)
  iStr: array<vec4<u32>, 2>,                    // strides of index
  eStr: array<vec4<u32>, 2>,                    // strides of the elementwise view (out, or src)
}
@group(0) @binding(0) var<uniform> u: Uniforms;

#if SCATTER
@group(0) @binding(1) var<storage, read> index: array<i32>;
#if INT
@group(0) @binding(2) var<storage, read> src: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<atomic<i32>>;

fn accumulate(i: u32, v: i32) { atomicAdd(&out[i], v); }
#else
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<atomic<u32>>;

fn accumulate(i: u32, v: f32) {
  var old = atomicLoad(&out[i]);
  loop {
    let r = atomicCompareExchangeWeak(&out[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}
#endif
#else
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + lid;
  if (i >= u.total) { return; }
  // element offsets of position i in each view; strides are u32 two's complement, so a
  // negative stride wraps back into range
  var rem = i;
  var t = 0u;
  var ix = 0u;
  var e = 0u;
  for (var d = i32(u.rank) - 1; d >= 0; d--) {
    let dd = u32(d);
    let n = u.shape[dd / 4u][dd % 4u];
    let c = rem % n;
    rem = rem / n;
    if (dd != u.dim) { t += c * u.tStr[dd / 4u][dd % 4u]; }
    ix += c * u.iStr[dd / 4u][dd % 4u];
    e += c * u.eStr[dd / 4u][dd % 4u];
  }
  let k = index[u.iOff + ix];
  let ok = k >= 0 && u32(k) < u.size;
  let at = u.tOff + t + u32(k) * u.tStr[u.dim / 4u][u.dim % 4u];
#if SCATTER
  if (ok) { accumulate(at, src[u.eOff + e]); }
#else
  var v = 0u;
  if (ok) { v = x[at]; }
  out[u.eOff + e] = v;
#endif
}
