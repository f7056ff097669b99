// Second pass of a chunked reduction: folds the nChunks partials of each output in chunk order (so
// results are deterministic) and applies the scale. Included: flat_index.wgsl, dims8.wgsl, reduce_common.wgsl (VT = f32).
// part: (nChunks, nOut), out: (nOut)
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = flat_index(gid);
  if (o >= params.nOut) { return; }
  var acc = part[o];
  for (var c = 1u; c < params.nChunks; c++) { acc = combine(acc, part[c * params.nOut + o]); }
  out[o] = acc * params.scale;
}
