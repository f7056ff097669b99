// Sum of squares of one gradient, stage 1 of the global norm: workgroup w reduces the 4096 elements
// [w * 4096, (w + 1) * 4096) (16 per invocation, coalesced) and writes partials[offset + w].
// x: (n) one gradient; partials: (total chunks over all gradients)
struct Params { n: u32, offset: u32, groupsX: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG = 256u;
const PER = 16u;
var<workgroup> acc: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * params.groupsX;
  let base = w * WG * PER;
  var s = 0.0;
  for (var j = 0u; j < PER; j++) {
    let i = base + j * WG + lid;
    if (i < params.n) { let v = x[i]; s += v * v; }
  }
  acc[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k >> 1u) {
    if (lid < k) { acc[lid] += acc[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u && base < params.n) { partials[params.offset + w] = acc[0]; }
}
