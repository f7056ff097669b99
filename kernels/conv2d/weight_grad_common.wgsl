// Uniforms and bindings of the split-K weight-gradient kernels (weight_grad.wgsl, weight_grad_sg.wgsl).
struct Params {
  N: u32, Cin: u32, Cout: u32, groups: u32, cinG: u32, coutG: u32,
  Hp: u32, Wp: u32, OH: u32, OWp: u32,
  kh: u32, kw: u32, sh: u32, dh: u32,
  rowsPerChunk: u32, coBlocks: u32, rowBlocks: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
