// Cross-entropy per row, fused with log-softmax: a team of TEAM invocations reduces one row of
// logits to (max, sum of exp, sum of logits) as in softmax.wgsl (online.wgsl), then the team's first member writes
//   lse  = max + log(sum exp)
//   loss = lse - (1 - eps) * logits[y] - eps / C * sum(logits)
// which is -(1 - eps) * logp[y] - eps / C * sum_c logp[c] (PyTorch's label smoothing). Rows whose
// label is ignoreIndex get loss 0; labels outside [0, C) get NaN so the mistake shows in the loss.
// Included: ce_common.wgsl, team.wgsl, online.wgsl.
// logits: (N, C), labels: (N) i32, rowLoss: (N), lse: (N)
struct Params { rows: u32, len: u32, ignoreIndex: i32, eps: f32, nanBits: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(2) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

fn row_main(row: u32, t: u32, lid: u32, valid: bool) {
  let base = row * params.len;
  var a = LSE_INIT;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) { a = lse_push(a, {{W(logits[base + k])}}); }
  }
  let tot = team_lse(a, lid, t);
  if (!valid || t != 0u) { return; }
  let l = tot.x + log(tot.y);
  lse[row] = l;
  let y = labels[row];
  if (!is_class(y)) {
    rowLoss[row] = not_class(y);
  } else {
    let c = f32(params.len);
    rowLoss[row] = l - (1.0 - params.eps) * {{W(logits[base + u32(y)])}} - params.eps / c * tot.z;
  }
}
