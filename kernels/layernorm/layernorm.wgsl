// Layer norm over the last dim: out = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps)
// with the biased variance (as torch.nn.LayerNorm). A team of TEAM invocations (team.wgsl)
// owns one row. Two passes over the row (mean, then the centred sum of squares), not
// sum-of-squares minus squared mean, which cancels badly when |mean| >> std. mean and rstd are saved
// for backward. AFFINE = false ignores weight and bias (any buffer may be bound there).
// Included: ln_common.wgsl, team.wgsl, team_sum.wgsl (f32).
// The RESID build normalises x = dropout(h) + res (DROP: with the dropout, else h + res), computing
// it in the first pass and storing it in x, which the later passes and the backward kernels read.
// x: (rows, len), weight: (len), bias: (len), out: (rows, len), mean: (rows), rstd: (rows)
// RESID: h: (rows, len), res: (rows, len). OUT_DROP: out = dropout(LayerNorm(x)) (the dropout kernel's mask).
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
{{RESID_DECL:}}

// out[i] = v; with OUT_DROP through the output dropout's mask.
fn st_out(i: u32, v: f32) {
{{ST_OUT:  out[i] = v;}}
}

// x[i], computed and stored first in the RESID build.
fn first_x(i: u32) -> f32 {
{{FIRST_X:  return x[i];}}
}

fn row_main(row: u32, t: u32, lid: u32, valid: bool) {
  let base = row * params.len;
  var s = 0.0;
  if (valid) { for (var k = t; k < params.len; k += TEAM) { s += first_x(base + k); } }
  let mu = team_sum(s, lid, t) / f32(params.len);
  workgroupBarrier();
  var q = 0.0;
  if (valid) { for (var k = t; k < params.len; k += TEAM) { let d = x[base + k] - mu; q += d * d; } }
  let r = inverseSqrt(team_sum(q, lid, t) / f32(params.len) + params.eps);
  if (!valid) { return; }
  for (var k = t; k < params.len; k += TEAM) {
    let xh = (x[base + k] - mu) * r;
    if ({{AFFINE}}) { st_out(base + k, xh * weight[k] + bias[k]); } else { st_out(base + k, xh); }
  }
  if (t == 0u) { mean[row] = mu; rstd[row] = r; }
}
