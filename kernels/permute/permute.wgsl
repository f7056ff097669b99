// Copies x into a permuted layout: out[i] = x[sum_d coord_d(i) * st_d], where coord_d(i) are the
// coordinates of i in the output shape and st_d is the input stride of the input axis that output
// axis d comes from. Bits are copied as u32, so f32 and i32 tensors share the kernel.
// x: (input shape), out: (output shape), both rank <= 8 after merging
struct Params {
  n: u32, stride: u32, rank: u32, _pad0: u32,
  shape0: vec4<u32>, shape1: vec4<u32>,
  st0: vec4<u32>, st1: vec4<u32>,
}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn dim(v0: vec4<u32>, v1: vec4<u32>, d: u32) -> u32 {
  if (d < 4u) { return v0[d]; }
  return v1[d - 4u];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  var rem = i;
  var src = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let s = dim(params.shape0, params.shape1, du);
    src += (rem % s) * dim(params.st0, params.st1, du);
    rem = rem / s;
  }
  out[i] = x[src];
}
