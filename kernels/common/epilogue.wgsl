// The conv epilogue shared by gemm.wgsl (both builds) and winograd_out.wgsl (their `include`): the
// kernel declares `params` (with `hasRes` and `act`) and the `res` binding.
// The residual added before the activation (params.hasRes; `res` is any buffer without one).
fn resid(i: u32) -> f32 {
  if (params.hasRes == 1u) { return {{W(res[i])}}; }
  return 0.0;
}
// Epilogue activation (params.act): 0 none, 1 ReLU, 2 ReLU6 — as the unary kernels compute them.
fn actf(y: f32) -> f32 {
  if (params.act == 1u) { return select(y, 0.0, y < 0.0); }
  if (params.act == 2u) { return clamp(y, 0.0, 6.0); }
  return y;
}
