// Reduction with one invocation per output element, for short reductions (nRed small).
// Prefixed with reduce_common.wgsl. x: (input), out: (kept dims)
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * params.stride;
  if (o >= params.nOut) { return; }
  let base = offsetOf(o, params.keptRank, params.keptShape0, params.keptShape1, params.keptStride0, params.keptStride1);
  var acc = {{INIT}};
  for (var r = 0u; r < params.nRed; r++) {
    acc = combine(acc, x[base + offsetOf(r, params.redRank, params.redShape0, params.redShape1, params.redStride0, params.redStride1)]);
  }
  out[o] = acc * params.scale;
}
