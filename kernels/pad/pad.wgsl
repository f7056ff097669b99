// Constant padding of the last two dims; a negative pad crops. Backward of pad is pad with the pads
// negated and value 0, so this one kernel serves both directions.
// x: (P, H, W) with P = N*C planes, out: (P, OH, OW) with OH = H + top + bottom, OW = W + left + right
// Included: flat_index.wgsl, each.wgsl, plane.wgsl.
struct Params {
  n: u32, stride: u32, H: u32, W: u32,
  OH: u32, OW: u32, top: i32, left: i32,
  value: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let o = at_out(i);
  let ih = o.y - params.top;
  let iw = o.x - params.left;
  var v = params.value;
  if (ih >= 0 && ih < i32(params.H) && iw >= 0 && iw < i32(params.W)) {
    v = x[o.base + u32(ih) * params.W + u32(iw)];
  }
  out[i] = v;
}
