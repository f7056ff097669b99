// Deterministic scatter-add for gather's gradient, without atomics (WGSL has no float atomics):
// one workgroup owns one table row v and scans all M indices in chunks of 512, each invocation
// checking a run of PER = 8 consecutive indices. A prefix sum over the per-invocation hit counts
// compacts the hits of the chunk, in increasing m, into workgroup memory; then each invocation adds
// g[m, d] for its columns d. The summation order is increasing m on every device, so the result is
// bit-for-bit reproducible. Cost: V * M index comparisons, M * D additions, and 9 barriers per
// chunk of 512 indices (the barriers bound the time when V is small and M large). Tables with more
// rows than indices take gather_backward_index.wgsl (one workgroup per index; the same sums).
// indices: (M) i32, g: (M, D), dtable: (V, D)
struct Params { rows: u32, dim: u32, count: u32, padding: i32 }
@group(0) @binding(0) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const PER = 8u;
const CHUNK = 512u; // 64 invocations * PER
var<workgroup> scanA: array<u32, 64>;
var<workgroup> scanB: array<u32, 64>;
var<workgroup> pos: array<u32, 512>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let v = wid.x + wid.y * nwg.x;
  // Every invocation reaches the barriers; workgroups past the last row match nothing.
  // The padding row (torch's padding_idx; -1: none) gets no gradient: zeroed, never accumulated.
  let inRange = v < params.rows;
  let valid = inRange && i32(v) != params.padding;
  let row = v * params.dim;
  if (inRange) {
    for (var d = lid; d < params.dim; d += 64u) { dtable[row + d] = 0.0; }
  }
  for (var base = 0u; base < params.count; base += CHUNK) {
    let first = base + lid * PER;
    var bits = 0u;
    var mine = 0u;
    if (valid) {
      for (var j = 0u; j < PER; j++) {
        let m = first + j;
        // Same clamp as the forward pass, so a clamped index gets the gradient of the row it read.
        if (m < params.count && u32(clamp(indices[m], 0, i32(params.rows) - 1)) == v) {
          bits = bits | (1u << j);
          mine += 1u;
        }
      }
    }
    // Inclusive prefix sum of `mine` over the workgroup, ping-ponging between two arrays.
    scanA[lid] = mine;
    workgroupBarrier();
    for (var o = 1u; o < 64u; o = o << 2u) {
      var s = scanA[lid];
      if (lid >= o) { s += scanA[lid - o]; }
      scanB[lid] = s;
      workgroupBarrier();
      let o2 = o << 1u;
      var t = scanB[lid];
      if (lid >= o2) { t += scanB[lid - o2]; }
      scanA[lid] = t;
      workgroupBarrier();
    }
    var at = scanA[lid] - mine;
    for (var j = 0u; j < PER; j++) {
      if ((bits & (1u << j)) != 0u) { pos[at] = first + j; at += 1u; }
    }
    let found = scanA[63];
    workgroupBarrier();
    if (valid && found > 0u) {
      for (var d = lid; d < params.dim; d += 64u) {
        var acc = dtable[row + d];
        for (var k = 0u; k < found; k++) { acc += g[pos[k] * params.dim + d]; }
        dtable[row + d] = acc;
      }
    }
    workgroupBarrier();
  }
}
