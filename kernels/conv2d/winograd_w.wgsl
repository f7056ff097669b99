// Winograd weight transform (winograd.ts): U[xi, r, c] = (G g G^T)[xi] for reduction channel r and
// destination channel c of the correlation the GEMMs run. Forward: g[a][b] = w[c, r, a, b]; input
// gradient: g[a][b] = w[r, c, 2 - a, 2 - b] (flipped, input and output channels swapped). Laid out
// as gemm.wgsl weights (groups = a*a, 1x1, Cred, channels padded to cgPad with zeros). The
// transform lines and the filter's base index ({{BASE}}) are generated (winograd.ts).
// w: (Cout, Cin, 3, 3), u: (a*a, Cred, cgPad)
struct Params { Cred: u32, Cg: u32, cgPad: u32, n: u32, stride: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> w: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let c = i % params.cgPad;
  let r = i / params.cgPad;
  let ok = c < params.Cg;
  let base = select(0u, ({{BASE}}) * 9u, ok);
  let out = r * params.cgPad + c;
  let xiStride = params.Cred * params.cgPad;
{{BODY}}
}
