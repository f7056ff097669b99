// out = x converted to another dtype, on raw 32-bit words: an f16 tensor is read and written as u32
// words of two halves (its buffer is padded to whole words), so odd lengths need no 16-bit stores.
// An f16 output is one word (two elements) per invocation. Included: half.wgsl, flat_index.wgsl, each.wgsl.
// x: (len) of the source dtype, out: (len) of the destination dtype; n: invocations
struct Params { n: u32, stride: u32, len: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

// Element i of x, as f32 bits.
fn load(i: u32) -> u32 { {{LOAD}} }

fn each(j: u32) { {{STORE}} }
