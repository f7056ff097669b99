// Winograd input transform (winograd.ts): for every a x a patch d of the source (x forward, dy for
// the input gradient; tile t of M x M destination pixels, channel c; a = M + 2) writes
// V[xi, c, t] = (B^T d B)[xi], the operand of the a*a GEMMs. Patches start oy rows / ox columns
// before their tile and are read with selects (zeros outside the source, and for the padding tiles
// t >= T), which is cheaper on the software adapters than a padding pass. The transform lines are
// generated from B^T.
// src: (N, C, Hs, Ws), v: (a*a, C, T4) with T4 = T rounded up to whole GEMM pixel blocks
struct Params { C: u32, Hs: u32, Ws: u32, tH: u32, tW: u32, T: u32, T4: u32, total: u32, oy: i32, ox: i32, stride: u32, _pad: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> v: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn at(plane: u32, r: i32, q: i32, ok: bool) -> f32 {
  let inside = ok && r >= 0 && q >= 0 && u32(r) < params.Hs && u32(q) < params.Ws;
  return select(0.0, src[select(0u, (plane * params.Hs + u32(r)) * params.Ws + u32(q), inside)], inside);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat_index(gid);
  if (i >= params.total) { return; }
  // Consecutive invocations take consecutive tiles of one channel.
  let t = i % params.T4;
  let c = i / params.T4;
  let ok = t < params.T;
  let tc = min(t, params.T - 1u);
  let tx = tc % params.tW;
  let ty = (tc / params.tW) % params.tH;
  let plane = (tc / (params.tW * params.tH)) * params.C + c;
  let r0 = i32(ty * {{M}}u) - params.oy;
  let c0 = i32(tx * {{M}}u) - params.ox;
  let out = c * params.T4 + t;
  let xiStride = params.C * params.T4;
{{BODY}}
}
