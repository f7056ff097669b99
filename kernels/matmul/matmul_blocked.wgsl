// Register-blocked matmul for CPU-emulated adapters (lavapipe, SwiftShader): each invocation
// computes an 8x8 block of out, k one step at a time, with 64 accumulators and no workgroup memory
// (barriers are slow to emulate on a CPU). On these drivers every storage load with a per-invocation
// index costs a loop over the SIMD lanes with a bounds check per lane, so what pays is loads per
// multiply-add: 16 per 64 here (an 8x8 block measured ~1.5x a 4x8 one on lavapipe, ~1.2x on
// SwiftShader). Hand-unrolled, because SwiftShader neither unrolls loops nor keeps arrays in
// registers. Every load index is clamped into the matrix, so edge blocks read valid (duplicated)
// data and only the stores are masked. Loads go through the strides, so one pipeline serves every
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
  let a0 = o.x + min(r, M - 1u) * sam;
  let a1 = o.x + min(r + 1u, M - 1u) * sam;
  let a2 = o.x + min(r + 2u, M - 1u) * sam;
  let a3 = o.x + min(r + 3u, M - 1u) * sam;
  let a4 = o.x + min(r + 4u, M - 1u) * sam;
  let a5 = o.x + min(r + 5u, M - 1u) * sam;
  let a6 = o.x + min(r + 6u, M - 1u) * sam;
  let a7 = o.x + min(r + 7u, M - 1u) * sam;
  let b0 = o.y + min(c, N - 1u) * sbn;
  let b1 = o.y + min(c + 1u, N - 1u) * sbn;
  let b2 = o.y + min(c + 2u, N - 1u) * sbn;
  let b3 = o.y + min(c + 3u, N - 1u) * sbn;
  let b4 = o.y + min(c + 4u, N - 1u) * sbn;
  let b5 = o.y + min(c + 5u, N - 1u) * sbn;
  let b6 = o.y + min(c + 6u, N - 1u) * sbn;
  let b7 = o.y + min(c + 7u, N - 1u) * sbn;
  // accRH: row R of the block, columns 0-3 (H = 0) or 4-7 (H = 1).
  var acc00 = vec4<f32>(); var acc01 = vec4<f32>();
  var acc10 = vec4<f32>(); var acc11 = vec4<f32>();
  var acc20 = vec4<f32>(); var acc21 = vec4<f32>();
  var acc30 = vec4<f32>(); var acc31 = vec4<f32>();
  var acc40 = vec4<f32>(); var acc41 = vec4<f32>();
  var acc50 = vec4<f32>(); var acc51 = vec4<f32>();
  var acc60 = vec4<f32>(); var acc61 = vec4<f32>();
  var acc70 = vec4<f32>(); var acc71 = vec4<f32>();
  var ka = 0u;
  var kb = 0u;
  for (var k = 0u; k < params.K; k++) {
    let bl = vec4<f32>(b[b0 + kb], b[b1 + kb], b[b2 + kb], b[b3 + kb]);
    let bh = vec4<f32>(b[b4 + kb], b[b5 + kb], b[b6 + kb], b[b7 + kb]);
    let x0 = vec4<f32>(a[a0 + ka]);
    acc00 = fma(x0, bl, acc00); acc01 = fma(x0, bh, acc01);
    let x1 = vec4<f32>(a[a1 + ka]);
    acc10 = fma(x1, bl, acc10); acc11 = fma(x1, bh, acc11);
    let x2 = vec4<f32>(a[a2 + ka]);
    acc20 = fma(x2, bl, acc20); acc21 = fma(x2, bh, acc21);
    let x3 = vec4<f32>(a[a3 + ka]);
    acc30 = fma(x3, bl, acc30); acc31 = fma(x3, bh, acc31);
    let x4 = vec4<f32>(a[a4 + ka]);
    acc40 = fma(x4, bl, acc40); acc41 = fma(x4, bh, acc41);
    let x5 = vec4<f32>(a[a5 + ka]);
    acc50 = fma(x5, bl, acc50); acc51 = fma(x5, bh, acc51);
    let x6 = vec4<f32>(a[a6 + ka]);
    acc60 = fma(x6, bl, acc60); acc61 = fma(x6, bh, acc61);
    let x7 = vec4<f32>(a[a7 + ka]);
    acc70 = fma(x7, bl, acc70); acc71 = fma(x7, bh, acc71);
    ka += params.sak;
    kb += params.sbk;
  }
  let base = (bi * M + r) * N + c;
  storeRow(base, r, c, acc00, acc01);
  storeRow(base + N, r + 1u, c, acc10, acc11);
  storeRow(base + 2u * N, r + 2u, c, acc20, acc21);
  storeRow(base + 3u * N, r + 3u, c, acc30, acc31);
  storeRow(base + 4u * N, r + 4u, c, acc40, acc41);
  storeRow(base + 5u * N, r + 5u, c, acc50, acc51);
  storeRow(base + 6u * N, r + 6u, c, acc60, acc61);
  storeRow(base + 7u * N, r + 7u, c, acc70, acc71);
}

// Stores one row of the block: out[i .. i+7] = (lo, hi), skipping rows and columns outside out.
fn storeRow(i: u32, row: u32, c: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (row >= params.M) { return; }
  let n = params.N;
  if (c + 7u < n) {
    out[i] = lo.x; out[i + 1u] = lo.y; out[i + 2u] = lo.z; out[i + 3u] = lo.w;
    out[i + 4u] = hi.x; out[i + 5u] = hi.y; out[i + 6u] = hi.z; out[i + 7u] = hi.w;
    return;
  }
  for (var j = 0u; j < 8u && c + j < n; j++) {
    out[i + j] = select(lo[j & 3u], hi[j & 3u], j >= 4u);
  }
}
