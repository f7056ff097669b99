// dx[i] = df(x[i], y[i], g[i]) for a unary op; expr uses x (input), y (output), g (output grad), a, b.
// Included: math.wgsl, flat_index.wgsl, each.wgsl.
// x, y, g, dx: (n) of T (f32 or f16); df computes in f32.
struct Params { n: u32, stride: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read> y: array<{{T}}>;
@group(0) @binding(2) var<storage, read> g: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> dx: array<{{T}}>;
@group(0) @binding(4) var<uniform> params: Params;

fn df(x: f32, y: f32, g: f32, a: f32, b: f32) -> f32 { return {{EXPR}}; }

fn each(i: u32) { dx[i] = {{T}}(df(f32(x[i]), f32(y[i]), f32(g[i]), params.a, params.b)); }
