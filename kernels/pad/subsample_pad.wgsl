// Strided subsampling of the planes with zero channels on both sides, and its backward.
// Forward: dst (N, CO, OH, OW), src (N, C, H, W), CO = before + C + after, OH = ceil(H / step):
//   dst[n, c, y, x] = src[n, c - before, y * step, x * step] for before <= c < before + C, else 0.
// Backward (BACKWARD): dst (N, C, H, W) the input gradient, src (N, CO, OH, OW) the output gradient:
//   dst[n, c, y, x] = src[n, c + before, y / step, x / step] where step divides y and x, else 0,
//   plus acc[i] (a gradient x already has; f32 sum, as the add it replaces) when params.hasAcc is 1.
// Included: flat_index.wgsl, each.wgsl.
struct Params {
  n: u32, stride: u32, C: u32, H: u32,
  W: u32, CO: u32, OH: u32, OW: u32,
  step: u32, before: u32, hasAcc: u32, _pad1: u32,
}
@group(0) @binding(0) var<storage, read> src: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> dst: array<{{T:f32}}>;
@group(0) @binding(2) var<storage, read> acc: array<{{T:f32}}>;
@group(0) @binding(3) var<uniform> params: Params;

fn each(i: u32) {
  var v = {{T:f32}}(0);
  if ({{BACKWARD}}) {
    let x = i % params.W;
    let y = (i / params.W) % params.H;
    let c = (i / (params.W * params.H)) % params.C;
    let n = i / (params.W * params.H * params.C);
    if (x % params.step == 0u && y % params.step == 0u) {
      v = src[((n * params.CO + c + params.before) * params.OH + y / params.step) * params.OW + x / params.step];
    }
    if (params.hasAcc == 1u) { v = {{T:f32}}(f32(v) + f32(acc[i])); }
  } else {
    let x = i % params.OW;
    let y = (i / params.OW) % params.OH;
    let c = (i / (params.OW * params.OH)) % params.CO;
    let n = i / (params.OW * params.OH * params.CO);
    if (c >= params.before && c < params.before + params.C) {
      v = src[((n * params.C + c - params.before) * params.H + y * params.step) * params.W + x * params.step];
    }
  }
  dst[i] = v;
}
