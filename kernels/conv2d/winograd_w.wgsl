// Winograd weight transform (winograd.ts): U[xi, r, c] = (G g G^T)[xi] for reduction channel r and
// destination channel c of the correlation the GEMMs run. Forward: g[a][b] = w[c, r, a, b]; input
// gradient: g[a][b] = w[r, c, 2 - a, 2 - b] (flipped, input and output channels swapped). Laid out
// as gemm.wgsl weights (groups = a*a, 1x1, Cred, channels padded to cgPad with zeros). The
// transform functions and the entry's calls ({{EACH}}) are generated (winograd.ts): one transform
// (FLIP: the input gradient's), or with BOTH the forward's into u (the first n1 invocations) and
// the input gradient's into u2 (channels padded to cgPad2) in one dispatch.
// w: (Cout, Cin, 3, 3), u: (a*a, Cred, cgPad), u2: (a*a, Cg, cgPad2); Cred, Cg are the forward's
// (Cin, Cout) with BOTH, else the pass's own.
struct Params { Cred: u32, Cg: u32, cgPad: u32, n: u32, stride: u32, cgPad2: u32, n1: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> w: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
{{U2}}
@group(0) @binding(2) var<uniform> params: Params;

{{FNS}}

fn each(i: u32) {
{{EACH}}
}
