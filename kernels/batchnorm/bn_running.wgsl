// Inference-mode statistics: copies the running mean, turns the running variance into 1/sqrt(var + eps)
// and writes the affine scale weight * invstd.
// runningMean: (C), runningVar: (C), mean: (C), invstd: (C), weight: (C), scale: (C)
struct Params { C: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> runningMean: array<f32>;
@group(0) @binding(1) var<storage, read> runningVar: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> invstd: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read_write> scale: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.C) { return; }
  mean[c] = runningMean[c];
  let is = inverseSqrt(runningVar[c] + params.eps);
  invstd[c] = is;
  scale[c] = weight[c] * is;
}
