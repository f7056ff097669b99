// Weight gradient over row windows, split-K over output rows:
//   part[s, g*coutG + o, c, ky, kx] = sum over output rows R = n*OH + oh in chunk s, columns ow of
//       dy[n, g*coutG + o, oh, ow] * xp[n, g*cinG + c, oh*sh + ky*dh, ow*SW + kx*DW]
// A block of RB*LANES consecutive weight rows (c, ky) of group g x CH output channels x KW column
// taps. Every load is a per-lane loop on software adapters (even at an address shared by the
// workgroup), so blocks are as large as registers allow. Two builds (weight_grad.ts):
//  - conv2d_weight_grad: an invocation computes a block (LANES = 1, CH = C4 channels, RB rows). Per
//    4 output columns it loads CH dy vec4s and, per row, the NV aligned xp vec4s its window spans,
//    and feeds RB*CH*KW vec4 multiply-adds (one per row, channel and tap over the 4 columns), summed
//    across the vec4 at the end;
//  - conv2d_weight_grad_sg, where subgroups exist: a workgroup is one subgroup of LANES = SG lanes
//    computing CH = TM output channels x SG*RB weight rows (RB per lane). Per 4 output columns the
//    lanes load the TM dy vec4s between them (LQ each) and subgroupBroadcast hands every lane each
//    channel's vec4, a vector permute instead of a load per lane; each lane loads only its rows'
//    windows. Per lane: LQ + RB*NV vec4 loads for TM*RB*KW dot products of 4 columns.
// dy arrives zero-padded (weight_grad.ts) to rows of OWp = OW rounded up to 4. xp is either x
// zero-padded to rows a multiple of 4 long covering every window (pt = winStart = 0, A = 0), so no
// load needs a bounds check and padding adds zeros, or (BOUNDED, where x's rows already are a
// multiple of 4 long) x itself: each window vec4 then lies wholly inside or outside its row, rows
// and vec4s outside read as zeros, and the window of 4 output columns starts A floats into vec4
// winStart (4*winStart + A = -pl).
// Lines naming a row, channel, dy-load, tap or window index (dollar r, o, l, k, t) are repeated for
// r < RB, o < CH, l < C4 (LQ with subgroups), k < KW, t < NV (wgsl unroll); the TAPS block is
// unrolled by weight_grad.ts. Accumulators are vec4s (ZERO, summed by SUM) or, with subgroups, floats.
// xp: (N, Cin, Hp, Wp) as vec4s, dy: (N, Cout, OH, OWp) as vec4s, part: (S, Cout, cinG, kh, kw)
struct Params {
  N: u32, Cin: u32, Cout: u32, groups: u32, cinG: u32, coutG: u32,
  Hp: u32, Wp: u32, OH: u32, OWp: u32,
  kh: u32, kw: u32, sh: u32, dh: u32,
  rowsPerChunk: u32, coBlocks: u32, rowBlocks: u32, pt: i32, winStart: i32, _pad0: u32,
}
@group(0) @binding(0) var<storage, read> xp: array<vec4<{{T:f32}}>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<{{T:f32}}>>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Blocks run over (weight row block, output channel block, group): LANES lanes share one. Every
  // lane has work, since a shared address saves nothing on these adapters. Past-the-end lanes
  // recompute the last block.
  let I = (wid.x * {{WG}}u + lid) / {{LANES}}u;
  let live = I < params.rowBlocks * params.coBlocks * params.groups;
  let Ic = min(I, params.rowBlocks * params.coBlocks * params.groups - 1u);
  let rb = Ic % params.rowBlocks;
  let cob = (Ic / params.rowBlocks) % params.coBlocks;
  let g = Ic / (params.rowBlocks * params.coBlocks);
  let lane = lid % {{LANES}}u;
  let chunk = wid.y;
  let rowsJ = params.cinG * params.kh;
  // Weight row r$r = (c, ky) of this lane; rows past the end repeat the last (unstored).
  let r$r = (rb * {{LANES}}u + lane) * {{RB}}u + $ru;
  let c$r = min(r$r, rowsJ - 1u) / params.kh;
  let ky$r = min(r$r, rowsJ - 1u) % params.kh;
  let Wpv = params.Wp / 4u;
  let OWv = params.OWp / 4u;
  let dyPlane = params.OH * OWv;
  // dy plane of each channel this lane loads (for the others too with subgroups); channels past
  // coutG repeat the last (unstored).
  let d$l = (g * params.coutG + min(cob * {{CH}}u + lane + {{LANES}}u * $lu, params.coutG - 1u)) * dyPlane;
  var a$r_$o_$k = {{ZERO}};
  let rEnd = min((chunk + 1u) * params.rowsPerChunk, params.N * params.OH);
  for (var R = chunk * params.rowsPerChunk; R < rEnd; R++) {
    let n = R / params.OH;
    let oh = R % params.OH;
    let xr$r = i32(oh * params.sh + ky$r * params.dh) - params.pt;
{{ROWS}}
    var xb$r = (n * params.Cin + g * params.cinG + c$r) * params.Hp * Wpv + u32(xr$r) * Wpv + u32(params.winStart);
    var db = n * params.Cout * dyPlane + oh * OWv;
    // First window vec4 of output columns 4q .. 4q + 3 (negative over the left edge of an unpadded xp).
    var cw = params.winStart;
    for (var q = 0u; q < OWv; q++) {
{{COLS}}
      let s$r_$t = select(vec4<f32>(0.0), {{W4(xp[select(0u, xb$r + $tu, rv$r && cv$t)])}}, rv$r && cv$t);
      let g$l = {{W4(dy[db + d$l])}};
{{TAPS}}
      xb$r += {{SW}}u;
      cw += {{SW}};
      db += 1u;
    }
  }
  // The stores loop over this lane's rows (r0 on) and channels that exist, each one's KW sums picked by a
  // switch (weight_grad.ts PICK): unrolled, one store per row, channel and tap, lavapipe compiled
  // them three times slower (8 lanes, CH = 16, RB = 2, KW = 3: 1.0 s against 0.34 s).
  for (var ri = 0u; live && ri < min({{RB}}u, rowsJ - min(r0, rowsJ)); ri++) {
    for (var oi = 0u; oi < min({{CH}}u, params.coutG - min(cob * {{CH}}u, params.coutG)); oi++) {
      var v$k: f32;
      switch (ri * {{CH}}u + oi) { {{PICK}} }
      let at = ((chunk * params.Cout + g * params.coutG + cob * {{CH}}u + oi) * rowsJ + r0 + ri) * params.kw;
      part[at + $ku] = v$k;
    }
  }
}
