// Weight and bias gradients of layer norm: column sums over all rows,
//   dweight[c] = sum_r g[r, c] * xh[r, c],  dbias[c] = sum_r g[r, c],  xh = (x - mean) * rstd.
// A workgroup owns 16 adjacent columns; its 16 lanes per column stride over the rows, then the lanes
// are summed in workgroup memory (a fixed order, so the result is deterministic).
// x: (rows, len), g: (rows, len), mean: (rows), rstd: (rows), dweight: (len), dbias: (len)
// Included: ln_common.wgsl.
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbias: array<f32>;

// The output gradient; with OUT_DROP through the output dropout's mask.
fn gin(i: u32) -> f32 {
{{G_IN:  return g[i];}}
}

var<workgroup> red: array<vec2<f32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * 16u + lid % 16u;
  let lane = lid / 16u;
  var s = vec2<f32>(0.0, 0.0);
  if (col < params.len) {
    for (var r = lane; r < params.rows; r += 16u) {
      let i = r * params.len + col;
      let gv = gin(i);
      s += vec2<f32>(gv * (x[i] - mean[r]) * rstd[r], gv);
    }
  }
  red[lid] = s;
  workgroupBarrier();
  for (var h = 128u; h >= 16u; h = h >> 1u) {
    if (lid < h) { red[lid] = red[lid] + red[lid + h]; }
    workgroupBarrier();
  }
  if (lid < 16u && col < params.len) {
    dweight[col] = red[lid].x;
    dbias[col] = red[lid].y;
  }
}
