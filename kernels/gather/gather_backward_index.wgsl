// gather's gradient when the table has more rows than there are indices: one workgroup per index m
// instead of one per table row (gather_backward.wgsl). dtable is zero-filled beforehand. The
// workgroup of the FIRST index m that reads row v writes the whole row: for its columns d, the sum
// of g[m', d] over every m' >= m reading v, added in increasing m' from 0.0: the order of
// gather_backward.wgsl, so both give bit-identical results. Later indices of the same row (found
// by the 64 invocations scanning m' < m in parallel) and the padding row write nothing.
// Cost: about M * M / 2 index comparisons plus (distinct rows) * M * ceil(D / 64) per invocation.
// indices: (M) i32, g: (M, D), dtable: (V, D), zero-filled
struct Params { rows: u32, dim: u32, count: u32, padding: i32 }
@group(0) @binding(0) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> earlier: array<u32, 64>;

// Same clamp as the forward pass, so a clamped index gets the gradient of the row it read.
fn rowOf(m: u32) -> u32 { return u32(clamp(indices[m], 0, i32(params.rows) - 1)); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= params.count) { return; }
  let v = rowOf(m);
  var seen = 0u;
  for (var k = lid; k < m; k += 64u) { if (rowOf(k) == v) { seen = 1u; } }
  earlier[lid] = seen;
  workgroupBarrier();
  for (var i = 0u; i < 64u; i++) { seen = seen | earlier[i]; }
  if (seen != 0u || i32(v) == params.padding) { return; }
  let row = v * params.dim;
  for (var d = lid; d < params.dim; d += 64u) {
    var acc = 0.0;
    for (var k = m; k < params.count; k++) {
      if (rowOf(k) == v) { acc += g[k * params.dim + d]; }
    }
    dtable[row + d] = acc;
  }
}
