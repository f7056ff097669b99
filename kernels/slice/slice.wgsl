// Window copy: dst[i] = src[coord(i) + shift] when that position lies inside src, else 0, where
// coord(i) are the coordinates of i in dst's shape. slice runs it with shift = begin (always
// inside); slice's backward runs it from the gradient with shift = -begin, which scatters the
// gradient into zeros. Bits are copied as u32 (f32 and i32 alike; 0u is 0.0).
// src: (srcShape), dst: (dstShape), both rank <= 8
// Included: flat_index.wgsl, each.wgsl, dims8.wgsl.
struct Params {
  n: u32, stride: u32, rank: u32, _pad0: u32,
  dstShape0: vec4<u32>, dstShape1: vec4<u32>,
  srcShape0: vec4<u32>, srcShape1: vec4<u32>,
  shift0: vec4<i32>, shift1: vec4<i32>,
}
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  var rem = i;
  var off = 0u;
  var place = 1u;
  var inside = true;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let s = dim(params.dstShape0, params.dstShape1, du);
    let ss = dim(params.srcShape0, params.srcShape1, du);
    let c = i32(rem % s) + dimI(params.shift0, params.shift1, du);
    rem = rem / s;
    inside = inside && c >= 0 && u32(c) < ss;
    off += u32(max(c, 0)) * place;
    place *= ss;
  }
  if (inside) { dst[i] = src[off]; } else { dst[i] = 0u; }
}
