// Batch-norm backward sums, stage 1: invocation (c, k) (bn_chunk.wgsl) sums g and g * (x - mean)
// over its chunk. With a fused activation, g is first masked by its derivative read from the output
// y, and the masked gradient is written to gm for the dx kernel (each element is visited once).
// Included: flat_index.wgsl, bn_chunk.wgsl.
// g, x: (N, C, HW / W) of {{T}}, mean: (C), part: (C, K) of (sum g, sum g * (x - mean)); y, gm: like g
@group(0) @binding(0) var<storage, read> g: array<{{XT}}>;
@group(0) @binding(1) var<storage, read> x: array<{{XT}}>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<vec2<f32>>;
@group(0) @binding(4) var<uniform> params: Params;
{{MASK_DECL}}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = flat_index(gid);
  if (t >= params.C * params.K) { return; }
  let ch = chunk_of(t);
  let m = mean[ch.x];
  var sg = 0.0;
  var sgx = 0.0;
  for (var n = ch.y; n < ch.z; n++) {
    let base = (n * params.C + ch.x) * params.HWv;
    for (var j = 0u; j < params.HWv; j++) {
{{LOAD_G}}
      sg += hsum(gv);
      sgx += hsum(gv * ({{LD(x[base + j])}} - m));
    }
  }
  part[t] = vec2<f32>(sg, sgx);
}
