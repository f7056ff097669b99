// Fused attention backward, part 2: dk and dv. One workgroup per (key block, batch * head), one
// invocation per key row; query tiles (q pre-scaled, dout, lse, delta) are staged in workgroup
// memory. Per query i, with p = exp(s - lse_i) and Z the dropout factor (or 1):
//   dv_j += p Z dout_i,  ds = p (Z (dout_i . v_j) - delta_i),  dk_j += ds * scale * q_i
// Each key sums over queries in a fixed order: deterministic, no atomics.
// q: like forward, k, v: like forward, mask: (B, Tk), dout: like q, lse, delta: (B, H, Tq),
// dk, dv: like k
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dk: array<f32>;
@group(0) @binding(9) var<storage, read_write> dv: array<f32>;

var<workgroup> qt: array<vec4<f32>, {{BKD4}}>;
var<workgroup> dt: array<vec4<f32>, {{BKD4}}>;
var<workgroup> lt: array<f32, {{BK}}>;
var<workgroup> et: array<f32, {{BK}}>;

@compute @workgroup_size({{BQ}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let S = slot(wid, lid, params.Tk);
  let ko = k_row(S.b, S.h, S.tc);
  let qb = q_row(S.b, S.h, 0u);
  var k$c = ld_k(ko, $c);
  var v$c = ld_v(ko, $c);
  var gk$c = vec4<f32>(0.0);
  var gv$c = vec4<f32>(0.0);
  var bias = 0.0;
  if (params.hasMask != 0u) { bias = (1.0 - mask[S.b * params.Tk + S.tc]) * MASK_BIAS; }
  for (var i0 = 0u; i0 < params.Tq; i0 += BK) {
    for (var e = lid; e < BK * D4; e += BQ) {
      let i = i0 + e / D4;
      var qv = vec4<f32>(0.0);
      var dv0 = vec4<f32>(0.0);
      if (i < params.Tq) {
        let o = qb + i * params.qsT;
        qv = ld_q(o, e % D4) * params.scale;
        dv0 = ld_dout(o, e % D4);
      }
      qt[e] = qv;
      dt[e] = dv0;
    }
    for (var r = lid; r < BK; r += BQ) {
      let i = i0 + r;
      var L = 3.0e38;  // rows past Tq: p = exp(s - L) = 0
      var e0 = 0.0;
      if (i < params.Tq) { L = lse[S.bh * params.Tq + i]; e0 = delta[S.bh * params.Tq + i]; }
      lt[r] = L;
      et[r] = e0;
    }
    workgroupBarrier();
    let n = min(BK, params.Tq - i0);
    for (var r = 0u; r < n; r++) {
      let ri = r * D4;
      var s = bias;
      var dp = 0.0;
      s += dot(qt[ri + $c], k$c);
      dp += dot(dt[ri + $c], v$c);
      let p = exp(s - lt[r]);
      let z = keepFactor((S.bh * params.Tq + i0 + r) * params.Tk + S.t);
      let ds = p * (dp * z - et[r]);
      let pz = p * z;
      gv$c += pz * dt[ri + $c];
      gk$c += ds * qt[ri + $c];
    }
    workgroupBarrier();
  }
  if (!S.valid) { return; }
  st_dk(ko, $c, gk$c);
  st_dv(ko, $c, gv$c);
}
