// Dynamic loss scaling, stage 2 (one invocation, after the optimizer kernels read found[0]): a step
// that found a non-finite gradient multiplies the scale by `backoff`, restarts the run of good steps
// and counts a skipped step; a good step extends the run, and `interval` good steps in a row multiply
// the scale by `growth` (kept finite). found[0] is cleared for the next step.
// scale: (1) f32; found: (1) u32; counts: (2) u32 [good steps in a row, skipped steps so far]
struct Params { growth: f32, backoff: f32, interval: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read_write> scale: array<f32>;
@group(0) @binding(1) var<storage, read_write> found: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(1)
fn main() {
  if (found[0] != 0u) {
    scale[0] = scale[0] * params.backoff;
    counts[0] = 0u;
    counts[1] = counts[1] + 1u;
  } else {
    counts[0] = counts[0] + 1u;
    if (counts[0] >= params.interval) {
      let grown = scale[0] * params.growth;
      if (grown <= 1.0e38) { scale[0] = grown; }
      counts[0] = 0u;
    }
  }
  found[0] = 0u;
}
