// Training-mode batch norm in one dispatch for channels of few values: a team of TEAM invocations
// (team.wgsl) owns channel c = row and makes three passes over its N runs of HW values: the mean
// (summing differences from the channel's first value, as bn_partial), the centred sum of squares,
// then out = act((x - mean) * scale + shift [+ res]) with scale = weight * invstd (bn_apply's expression;
// with RES a residual is added before the activation).
// The team's first invocation writes (mean, invstd) for backward and, with RUNNING, updates the
// running statistics as bn_update does (and, with COUNTER, channel 0 counts the batch).
// {{T}} is f32, or vec4<f32> when HW % 4 == 0.
// Included: team.wgsl, team_sum.wgsl (f32).
// x: (N, C, HW / W) of {{T}}, out: like x, stats: (C) of (mean, invstd), weight, shift: (C);
// runningMean, runningVar: (C), count: (1) i32, res: like x
struct Params { rows: u32, N: u32, C: u32, HWv: u32, eps: f32, momentum: f32, unbias: f32 }
@group(0) @binding(0) var<storage, read> x: array<{{XT}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{XT}}>;
@group(0) @binding(2) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> shift: array<f32>;
{{RUNNING_DECL}}
@group(0) @binding(8) var<uniform> params: Params;
{{RES_DECL}}

fn hsum(v: {{T}}) -> f32 { return {{HSUM}}; }
fn sq(d: {{T}}) -> f32 { return {{SQ}}; }
fn act(v: {{T}}) -> {{T}} { return {{ACT}}; }
// Element e < N * HWv of channel c.
fn elem(c: u32, e: u32) -> u32 { return ((e / params.HWv) * params.C + c) * params.HWv + e % params.HWv; }

fn row_main(c: u32, t: u32, lid: u32, valid: bool) {
  let total = params.N * params.HWv;
  let nvals = f32(total * {{W}}u);
  var pivot = 0.0;
  var acc = 0.0;
  if (valid) {
    pivot = hsum({{LD(x[c * params.HWv])}}) / f32({{W}});
    for (var e = t; e < total; e += TEAM) { acc += hsum({{LD(x[elem(c, e)])}} - pivot); }
  }
  let m = pivot + team_sum(acc, lid, t) / nvals;
  workgroupBarrier();
  var m2 = 0.0;
  if (valid) { for (var e = t; e < total; e += TEAM) { m2 += sq({{LD(x[elem(c, e)])}} - m); } }
  let v = team_sum(m2, lid, t) / nvals;
  if (!valid) { return; }
  let is = inverseSqrt(v + params.eps);
  if (t == 0u) {
    stats[c] = vec2<f32>(m, is);
{{RUNNING_UPDATE}}
  }
  let s = weight[c] * is;
  let b = shift[c];
  for (var e = t; e < total; e += TEAM) { let i = elem(c, e); out[i] = {{STO(act(({{LD(x[i])}} - m) * s + b{{ADD_RES}}))}}; }
}
