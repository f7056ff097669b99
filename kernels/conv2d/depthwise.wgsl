// Depthwise convolution (groups = channels, channel multiplier M), forward and input gradient, as a
// correlation over tiles of TH x TW destination pixels per invocation:
//   dst[n, cd, rh + dsh*i, rw + dsw*j] = bias + sum over m, taps (k1, k2) of
//       w[wr, k0h + k1*ksh, k0w + k2*ksw] * src[n, sc, i*SSH + c0h + k1*CSH, j*SSW + c0w + k2*CSW]
// Forward: src = x, dst = y, sc = cd / M, wr = cd, one m. Input gradient: src = dy, dst = dx,
// sc = wr = cd*M + m for m < M, one dispatch per stride phase (gemm.ts inputGradAxes).
// Loads cost a loop over lanes on software adapters, so each source row the tile reaches is loaded
// once, as its window, and every (pixel, tap) pair reading a value reuses it: window vec4s read
// whole load as vec4s, partly read ones (the halo at the tile's edges) as just their read floats
// through srcf (the same buffer as floats), which cut forward time by about a fifth.
// src either arrives zero-padded (gemm.ts haloPad) with rows a multiple of 4 long, so nothing is
// bounds checked, or, when its rows already are a multiple of 4 long, unpadded: then each window
// vec4 lies wholly inside or outside the row and rows and vec4s outside are replaced by zeros
// (a select, cheaper than a padding pass over the whole tensor). When the tile's columns are whole
// vec4s of dst rows (stride-1 columns, Wd % 4 == 0) dst is array<vec4<f32>> and stores are vec4s.
// depthwise.ts unrolls the tap loops for the dispatch's compile-time structure (tile, strides,
// tap counts, window phase A) into the COLS, WEIGHTS, BODY and STORE blocks; the key carries it.
// src: (N, Csrc, Hs, Ws) as vec4s, w: (Cin*M, 1, kh, kw), bias: (C) read when hasBias = 1,
// dst: (N, C, Hd, Wd)
struct Params {
  N: u32, C: u32, Csrc: u32, M: u32, isDx: u32, hasBias: u32,
  Hs: u32, Ws: u32, Hd: u32, Wd: u32,
  Hsub: u32, Wsub: u32, rh: u32, rw: u32, dsh: u32, dsw: u32,
  kh: u32, kw: u32, k0h: u32, k0w: u32, ksh: u32, ksw: u32, c0h: i32, winStart: i32,
  tilesH: u32, tilesW: u32, stride: u32, total: u32,
}
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<{{DST}}>;
@group(0) @binding(5) var<storage, read> srcf: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let T = flat_index(gid);
  // Past-the-end invocations recompute the last tile and store nothing.
  let t = min(T, params.total - 1u);
  let tj = t % params.tilesW;
  let ti = (t / params.tilesW) % params.tilesH;
  let cd = (t / (params.tilesW * params.tilesH)) % params.C;
  let n = t / (params.tilesW * params.tilesH * params.C);
  let i0 = ti * {{TH}}u;
  let j0 = tj * {{TW}}u;
  let Wsv = params.Ws / 4u;
  // First source row and first window vec4 of the tile (negative when the tile hangs over the
  // top or left edge of an unpadded source).
  let row0 = i32(i0 * {{SSH}}u) + params.c0h;
  let col0 = i32(j0 * {{SSW}}u / 4u) + params.winStart;
{{COLS}}
{{ACC}}
  let nm = select(1u, params.M, params.isDx == 1u);
  for (var m = 0u; m < nm; m++) {
    var sc = cd / params.M;
    var wr = cd;
    if (params.isDx == 1u) { sc = cd * params.M + m; wr = sc; }
    let sbase = (n * params.Csrc + sc) * params.Hs * Wsv;
    let wbase = wr * params.kh * params.kw;
{{WEIGHTS}}
{{BODY}}
  }
  var b = 0.0;
  if (params.hasBias == 1u) { b = bias[cd]; }
  let dbase = (n * params.C + cd) * params.Hd * params.Wd;
  if (T < params.total) {
{{STORE}}
  }
}
