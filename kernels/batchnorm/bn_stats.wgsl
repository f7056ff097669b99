// Shared by bn_merge.wgsl and bn_running.wgsl (bindings 0-3): the per-channel statistics that
// bn_apply reads. mean, invstd, weight, scale: (C)
@group(0) @binding(0) var<storage, read_write> mean: array<f32>;
@group(0) @binding(1) var<storage, read_write> invstd: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> scale: array<f32>;

// Writes channel c's mean m, invstd = 1 / sqrt(v + eps) and the affine scale weight * invstd.
fn write_stats(c: u32, m: f32, v: f32) {
  mean[c] = m;
  let is = inverseSqrt(v + params.eps);
  invstd[c] = is;
  scale[c] = weight[c] * is;
}
