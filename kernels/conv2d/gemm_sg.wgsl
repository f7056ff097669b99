// Subgroup variant of gemm.wgsl for software adapters (same correlation, Params and bindings):
//
//   dst[n, g*Cg + o, rh + dsh*i, rw + dsw*j] = bias + sum over c < Cred, taps (k1, k2) of
//       wt[g, ky0 + k1*kys, kx0 + k2*kxs, c, o] * src[n, g*Cred + c, i*ssh + c0h + k1*csh, j*SSW + c0w + k2*CSW]
//
// These drivers make every load a loop over lanes, even where all lanes read the same address, so
// here a workgroup is exactly one subgroup of SG lanes that computes TM output channels for SG row
// segments of PX pixels (one per lane): per source channel and tap the lanes load the TM weights
// once between them (LQ vec4s each) and subgroupBroadcast hands every lane every weight, a vector
// permute instead of a load; each lane loads only its own row window (NV aligned vec4s).
// Per lane and reduction step: NKW*LQ + NV vec4 loads for NKW*PX*TM multiply-adds.
// src arrives zero-padded (gemm.ts haloPad), rows a multiple of 4 long, so nothing is bounds
// checked. Lines naming a channel quad, pixel, lane-load, window or vec4-lane index (dollar q, p,
// l, t, e) are repeated for q < TM/4, p < PX, l < LQ, t < NV, e < 4 (wgsl unroll); the FMAS
// block is unrolled by gemm.ts because subgroupBroadcast needs a constant lane.
//
// src: (N, Cred*groups, Hs, Ws) as vec4s, wt: (groups, kh, kw, Cred, CgPad) as vec4s (CgPad = Cg
// rounded up to TM, zero-filled), bias: (Cg*groups) read when hasBias = 1, dst: (N, Cg*groups, Hd, Wd)
enable subgroups;

@compute @workgroup_size({{SG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let g = wid.z / params.coBlocks;
  let cob = wid.z % params.coBlocks;
  let total = params.N * params.Hsub * params.jBlocks;
  let B = (wid.x + wid.y * params.strideX) * {{SG}}u + lane;
  // This lane's row segment: image n, destination subgrid row i, columns j0 .. j0 + PX - 1.
  // Past-the-end lanes compute the last segment and store nothing (they still join the broadcasts).
  let Bc = min(B, total - 1u);
  let j0 = (Bc % params.jBlocks) * {{PX}}u;
  let i = (Bc / params.jBlocks) % params.Hsub;
  let n = Bc / (params.jBlocks * params.Hsub);
  let Wsv = params.Ws / 4u;
  let planeV = params.Hs * Wsv;
  let cgv = params.cgPad / 4u;
  let tapStride = params.kxs * params.Cred * cgv;
  // The weight quads this lane loads for the others: quad lane + SG*l of the block (clamped).
  let wq$l = cob * {{CQ}}u + min(lane + {{SG}}u * $lu, {{CQ}}u - 1u);
  var a$q_$p = vec4<f32>(0.0);
  for (var k1 = 0u; k1 < params.nkh; k1++) {
    let ky = params.ky0 + k1 * params.kys;
    let row = u32(i32(i * params.ssh) + params.c0h + i32(k1) * params.csh);
    var rb = (n * params.Cred * params.groups + g * params.Cred) * planeV + row * Wsv + j0 * {{SSW}}u / 4u + params.winStart;
    var wi = ((g * params.kh + ky) * params.kw + params.kx0) * params.Cred * cgv;
    for (var c = 0u; c < params.Cred; c++) {
      let s$t = src[rb + $tu];
{{FMAS}}
      rb += planeV;
      wi += cgv;
    }
  }
  let plane = params.Hd * params.Wd;
  let out = (n * params.Cg * params.groups + g * params.Cg) * plane + (params.rh + params.dsh * i) * params.Wd + params.rw;
  let o$q = cob * {{TM}}u + 4u * $qu;
  let b$q_$e = select(0.0, bias[g * params.Cg + min(o$q + $eu, params.Cg - 1u)], params.hasBias == 1u);
  let ok$p = B < total && j0 + $pu < params.Wsub;
  let d$p = out + params.dsw * (j0 + $pu);
  if (ok$p && o$q + $eu < params.Cg) { dst[d$p + (o$q + $eu) * plane] = actf(a$q_$p[$eu] + b$q_$e + resid(d$p + (o$q + $eu) * plane)); }
}
