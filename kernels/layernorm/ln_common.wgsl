// Shared by the layer-norm kernels (bindings 0-3): the Params, the input x (rows, len) and the
// per-row statistics that the forward pass writes and the backward kernels read, mean and rstd (rows).
// The residual builds (RESID: LayerNorm(dropout(h) + res)) add the dropout's seed, p and 1 / (1 - p),
// and their forward writes x, the sum it normalises, for the backward kernels.
struct Params { rows: u32, len: u32, eps: f32, _pad0: u32, {{DROP_PARAMS:}} }
@group(0) @binding(0) var<storage, {{X_ACCESS:read}}> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
