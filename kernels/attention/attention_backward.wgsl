// The bindings both backward kernels read (after attention_params.wgsl's): the output gradient and
// the forward pass's per-row log-sum-exp.
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
