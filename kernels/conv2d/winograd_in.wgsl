// Winograd input transform (winograd.ts): for every a x a patch d of the source (x forward, dy for
// the input gradient; tile t of M x M destination pixels, channel c; a = M + 2) writes
// V[xi, c, t] = (B^T d B)[xi], the operand of the a*a GEMMs. Patches start oy rows / ox columns
// before their tile and are read with selects (zeros outside the source, and for the padding tiles
// t >= T), which is cheaper on the software adapters than a padding pass. The transform lines are
// generated from B^T.
// Params and the tile grid: winograd_tiles.wgsl.
// src: (N, C, H, W), v: (a*a, C, T4)
@group(0) @binding(1) var<storage, read> src: array<{{T:f32}}>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;

fn at(plane: u32, r: i32, q: i32, ok: bool) -> f32 {
  let inside = ok && r >= 0 && q >= 0 && u32(r) < params.H && u32(q) < params.W;
  return select(0.0, {{W(src[select(0u, (plane * params.H + u32(r)) * params.W + u32(q), inside)])}}, inside);
}

fn each(i: u32) {
  // Consecutive invocations take consecutive tiles of one channel.
  let t = i % params.T4;
  let c = i / params.T4;
  let ok = t < params.T;
  let tc = tile(min(t, params.T - 1u));
  let plane = tc.x * params.C + c;
  let r0 = i32(tc.y * {{M}}u) - params.oy;
  let c0 = i32(tc.z * {{M}}u) - params.ox;
  let out = c * params.T4 + t;
  let xiStride = params.C * params.T4;
{{BODY}}
}
