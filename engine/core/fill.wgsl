// out[i] = value. out: (n)
struct Params { n: u32, stride: u32, value: f32, ivalue: i32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  if ({{IS_INT}}) { out[i] = bitcast<f32>(params.ivalue); } else { out[i] = params.value; }
}
