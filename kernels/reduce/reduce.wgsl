// Reduction over a set of axes. The input's dims are split into kept dims (the output) and reduced
// dims; one workgroup of 64 threads reduces one output element (strided loop, then a tree in
// workgroup memory). x: (input, any rank <= 8), out: (kept dims)
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  // Every invocation reaches the barriers; out-of-range workgroups just do no loads.
  let valid = o < params.nOut;
  var acc = {{INIT}};
  if (valid) {
    let base = offsetOf(o, params.keptRank, params.keptShape0, params.keptShape1, params.keptStride0, params.keptStride1);
    for (var r = lid; r < params.nRed; r += 64u) {
      acc = combine(acc, x[base + offsetOf(r, params.redRank, params.redShape0, params.redShape1, params.redStride0, params.redStride1)]);
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = combine(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u && valid) { out[o] = partial[0] * params.scale; }
}
