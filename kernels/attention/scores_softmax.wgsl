// The composed attention's weights in one pass: per row of scores (one query of one batch and head),
//   w = softmax(scores * scale + bias),  bias[k] = mask[b, k] * 1e9 - 1e9 (MASKED: 0 attended, MASK_BIAS padding),
// as mulScalar, affine, add and softmax compute it, and with DROP also the dropped weights
//   out = w / (1 - p) where kept, else 0 (the dropout kernel's mask for the same seed and index).
// A team of TEAM invocations (team.wgsl) owns a row; online max/sum as softmax.wgsl (online.wgsl).
// Included: team.wgsl, online.wgsl, dropout_keep.wgsl, scores_common.wgsl.
// scores: (rows, len) = (B * H * Tq, Tk), mask: (B, len) (MASKED), w: (rows, len), out: (rows, len) (DROP)
@group(0) @binding(0) var<storage, read> scores: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
// DROP: @binding(3) out
@group(0) @binding(4) var<uniform> params: Params;
{{OUT_DECL:}}

// The biased, scaled score at index i (row `row`, key k).
fn score(row: u32, k: u32, i: u32) -> f32 {
  let v = scores[i] * params.scale;
  if ({{MASKED}}) { return v + (mask[(row / params.perBatch) * params.len + k] * 1e9 + -1e9); }
  return v;
}

fn row_main(row: u32, t: u32, lid: u32, valid: bool) {
  let base = row * params.len;
  var a = LSE_INIT;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) { a = lse_push(a, score(row, k, base + k)); }
  }
  let tot = team_lse(a, lid, t);
  if (!valid) { return; }
  let M = tot.x;
  let inv = 1.0 / tot.y;
  for (var k = t; k < params.len; k += TEAM) {
    let i = base + k;
    let y = exp(score(row, k, i) - M) * inv;
    w[i] = y;
{{STORE_OUT:}}
  }
}
