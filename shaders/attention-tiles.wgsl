// Key/value tiles shared by the attention kernels (attention.wgsl, attention-short.wgsl), which
// render it in front of their own source: each declares u (S, E, Ev), the tiles ta and tb, row4,
// and the constants BR (threads), BC (tile rows), M4 (vec4s per row) and CAUSAL.
#if !BWD_KV
// tile of rows r0.. of k (into ta) and v (into tb), zeros past S
fn loadKV(b: u32, h: u32, r0: u32, lid: u32) {
  for (var t = lid; t < BC * M4; t += BR) {
    let r = r0 + t / M4;
    var kx = vec4<f32>(0.0);
    var vx = vec4<f32>(0.0);
    if (r < u.S) {
      kx = row4(1u, b, h, r, t % M4, u.E);
      vx = row4(2u, b, h, r, t % M4, u.Ev);
    }
    ta[t] = kx;
    tb[t] = vx;
  }
}

// keys of the tile at j0 that query i reads: all BC (fewer at the end), or up to i when causal
fn keysFor(i: u32, j0: u32, kEnd: u32) -> u32 {
  var n = min(BC, kEnd - j0);
  if (CAUSAL) { n = select(min(n, i - j0 + 1u), 0u, i < j0); }
  return n;
}
#endif
