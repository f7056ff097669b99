// Inference-mode statistics (bn_stats.wgsl) from the running mean and variance.
// Included: bn_channel.wgsl, bn_stats.wgsl. runningMean: (C), runningVar: (C)
struct Params { C: u32, eps: f32 }
@group(0) @binding(4) var<storage, read> runningMean: array<f32>;
@group(0) @binding(5) var<storage, read> runningVar: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

fn channel(c: u32) {
  write_stats(c, runningMean[c], runningVar[c]);
}
