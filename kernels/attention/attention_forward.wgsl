// Fused scaled dot-product attention, forward: one workgroup per (query block, batch * head), one
// invocation per query row. Key/value tiles of BK rows are staged in workgroup memory; each query
// keeps an online softmax (running max m, running sum l, unnormalised output acc) so the (Tq, Tk)
// score matrix is never stored. Masked keys get the additive bias MASK_BIAS, exactly as the composed
// path adds it, so both give the same softmax. Attention dropout (DROPOUT) hashes the flat index
// ((b*H + h)*Tq + i)*Tk + j with kernels/dropout's PCG hash, the mask that dropout() applied to
// the (B, H, Tq, Tk) probabilities would draw. Writes out and the per-row log-sum-exp for backward.
// The head dim is held as D4 = ceil(D / 4) vec4 registers per row (zero-padded), written as lines
// with `$c` that the launcher repeats for c = 0 .. D4-1 (see fused.ts): no per-invocation arrays,
// whose dynamic indexing lavapipe's compiler turned into minutes-long builds. The running max is
// updated key by key (rescaling acc when it grows), so no score array is kept either.
// Element (b, h, t, d) of q/out lives at b*qsB + h*qsH + t*qsT + d, of k/v at b*ksB + h*ksH + t*ksT + d.
// q: (B, H, Tq, D) strided, k, v: (B, H, Tk, D) strided, mask: (B, Tk) 1 = attend, 0 = padding,
// out: like q, lse: (B, H, Tq)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size({{BQ}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let S = slot(wid, lid, params.Tq);
  let qo = q_row(S.b, S.h, S.tc);
  let kb = k_row(S.b, S.h, 0u);
  var q$c = ld_q(qo, $c) * params.scale;
  var a$c = vec4<f32>(0.0);
  var m = -3.0e38;
  var l = 0.0;
  for (var k0 = 0u; k0 < params.Tk; k0 += BK) {
    loadKV(kb, k0, S.b, lid);
    workgroupBarrier();
    let n = min(BK, params.Tk - k0);
    for (var j = 0u; j < n; j++) {
      let kj = j * D4;
      var s = bt[j];
      s += dot(q$c, kt[kj + $c]);
      if (s > m) {
        // A new running max: rescale what has been accumulated.
        let corr = exp(m - s);
        l *= corr;
        a$c *= corr;
        m = s;
      }
      let pj = exp(s - m);
      l += pj;
      let pd = pj * keepFactor((S.bh * params.Tq + S.t) * params.Tk + k0 + j);
      a$c += pd * vt[kj + $c];
    }
    workgroupBarrier();
  }
  if (!S.valid) { return; }
  let inv = 1.0 / l;
  st_out(qo, $c, a$c * inv);
  lse[S.bh * params.Tq + S.t] = m + log(l);
}
