// Shared by reduce.wgsl and reduce_small.wgsl: the Params layout (kept and reduced dims with their
// strides, up to rank 8 each), the bindings, and index helpers.
// x: (input), out: (kept dims)
struct Params {
  nOut: u32, nRed: u32, stride: u32, keptRank: u32,
  redRank: u32, scale: f32, _pad0: u32, _pad1: u32,
  keptShape0: vec4<u32>, keptShape1: vec4<u32>,
  keptStride0: vec4<u32>, keptStride1: vec4<u32>,
  redShape0: vec4<u32>, redShape1: vec4<u32>,
  redStride0: vec4<u32>, redStride1: vec4<u32>,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn dim(v0: vec4<u32>, v1: vec4<u32>, d: u32) -> u32 {
  if (d < 4u) { return v0[d]; }
  return v1[d - 4u];
}

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

fn combine(a: f32, b: f32) -> f32 { return {{COMBINE}}; }

