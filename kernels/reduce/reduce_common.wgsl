// Shared by reduce.wgsl and reduce_merge.wgsl: the Params layout and index helpers.
// Sizes, shapes and strides are in load units: f32, or vec4<f32> when the kernel loads 4 at a time.
struct Params {
  nOut: u32, nRed: u32, nChunks: u32, chunkLen: u32,
  stride: u32, keptRank: u32, outerRank: u32, innerLen: u32,
  innerStride: u32, scale: f32, _pad0: u32, _pad1: u32,
  keptShape0: vec4<u32>, keptShape1: vec4<u32>,
  keptStride0: vec4<u32>, keptStride1: vec4<u32>,
  outerShape0: vec4<u32>, outerShape1: vec4<u32>,
  outerStride0: vec4<u32>, outerStride1: vec4<u32>,
}
@group(0) @binding(2) var<uniform> params: Params;

fn dim(v0: vec4<u32>, v1: vec4<u32>, d: u32) -> u32 {
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

fn combine(a: {{VT}}, b: {{VT}}) -> {{VT}} { return {{COMBINE}}; }
fn combine1(a: f32, b: f32) -> f32 { return {{COMBINE}}; }
