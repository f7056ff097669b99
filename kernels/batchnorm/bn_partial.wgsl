// Batch statistics, stage 1: invocation (c, k) (bn_chunk.wgsl) writes its chunk's mean and sum of
// squared deviations (two passes over its own values, the first summing differences from the
// chunk's first value, so neither pass loses the spread to a large mean).
// Included: flat_index.wgsl, bn_chunk.wgsl.
// x: (N, C, HW / W) of {{T}}, part: (C, K) of (mean, M2)
@group(0) @binding(0) var<storage, read> x: array<{{XT}}>;
@group(0) @binding(1) var<storage, read_write> part: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

fn sq(d: {{T}}) -> f32 { return {{SQ}}; }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = flat_index(gid);
  if (t >= params.C * params.K) { return; }
  let ch = chunk_of(t);
  let c = ch.x;
  let pivot = hsum({{LD(x[(ch.y * params.C + c) * params.HWv])}}) / f32({{W}});
  // Both passes sum in blocks of 64, each block's sum then added to the chunk's: a chunk runs to
  // N * HW / K terms in one invocation, and one running f32 sum of them loses far more to rounding.
  var acc = 0.0;
  for (var n = ch.y; n < ch.z; n++) {
    let base = (n * params.C + c) * params.HWv;
    for (var j0 = 0u; j0 < params.HWv; j0 += 64u) {
      var b = 0.0;
      for (var j = j0; j < min(j0 + 64u, params.HWv); j++) { b += hsum({{LD(x[base + j])}} - pivot); }
      acc += b;
    }
  }
  let count = f32((ch.z - ch.y) * params.HWv * {{W}}u);
  let m = pivot + acc / count;
  var m2 = 0.0;
  for (var n = ch.y; n < ch.z; n++) {
    let base = (n * params.C + c) * params.HWv;
    for (var j0 = 0u; j0 < params.HWv; j0 += 64u) {
      var b = 0.0;
      for (var j = j0; j < min(j0 + 64u, params.HWv); j++) { b += sq({{LD(x[base + j])}} - m); }
      m2 += b;
    }
  }
  part[t] = vec2<f32>(m, m2);
}
