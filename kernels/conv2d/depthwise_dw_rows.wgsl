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
  let Wxv = params.Wx / 4u;
  let xplane = (L.n * params.Cin + L.co / params.M) * params.Hx * Wxv;
  let dyplane = (L.n * params.C + L.co) * params.OH * params.OWv;
  let q = L.q;
  let cb = L.cb;
{{COLS}}
{{ACC}}
  {
    let r0 = ring_top(L.oh0);
{{PRELOAD}}
  }
  for (var oh = L.oh0; oh < L.oh1; oh++) {
    let r0 = ring_top(oh);
{{STEP}}
    let dyrow = dyplane + oh * params.OWv + q;
{{BODY}}
  }
  let pbase = (((L.n * params.chunks + L.chunk) * params.segs + L.seg) * params.C + L.co) * {{KHKW}}u;
  if (I < params.lanes) {
{{STORE}}
  }
}
