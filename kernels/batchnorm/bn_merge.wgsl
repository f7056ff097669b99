// Batch statistics, stage 2: merges channel c's K chunk (mean, M2) pairs with Chan et al.'s
// pairwise update, then writes the statistics (bn_stats.wgsl) and the biased variance.
// Included: bn_channel.wgsl, bn_stats.wgsl. part: (C, K) of (mean, M2), variance: (C) biased
struct Params { N: u32, C: u32, HW: u32, K: u32, nPer: u32, eps: f32 }
@group(0) @binding(4) var<storage, read> part: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> variance: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

fn channel(c: u32) {
  var na = 0.0;
  var ma = 0.0;
  var m2 = 0.0;
  for (var k = 0u; k < params.K; k++) {
    let p = part[c * params.K + k];
    let nb = f32((min(params.N, (k + 1u) * params.nPer) - k * params.nPer) * params.HW);
    let n = na + nb;
    let d = p.x - ma;
    ma += d * (nb / n);
    m2 += p.y + d * d * (na * nb / n);
    na = n;
  }
  let v = m2 / na;
  variance[c] = v;
  write_stats(c, ma, v);
}
