// Shapes and strides of rank <= 8 travel in uniforms as two vec4s (dims 0-3, 4-7).
fn dim(v0: vec4<u32>, v1: vec4<u32>, d: u32) -> u32 {
  if (d < 4u) { return v0[d]; }
  return v1[d - 4u];
}
fn dimI(v0: vec4<i32>, v1: vec4<i32>, d: u32) -> i32 {
  if (d < 4u) { return v0[d]; }
  return v1[d - 4u];
}

// Memory offset of row-major index `idx` over dims (shapes s0|s1, strides t0|t1) of rank `rank`.
fn offsetOf(idx: u32, rank: u32, s0: vec4<u32>, s1: vec4<u32>, t0: vec4<u32>, t1: vec4<u32>) -> u32 {
  var rem = idx;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let s = dim(s0, s1, du);
    off += (rem % s) * dim(t0, t1, du);
    rem = rem / s;
  }
  return off;
}
