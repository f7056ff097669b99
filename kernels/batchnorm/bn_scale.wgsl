// Folds normalisation and affine into a per-channel scale and shift: y = x * scale + shift.
// weight: (C), bias: (C), mean: (C), invstd: (C), scale: (C), shift: (C)
struct Params { C: u32 }
@group(0) @binding(0) var<storage, read> weight: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> shift: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.C) { return; }
  let s = weight[c] * invstd[c];
  scale[c] = s;
  shift[c] = bias[c] - mean[c] * s;
}
