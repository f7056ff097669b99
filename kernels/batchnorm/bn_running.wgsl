// Inference-mode statistics (bn_stats.wgsl) from the running mean and variance.
// Included: bn_stats.wgsl. runningMean: (C), runningVar: (C)
struct Params { C: u32, eps: f32 }
@group(0) @binding(4) var<storage, read> runningMean: array<f32>;
@group(0) @binding(5) var<storage, read> runningVar: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.C) { return; }
  write_stats(c, runningMean[c], runningVar[c]);
}
