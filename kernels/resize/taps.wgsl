// Bilinear sampling geometry shared by the resize kernels (prepended to each).
// mode 0: align_corners (src = o * r, r = (in - 1) / (out - 1)); 1: half-pixel (PyTorch
// align_corners=False, TF half_pixel_centers: src = (o + 0.5) * r - 0.5 clamped at 0, r = in / out);
// 2: asymmetric (TF1 legacy: src = o * r, r = in / out).
struct Params {
  n: u32, stride: u32, H: u32, W: u32,
  OH: u32, OW: u32, rh: f32, rw: f32,
  mode: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

fn srcCoord(o: i32, r: f32) -> f32 {
  if (params.mode == 1u) { return max((f32(o) + 0.5) * r - 0.5, 0.0); }
  return f32(o) * r;
}

// Taps of output index o on an axis of `size` input pixels: (i0, i1) and the weight of i1.
struct Taps { i0: i32, i1: i32, l1: f32 }
fn taps(o: i32, r: f32, size: u32) -> Taps {
  let s = srcCoord(o, r);
  let i0 = min(i32(floor(s)), i32(size) - 1);
  let i1 = select(i0, i0 + 1, i0 < i32(size) - 1);
  return Taps(i0, i1, s - f32(i0));
}
