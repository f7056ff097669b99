// Fused attention backward, part 1: dq, and delta = rowsum(dout * out) for part 2. Layout and
// grid as attention_forward.wgsl: one invocation per query row. Probabilities are recomputed from
// the saved log-sum-exp (p = exp(s - lse)), so nothing of size (Tq, Tk) is stored. With Z the
// dropout factor (keep / (1 - p), or 1), per key j:
//   dp_j = Z_j * (dout_i . v_j),  ds_j = p_j * (dp_j - delta_i),  dq_i = scale * sum_j ds_j k_j
// q: like forward, k, v: like forward, mask: (B, Tk), out, dout: like q, lse: (B, H, Tq),
// delta: (B, H, Tq), dq: like q
@group(0) @binding(7) var<storage, read> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> delta: array<f32>;
@group(0) @binding(9) var<storage, read_write> dq: array<f32>;

@compute @workgroup_size({{BQ}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let S = slot(wid, lid, params.Tq);
  let row = S.bh * params.Tq + S.tc;
  let qo = q_row(S.b, S.h, S.tc);
  let kb = k_row(S.b, S.h, 0u);
  var q$c = ld_q(qo, $c) * params.scale;
  var r$c = ld_dout(qo, $c);
  var g$c = vec4<f32>(0.0);
  var di = 0.0;
  di += dot(r$c, ld_out(qo, $c));
  let L = lse[row];
  for (var k0 = 0u; k0 < params.Tk; k0 += BK) {
    loadKV(kb, k0, S.b, lid);
    workgroupBarrier();
    let n = min(BK, params.Tk - k0);
    for (var j = 0u; j < n; j++) {
      var dp = 0.0;
      let kj = j * D4;
      var s = bt[j];
      s += dot(q$c, kt[kj + $c]);
      dp += dot(r$c, vt[kj + $c]);
      let ds = exp(s - L) * (dp * keepFactor((S.bh * params.Tq + S.t) * params.Tk + k0 + j) - di);
      g$c += ds * kt[kj + $c];
    }
    workgroupBarrier();
  }
  if (!S.valid) { return; }
  st_dq(qo, $c, g$c * params.scale);
  delta[row] = di;
}
