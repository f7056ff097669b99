// Shared by softmax.wgsl and softmax_backward.wgsl: the input viewed as (outer, len, inner); a row
// is the `len` elements at fixed (outer, inner), `inner` apart in memory.
struct Params { rows: u32, len: u32, inner: u32, _pad0: u32 }

// The offset of the first element of row `row`.
fn row_base(row: u32) -> u32 { return (row / params.inner) * params.len * params.inner + row % params.inner; }
