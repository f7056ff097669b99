// Input gradient of layer norm, rows split into teams as in layernorm.wgsl. With xh = (x - mean) *
// rstd and gw = g * weight (g when AFFINE is false), per row of length n:
//   dx = rstd * (gw - sum(gw) / n - xh * sum(gw * xh) / n)
// Both sums are reduced together as a vec2.
// Included: team.wgsl, team_sum.wgsl (vec2<f32>).
// x: (rows, len), weight: (len), g: (rows, len), mean: (rows), rstd: (rows), dx: (rows, len)
struct Params { rows: u32, len: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

fn gw(i: u32, k: u32) -> f32 {
  if ({{AFFINE}}) { return g[i] * weight[k]; }
  return g[i];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = team_row(wid, nwg, lid);
  let t = lid % TEAM;
  let valid = row < params.rows;
  let base = row * params.len;
  var mu = 0.0;
  var r = 0.0;
  var s = vec2<f32>(0.0, 0.0);
  if (valid) {
    mu = mean[row];
    r = rstd[row];
    for (var k = t; k < params.len; k += TEAM) {
      let v = gw(base + k, k);
      s += vec2<f32>(v, v * (x[base + k] - mu) * r);
    }
  }
  let tot = team_sum(s, lid, t) / f32(params.len);
  if (!valid) { return; }
  for (var k = t; k < params.len; k += TEAM) {
    let xh = (x[base + k] - mu) * r;
    dx[base + k] = r * (gw(base + k, k) - tot.x - xh * tot.y);
  }
}
