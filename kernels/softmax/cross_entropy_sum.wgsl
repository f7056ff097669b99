// Sums the per-row losses in one workgroup (fixed order, so the result is deterministic) and counts
// the rows whose label is not ignoreIndex. out = sum / count for 'mean' (NaN when every row is
// ignored, as in PyTorch), sum for 'sum'; count is saved for the backward pass.
// Included: team_sum.wgsl (vec2<f32>).
// rowLoss: (N), labels: (N) i32, out: (1), count: (1)
struct Params { rows: u32, mean: u32, ignoreIndex: i32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> rowLoss: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> count: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const TEAM = 256u;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var c = 0.0;
  for (var i = lid; i < params.rows; i += 256u) {
    s += rowLoss[i];
    if (labels[i] != params.ignoreIndex) { c += 1.0; }
  }
  let tot = team_sum(vec2<f32>(s, c), lid, lid);
  if (lid == 0u) {
    count[0] = tot.y;
    if (params.mean != 0u) { out[0] = tot.x / tot.y; } else { out[0] = tot.x; }
  }
}
