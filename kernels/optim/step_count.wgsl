// Dynamic loss scaling: counts an optimizer step that was not skipped (found[0] clear) in steps[0],
// the step count Adam's bias corrections read when steps can be skipped (adam.wgsl's SKIP).
// steps: (1) u32, updated in place; found: (1) u32
@group(0) @binding(0) var<storage, read_write> steps: array<u32>;
@group(0) @binding(1) var<storage, read> found: array<u32>;

@compute @workgroup_size(1)
fn main() {
  if (found[0] == 0u) { steps[0] = steps[0] + 1u; }
}
