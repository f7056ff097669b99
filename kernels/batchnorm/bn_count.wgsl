// Adds one to an i32 counter in place (BatchNorm's num_batches_tracked stays on the GPU).
// count: (1) i32
@group(0) @binding(0) var<storage, read_write> count: array<i32>;

@compute @workgroup_size(1)
fn main() { count[0] = count[0] + 1; }
