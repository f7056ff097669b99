// Batch-norm backward sums, stage 1: invocation (c, k) sums g and g * (x - mean) over channel c's
// batch items [k * nPer, min(N, (k + 1) * nPer)). Barrier-free like bn_partial.wgsl.
// With a fused activation, g is first masked by its derivative read from the output y, and the masked
// gradient is written to gm for the dx kernel (each element is visited once).
// g, x: (N, C, HW / W) of {{T}}, mean: (C), part: (C, K) of (sum g, sum g * (x - mean)); y, gm: like g
struct Params { N: u32, C: u32, HWv: u32, K: u32, nPer: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> g: array<{{T}}>;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<vec2<f32>>;
@group(0) @binding(4) var<uniform> params: Params;
{{MASK_DECL}}

fn hsum(v: {{T}}) -> f32 { return {{HSUM}}; }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * params.stride;
  if (t >= params.C * params.K) { return; }
  let c = t / params.K;
  let k = t % params.K;
  let n0 = k * params.nPer;
  let n1 = min(params.N, n0 + params.nPer);
  let m = mean[c];
  var sg = 0.0;
  var sgx = 0.0;
  for (var n = n0; n < n1; n++) {
    let base = (n * params.C + c) * params.HWv;
    for (var j = 0u; j < params.HWv; j++) {
{{LOAD_G}}
      sg += hsum(gv);
      sgx += hsum(gv * (x[base + j] - m));
    }
  }
  part[t] = vec2<f32>(sg, sgx);
}
