// Batch statistics, stage 1: invocation (c, k) takes channel c over batch items
// [k * nPer, min(N, (k + 1) * nPer)) and writes that chunk's mean and sum of squared deviations
// (two passes over its own values, the first summing differences from the chunk's first value, so
// neither pass loses the spread to a large mean). No barriers: on software adapters a
// workgroup tree reduction costs more than the sums. {{T}} is f32, or vec4<f32> when HW % 4 == 0.
// x: (N, C, HW / W) of {{T}}, part: (C, K) of (mean, M2)
struct Params { N: u32, C: u32, HWv: u32, K: u32, nPer: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> part: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

fn hsum(v: {{T}}) -> f32 { return {{HSUM}}; }
fn sq(d: {{T}}) -> f32 { return {{SQ}}; }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * params.stride;
  if (t >= params.C * params.K) { return; }
  let c = t / params.K;
  let k = t % params.K;
  let n0 = k * params.nPer;
  let n1 = min(params.N, n0 + params.nPer);
  let pivot = hsum(x[(n0 * params.C + c) * params.HWv]) / f32({{W}});
  var acc = 0.0;
  for (var n = n0; n < n1; n++) {
    let base = (n * params.C + c) * params.HWv;
    for (var j = 0u; j < params.HWv; j++) { acc += hsum(x[base + j] - pivot); }
  }
  let count = f32((n1 - n0) * params.HWv * {{W}}u);
  let m = pivot + acc / count;
  var m2 = 0.0;
  for (var n = n0; n < n1; n++) {
    let base = (n * params.C + c) * params.HWv;
    for (var j = 0u; j < params.HWv; j++) { m2 += sq(x[base + j] - m); }
  }
  part[t] = vec2<f32>(m, m2);
}
