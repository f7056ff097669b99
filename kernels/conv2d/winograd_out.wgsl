// Winograd output transform (winograd.ts): the destination's M x M tile t of channel c is
// act(A^T m A (+ bias[c] when hasBias)), act per params.act (none, ReLU, ReLU6), of the a x a GEMM results m[xi] = mm[xi, c, t]; pixels past H
// or W are not stored. The transform lines are generated from A^T.
// mm: (a*a, C, T4), bias: (C) (any buffer when hasBias = 0), dst: (N, C, H, W)
struct Params { C: u32, H: u32, W: u32, tH: u32, tW: u32, T: u32, T4: u32, total: u32, stride: u32, hasBias: u32, act: u32, hasRes: u32 }
@group(0) @binding(0) var<storage, read> mm: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@group(0) @binding(4) var<storage, read> res: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = flat_index(gid);
  if (i >= params.total) { return; }
  let t = i % params.T;
  let c = i / params.T;
  let tx = t % params.tW;
  let ty = (t / params.tW) % params.tH;
  let n = t / (params.tW * params.tH);
  let src = c * params.T4 + t;
  let xiStride = params.C * params.T4;
  let y0 = ty * {{M}}u;
  let x0 = tx * {{M}}u;
  let out = ((n * params.C + c) * params.H + y0) * params.W + x0;
  let b = select(0.0, bias[select(0u, c, params.hasBias != 0u)], params.hasBias != 0u);
{{BODY}}
}
