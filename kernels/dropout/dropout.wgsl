// Inverted dropout with a counter-based RNG: element i is kept when u(seed, i) >= p, and scaled by
// 1 / (1 - p). The mask is a pure function of (seed, i), so backward regenerates it by running this
// same kernel on the output gradient: no mask is stored.
// x: (n), out: (n)
// Included: flat_index.wgsl, each.wgsl, dropout_keep.wgsl.
struct Params { n: u32, stride: u32, seed: u32, p: f32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn each(i: u32) {
  out[i] = dropped(x[i], params.scale, params.seed, params.p, i);
}
