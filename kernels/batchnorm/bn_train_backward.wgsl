// Training-mode batch-norm backward in one dispatch for channels of few values (bn_train.wgsl's
// teams): the team of channel c sums g and g * (x - mean) over the channel, its first invocation
// writes sumG (= dbias) and sumGXhat = invstd * sum g * (x - mean) (= dweight), then, with DX, the team
// writes dx = weight * invstd * (g - sumG / M - xhat * sumGXhat / M) (bn_backward_dx's expression).
// With a fused activation g is masked by its derivative read from the output y, in both passes; with
// GM the first pass also writes the masked g to gm (a fused residual's gradient).
// {{T}} is f32, or vec4<f32> when HW % 4 == 0.
// Included: team.wgsl, team_sum.wgsl (vec2<f32>).
// g, x: (N, C, HW / W) of {{T}}, stats: (C) of (mean, invstd), weight, sumG, sumGXhat: (C), dx, y, gm: like x
struct Params { rows: u32, N: u32, C: u32, HWv: u32, M: f32 }
@group(0) @binding(0) var<storage, read> g: array<{{XT}}>;
@group(0) @binding(1) var<storage, read> x: array<{{XT}}>;
@group(0) @binding(2) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> sumG: array<f32>;
@group(0) @binding(5) var<storage, read_write> sumGXhat: array<f32>;
{{DX_DECL}}
{{MASK_DECL}}
@group(0) @binding(8) var<uniform> params: Params;
{{GM_DECL}}

fn hsum(v: {{T}}) -> f32 { return {{HSUM}}; }
fn elem(c: u32, e: u32) -> u32 { return ((e / params.HWv) * params.C + c) * params.HWv + e % params.HWv; }
fn grad_at(i: u32) -> {{T}} { {{LOAD}} }

fn row_main(c: u32, t: u32, lid: u32, valid: bool) {
  let total = params.N * params.HWv;
  var st = vec2<f32>(0.0);
  var s = vec2<f32>(0.0);
  if (valid) {
    st = stats[c];
    for (var e = t; e < total; e += TEAM) {
      let i = elem(c, e);
      let gv = grad_at(i);
{{GM_STORE}}
      s += vec2<f32>(hsum(gv), hsum(gv * ({{LD(x[i])}} - st.x)));
    }
  }
  let tot = team_sum(s, lid, t);
  if (!valid) { return; }
  let sg = tot.x;
  let sgx = tot.y * st.y;
  if (t == 0u) { sumG[c] = sg; sumGXhat[c] = sgx; }
{{DX_PASS}}
}
