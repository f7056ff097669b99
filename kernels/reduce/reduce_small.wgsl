// Reduction with one invocation per output element, for short reductions (nRed small).
// Same Params as reduce.wgsl. x: (input), out: (kept dims)
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

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * params.stride;
  if (o >= params.nOut) { return; }
  let base = offsetOf(o, params.keptRank, params.keptShape0, params.keptShape1, params.keptStride0, params.keptStride1);
  var acc = {{INIT}};
  for (var r = 0u; r < params.nRed; r++) {
    acc = combine(acc, x[base + offsetOf(r, params.redRank, params.redShape0, params.redShape1, params.redStride0, params.redStride1)]);
  }
  out[o] = acc * params.scale;
}
