// Fused SGD step, in PyTorch's order (torch.optim.sgd._single_tensor_sgd):
//   d = grad + weightDecay * param
//   with MOMENTUM: buf = first ? d : buf * momentum + (1 - dampening) * d
//                  d = nesterov ? d + momentum * buf : buf
//   param = param - lr * d
// `a + alpha * b` is written fma(b, alpha, a), as ATen's vectorised add-with-alpha computes it. On a
// parameter's first step the momentum buffer is not read (it is uninitialised), as PyTorch clones d.
// One kernel for one tensor (K = 0) or K tensors (multi.ts); args.ts generates the bindings and the
// get_/set_ accessors of param (p), grad (g) and, with MOMENTUM, the momentum buffer (b).
// Included: flat_index.wgsl, each.wgsl, each_tensor.wgsl.
// With SKIP (dynamic loss scaling) the kernel reads found[0] and, when set, leaves the parameter
// unchanged (a fresh momentum buffer is zeroed, so the next step starts it from its gradient).
// param: (n) updated in place; grad: (n); momentumBuffer: (n) updated in place; found: (1) with SKIP
struct Params {
  n: u32, stride: u32, first: u32, nesterov: u32,
  negLr: f32, momentum: f32, oneMinusDampening: f32, weightDecay: f32,
  {{RANGES}}
}
{{BINDINGS}}
@group(0) @binding({{NEXT_BINDING}}) var<uniform> params: Params;

fn step(t: u32, j: u32) {
{{SKIP_STEP}}
  let p = get_p(t, j);
  var d = get_g(t, j);
  if (params.weightDecay != 0.0) { d = fma(p, params.weightDecay, d); }
{{MOMENTUM_STEP}}
  set_p(t, j, fma(d, params.negLr, p));
}
