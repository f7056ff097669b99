// Softmax or log-softmax along one axis. The input is viewed as (outer, len, inner): a row is the
// `len` elements at fixed (outer, inner), `inner` apart in memory. A team of TEAM invocations (a
// power of two) handles one row: each member keeps an online (max, sum of exp(x - max)) over its
// strided elements, the team merges them in workgroup memory, then each member writes its elements.
// TEAM = 256 is one workgroup per row (long rows); a smaller TEAM packs 256 / TEAM short rows into
// one workgroup. LOG selects log-softmax.
// x: (outer, len, inner), out: (outer, len, inner)
struct Params { rows: u32, len: u32, inner: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG = 256u;
const TEAM = {{TEAM}}u;
var<workgroup> pm: array<f32, 256>;
var<workgroup> ps: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TEAM) + lid / TEAM;
  let t = lid % TEAM;
  // Every invocation reaches the barriers; rows past the end just load nothing.
  let valid = row < params.rows;
  let base = (row / params.inner) * params.len * params.inner + row % params.inner;
  var m = -3.402823e38;
  var s = 0.0;
  if (valid) {
    for (var k = t; k < params.len; k += TEAM) {
      let v = x[base + k * params.inner];
      let mn = max(m, v);
      s = s * exp(m - mn) + exp(v - mn);
      m = mn;
    }
  }
  pm[lid] = m;
  ps[lid] = s;
  workgroupBarrier();
  for (var h = TEAM / 2u; h > 0u; h = h >> 1u) {
    if (t < h) {
      let m1 = pm[lid];
      let m2 = pm[lid + h];
      let mn = max(m1, m2);
      ps[lid] = ps[lid] * exp(m1 - mn) + ps[lid + h] * exp(m2 - mn);
      pm[lid] = mn;
    }
    workgroupBarrier();
  }
  let M = pm[lid - t];
  let S = ps[lid - t];
  if (!valid) { return; }
  let logS = log(S);
  let inv = 1.0 / S;
  for (var k = t; k < params.len; k += TEAM) {
    let i = base + k * params.inner;
    if ({{LOG}}) { out[i] = x[i] - M - logS; } else { out[i] = exp(x[i] - M) * inv; }
  }
}
