// Subgroup variant of weight_grad.wgsl for software adapters (same sums, Params and bindings):
//   part[s, g*coutG + o, c, ky, kx] = sum over output rows R = n*OH + oh in chunk s, columns ow of
//       dy[n, g*coutG + o, oh, ow] * xp[n, g*cinG + c, oh*sh + ky*dh, ow*SW + kx*DW]
// A workgroup is one subgroup of SG lanes computing TM output channels x SG*RB weight rows (c, ky)
// (RB per lane) x KW column taps. Per 4 output columns the lanes load the TM dy vec4s between them
// (LQ each) and subgroupBroadcast hands every lane each channel's vec4, a vector permute instead
// of a load per lane; each lane loads only its rows' windows (NV aligned vec4s per row). Per lane:
// LQ + RB*NV vec4 loads for TM*RB*KW dot products of 4 columns.
// xp and dy arrive zero-padded (weight_grad.ts), so nothing is bounds checked. Lines naming a
// row, lane-load or window index (dollar r, l, t) are repeated for r < RB, l < LQ, t < NV, and
// the accumulators (a_r_o_k) and the TAPS block are unrolled by weight_grad.ts.
// xp: (N, Cin, Hp, Wp) as vec4s, dy: (N, Cout, OH, OWp) as vec4s, part: (S, Cout, cinG, kh, kw)
enable subgroups;

@compute @workgroup_size({{SG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let rb = wid.x % params.rowBlocks;
  let cob = (wid.x / params.rowBlocks) % params.coBlocks;
  let g = wid.x / (params.rowBlocks * params.coBlocks);
  let chunk = wid.y;
  let rowsJ = params.cinG * params.kh;
  // Weight row r$r = (c, ky) of this lane; rows past the end repeat the last (unstored).
  let r$r = (rb * {{SG}}u + lane) * {{RB}}u + $ru;
  let c$r = min(r$r, rowsJ - 1u) / params.kh;
  let ky$r = min(r$r, rowsJ - 1u) % params.kh;
  let Wpv = params.Wp / 4u;
  let OWv = params.OWp / 4u;
  let dyPlane = params.OH * OWv;
  // dy plane of the channels this lane loads for the others (channels past coutG repeat the last).
  let d$l = (g * params.coutG + min(cob * {{TM}}u + lane + {{SG}}u * $lu, params.coutG - 1u)) * dyPlane;
{{ACC}}
  let rEnd = min((chunk + 1u) * params.rowsPerChunk, params.N * params.OH);
  for (var R = chunk * params.rowsPerChunk; R < rEnd; R++) {
    let n = R / params.OH;
    let oh = R % params.OH;
    var xb$r = ((n * params.Cin + g * params.cinG + c$r) * params.Hp + oh * params.sh + ky$r * params.dh) * Wpv;
    var db = n * params.Cout * dyPlane + oh * OWv;
    for (var q = 0u; q < OWv; q++) {
      let s$r_$t = xp[xb$r + $tu];
      let e$l = dy[db + d$l];
{{TAPS}}
      xb$r += {{SW}}u;
      db += 1u;
    }
  }
{{STORE}}
}
