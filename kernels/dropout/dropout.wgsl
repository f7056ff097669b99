// Inverted dropout with a counter-based RNG: element i is kept when u(seed, i) >= p, and scaled by
// 1 / (1 - p). The mask is a pure function of (seed, i), so backward regenerates it by running this
// same kernel on the output gradient: no mask is stored.
// x: (n), out: (n)
// Included: flat_index.wgsl, each.wgsl.
struct Params { n: u32, stride: u32, seed: u32, p: f32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// PCG hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn each(i: u32) {
  // Uniform in [0, 1) with 24 random bits (exact in f32).
  let u = f32(pcg(pcg(i) ^ pcg(params.seed)) >> 8u) * (1.0 / 16777216.0);
  out[i] = select(0.0, x[i] * params.scale, u >= params.p);
}
