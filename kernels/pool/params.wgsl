// Window geometry shared by the pooling kernels (prepended to each). Pads may be asymmetric;
// padB/padR bound the window for count_include_pad as PyTorch does with ceil_mode.
struct Params {
  n: u32, stride: u32, H: u32, W: u32,
  OH: u32, OW: u32, kH: i32, kW: i32,
  sH: i32, sW: i32, dH: i32, dW: i32,
  padT: i32, padL: i32, padB: i32, padR: i32,
  countIncludePad: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

// The output index (< n) whose window puts tap k on input index ii (pad, dilation d, stride s),
// or -1: the backward kernels gather over the windows that cover an input element with it.
fn tap_out(ii: i32, k: i32, pad: i32, d: i32, s: i32, n: i32) -> i32 {
  let num = ii + pad - k * d;
  if (num < 0 || num % s != 0) { return -1; }
  let o = num / s;
  return select(o, -1, o >= n);
}
