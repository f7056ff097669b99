// Stage 2 of clipping: one workgroup sums the partial sums of squares, takes the square root and
// writes the clip factor min(1, maxNorm / (norm + 1e-6)) (f32, as torch.nn.utils.clip_grad_norm_),
// so the scaling kernels read it from a buffer and the host never waits for the norm.
// Included: team_sum.wgsl (f32).
// partials: (count); norm: (1) the global L2 norm; scale: (1) the clip factor
struct Params { count: u32, maxNorm: f32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const TEAM = 256u;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < params.count; i += 256u) { s += partials[i]; }
  let tot = team_sum(s, lid, lid);
  if (lid == 0u) {
    let total = sqrt(tot);
    norm[0] = total;
    scale[0] = min(params.maxNorm / (total + 1e-6), 1.0);
  }
}
