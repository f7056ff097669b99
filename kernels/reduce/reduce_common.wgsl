// Shared by reduce.wgsl and reduce_merge.wgsl (after dims8.wgsl): the Params layout and the combine.
// Sizes, shapes and strides are in load units: f32, or vec4<f32> when the kernel loads 4 at a time.
struct Params {
  nOut: u32, nRed: u32, nChunks: u32, chunkLen: u32,
  stride: u32, keptRank: u32, outerRank: u32, innerLen: u32,
  innerStride: u32, scale: f32, _pad0: u32, _pad1: u32,
  keptShape0: vec4<u32>, keptShape1: vec4<u32>,
  keptStride0: vec4<u32>, keptStride1: vec4<u32>,
  outerShape0: vec4<u32>, outerShape1: vec4<u32>,
  outerStride0: vec4<u32>, outerStride1: vec4<u32>,
}
@group(0) @binding(2) var<uniform> params: Params;

fn combine(a: {{VT}}, b: {{VT}}) -> {{VT}} { return {{COMBINE}}; }
fn combine1(a: f32, b: f32) -> f32 { return {{COMBINE}}; }
