// Uniforms of the naive kernels (naive.wgsl, naive_dx.wgsl, naive_dw.wgsl), the test oracles and
// fallbacks; each kernel's storage bindings follow from binding 1. With flat_index.wgsl and
// each.wgsl (the entry: each kernel writes fn each(i), i < n).
struct Params {
  N: u32, Cin: u32, Cout: u32, cinG: u32, coutG: u32, hasBias: u32,
  H: u32, W: u32, OH: u32, OW: u32,
  kh: u32, kw: u32, sh: u32, sw: u32, dh: u32, dw: u32, pt: u32, pl: u32,
  stride: u32, n: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
