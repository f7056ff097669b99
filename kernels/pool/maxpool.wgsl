// Max pooling, one invocation per output element. The argmax is the flat index ih*W + iw in the
// input plane (PyTorch's convention); ties keep the first element in scan order; pads never win.
// x: (P, H, W) with P = N*C, out: (P, OH, OW), indices: (P, OH, OW) i32
// Included: flat_index.wgsl, each.wgsl, plane.wgsl, params.wgsl.
@group(0) @binding(0) var<storage, read> x: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{T:f32}}>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<uniform> params: Params;

fn each(i: u32) {
  let H = i32(params.H);
  let W = i32(params.W);
  let o = at_out(i);
  let h0 = o.y * params.sH - params.padT;
  let w0 = o.x * params.sW - params.padL;
  var best = 0.0;
  var idx = -1;
  for (var kh = 0; kh < params.kH; kh++) {
    let ih = h0 + kh * params.dH;
    if (ih < 0 || ih >= H) { continue; }
    for (var kw = 0; kw < params.kW; kw++) {
      let iw = w0 + kw * params.dW;
      if (iw < 0 || iw >= W) { continue; }
      let v = {{W(x[o.base + u32(ih * W + iw)])}};
      if (idx < 0 || v > best) {
        best = v;
        idx = ih * W + iw;
      }
    }
  }
  out[i] = {{S(best)}};
  indices[i] = idx;
}
