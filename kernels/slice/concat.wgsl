// Block copy between two (outer, row) views: dst[o * dstRow + dstOff + j] = src[o * srcRow + srcOff + j]
// for o < outer, j < len. concat copies each input into its band of the output (srcOff = 0);
// concat's backward copies each band of the gradient out (dstOff = 0). Bits copied as u32.
// src: (outer, srcRow), dst: (outer, dstRow)
// Included: flat_index.wgsl, each.wgsl.
struct Params { n: u32, stride: u32, len: u32, srcRow: u32, srcOff: u32, dstRow: u32, dstOff: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let o = i / params.len;
  let j = i % params.len;
  dst[o * params.dstRow + params.dstOff + j] = src[o * params.srcRow + params.srcOff + j];
}
