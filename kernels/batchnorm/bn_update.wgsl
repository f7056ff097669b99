// Running-statistics update in place (PyTorch): r = (1 - momentum) * r + momentum * batch, with the
// variance unbiased by M / (M - 1) for the running estimate; invocation 0 also adds one to the
// batch counter (num_batches_tracked) in the variant with a `count` binding (batchnorm.ts).
// Included: bn_channel.wgsl.
// runningMean: (C), runningVar: (C), mean: (C), variance: (C) biased, count: (1) i32
struct Params { C: u32, momentum: f32, unbias: f32 }
@group(0) @binding(0) var<storage, read_write> runningMean: array<f32>;
@group(0) @binding(1) var<storage, read_write> runningVar: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
{{COUNT_DECL}}
@group(0) @binding(4) var<uniform> params: Params;

fn channel(c: u32) {
{{COUNT}}
  let m = params.momentum;
  runningMean[c] = (1.0 - m) * runningMean[c] + m * mean[c];
  runningVar[c] = (1.0 - m) * runningVar[c] + m * variance[c] * params.unbias;
}
