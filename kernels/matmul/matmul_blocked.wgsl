// Register-blocked matmul for CPU-emulated adapters (lavapipe, SwiftShader): each invocation
// computes an 8x8 block of out, k one step at a time, with 64 accumulators and no workgroup memory
// (barriers are slow to emulate on a CPU). On these drivers every storage load with a per-invocation
// index costs a loop over the SIMD lanes with a bounds check per lane, so what pays is loads per
// multiply-add: 16 per 64 here (an 8x8 block measured ~1.5x a 4x8 one on lavapipe, ~1.2x on
// SwiftShader). Unrolled (lines naming a block row, dollar r, are repeated for r < 8), because
// SwiftShader neither unrolls loops nor keeps arrays in registers. Every load index is clamped into
// the matrix, so edge blocks read valid (duplicated) data and only the stores are masked. Loads go through the strides, so one pipeline serves every
// transpose combination.
// Grid: x over 8-column blocks, y over 8-row blocks, z over batch; workgroup {{WX}}x{{WY}}.
@compute @workgroup_size({{WX}}, {{WY}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let c = gid.x * 8u;
  let r = gid.y * 8u + params.mOff;
  if (c >= N || r >= M) { return; }
  let bi = wid.z + params.bOff;
  let o = batchOffsets(bi);
  // Offsets of the block's 8 rows of op(a) and 8 columns of op(b), clamped.
  let sam = params.sam;
  let sbn = params.sbn;
  let a$r = o.x + min(r + $ru, M - 1u) * sam;
  let b$r = o.y + min(c + $ru, N - 1u) * sbn;
  // accR_0, accR_1: row R of the block, columns 0-3 and 4-7.
  var acc$r_0 = vec4<f32>(); var acc$r_1 = vec4<f32>();
{{RS_INIT:}}
  var ka = 0u;
  var kb = 0u;
  for (var k = 0u; k < params.K; k++) {
    let bl = vec4<f32>(ldB(b0 + kb), ldB(b1 + kb), ldB(b2 + kb), ldB(b3 + kb));
    let bh = vec4<f32>(ldB(b4 + kb), ldB(b5 + kb), ldB(b6 + kb), ldB(b7 + kb));
    { let x = vec4<f32>(ldA(a$r + ka)); acc$r_0 = fma(x, bl, acc$r_0); acc$r_1 = fma(x, bh, acc$r_1);{{RS_ADD:}} }
    ka += params.sak;
    kb += params.sbk;
  }
  // The block's 8 columns' bias (0 without one), loaded once for its 8 rows.
  let bl = vec4<f32>(biasAt(min(c, N - 1u)), biasAt(min(c + 1u, N - 1u)), biasAt(min(c + 2u, N - 1u)), biasAt(min(c + 3u, N - 1u)));
  let bh = vec4<f32>(biasAt(min(c + 4u, N - 1u)), biasAt(min(c + 5u, N - 1u)), biasAt(min(c + 6u, N - 1u)), biasAt(min(c + 7u, N - 1u)));
  let base = o.z + r * params.som + c;
  storeRow(base + $ru * params.som, r + $ru, c, acc$r_0, acc$r_1, bl, bh);
{{RS_STORE:}}
}

// Stores one row of the block: out[i .. i+7] = (lo, hi) with bias (bl, bh), skipping rows and columns
// outside out. A check per column: a fast path for whole rows beside a loop for the edge took lavapipe
// nearly twice as long to compile (8 lanes: 1.03 s against 0.57 s for the kernel).
fn storeRow(i: u32, row: u32, c: u32, lo: vec4<f32>, hi: vec4<f32>, bl: vec4<f32>, bh: vec4<f32>) {
  if (row >= params.M) { return; }
  let n = params.N;
  if (c < n) { st(i, epi(lo.x, bl.x)); }
  if (c + 1u < n) { st(i + 1u, epi(lo.y, bl.y)); }
  if (c + 2u < n) { st(i + 2u, epi(lo.z, bl.z)); }
  if (c + 3u < n) { st(i + 3u, epi(lo.w, bl.w)); }
  if (c + 4u < n) { st(i + 4u, epi(hi.x, bh.x)); }
  if (c + 5u < n) { st(i + 5u, epi(hi.y, bh.y)); }
  if (c + 6u < n) { st(i + 6u, epi(hi.z, bh.z)); }
  if (c + 7u < n) { st(i + 7u, epi(hi.w, bh.w)); }
}
