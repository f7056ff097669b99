// Shared by scores_softmax.wgsl and its backward: rows of len keys, perBatch rows (H * Tq) per
// batch of the mask, the score scale, and the dropout's seed, p and 1 / (1 - p).
struct Params { rows: u32, len: u32, perBatch: u32, seed: u32, scale: f32, p: f32, dscale: f32, _pad0: u32 }
