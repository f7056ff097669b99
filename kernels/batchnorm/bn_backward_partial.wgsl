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
  // Summed in blocks of 64, each block's sum then added to the chunk's, as bn_partial.wgsl does.
  var s = vec2<f32>(0.0);
  for (var n = ch.y; n < ch.z; n++) {
    let base = (n * params.C + ch.x) * params.HWv;
    for (var j0 = 0u; j0 < params.HWv; j0 += 64u) {
      var b = vec2<f32>(0.0);
      for (var j = j0; j < min(j0 + 64u, params.HWv); j++) {
{{LOAD_G}}
        b += vec2<f32>(hsum(gv), hsum(gv * ({{LD(x[base + j])}} - m)));
      }
      s += b;
    }
  }
  part[t] = s;
}
