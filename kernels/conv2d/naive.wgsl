// Naive direct convolution: one invocation per output element (the test oracle and fallback).
// x: (N, Cin, H, W), w: (Cout, Cin/groups, kh, kw), bias: (Cout) read only when hasBias = 1,
// y: (N, Cout, OH, OW)
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn each(i: u32) {
  let ow = i % params.OW;
  let oh = (i / params.OW) % params.OH;
  let co = (i / (params.OW * params.OH)) % params.Cout;
  let n = i / (params.OW * params.OH * params.Cout);
  let g = co / params.coutG;
  var acc = 0.0;
  if (params.hasBias == 1u) { acc = bias[co]; }
  for (var c = 0u; c < params.cinG; c++) {
    let xc = (n * params.Cin + g * params.cinG + c) * params.H;
    let wc = (co * params.cinG + c) * params.kh;
    for (var ky = 0u; ky < params.kh; ky++) {
      // Unsigned wrap-around turns a negative row into a huge one, so one compare checks both ends.
      let ih = oh * params.sh + ky * params.dh - params.pt;
      if (ih >= params.H) { continue; }
      for (var kx = 0u; kx < params.kw; kx++) {
        let iw = ow * params.sw + kx * params.dw - params.pl;
        if (iw >= params.W) { continue; }
        acc += x[(xc + ih) * params.W + iw] * w[(wc + ky) * params.kw + kx];
      }
    }
  }
  y[i] = acc;
}
