// Backward of softmax / log-softmax along one axis, rows laid out and split into teams as in
// softmax.wgsl. With y the forward output and g its gradient, per row:
//   softmax:     dx = y * (g - sum(g * y))
//   log-softmax: dx = g - exp(y) * sum(g)
// Included: team.wgsl, team_sum.wgsl (f32), rows.wgsl.
// y, g, dx: (outer, len, inner)
@group(0) @binding(0) var<storage, read> y: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read> g: array<{{T:f32}}>;
@group(0) @binding(2) var<storage, read_write> dx: array<{{T:f32}}>;
@group(0) @binding(3) var<uniform> params: Params;

fn row_main(row: u32, t: u32, lid: u32, valid: bool) {
  let base = row_base(row);
  var s = 0.0;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) {
      let i = base + k * params.inner;
      if ({{LOG}}) { s += {{W(g[i])}}; } else { s += {{W(g[i])}} * {{W(y[i])}}; }
    }
  }
  let dot = team_sum(s, lid, t);
  if (!valid) { return; }
  for (var k = t; k < params.len; k += TEAM) {
    let i = base + k * params.inner;
    if ({{LOG}}) { dx[i] = {{S({{W(g[i])}} - exp({{W(y[i])}}) * dot)}}; } else { dx[i] = {{S({{W(y[i])}} * ({{W(g[i])}} - dot))}}; }
  }
}
