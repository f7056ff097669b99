// Fused cross-entropy backward, one invocation per logit:
//   dlogits[i, c] = scale_i * (softmax[i, c] - target[i, c]),  softmax = exp(logits - lse[i]),
//   target = (1 - eps) * onehot(labels[i]) + eps / C
// scale_i is g[i] ('none'), g[0] ('sum') or g[0] / count ('mean'); 0 on ignored rows. MODE picks it.
// Included: ce_common.wgsl, flat_index.wgsl, each.wgsl.
// logits: (N, C), labels: (N) i32, lse: (N), g: (N) or (1), count: (1), dlogits: (N, C)
struct Params { n: u32, stride: u32, len: u32, ignoreIndex: i32, eps: f32, nanBits: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read> count: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<{{T:f32}}>;
@group(0) @binding(6) var<uniform> params: Params;

fn each(e: u32) {
  let i = e / params.len;
  let c = e % params.len;
  let y = labels[i];
  if (!is_class(y)) { dlogits[e] = {{S(not_class(y))}}; return; }
  var scale: f32;
  switch ({{MODE}}u) {
    case 0u: { scale = g[i]; }
    case 1u: { scale = g[0]; }
    default: { scale = g[0] / count[0]; }
  }
  let p = exp({{W(logits[e])}} - lse[i]);
  let tgt = select(0.0, 1.0 - params.eps, u32(y) == c) + params.eps / f32(params.len);
  dlogits[e] = {{S(scale * (p - tgt))}};
}
