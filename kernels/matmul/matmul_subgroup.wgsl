// Subgroup matmul for CPU-emulated adapters (lavapipe, SwiftShader), whose drivers run the SG lanes of
// a subgroup as one SIMD vector and turn every storage-buffer load into a loop over lanes with a
// bounds check per component. Loads are therefore what costs, and this kernel makes each one count:
//  - a workgroup is exactly one subgroup and computes TM rows x 4*SG*TNQ columns;
//  - op(a): each lane loads distinct rows and subgroupBroadcast hands every lane every row (one
//    vector permute per value instead of a load per lane);
//  - op(b): each lane loads only its own 4*TNQ columns; in the SoA registers these drivers use, the
//    4x4 regrouping between k-quads and column-quads is free;
//  - all loads are vec4 (one lane-loop per four values), four k steps per iteration.
// Requires 16-byte rows along the vec4 axis: K % 4 == 0 unless TRANS_A, M % 4 == 0 if TRANS_A,
// N % 4 == 0 unless TRANS_B, K % 4 == 0 if TRANS_B (otherwise subgroupLaunch returns null).
// Edge lanes clamp their indices and load valid data; only in-range results are stored.
// The statements marked {{...}} are unrolled per row/column by subgroup.ts, because the lane index
// of subgroupBroadcast must be a constant.
// a: (batch_a..., M, K), or (batch_a..., K, M) when TRANS_A, read as vec4s
// b: (batch_b..., K, N), or (batch_b..., N, K) when TRANS_B, read as vec4s
// out: (batch..., M, N)
// Params, bindings (a and b as vec4s) and batchOffsets: matmul_common.wgsl.
enable subgroups;

@compute @workgroup_size({{SG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let lane = lid.x;
  let z = wid.z + params.bOff;
  let o = batchOffsets(z);
  let off = o.xy / 4u;  // in vec4s
  let m0 = wid.y * {{TM}}u + params.mOff;
  let n0 = wid.x * {{TILE_N}}u;
  // Row and column bases (in vec4s) of what this lane loads, clamped into range.
{{SETUP}}
  // acc_i_j: rows m0 + i, columns n0 + 4 * SG * j + 4 * lane + (0..3)
{{ACC}}
  var k = 0u;
  loop {
    if (k + 4u > K) { break; }
{{QUAD}}
    k += 4u;
  }
  // Only reachable when neither operand is read along K (TRANS_A and not TRANS_B).
  loop {
    if (k >= K) { break; }
{{SINGLE}}
    k += 1u;
  }
  let base = o.z;
{{STORE}}
{{RS_STORE:}}
}
