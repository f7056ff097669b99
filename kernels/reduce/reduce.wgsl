// Reduction over a set of axes. The input's dims are split into kept dims (the output) and reduced
// dims; one workgroup of 64 threads reduces one output element (strided loop, then a tree in
// workgroup memory). x: (input, any rank <= 8), out: (kept dims)
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

var<workgroup> partial: array<f32, 64>;

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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  // Every invocation reaches the barriers; out-of-range workgroups just do no loads.
  let valid = o < params.nOut;
  var acc = {{INIT}};
  if (valid) {
    let base = offsetOf(o, params.keptRank, params.keptShape0, params.keptShape1, params.keptStride0, params.keptStride1);
    for (var r = lid; r < params.nRed; r += 64u) {
      acc = combine(acc, x[base + offsetOf(r, params.redRank, params.redShape0, params.redShape1, params.redStride0, params.redStride1)]);
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = combine(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u && valid) { out[o] = partial[0] * params.scale; }
}
