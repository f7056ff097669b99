// Shared by softmax.wgsl and cross_entropy.wgsl (after team.wgsl): an online
// a = (max, sum of exp(v - max), sum of v) over a row's values, merged over the team.
const LSE_INIT = vec3<f32>(-3.402823e38, 0.0, 0.0);
var<workgroup> lse_red: array<vec3<f32>, 256>;

// a with the value v folded in.
fn lse_push(a: vec3<f32>, v: f32) -> vec3<f32> {
  let mn = max(a.x, v);
  return vec3<f32>(mn, a.y * exp(a.x - mn) + exp(v - mn), a.z + v);
}

// a merged over the invocation's team (t = lid % TEAM); every invocation must call it.
fn team_lse(a: vec3<f32>, lid: u32, t: u32) -> vec3<f32> {
  lse_red[lid] = a;
  workgroupBarrier();
  for (var h = TEAM / 2u; h > 0u; h = h >> 1u) {
    if (t < h) {
      let p = lse_red[lid];
      let q = lse_red[lid + h];
      let mn = max(p.x, q.x);
      lse_red[lid] = vec3<f32>(mn, p.y * exp(p.x - mn) + q.y * exp(q.x - mn), p.z + q.z);
    }
    workgroupBarrier();
  }
  return lse_red[lid - t];
}
