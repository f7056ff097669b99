// Copies x into a permuted layout: out[i] = x[sum_d coord_d(i) * st_d], where coord_d(i) are the
// coordinates of i in the output shape and st_d is the input stride of the input axis that output
// axis d comes from. Bits are copied as u32, so f32 and i32 tensors share the kernel.
// x: (input shape), out: (output shape), both rank <= 8 after merging
// Included: flat_index.wgsl, each.wgsl, dims8.wgsl.
struct Params {
  n: u32, stride: u32, rank: u32, _pad0: u32,
  shape0: vec4<u32>, shape1: vec4<u32>,
  st0: vec4<u32>, st1: vec4<u32>,
}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  out[i] = x[offsetOf(i, params.rank, params.shape0, params.shape1, params.st0, params.st1)];
}
