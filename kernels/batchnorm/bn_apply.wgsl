// Per-channel affine over NCHW: out = x * scale[c] + shift[c] (forward, and inference-mode dx).
// x: (N, C, HW), scale: (C), shift: (C), out: (N, C, HW)
struct Params { n: u32, stride: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> shift: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  let c = (i / params.HW) % params.C;
  out[i] = x[i] * scale[c] + shift[c];
}
