// Weight gradient over row windows, split-K over output rows:
//   part[s, g*coutG + o, c, ky, kx] = sum over output rows R = n*OH + oh in chunk s, columns ow of
//       dy[n, g*coutG + o, oh, ow] * xp[n, g*cinG + c, oh*sh + ky*dh, ow*SW + kx*DW]
// An invocation computes RB consecutive weight rows (c, ky) of group g x C4 output channels x KW
// column taps. Per 4 output columns it loads C4 dy vec4s and, per row, the NV aligned xp vec4s its
// window spans, and feeds RB*C4*KW vec4 multiply-adds (one per row, channel and tap over the 4
// columns), summed across the vec4 at the end. Every load is a per-lane loop on software adapters
// (even at an address shared by the workgroup), so the block is as large as registers allow.
// xp and dy arrive zero-padded (weight_grad.ts): dy rows to OWp = OW rounded up to 4, xp rows to a
// multiple of 4 covering every window, so no load needs a bounds check and padding adds zeros.
// Lines naming a row, channel, tap or window index (dollar r, o, k, t) are repeated for r < RB,
// o < C4, k < KW, t < NV (wgsl unroll); the TAPS block is unrolled by weight_grad.ts.
// xp: (N, Cin, Hp, Wp) as vec4s, dy: (N, Cout, OH, OWp) as vec4s, part: (S, Cout, cinG, kh, kw)
// Params and bindings: weight_grad_common.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Lanes run over (weight row block, output channel block, group): every lane has work, since a
  // shared address saves nothing on these adapters. Past-the-end lanes recompute the last block.
  let I = wid.x * 64u + lid;
  let live = I < params.rowBlocks * params.coBlocks * params.groups;
  let Ic = min(I, params.rowBlocks * params.coBlocks * params.groups - 1u);
  let rb = Ic % params.rowBlocks;
  let cob = (Ic / params.rowBlocks) % params.coBlocks;
  let g = Ic / (params.rowBlocks * params.coBlocks);
  let chunk = wid.y;
  let rowsJ = params.cinG * params.kh;
  // Weight row r$r = (c, ky) of this invocation; rows past the end repeat the last (unstored).
  let r$r = rb * {{RB}}u + $ru;
  let c$r = min(r$r, rowsJ - 1u) / params.kh;
  let ky$r = min(r$r, rowsJ - 1u) % params.kh;
  let Wpv = params.Wp / 4u;
  let OWv = params.OWp / 4u;
  let dyPlane = params.OH * OWv;
  // dy plane of each output channel of the block (channels past coutG repeat the last; unstored).
  let d$o = (g * params.coutG + min(cob * {{C4}}u + $ou, params.coutG - 1u)) * dyPlane;
  var a$r_$o_$k = vec4<f32>(0.0);
  let rEnd = min((chunk + 1u) * params.rowsPerChunk, params.N * params.OH);
  for (var R = chunk * params.rowsPerChunk; R < rEnd; R++) {
    let n = R / params.OH;
    let oh = R % params.OH;
    var xb$r = ((n * params.Cin + g * params.cinG + c$r) * params.Hp + oh * params.sh + ky$r * params.dh) * Wpv;
    var db = n * params.Cout * dyPlane + oh * OWv;
    for (var q = 0u; q < OWv; q++) {
      let s$r_$t = xp[xb$r + $tu];
      let g$o = dy[db + d$o];
{{TAPS}}
      xb$r += {{SW}}u;
      db += 1u;
    }
  }
  let J = rowsJ * params.kw;
  let o$o = cob * {{C4}}u + $ou;
  if (live && r$r < rowsJ && o$o < params.coutG) { part[((chunk * params.Cout + g * params.coutG + o$o) * rowsJ + r$r) * params.kw + $ku] = dot(a$r_$o_$k, vec4<f32>(1.0)); }
}
