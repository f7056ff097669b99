// Batch-norm backward sums, stage 2: sumG = sum of the K partial sums of g (= dbias) and
// sumGXhat = invstd * sum of the partial sums of g * (x - mean) (= dweight).
// Included: bn_channel.wgsl.
// part: (C, K), invstd: (C), sumG: (C), sumGXhat: (C)
struct Params { C: u32, K: u32 }
@group(0) @binding(0) var<storage, read> part: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> invstd: array<f32>;
@group(0) @binding(2) var<storage, read_write> sumG: array<f32>;
@group(0) @binding(3) var<storage, read_write> sumGXhat: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

fn channel(c: u32) {
  var s = vec2<f32>(0.0);
  for (var k = 0u; k < params.K; k++) { s += part[c * params.K + k]; }
  sumG[c] = s.x;
  sumGXhat[c] = s.y * invstd[c];
}
