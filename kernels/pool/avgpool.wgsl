// Average pooling, one invocation per output element. The divisor follows PyTorch: with
// count_include_pad the window clipped to the padded input (H + padB), else the in-image count.
// x: (P, H, W) with P = N*C, out: (P, OH, OW)
// Included: flat_index.wgsl, each.wgsl, plane.wgsl, params.wgsl, avgpool_window.wgsl.
@group(0) @binding(0) var<storage, read> x: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{T:f32}}>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let W = i32(params.W);
  let o = at_out(i);
  let w = window(o.y, o.x);
  var acc = 0.0;
  for (var ih = w.x; ih < w.y; ih++) {
    for (var iw = w.z; iw < w.w; iw++) { acc += {{W(x[o.base + u32(ih * W + iw)])}}; }
  }
  out[i] = {{S(acc / divisor(o.y, o.x))}};
}
