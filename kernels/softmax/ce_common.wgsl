// Shared by cross_entropy.wgsl and cross_entropy_backward.wgsl (bindings 0-1; the kernel's Params
// have len = C, ignoreIndex and nanBits). logits: (N, C), labels: (N) i32
@group(0) @binding(0) var<storage, read> logits: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;

// Whether label y is a class, in [0, C), and not ignoreIndex.
fn is_class(y: i32) -> bool { return y != params.ignoreIndex && y >= 0 && u32(y) < params.len; }
// What a row whose label y is not a class gets (loss and gradient alike): 0 for ignoreIndex, NaN for
// a label outside [0, C), so the mistake shows in the loss.
fn not_class(y: i32) -> f32 { return select(bitcast<f32>(params.nanBits), 0.0, y == params.ignoreIndex); }
