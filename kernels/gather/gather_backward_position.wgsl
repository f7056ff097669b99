// gatherSum's gradient of a table looked up by position (index m read row m % period): row v < period
// sums g's rows v, v + period, v + 2 * period, ... in increasing m (gather_backward.wgsl's order); the
// rows from period on and the padding row (-1: none) get zero. One invocation per dtable element.
// g: (M, D), dtable: (V, D)
// Included: flat_index.wgsl, each.wgsl.
struct Params { n: u32, stride: u32, dim: u32, count: u32, period: u32, padding: i32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let v = i / params.dim;
  let d = i % params.dim;
  var acc = 0.0;
  if (v < params.period && i32(v) != params.padding) {
    for (var m = v; m < params.count; m += params.period) { acc += g[m * params.dim + d]; }
  }
  dtable[i] = acc;
}
