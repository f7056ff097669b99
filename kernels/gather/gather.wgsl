// Embedding lookup: out[m, d] = table[clamp(indices[m], 0, V - 1), d]. Bits copied as u32, so f32
// and i32 tables share the kernel.
// table: (V, D), indices: (M) i32, out: (M, D)
// Included: flat_index.wgsl, each.wgsl.
struct Params { n: u32, stride: u32, rows: u32, dim: u32 }
@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

fn each(i: u32) {
  let m = i / params.dim;
  let d = i % params.dim;
  let v = u32(clamp(indices[m], 0, i32(params.rows) - 1));
  out[i] = table[v * params.dim + d];
}
