// Barrier-free reduction: one invocation per (output unit, chunk of the reduced index range).
// Included: flat_index.wgsl, dims8.wgsl, reduce_common.wgsl. The reduced dims are split into an innermost one (innerLen,
// innerStride) and the rest ("outer", up to rank 7): each invocation walks its chunk row by row,
// with one index decomposition per row and a strided loop along the row. Invocation t handles output
// unit o = t % nOut and chunk c = t / nOut (neighbouring invocations, neighbouring outputs), and
// writes out[t]: the result (scaled) when nChunks == 1, else a partial that reduce_merge folds.
// Load units ({{VT}}): f32; vec4 along the reduced axis ("rows": folded to one f32 at the end); or
// vec4 of 4 neighbouring outputs ("cols": written as a vec4).
// x: (input in {{VT}} units), out: (nChunks, nOut) in {{OT}} units
@group(0) @binding(0) var<storage, read> x: array<{{VT}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{OT}}>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = flat_index(gid);
  if (t >= params.nOut * params.nChunks) { return; }
  let o = t % params.nOut;
  let c = t / params.nOut;
  let base = offsetOf(o, params.keptRank, params.keptShape0, params.keptShape1, params.keptStride0, params.keptStride1);
  let r1 = min((c + 1u) * params.chunkLen, params.nRed);
  var r = c * params.chunkLen;
  var acc = {{VT}}({{INIT}});
  let L = params.innerLen;
  let s = params.innerStride;
  while (r < r1) {
    let ri = r % L;
    var off = base + ri * s + offsetOf(r / L, params.outerRank, params.outerShape0, params.outerShape1, params.outerStride0, params.outerStride1);
    let n = min(L - ri, r1 - r);
    for (var k = 0u; k < n; k++) {
      acc = combine(acc, x[off]);
      off += s;
    }
    r += n;
  }
  out[t] = {{FINISH}} * params.scale;
}
