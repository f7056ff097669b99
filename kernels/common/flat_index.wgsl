// The flat invocation index of a 1-D launch (launch1d in engine/core/runtime.ts): workgroups of 64
// over x, then rows of `params.stride` invocations over y. The kernel's Params must have `stride`.
fn flat_index(gid: vec3<u32>) -> u32 { return gid.x + gid.y * params.stride; }
