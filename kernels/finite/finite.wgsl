// Finite check of one tensor, one slot of `flags`: workgroup w looks at the 4096 elements
// [w * 4096, (w + 1) * 4096) (16 per invocation) for f32 bits with an all-ones exponent and ORs the
// kinds found (1 NaN, 2 Inf) into flags[2 * slot], the first bad index into flags[2 * slot + 1] (min).
// x: (n) the tensor's f32 bits; flags: (2 * slots) per slot [kind bits (1 NaN, 2 Inf), first bad index]
struct Params { n: u32, slot: u32, groupsX: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> flags: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> wkind: atomic<u32>;
var<workgroup> wfirst: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&wkind, 0u); atomicStore(&wfirst, 0xffffffffu); }
  workgroupBarrier();
  let base = (wid.x + wid.y * params.groupsX) * 4096u;
  var kind = 0u;
  var first = 0xffffffffu;
  for (var j = 0u; j < 16u; j++) {
    let i = base + j * 256u + lid;
    if (i < params.n) {
      let b = x[i];
      if ((b & 0x7f800000u) == 0x7f800000u) {
        kind = kind | select(2u, 1u, (b & 0x007fffffu) != 0u);
        first = min(first, i);
      }
    }
  }
  if (kind != 0u) { atomicOr(&wkind, kind); atomicMin(&wfirst, first); }
  workgroupBarrier();
  if (lid == 0u) {
    let k = atomicLoad(&wkind);
    if (k != 0u) {
      atomicOr(&flags[2u * params.slot], k);
      atomicMin(&flags[2u * params.slot + 1u], atomicLoad(&wfirst));
    }
  }
}
