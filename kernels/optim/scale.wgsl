// Scales one gradient in place by the factor stage 2 wrote. x: (n); scale: (1)
struct Params { n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  x[i] = x[i] * scale[0];
}
