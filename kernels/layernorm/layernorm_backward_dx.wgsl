// Input gradient of layer norm, rows split into teams as in layernorm.wgsl. With xh = (x - mean) *
// rstd and gw = g * weight (g when AFFINE is false), per row of length n:
//   dx = rstd * (gw - sum(gw) / n - xh * sum(gw * xh) / n)
// Both sums are reduced together as a vec2.
// Included: ln_common.wgsl, team.wgsl, team_sum.wgsl (vec2<f32>).
// The RESID build (x = dropout(h) + res) also writes dh, dx through the dropout's mask (DROP) or a
// copy of it, so the residual branch's gradient needs no dispatch of its own.
// x: (rows, len), weight: (len), g: (rows, len), mean: (rows), rstd: (rows), dx: (rows, len); RESID: dh: (rows, len)
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
{{RESID_DECL:}}

// The output gradient; with OUT_DROP through the output dropout's mask.
fn gin(i: u32) -> f32 {
{{G_IN:  return g[i];}}
}

fn gw(i: u32, k: u32) -> f32 {
  if ({{AFFINE}}) { return gin(i) * weight[k]; }
  return gin(i);
}

fn row_main(row: u32, t: u32, lid: u32, valid: bool) {
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
    let d = r * (gw(base + k, k) - tot.x - xh * tot.y);
    dx[base + k] = d;
{{STORE_DH:}}
  }
}
