// Fused Adam / AdamW step, in PyTorch's order (torch.optim.adam(w)._single_tensor_adam(w)):
//   AdamW: param = param * (1 - lr * weightDecay)      Adam: g = grad + weightDecay * param
//   m = m * beta1 + (1 - beta1) * g;  v = v * beta2 + (1 - beta2) * g * g
//   param = param + (-stepSize) * m / (sqrt(v) / sqrt(biasCorrection2) + eps),  stepSize = lr / biasCorrection1
// The scalars are computed in float64 on the host and rounded to f32 once, as PyTorch passes Python
// floats to its float32 kernels; eps is added outside the square root. On a parameter's first step the
// moments are taken as zero without reading their (uninitialised) buffers.
// One kernel for one tensor (K = 0) or K tensors (multi.ts); args.ts generates the bindings and the
// get_/set_ accessors of param (p), grad (g), expAvg (m) and expAvgSq (v).
// Included: flat_index.wgsl, each.wgsl, each_tensor.wgsl.
// With SKIP (dynamic loss scaling) the kernel reads found[0] and, when set, leaves the parameter and
// the moments unchanged (fresh moments are zeroed, so the next step reads zeros). A skipped step
// does not count (torch's GradScaler skips optimizer.step()), so the step count t is then the GPU
// counter steps[0] + 1 (the good steps so far, this one included) and the bias corrections are
// computed here in f32 from it, as torch's fused Adam does with its on-device step: the uniform's
// negStepSize is then -lr and its bc2Sqrt unused.
// param: (n) updated in place; grad: (n); expAvg, expAvgSq: (n) first and second moments, updated in place;
// found: (1) and steps: (1, good steps before this one) with SKIP
struct Params {
  n: u32, stride: u32, first: u32, decoupled: u32,
  weightDecay: f32, decay: f32, beta1: f32, oneMinusBeta1: f32,
  beta2: f32, oneMinusBeta2: f32, bc2Sqrt: f32, eps: f32,
  negStepSize: f32, {{RANGES}}
}
{{BINDINGS}}
@group(0) @binding({{NEXT_BINDING}}) var<uniform> params: Params;

fn step(t: u32, j: u32) {
{{SKIP_STEP}}
{{STEP_SCALARS}}
  var p = get_p(t, j);
  var g = get_g(t, j);
  if (params.decoupled != 0u) {
    p = p * params.decay;
  } else if (params.weightDecay != 0.0) {
    g = fma(p, params.weightDecay, g);
  }
  var m = 0.0;
  var v = 0.0;
  if (params.first == 0u) {
    m = get_m(t, j);
    v = get_v(t, j);
  }
  m = fma(g, params.oneMinusBeta1, m * params.beta1);
  v = v * params.beta2 + params.oneMinusBeta2 * g * g;
  set_m(t, j, m);
  set_v(t, j, v);
  let denom = sqrt(v) / bc2Sqrt + params.eps;
  set_p(t, j, p + negStepSize * m / denom);
}
