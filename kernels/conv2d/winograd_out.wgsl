// Winograd output transform (winograd.ts): the destination's M x M tile t of channel c is
// act(A^T m A (+ bias[c] when hasBias)), act per params.act (none, ReLU, ReLU6), of the a x a GEMM results m[xi] = mm[xi, c, t]; pixels past H
// or W are not stored. The transform lines are generated from A^T.
// mm: (a*a, C, T4), bias: (C) (any buffer when hasBias = 0), dst: (N, C, H, W)
// Params and the tile grid: winograd_tiles.wgsl; resid and actf: kernels/common/epilogue.wgsl.
@group(0) @binding(1) var<storage, read> mm: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<{{T:f32}}>;
@group(0) @binding(4) var<storage, read> res: array<{{T:f32}}>;

fn each(i: u32) {
  let t = i % params.T;
  let c = i / params.T;
  let tp = tile(t);
  let src = c * params.T4 + t;
  let xiStride = params.C * params.T4;
  let y0 = tp.y * {{M}}u;
  let x0 = tp.z * {{M}}u;
  let out = ((tp.x * params.C + c) * params.H + y0) * params.W + x0;
  let b = select(0.0, bias[select(0u, c, params.hasBias != 0u)], params.hasBias != 0u);
{{BODY}}
}
