// Stages keys k0 .. k0 + BK - 1 of one (batch, head) into kt/vt (as D4 vec4s per key) and their
// mask bias into bt; zeros past Tk (callers only read the first min(BK, Tk - k0) keys). Included by
// the kernels that keep key tiles (forward and dq).
var<workgroup> kt: array<vec4<f32>, {{BKD4}}>;
var<workgroup> vt: array<vec4<f32>, {{BKD4}}>;
var<workgroup> bt: array<f32, {{BK}}>;

fn loadKV(kb: u32, k0: u32, b: u32, lid: u32) {
  for (var e = lid; e < BK * D4; e += BQ) {
    let key = k0 + e / D4;
    var kv = vec4<f32>(0.0);
    var vv = vec4<f32>(0.0);
    if (key < params.Tk) {
      let o = kb + key * params.ksT;
      kv = ld_k(o, e % D4);
      vv = ld_v(o, e % D4);
    }
    kt[e] = kv;
    vt[e] = vv;
  }
  for (var j = lid; j < BK; j += BQ) {
    let key = k0 + j;
    var bias = 0.0;
    if (key < params.Tk && params.hasMask != 0u) { bias = (1.0 - mask[b * params.Tk + key]) * MASK_BIAS; }
    bt[j] = bias;
  }
}
