// Cross-entropy per row, fused with log-softmax: a team of TEAM invocations reduces one row of
// logits to (max, sum of exp, sum of logits) as in softmax.wgsl, then the team's first member writes
//   lse  = max + log(sum exp)
//   loss = lse - (1 - eps) * logits[y] - eps / C * sum(logits)
// which is -(1 - eps) * logp[y] - eps / C * sum_c logp[c] (PyTorch's label smoothing). Rows whose
// label is ignoreIndex get loss 0; labels outside [0, C) get NaN so the mistake shows in the loss.
// logits: (N, C), labels: (N) i32, rowLoss: (N), lse: (N)
struct Params { rows: u32, len: u32, ignoreIndex: i32, eps: f32, nanBits: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG = 256u;
const TEAM = {{TEAM}}u;
var<workgroup> pm: array<f32, 256>;
var<workgroup> ps: array<f32, 256>;
var<workgroup> px: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TEAM) + lid / TEAM;
  let t = lid % TEAM;
  let valid = row < params.rows;
  let base = row * params.len;
  var m = -3.402823e38;
  var s = 0.0;
  var sx = 0.0;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) {
      let v = logits[base + k];
      let mn = max(m, v);
      s = s * exp(m - mn) + exp(v - mn);
      m = mn;
      sx += v;
    }
  }
  pm[lid] = m;
  ps[lid] = s;
  px[lid] = sx;
  workgroupBarrier();
  for (var h = TEAM / 2u; h > 0u; h = h >> 1u) {
    if (t < h) {
      let m1 = pm[lid];
      let m2 = pm[lid + h];
      let mn = max(m1, m2);
      ps[lid] = ps[lid] * exp(m1 - mn) + ps[lid + h] * exp(m2 - mn);
      pm[lid] = mn;
      px[lid] = px[lid] + px[lid + h];
    }
    workgroupBarrier();
  }
  if (!valid || t != 0u) { return; }
  let l = pm[lid] + log(ps[lid]);
  lse[row] = l;
  let y = labels[row];
  if (y == params.ignoreIndex) {
    rowLoss[row] = 0.0;
  } else if (y < 0 || u32(y) >= params.len) {
    rowLoss[row] = bitcast<f32>(params.nanBits);
  } else {
    let c = f32(params.len);
    rowLoss[row] = l - (1.0 - params.eps) * logits[base + u32(y)] - params.eps / c * px[lid];
  }
}
