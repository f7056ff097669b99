// Training-mode input gradient: the batch statistics depend on x, so
// dx = weight * invstd * (g - sumG / M - xhat * sumGXhat / M), M = N * HW.
// {{T}} is f32, or vec4<f32> when HW % 4 == 0.
// Included: flat_index.wgsl, each.wgsl.
// g, x: (N, C, HW / W) of {{T}}, mean, invstd, weight, sumG, sumGXhat: (C), dx: like x
struct Params { n: u32, stride: u32, C: u32, HWv: u32, M: f32 }
@group(0) @binding(0) var<storage, read> g: array<{{XT}}>;
@group(0) @binding(1) var<storage, read> x: array<{{XT}}>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invstd: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> sumG: array<f32>;
@group(0) @binding(6) var<storage, read> sumGXhat: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<{{XT}}>;
@group(0) @binding(8) var<uniform> params: Params;

fn each(i: u32) {
  let c = (i / params.HWv) % params.C;
  let s = invstd[c];
  let xhat = ({{LD(x[i])}} - mean[c]) * s;
  dx[i] = {{STO(weight[c] * s * ({{LD(g[i])}} - sumG[c] / params.M - xhat * (sumGXhat[c] / params.M)))}};
}
