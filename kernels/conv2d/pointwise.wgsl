// 1x1 convolution with stride 1 and no padding, a batched GEMM over vec4 pixel runs:
//   dst[n, g*Cg + o, p] = bias + sum over c < Cred of wt[g, c, o] * src[n, g*Cred + c, p]
// Forward (src = x) and input gradient (src = dy, weights swapped) share it. Each invocation
// computes 4*CV channels x 4*PV pixels: per reduction step CV weight vec4s and PV pixel vec4s feed
// 4*CV*PV vec4 multiply-adds. Needs H*W % 4 == 0. Lines naming a pixel-vec4, channel-vec4 or lane
// index (dollar q, v, e) are repeated for q < PV, v < CV, e < 4 (wgsl unroll), and the
// FMAS block (each weight vec4 loaded right before its multiply-adds) is unrolled by launch.ts, so
// the accumulators are plain variables that drivers keep in registers.
// src: (N, Cred*groups, HW) as vec4s, wt: (groups, 1, 1, Cred, CgPad) as vec4s, bias: (Cg*groups)
// read when hasBias = 1, dst: (N, Cg*groups, HW) as vec4s
struct Params { N: u32, groups: u32, Cred: u32, Cg: u32, HW4: u32, cgPad: u32, coBlocks: u32, hasBias: u32, strideX: u32 }
@group(0) @binding(0) var<storage, read> src: array<vec4<{{T:f32}}>>;
@group(0) @binding(1) var<storage, read> wt: array<vec4<{{T:f32}}>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<{{T:f32}}>>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.z / params.coBlocks;
  let cob = wid.z % params.coBlocks;
  let total = params.N * params.HW4;
  let blk = (wid.x + wid.y * params.strideX) * 64u * {{PV}}u;
  let Csrc = params.Cred * params.groups;
  // Pixel vec4 q of this invocation: flat index over (n, HW/4); past-the-end ones load the last.
  let P$q = blk + {{PIXEL}};
  let Q$q = min(P$q, total - 1u);
  var off$q = ((Q$q / params.HW4) * Csrc + g * params.Cred) * params.HW4 + Q$q % params.HW4;
  var a$v_$e_$q = vec4<f32>(0.0);
  let cgv = params.cgPad / 4u;
  var wi = g * params.Cred * cgv + cob * {{CV}}u;
  for (var c = 0u; c < params.Cred; c++) {
    let x$q = {{W4(src[off$q])}};
{{FMAS}}
    off$q += params.HW4;
    wi += cgv;
  }
  let Cdst = params.Cg * params.groups;
  let o$v_$e = cob * 4u * {{CV}}u + 4u * $vu + $eu;
  let b$v_$e = select(0.0, bias[g * params.Cg + min(o$v_$e, params.Cg - 1u)], params.hasBias == 1u);
  if (P$q < total && o$v_$e < params.Cg) { dst[((Q$q / params.HW4) * Cdst + g * params.Cg + o$v_$e) * params.HW4 + Q$q % params.HW4] = {{S4(a$v_$e_$q + vec4<f32>(b$v_$e))}}; }
}
