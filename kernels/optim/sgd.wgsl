// Fused SGD step without momentum, in PyTorch's order (torch.optim.sgd._single_tensor_sgd):
//   d = grad + weightDecay * param;  param = param - lr * d
// `a + alpha * b` is written fma(b, alpha, a), as ATen's vectorised add-with-alpha computes it.
// param: (n) updated in place; grad: (n)
struct Params { n: u32, stride: u32, negLr: f32, weightDecay: f32 }
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  let p = param[i];
  var d = grad[i];
  if (params.weightDecay != 0.0) { d = fma(p, params.weightDecay, d); }
  param[i] = fma(d, params.negLr, p);
}
