// Depthwise weight gradient streaming down output rows, the one depthwise_grad.ts prefers. Lanes
// run over (segment of TW output columns, channel co, image n, chunk of output rows); a lane owns
// all kh*kw taps of its channel and walks its rows keeping a ring of the L = (kh-1)*DH + 1 x rows
// the taps of one output row read (their windows, as plain variables): stepping to the next
// output row shifts the ring by SH rows and loads only the rows that enter it, so each x value is
// loaded about once instead of once per tap row. Per row it loads the segment's TW/4 dy vec4s.
//   part[s, co, ky*kw + kx] = sum over rows oh in the chunk, columns ow in the segment of
//       dy[n, co, oh, ow] * x[n, co / M, oh*SH - pt + ky*DH, ow*SW - pl + kx*DW]
//   with s = (n*chunks + chunk)*segs + seg (x outside its rows and columns reads as 0).
// Window vec4s that every part of is read load whole; partly read ones load only the read scalars
// (through xf, the same buffer as floats), since each float loaded costs a loop over lanes.
// x rows are a multiple of 4 long, so each window vec4 lies wholly inside or outside a row; rows
// and vec4s outside are replaced by zeros with a select. dy rows are OWv vec4s (padded to 4).
// depthwise_grad.ts unrolls the ring (PRELOAD, STEP) and the taps (BODY) for the dispatch.
// Params, xp and xf: depthwise_ring.wgsl.
// xp: (N, Cin, Hx, Wx), dy: (N, Cin*M, OH, 4*OWv), part: (S, Cin*M, kh*kw)
@group(0) @binding(3) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let I = flat_index(gid);
  let L = ring_lane(I);
  let seg = L.seg;
  let co = L.co;
  let n = L.n;
  let chunk = L.chunk;
  let Wxv = params.Wx / 4u;
  let xplane = (n * params.Cin + co / params.M) * params.Hx * Wxv;
  let dyplane = (n * params.C + co) * params.OH * params.OWv;
  let q = seg * {{TWV}}u;
  let cb = i32(q * {{SW}}u) + params.winStart;
{{COLS}}
{{ACC}}
  let oh0 = chunk * params.rowsPerChunk;
  let oh1 = min(oh0 + params.rowsPerChunk, params.OH);
  {
    let r0 = i32(oh0 * {{SH}}u) - params.pt;
{{PRELOAD}}
  }
  for (var oh = oh0; oh < oh1; oh++) {
    let r0 = i32(oh * {{SH}}u) - params.pt;
{{STEP}}
    let dyrow = dyplane + oh * params.OWv + q;
{{BODY}}
  }
  let pbase = (((n * params.chunks + chunk) * params.segs + seg) * params.C + co) * {{KHKW}}u;
  if (I < params.lanes) {
{{STORE}}
  }
}
