// The entry of a 1-D kernel (launch1d in engine/core/runtime.ts): one invocation per element
// i < params.n, which calls the kernel's `fn each(i: u32)`. Include after flat_index.wgsl; the
// kernel's Params must have `n` and `stride`.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat_index(gid);
  if (i >= params.n) { return; }
  each(i);
}
