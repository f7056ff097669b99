// Softmax or log-softmax along one axis (rows as in rows.wgsl). A team of TEAM invocations
// (team.wgsl) handles one row: each member keeps an online (max, sum of exp(x - max)) over its
// strided elements (online.wgsl), the team merges them in workgroup memory, then each member writes
// its elements. LOG selects log-softmax.
// Included: team.wgsl, online.wgsl, rows.wgsl.
// x: (outer, len, inner), out: (outer, len, inner)
@group(0) @binding(0) var<storage, read> x: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{T:f32}}>;
@group(0) @binding(2) var<uniform> params: Params;

fn row_main(row: u32, t: u32, lid: u32, valid: bool) {
  let base = row_base(row);
  var a = LSE_INIT;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) { a = lse_push(a, {{W(x[base + k * params.inner])}}); }
  }
  let tot = team_lse(a, lid, t);
  let M = tot.x;
  let S = tot.y;
  if (!valid) { return; }
  let logS = log(S);
  let inv = 1.0 / S;
  for (var k = t; k < params.len; k += TEAM) {
    let i = base + k * params.inner;
    if ({{LOG}}) { out[i] = {{S({{W(x[i])}} - M - logS)}}; } else { out[i] = {{S(exp({{W(x[i])}} - M) * inv)}}; }
  }
}
