// Register-blocked implicit-GEMM correlation over row windows, shared by the forward pass and the
// input gradient:
//
//   dst[n, g*Cg + o, rh + dsh*i, rw + dsw*j] = bias + sum over c < Cred, taps (k1, k2) of
//       wt[g, ky0 + k1*kys, kx0 + k2*kxs, c, o] * src[n, g*Cred + c, i*ssh + c0h + k1*csh, j*SSW + c0w + k2*CSW]
//
// Forward: src = x, dst = y, taps k = ky, source row oh*s - pad + ky*d, one dispatch.
// Input gradient: src = dy, dst = dx, per stride phase (rh, rw): inside a phase only an arithmetic
// progression of taps hits whole output pixels, so no tap is wasted on stride holes. The column taps
// shape the code, so each column phase is its own dispatch; one dispatch runs two row phases (wid.z
// picks the row plan: Hsub, rh, nkh, ky0, c0h or their second set).
//
// Software adapters run an invocation's lanes as one SIMD vector and turn every storage load into a
// bounds-checked loop over lanes and components (lavapipe: ~15 instructions per lane and float,
// even where all lanes read one address), so the kernel loads as few floats per multiply-add as
// its registers allow:
//  - an invocation computes PX consecutive destination pixels of one row x CQ channel quads;
//  - for each source channel and tap row it loads the row window all NKW column taps of its PX
//    pixels read as NV aligned vec4s, and each window value feeds every (pixel, tap) pair reading it;
//  - weights are vec4s over 4 output channels, each tap's loaded just before its multiply-adds: one
//    vec4 of the packed layout (g, ky, kx, c, o), or with OIHW four scalars read in place from the
//    conv's own weights (OIHW for the forward pass, its transpose for dx: the strides wsC, wsO say
//    which), so no rearranging pass runs; the quad's channels past Cg read channel Cg - 1 (never stored).
// Two builds of it (gemm.ts), which differ only in the FMAS block and the lane loads:
//  - conv2d_gemm (SG = 0): workgroups of WG = 64 invocations, each loading its own CQ weight vec4s;
//  - conv2d_gemm_sg, where subgroups exist: a workgroup is exactly one subgroup of WG = SG lanes
//    that computes CQ = TM/4 channel quads for SG row segments (one per lane): per source channel and
//    tap the lanes load the quads once between them (LQ each, quad lid + SG*l) and subgroupBroadcast
//    hands every lane every weight, a vector permute instead of a load. Per lane and reduction step:
//    NKW*LQ + NV vec4 loads for NKW*PX*TM multiply-adds.
// src arrives either zero-padded (gemm.ts haloPad) with rows a multiple of 4 long and the window
// start 4-aligned up to the compile-time phase A, so no load needs a bounds check, or (BOUNDED,
// where its rows already are a multiple of 4 long) unpadded: each window vec4 then lies wholly
// inside or outside its row, and rows and vec4s outside the source read as zeros (a select per
// load, which saves the padding pass over the whole tensor).
// Lines naming a pixel, channel quad, lane-load or window index (dollar p, v, l, t) are repeated
// for p < PX, v < CQ, l < LQ (none without subgroups), t < NV (wgsl unroll); the FMAS block is
// unrolled by gemm.ts (subgroupBroadcast needs a constant lane). Accumulators are plain variables,
// which these drivers keep in registers where arrays may go to memory; only the stores at the end
// see them as an array.
//
// Params and bindings: gemm_common.wgsl.
// src: (N, Cred*groups, Hs, Ws) as vec4s, wt: (groups, kh, kw, Cred, CgPad) as vec4s (CgPad = Cg
// rounded up to 4*CQ, zero-filled) or with OIHW the conv's weights, element (g, ky, kx, c, o) at
// g*wsG + ky*wsY + kx*wsX + c*wsC + o*wsO; bias: (Cg*groups) read when hasBias = 1, dst: (N, Cg*groups, Hd, Wd)
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Workgroups past groups*coBlocks in z run the second row plan (another stride phase of dx).
  let gc = params.groups * params.coBlocks;
  let second = wid.z >= gc;
  let Hsub = select(params.Hsub, params.Hsub2, second);
  let rh = select(params.rh, params.rh2, second);
  let nkh = select(params.nkh, params.nkh2, second);
  let ky0 = select(params.ky0, params.ky02, second);
  let c0h = select(params.c0h, params.c0h2, second);
  let g = (wid.z % gc) / params.coBlocks;
  let cob = wid.z % params.coBlocks;
  let total = params.N * Hsub * params.jBlocks;
  let B = (wid.x + wid.y * params.strideX) * {{WG}}u + lid;
  // This invocation's row segment: image n, destination subgrid row i, columns j0 .. j0 + PX - 1.
  // Past-the-end invocations compute the last segment and store nothing (they still join the broadcasts).
  let Bc = min(B, total - 1u);
  let j0 = (Bc % params.jBlocks) * {{PX}}u;
  let i = (Bc / params.jBlocks) % Hsub;
  let n = Bc / (params.jBlocks * Hsub);
  let Wsv = params.Ws / 4u;
  let planeV = params.Hs * Wsv;
  // Weight elements (vec4s when packed) between consecutive column taps.
  let tapStride = params.kxs * params.wsX;
  // With subgroups, the weight quads this lane loads for the others: quad lid + SG*l of the block (clamped).
  let wq$l = min(lid + {{SG}}u * $lu, {{CQ}}u - 1u);
{{WOFF}}
  var a$p_$v = vec4<f32>(0.0);
  // First window vec4 of the row segment (negative where it hangs over the left edge of an unpadded source).
  let col0 = i32(j0 * {{SSW}}u / 4u) + params.winStart;
  for (var k1 = 0u; k1 < nkh; k1++) {
    let ky = ky0 + k1 * params.kys;
    let row = i32(i * params.ssh) + c0h + i32(k1) * params.csh;
{{BOUNDS}}
    var rb = (n * params.Cred * params.groups + g * params.Cred) * planeV + u32(row) * Wsv + u32(col0);
    var wi = g * params.wsG + ky * params.wsY + params.kx0 * params.wsX{{WQ}};
    for (var c = 0u; c < params.Cred; c++) {
      let s$t = select(vec4<f32>(0.0), {{W4(src[select(0u, rb + $tu, ok$t)])}}, ok$t);
{{FMAS}}
      rb += planeV;
      wi += params.wsC;
    }
  }
  let plane = params.Hd * params.Wd;
  let out = (n * params.Cg * params.groups + g * params.Cg) * plane + (rh + params.dsh * i) * params.Wd + params.rw;
  // The stores loop over the accumulators as an array: unrolled, their bounds checks and epilogue
  // branches made lavapipe's compile several times slower (9 s against 1 s at CQ = 8, 8 lanes) and
  // ran no faster.
  var acc = array<vec4<f32>, {{PX}} * {{CQ}}>({{ACC}});
  for (var v = 0u; v < {{CQ}}u; v++) {
    for (var e = 0u; e < 4u; e++) {
      let o = cob * 4u * {{CQ}}u + 4u * v + e;
      let b = select(0.0, bias[g * params.Cg + min(o, params.Cg - 1u)], params.hasBias == 1u);
      for (var p = 0u; p < {{PX}}u; p++) {
        let d = out + params.dsw * (j0 + p) + o * plane;
        if (B < total && j0 + p < params.Wsub && o < params.Cg) { dst[d] = {{S(actf(acc[p * {{CQ}}u + v][e] + b + resid(d)))}}; }
      }
    }
  }
}
