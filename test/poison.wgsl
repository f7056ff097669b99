// Fills a buffer with a NaN bit pattern. buf: (n)
struct Params { n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read_write> buf: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i < params.n) { buf[i] = 0x7fc0dead; }
}
