// Cross-entropy per row, fused with log-softmax: a team of TEAM invocations reduces one row of
// logits to (max, sum of exp, sum of logits) as in softmax.wgsl (online.wgsl), then the team's first member writes
//   lse  = max + log(sum exp)
//   loss = lse - (1 - eps) * logits[y] - eps / C * sum(logits)
// which is -(1 - eps) * logp[y] - eps / C * sum_c logp[c] (PyTorch's label smoothing). Rows whose
// label is ignoreIndex get loss 0; labels outside [0, C) get NaN so the mistake shows in the loss.
// Included: team.wgsl, online.wgsl.
// logits: (N, C), labels: (N) i32, rowLoss: (N), lse: (N)
struct Params { rows: u32, len: u32, ignoreIndex: i32, eps: f32, nanBits: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = team_row(wid, nwg, lid);
  let t = lid % TEAM;
  let valid = row < params.rows;
  let base = row * params.len;
  var a = LSE_INIT;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) { a = lse_push(a, logits[base + k]); }
  }
  let tot = team_lse(a, lid, t);
  if (!valid || t != 0u) { return; }
  let l = tot.x + log(tot.y);
  lse[row] = l;
  let y = labels[row];
  if (y == params.ignoreIndex) {
    rowLoss[row] = 0.0;
  } else if (y < 0 || u32(y) >= params.len) {
    rowLoss[row] = bitcast<f32>(params.nanBits);
  } else {
    let c = f32(params.len);
    rowLoss[row] = l - (1.0 - params.eps) * logits[base + u32(y)] - params.eps / c * tot.z;
  }
}
