// Naive input gradient (transposed convolution): one invocation per input element.
// dy: (N, Cout, OH, OW), w: (Cout, Cin/groups, kh, kw), dx: (N, Cin, H, W)
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

fn each(i: u32) {
  let iw = i32(i % params.W);
  let ih = i32((i / params.W) % params.H);
  let ci = (i / (params.W * params.H)) % params.Cin;
  let n = i / (params.W * params.H * params.Cin);
  let g = ci / params.cinG;
  let c = ci % params.cinG;
  var acc = 0.0;
  for (var k = 0u; k < params.coutG; k++) {
    let co = g * params.coutG + k;
    for (var ky = 0u; ky < params.kh; ky++) {
      // Output row oh reads input row oh*sh - pt + ky*dh; invert that, keeping only exact hits.
      let th = ih + i32(params.pt) - i32(ky * params.dh);
      if (th < 0 || th % i32(params.sh) != 0) { continue; }
      let oh = u32(th) / params.sh;
      if (oh >= params.OH) { continue; }
      for (var kx = 0u; kx < params.kw; kx++) {
        let tw = iw + i32(params.pl) - i32(kx * params.dw);
        if (tw < 0 || tw % i32(params.sw) != 0) { continue; }
        let ow = u32(tw) / params.sw;
        if (ow >= params.OW) { continue; }
        acc += dy[((n * params.Cout + co) * params.OH + oh) * params.OW + ow] * w[((co * params.cinG + c) * params.kh + ky) * params.kw + kx];
      }
    }
  }
  dx[i] = acc;
}
