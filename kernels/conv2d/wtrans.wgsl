// Rearranges OIHW weights for the GEMM kernels: wt[g, ky, kx, c, o] with o padded to cgPad (zeros).
// Forward (swap = 0): c = input channel, o = output channel of group g.
// Input gradient (swap = 1): c = output channel, o = input channel of group g.
// w: (groups*coutG, cinG, kh, kw), wt: (groups, kh, kw, Cred, cgPad)
struct Params { groups: u32, Cred: u32, Cg: u32, cgPad: u32, kh: u32, kw: u32, swap: u32, n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> w: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> wt: array<{{T:f32}}>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let o = i % params.cgPad;
  let c = (i / params.cgPad) % params.Cred;
  let kx = (i / (params.cgPad * params.Cred)) % params.kw;
  let ky = (i / (params.cgPad * params.Cred * params.kw)) % params.kh;
  let g = i / (params.cgPad * params.Cred * params.kw * params.kh);
  if (o >= params.Cg) { wt[i] = 0.0; return; }
  // OIHW index of (out channel, in channel) within group g.
  var oc = g * params.Cg + o;
  var ic = c;
  if (params.swap == 1u) { oc = g * params.Cred + c; ic = o; }
  let inner = select(params.Cred, params.Cg, params.swap == 1u);
  wt[i] = w[((oc * inner + ic) * params.kh + ky) * params.kw + kx];
}
