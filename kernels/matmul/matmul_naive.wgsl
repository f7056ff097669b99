// Naive matmul: one output per invocation, k in order. The test oracle and the fallback, so it
// stays obviously correct rather than fast. Grid: x over n, y over m (8x8), z over batch.
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y + params.mOff;
  if (n >= params.N || m >= params.M) { return; }
  let bi = wid.z + params.bOff;
  let o = batchOffsets(bi);
  var ia = o.x + m * params.sam;
  var ib = o.y + n * params.sbn;
  var acc = 0.0;
{{RS_INIT:}}
  for (var k = 0u; k < params.K; k++) {
    let av = ldA(ia);
    acc += av * ldB(ib);
{{RS_ADD:}}
    ia += params.sak;
    ib += params.sbk;
  }
  st(o.z + m * params.som + n, epi(acc, biasAt(n)));
{{RS_STORE:}}
}
