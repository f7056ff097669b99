// Fused Adam / AdamW step, in PyTorch's order (torch.optim.adam(w)._single_tensor_adam(w)):
//   AdamW: param = param * (1 - lr * weightDecay)      Adam: g = grad + weightDecay * param
//   m = m * beta1 + (1 - beta1) * g;  v = v * beta2 + (1 - beta2) * g * g
//   param = param + (-stepSize) * m / (sqrt(v) / sqrt(biasCorrection2) + eps),  stepSize = lr / biasCorrection1
// The scalars are computed in float64 on the host and rounded to f32 once, as PyTorch passes Python
// floats to its float32 kernels; eps is added outside the square root. On a parameter's first step the
// moments are taken as zero without reading their (uninitialised) buffers.
// param: (n) updated in place; grad: (n); expAvg, expAvgSq: (n) first and second moments, updated in place
struct Params {
  n: u32, stride: u32, first: u32, decoupled: u32,
  weightDecay: f32, decay: f32, beta1: f32, oneMinusBeta1: f32,
  beta2: f32, oneMinusBeta2: f32, bc2Sqrt: f32, eps: f32,
  negStepSize: f32,
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> expAvg: array<f32>;
@group(0) @binding(3) var<storage, read_write> expAvgSq: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
  var p = param[i];
  var g = grad[i];
  if (params.decoupled != 0u) {
    p = p * params.decay;
  } else if (params.weightDecay != 0.0) {
    g = fma(p, params.weightDecay, g);
  }
  var m = 0.0;
  var v = 0.0;
  if (params.first == 0u) {
    m = expAvg[i];
    v = expAvgSq[i];
  }
  m = fma(g, params.oneMinusBeta1, m * params.beta1);
  v = v * params.beta2 + params.oneMinusBeta2 * g * g;
  expAvg[i] = m;
  expAvgSq[i] = v;
  let denom = sqrt(v) / params.bc2Sqrt + params.eps;
  param[i] = p + params.negStepSize * m / denom;
}
