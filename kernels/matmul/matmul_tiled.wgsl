// Shared-memory tiled matmul for hardware GPUs. A workgroup of 16x16 invocations computes a
// BM x BN tile of out (BM = 16 * RM, BN = 64 * RN4), staging BK-deep slices of a and b in workgroup
// memory. Invocation (tx, ty) owns rows ty + 16 i (i < RM) and the vec4 column groups
// 4 tx + 64 j (j < RN4), so its reads of the staged b tile are conflict-free vec4s.
// The staging loads follow each operand's contiguous dimension (k of a where its k stride is 1, else
// m; n of b where its n stride is 1, else k), so they coalesce; the strides are uniforms, so one
// pipeline serves every transpose and strided view. The staged rows are padded (AS, BS4) so that
// stores walking k do not all land in one memory bank.
// Grid: x over column tiles, y over row tiles, z over batch.
const RM = {{RM}}u;
const RN4 = {{RN4}}u;
const BK = {{BK}}u;
const BM = 16u * RM;
const BN = 64u * RN4;
const AS = BM + 1u;       // as_ row stride (floats)
const BS4 = BN / 4u + 1u; // bs row stride (vec4s)

// op(a)[m, k] of the batch at offset oa, op(b)[k, n] of the batch at ob; 0 outside the matrices.
fn loadA(oa: u32, m: u32, k: u32) -> f32 {
  let ok = m < params.M && k < params.K;
  return select(0.0, ldA(select(0u, oa + m * params.sam + k * params.sak, ok)), ok);
}
fn loadB(ob: u32, k: u32, n: u32) -> f32 {
  let ok = n < params.N && k < params.K;
  return select(0.0, ldB(select(0u, ob + k * params.sbk + n * params.sbn, ok)), ok);
}

// as_: (BK, BM) slice of op(a), rows AS apart; bs: (BK, BN / 4) slice of op(b), rows BS4 apart.
var<workgroup> as_: array<f32, BK * AS>;
var<workgroup> bs: array<vec4<f32>, BK * BS4>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tid = lid.y * 16u + lid.x;
  let m0 = wid.y * BM + params.mOff;
  let n0 = wid.x * BN;
  let bi = wid.z + params.bOff;
  let o = batchOffsets(bi);
  var acc: array<array<vec4<f32>, RN4>, RM>;
  let kAlongA = params.sak == 1u;
  let nAlongB = params.sbn == 1u;
{{RS_INIT:}}
  for (var k0 = 0u; k0 < K; k0 += BK) {
    // Stage a: BM x BK values, 256 at a time; consecutive invocations walk a's contiguous dim.
    for (var e = tid; e < BM * BK; e += 256u) {
      var mm: u32; var kk: u32;
      if (kAlongA) { mm = e / BK; kk = e % BK; } else { kk = e / BM; mm = e % BM; }
      as_[kk * AS + mm] = loadA(o.x, m0 + mm, k0 + kk);
    }
    for (var e = tid; e < BN * BK; e += 256u) {
      var nn: u32; var kk: u32;
      if (nAlongB) { kk = e / BN; nn = e % BN; } else { nn = e / BK; kk = e % BK; }
      bs[kk * BS4 + nn / 4u][nn % 4u] = loadB(o.y, k0 + kk, n0 + nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var bv: array<vec4<f32>, RN4>;
      for (var j = 0u; j < RN4; j++) { bv[j] = bs[kk * BS4 + lid.x + 16u * j]; }
      for (var i = 0u; i < RM; i++) {
        let av = vec4<f32>(as_[kk * AS + lid.y + 16u * i]);
        for (var j = 0u; j < RN4; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
{{RS_ADD:}}
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RM; i++) {
    let m = m0 + lid.y + 16u * i;
    if (m >= M) { continue; }
{{RS_STORE:}}
    for (var j = 0u; j < RN4; j++) {
      let n = n0 + 4u * lid.x + 64u * j;
      let base = o.z + m * params.som + n;
      for (var q = 0u; q < 4u; q++) {
        if (n + q < N) { st(base + q, epi(acc[i][j][q], biasAt(n + q))); }
      }
    }
  }
}
