// Shared by the row-streaming depthwise kernels (depthwise_rows.wgsl, depthwise_dw_rows.wgsl): the
// uniforms, the x bindings (as vec4s and, the same buffer, as floats) and each lane's work. With
// flat_index.wgsl. x rows are a multiple of 4 long; OW is the output row length, OWv the dy row
// length in vec4s (depthwise_dw_rows.wgsl).
struct Params {
  C: u32, M: u32, Cin: u32, Hx: u32, Wx: u32,
  OH: u32, OW: u32, OWv: u32, pt: i32, winStart: i32, hasBias: u32,
  segs: u32, chunks: u32, rowsPerChunk: u32, lanes: u32, stride: u32,
}
@group(0) @binding(0) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> xf: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// The work of lane I: a segment `seg` of TW output columns (from vec4 column q; its first window
// vec4 in x is cb) of channel `co` of image `n`, over the output rows oh0 .. oh1 - 1 of chunk
// `chunk`. Past-the-end lanes redo the last lane's work (and store nothing).
struct RingLane { seg: u32, co: u32, n: u32, chunk: u32, q: u32, cb: i32, oh0: u32, oh1: u32 }
fn ring_lane(I: u32) -> RingLane {
  let Ic = min(I, params.lanes - 1u);
  let seg = Ic % params.segs;
  let rest = Ic / (params.segs * params.C);
  let chunk = rest % params.chunks;
  let q = seg * {{TWV}}u;
  let oh0 = chunk * params.rowsPerChunk;
  return RingLane(seg, (Ic / params.segs) % params.C, rest / params.chunks, chunk, q, i32(q * {{SW}}u) + params.winStart,
    oh0, min(oh0 + params.rowsPerChunk, params.OH));
}

// The x row in slot 0 of the ring for output row oh (negative above x).
fn ring_top(oh: u32) -> i32 { return i32(oh * {{SH}}u) - params.pt; }
