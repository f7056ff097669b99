// Sums the depthwise weight gradient's split-K partial sums: dw[j] = sum over s of part[s, j].
// One lane per weight; lanes read adjacent j. (A plain loop: S and J are small, and this avoids
// the general reduce kernel, which is slow on software adapters for some reduction lengths.)
// part: (S, J), dw: (J)
struct Params { S: u32, J: u32, strideX: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x + gid.y * params.strideX;
  if (j >= params.J) { return; }
  var s = 0.0;
  for (var i = 0u; i < params.S; i++) { s += part[i * params.J + j]; }
  dw[j] = s;
}
