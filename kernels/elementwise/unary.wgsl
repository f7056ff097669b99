// out[i] = f(x[i]) for a unary op; expr is the op's expression in x and the scalar params a, b.
// x and out hold T (f32 or f16); f computes in f32.
// Included: math.wgsl, flat_index.wgsl, each.wgsl.
// x: (n), out: (n)
struct Params { n: u32, stride: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(2) var<uniform> params: Params;

fn f(x: f32, a: f32, b: f32) -> f32 { return {{EXPR}}; }

fn each(i: u32) { out[i] = {{T}}(f(f32(x[i]), params.a, params.b)); }
