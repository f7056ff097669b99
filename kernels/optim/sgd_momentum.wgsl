// Fused SGD step with momentum, in PyTorch's order (torch.optim.sgd._single_tensor_sgd):
//   d = grad + weightDecay * param
//   buf = first ? d : buf * momentum + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf;  param = param - lr * d
// On a parameter's first step momentumBuffer is not read (it is uninitialised), as PyTorch clones d.
// param: (n) updated in place; grad: (n); momentumBuffer: (n) updated in place
struct Params {
  n: u32, stride: u32, first: u32, nesterov: u32,
  negLr: f32, momentum: f32, oneMinusDampening: f32, weightDecay: f32,
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> momentumBuffer: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  let p = param[i];
  var d = grad[i];
  if (params.weightDecay != 0.0) { d = fma(p, params.weightDecay, d); }
  var b = d;
  if (params.first == 0u) { b = fma(d, params.oneMinusDampening, momentumBuffer[i] * params.momentum); }
  momentumBuffer[i] = b;
  var u = b;
  if (params.nesterov != 0u) { u = fma(b, params.momentum, d); }
  param[i] = fma(u, params.negLr, p);
}
