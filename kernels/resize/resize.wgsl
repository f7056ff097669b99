// Bilinear resize, one invocation per output element (no antialiasing, as PyTorch's interpolate).
// x: (P, H, W) with P = N*C, out: (P, OH, OW)
// Included: flat_index.wgsl, each.wgsl, plane.wgsl, taps.wgsl.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  let o = at_out(i);
  let W = i32(params.W);
  let th = taps(o.y, params.rh, params.H);
  let tw = taps(o.x, params.rw, params.W);
  let v00 = x[o.base + u32(th.i0 * W + tw.i0)];
  let v01 = x[o.base + u32(th.i0 * W + tw.i1)];
  let v10 = x[o.base + u32(th.i1 * W + tw.i0)];
  let v11 = x[o.base + u32(th.i1 * W + tw.i1)];
  out[i] = (1.0 - th.l1) * ((1.0 - tw.l1) * v00 + tw.l1 * v01) + th.l1 * ((1.0 - tw.l1) * v10 + tw.l1 * v11);
}
