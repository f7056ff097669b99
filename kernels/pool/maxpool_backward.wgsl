// Max pooling backward as a gather (no atomics, deterministic): each input element sums the output
// gradients of the windows that cover it and chose it as their argmax.
// g: (P, OH, OW), indices: (P, OH, OW) i32, dx: (P, H, W)
// Included: flat_index.wgsl, each.wgsl, plane.wgsl, params.wgsl.
@group(0) @binding(0) var<storage, read> g: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<{{T:f32}}>;
@group(0) @binding(3) var<uniform> params: Params;

fn each(i: u32) {
  let W = i32(params.W);
  let OH = i32(params.OH);
  let OW = i32(params.OW);
  let q = at_in(i);
  let me = q.y * W + q.x;
  var acc = 0.0;
  for (var kh = 0; kh < params.kH; kh++) {
    let oh = tap_out(q.y, kh, params.padT, params.dH, params.sH, OH);
    if (oh < 0) { continue; }
    for (var kw = 0; kw < params.kW; kw++) {
      let ow = tap_out(q.x, kw, params.padL, params.dW, params.sW, OW);
      if (ow < 0) { continue; }
      let o = q.base + u32(oh * OW + ow);
      if (indices[o] == me) { acc += {{W(g[o])}}; }
    }
  }
  dx[i] = {{S(acc)}};
}
