// Average pooling backward as a gather: each input element sums g / divisor over the windows that
// cover it. g: (P, OH, OW), dx: (P, H, W)
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  let OH = i32(params.OH);
  let OW = i32(params.OW);
  let iw = i32(i % params.W);
  let ih = i32((i / params.W) % params.H);
  let obase = (i / (params.W * params.H)) * params.OH * params.OW;
  var acc = 0.0;
  for (var kh = 0; kh < params.kH; kh++) {
    let nh = ih + params.padT - kh;
    if (nh < 0 || nh % params.sH != 0) { continue; }
    let oh = nh / params.sH;
    if (oh >= OH) { continue; }
    for (var kw = 0; kw < params.kW; kw++) {
      let nw = iw + params.padL - kw;
      if (nw < 0 || nw % params.sW != 0) { continue; }
      let ow = nw / params.sW;
      if (ow >= OW) { continue; }
      acc += g[obase + u32(oh * OW + ow)] / divisor(oh, ow);
    }
  }
  dx[i] = acc;
}
