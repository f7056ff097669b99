// The entry of the per-channel kernels (bn_merge, bn_running, bn_update, bn_backward_merge): one
// invocation per channel c < params.C, in workgroups of 64 over x, which calls the kernel's
// `fn channel(c: u32)`.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.C) { return; }
  channel(c);
}
