// Backward of scores_softmax.wgsl: with w the saved weights and g the gradient of its output (the
// dropped weights with DROP: gw = g / (1 - p) where kept, else 0; without, gw = g), per row
//   dscores = (w * (gw - sum(gw * w))) * scale,
// as the dropout, softmax and mulScalar backward kernels compute it; the mask gets no gradient.
// Included: team.wgsl, team_sum.wgsl (f32), dropout_keep.wgsl, scores_common.wgsl.
// w, g, dscores: (rows, len)
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dscores: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn gw(i: u32) -> f32 {
  if ({{DROP}}) { return dropped(g[i], params.dscale, params.seed, params.p, i); }
  return g[i];
}

fn row_main(row: u32, t: u32, lid: u32, valid: bool) {
  let base = row * params.len;
  var s = 0.0;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) { s += gw(base + k) * w[base + k]; }
  }
  let dot = team_sum(s, lid, t);
  if (!valid) { return; }
  for (var k = t; k < params.len; k += TEAM) {
    let i = base + k;
    dscores[i] = (w[i] * (gw(i) - dot)) * params.scale;
  }
}
