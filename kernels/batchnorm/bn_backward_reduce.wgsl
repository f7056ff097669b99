// Per-channel sums for batch-norm backward, one workgroup of 256 per channel:
// sumG = sum(g) (= dbias) and sumGXhat = sum(g * xhat) (= dweight), xhat = (x - mean) * invstd.
// g: (N, C, HW), x: (N, C, HW), mean: (C), invstd: (C), sumG: (C), sumGXhat: (C)
struct Params { N: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> sumG: array<f32>;
@group(0) @binding(5) var<storage, read_write> sumGXhat: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> pg: array<f32, 256>;
var<workgroup> pgx: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let M = params.N * params.HW;
  let m = mean[c];
  let s = invstd[c];
  var ag = 0.0;
  var agx = 0.0;
  for (var j = lid; j < M; j += 256u) {
    let k = ((j / params.HW) * params.C + c) * params.HW + j % params.HW;
    ag += g[k];
    agx += g[k] * (x[k] - m) * s;
  }
  pg[lid] = ag;
  pgx[lid] = agx;
  workgroupBarrier();
  for (var t = 128u; t > 0u; t = t >> 1u) {
    if (lid < t) {
      pg[lid] += pg[lid + t];
      pgx[lid] += pgx[lid + t];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    sumG[c] = pg[0];
    sumGXhat[c] = pgx[0];
  }
}
