// Naive weight gradient: one invocation per weight element, summing over N, OH, OW.
// x: (N, Cin, H, W), dy: (N, Cout, OH, OW), dw: (Cout, Cin/groups, kh, kw)
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

fn each(i: u32) {
  let kx = i % params.kw;
  let ky = (i / params.kw) % params.kh;
  let c = (i / (params.kw * params.kh)) % params.cinG;
  let co = i / (params.kw * params.kh * params.cinG);
  let ci = (co / params.coutG) * params.cinG + c;
  var acc = 0.0;
  for (var n = 0u; n < params.N; n++) {
    for (var oh = 0u; oh < params.OH; oh++) {
      let ih = oh * params.sh + ky * params.dh - params.pt;
      if (ih >= params.H) { continue; }
      for (var ow = 0u; ow < params.OW; ow++) {
        let iw = ow * params.sw + kx * params.dw - params.pl;
        if (iw >= params.W) { continue; }
        acc += x[((n * params.Cin + ci) * params.H + ih) * params.W + iw] * dy[((n * params.Cout + co) * params.OH + oh) * params.OW + ow];
      }
    }
  }
  dw[i] = acc;
}
