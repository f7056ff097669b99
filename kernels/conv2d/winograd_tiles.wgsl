// Shared by the Winograd input and output transforms (winograd_in.wgsl, winograd_out.wgsl): the
// uniforms (H x W is the input transform's source and the output transform's destination; oy, ox
// are the input transform's, hasBias, act and hasRes the output transform's) and the tile grid of
// T = N * tH * tW tiles (T4: T rounded up to whole GEMM pixel blocks). With flat_index.wgsl and
// each.wgsl.
struct Params {
  C: u32, H: u32, W: u32, tH: u32, tW: u32, T: u32, T4: u32,
  n: u32, stride: u32, oy: i32, ox: i32, hasBias: u32, act: u32, hasRes: u32,
}
@group(0) @binding(0) var<uniform> params: Params;

// Tile t's image (x), tile row (y) and tile column (z).
fn tile(t: u32) -> vec3<u32> { return vec3<u32>(t / (params.tW * params.tH), (t / params.tW) % params.tH, t % params.tW); }
