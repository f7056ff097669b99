// Average pooling backward as a gather: each input element sums g / divisor over the windows that
// cover it. g: (P, OH, OW), dx: (P, H, W)
// Included: flat_index.wgsl, each.wgsl, plane.wgsl, params.wgsl, avgpool_window.wgsl.
@group(0) @binding(0) var<storage, read> g: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> dx: array<{{T:f32}}>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let OH = i32(params.OH);
  let OW = i32(params.OW);
  let q = at_in(i);
  var acc = 0.0;
  for (var kh = 0; kh < params.kH; kh++) {
    let oh = tap_out(q.y, kh, params.padT, 1, params.sH, OH);
    if (oh < 0) { continue; }
    for (var kw = 0; kw < params.kW; kw++) {
      let ow = tap_out(q.x, kw, params.padL, 1, params.sW, OW);
      if (ow < 0) { continue; }
      acc += {{W(g[q.base + u32(oh * OW + ow)])}} / divisor(oh, ow);
    }
  }
  dx[i] = {{S(acc)}};
}
