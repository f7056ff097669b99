// Shared by bn_partial.wgsl and bn_backward_partial.wgsl: invocation t = (c, k) of a per-channel
// reduction takes channel c over batch items [k * nPer, min(N, (k + 1) * nPer)), HWv values of
// {{T}} each (f32, or vec4<f32> when HW % 4 == 0). Barrier-free: on software adapters a workgroup
// tree reduction costs more than the sums.
struct Params { N: u32, C: u32, HWv: u32, K: u32, nPer: u32, stride: u32 }

fn hsum(v: {{T}}) -> f32 { return {{HSUM}}; }

// (c, n0, n1): the channel and the batch items of invocation t.
fn chunk_of(t: u32) -> vec3<u32> {
  let n0 = (t % params.K) * params.nPer;
  return vec3<u32>(t / params.K, n0, min(params.N, n0 + params.nPer));
}
