// out[i] = f(a[ia], b[ib]) with NumPy broadcasting: the output index is split into up to 8 dims
// (shape0/shape1), and each operand's offset uses its own strides (0 on broadcast dims).
// Included: flat_index.wgsl, each.wgsl, dims8.wgsl.
// a: (broadcastable to out), b: (broadcastable to out), out: (n), all of T (f32 or f16); f computes in f32
// (and may read the scalar params.s).
struct Params {
  n: u32, stride: u32, rank: u32, s: f32,
  shape0: vec4<u32>, shape1: vec4<u32>,
  sa0: vec4<u32>, sa1: vec4<u32>,
  sb0: vec4<u32>, sb1: vec4<u32>,
}
@group(0) @binding(0) var<storage, read> a: array<{{T}}>;
@group(0) @binding(1) var<storage, read> b: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(3) var<uniform> params: Params;

fn f(a: f32, b: f32) -> f32 { return {{EXPR}}; }

fn each(i: u32) {
  if ({{SAME_SHAPE}}) {
    out[i] = {{T}}(f(f32(a[i]), f32(b[i])));
    return;
  }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let s = dim(params.shape0, params.shape1, du);
    let c = rem % s;
    rem = rem / s;
    ia += c * dim(params.sa0, params.sa1, du);
    ib += c * dim(params.sb0, params.sb1, du);
  }
  out[i] = {{T}}(f(f32(a[ia]), f32(b[ib])));
}
