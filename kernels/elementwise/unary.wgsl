// out[i] = f(x[i]) for a unary op; expr is the op's expression in x and the scalar params a, b.
// Included: math.wgsl, flat_index.wgsl, each.wgsl.
// x: (n), out: (n)
struct Params { n: u32, stride: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn f(x: f32, a: f32, b: f32) -> f32 { return {{EXPR}}; }

fn each(i: u32) { out[i] = f(x[i], params.a, params.b); }
