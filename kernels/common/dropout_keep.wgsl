// The inverted-dropout keep mask: element i survives when u(seed, i) >= p, u uniform in [0, 1) from
// a counter-based hash of (seed, i), so a mask is a pure function of its seed and element index and
// every kernel that drops (dropout.wgsl, layer norm, attention, the matmul epilogue) draws the same one.
// PCG hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn dropout_keep(seed: u32, p: f32, i: u32) -> bool {
  // Uniform in [0, 1) with 24 random bits (exact in f32).
  let u = f32(pcg(pcg(i) ^ pcg(seed)) >> 8u) * (1.0 / 16777216.0);
  return u >= p;
}

// x as element i of an inverted dropout's output: x * scale (scale = 1 / (1 - p)) where kept, else 0.
fn dropped(x: f32, scale: f32, seed: u32, p: f32, i: u32) -> f32 {
  return select(0.0, x * scale, dropout_keep(seed, p, i));
}
