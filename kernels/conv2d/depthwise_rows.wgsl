// Depthwise forward streaming down output rows (depthwise_rows.ts), the counterpart of
// depthwise_dw_rows.wgsl: lanes run over (segment of TW output columns, channel co, image n, chunk
// of output rows); a lane keeps a ring of the L = (kh-1)*DH + 1 x row windows one output row reads
// (plain variables) and per output row shifts it by SH rows, loading only the rows that enter, so
// each x value is loaded about once; then TW sums of kh*kw taps, stored as vec4s when output rows
// are whole vec4s (OW % 4 == 0). Only TW accumulators are live, against TH*TW in depthwise.wgsl.
//   y[n, co, oh, j0 + c] = bias[co] + sum over ky, kx of w[co, ky, kx] * x[n, co / M, oh*SH - pt + ky*DH, (j0 + c)*SW - pl + kx*DW]
// The input gradient of a stride-1 conv is the same correlation with dy as x, dx as y, the kernel
// flipped 180 degrees and the padding mirrored (pt' = (kh-1)*DH - pt, may be negative), summed
// over the M output channels of each input channel: MLOOP runs the whole row walk once per m,
// reading plane SRC = co*M + m and weight row co*M + m, and STORE adds what earlier m stored.
// Window vec4s read whole load as vec4s, partly read ones as their read floats (xf, the same
// buffer); x rows are a multiple of 4 long, rows and vec4s outside x read as zeros by select.
// Params, xp and xf: depthwise_ring.wgsl.
// xp: (N, Cin, Hx, Wx), w: (Cin*M, 1, kh, kw), bias: (C) read when hasBias = 1, y: (N, C, OH, OW)
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<{{DST}}>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let I = flat_index(gid);
  let live = I < params.lanes;
  let L = ring_lane(I);
  let co = L.co;
  let Wxv = params.Wx / 4u;
  let yplane = (L.n * params.C + co) * params.OH * params.OW;
  let j0 = L.q * 4u;
  let cb = L.cb;
{{COLS}}
  var b = 0.0;
  if (params.hasBias == 1u) { b = bias[co]; }
  {{MLOOP}}{
  let xplane = (L.n * params.Cin + {{SRC}}) * params.Hx * Wxv;
{{WEIGHTS}}
  {
    let r0 = ring_top(L.oh0);
{{PRELOAD}}
  }
  for (var oh = L.oh0; oh < L.oh1; oh++) {
    let r0 = ring_top(oh);
{{STEP}}
{{BODY}}
    let yrow = yplane + oh * params.OW + j0;
    if (live) {
{{STORE}}
    }
  }
  }
}
