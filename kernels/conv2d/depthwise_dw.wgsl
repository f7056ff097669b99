// Depthwise weight gradient, split-K over output rows: the fallback of depthwise_dw_rows.wgsl when
// its ring of x rows would not fit the register budget (depthwise_grad.ts). Lanes run over (channel co, row chunk s);
// an invocation owns all kh*kw taps of its channel and walks its rows in segments of TW output
// columns. Per segment it loads TW/4 dy vec4s and, per tap row, the NV aligned xp vec4s of the
// window, each value feeding every (column, tap) pair that reads it; the tap loops are unrolled
// by depthwise.ts (the BODY block).
//   part[s, co, ky*kw + kx] = sum over rows R = n*OH + oh in chunk s, columns ow of
//       dy[n, co, oh, ow] * x[n, co / M, oh*sh - pt + ky*DH, ow*SW - pl + kx*DW]
//       (x at rows and columns outside it reads as 0: the padding)
// x rows are a multiple of 4 long (depthwise.ts pads them when not), so each window vec4 lies
// wholly inside or outside a row; rows and vec4s outside are replaced by zeros with a select,
// which costs far less than a padding pass. dy rows are padded to OWp, a multiple of TW.
// xp: (N, Cin, Hx, Wx) as vec4s, dy: (N, Cin*M, OH, OWp) as vec4s, part: (S, Cin*M, kh*kw)
struct Params {
  N: u32, C: u32, M: u32, Cin: u32, Hx: u32, Wx: u32,
  OH: u32, OWp: u32, sh: u32, pt: i32, winStart: i32,
  rowsPerChunk: u32, chunks: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let I = gid.x;
  let Ic = min(I, params.C * params.chunks - 1u);
  let co = Ic % params.C;
  let chunk = Ic / params.C;
{{ACC}}
  let Wxv = params.Wx / 4u;
  let OWv = params.OWp / 4u;
  let rEnd = min((chunk + 1u) * params.rowsPerChunk, params.N * params.OH);
  for (var R = chunk * params.rowsPerChunk; R < rEnd; R++) {
    let n = R / params.OH;
    let oh = R % params.OH;
    let xplane = (n * params.Cin + co / params.M) * params.Hx * Wxv;
    let r0 = i32(oh * params.sh) - params.pt;
    let dyrow = ((n * params.C + co) * params.OH + oh) * OWv;
    for (var q = 0u; q < OWv; q += {{TWV}}u) {
      let cb = i32(q * {{SW}}u) + params.winStart;
{{BODY}}
    }
  }
  let pbase = (chunk * params.C + co) * {{KHKW}}u;
  if (I < params.C * params.chunks) {
{{STORE}}
  }
}
