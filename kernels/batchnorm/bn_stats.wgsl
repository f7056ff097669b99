// Batch statistics per channel, one workgroup of 256 per channel: the mean, then the biased variance
// around it (two passes over the channel, so no catastrophic cancellation), and 1/sqrt(var + eps).
// x: (N, C, HW), mean: (C), invstd: (C), variance: (C) biased
struct Params { N: u32, C: u32, HW: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> invstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> variance: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> partial: array<f32, 256>;

// Tree sum of every invocation's value; all 256 invocations must call it.
fn wgSum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let M = params.N * params.HW;
  var acc = 0.0;
  for (var j = lid; j < M; j += 256u) {
    acc += x[((j / params.HW) * params.C + c) * params.HW + j % params.HW];
  }
  let m = wgSum(lid, acc) / f32(M);
  acc = 0.0;
  for (var j = lid; j < M; j += 256u) {
    let d = x[((j / params.HW) * params.C + c) * params.HW + j % params.HW] - m;
    acc += d * d;
  }
  let v = wgSum(lid, acc) / f32(M);
  if (lid == 0u) {
    mean[c] = m;
    variance[c] = v;
    invstd[c] = inverseSqrt(v + params.eps);
  }
}
