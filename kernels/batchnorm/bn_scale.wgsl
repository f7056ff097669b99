// Per-channel scale of the normalised value: y = (x - mean) * scale + bias, scale = weight * invstd.
// weight: (C), invstd: (C), scale: (C)
struct Params { C: u32 }
@group(0) @binding(0) var<storage, read> weight: array<f32>;
@group(0) @binding(1) var<storage, read> invstd: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.C) { return; }
  scale[c] = weight[c] * invstd[c];
}
