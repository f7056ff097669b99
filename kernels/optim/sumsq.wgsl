// Stage 1 of the global norm over K gradients: workgroup w of the dispatch reduces the 4096
// elements of one gradient [b * 4096, (b + 1) * 4096) (16 per invocation, coalesced) and writes
// partials[offset + w]. args.ts generates the bindings x0..x{K-1} and their accessors; c{i} are the
// cumulative workgroup counts, e{i} the cumulative element counts (so n = e{t} - the previous one).
// Included: team_sum.wgsl (f32).
// x0..: (n_t) each; partials: (total chunks over all gradients)
struct Params { groupsX: u32, offset: u32, {{RANGES}} {{CHUNK_RANGES}} }
{{BINDINGS}}
@group(0) @binding({{NEXT_BINDING}}) var<storage, read_write> partials: array<f32>;
@group(0) @binding({{UNIFORM_BINDING}}) var<uniform> params: Params;

const WG = 256u;
const TEAM = WG;
const PER = 16u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * params.groupsX;
  var t = 0u;
  var first = 0u;
  var n0 = 0u;
{{CHUNK_LOOKUP}}
  let n = ends - n0;
  let base = (w - first) * WG * PER;
  var s = 0.0;
  for (var jj = 0u; jj < PER; jj++) {
    let j = base + jj * WG + lid;
    if (j < n) { let v = get_x(t, j); s += v * v; }
  }
  let tot = team_sum(s, lid, lid);
  if (lid == 0u && base < n) { partials[params.offset + w] = tot; }
}
