// Sum of v ({{SUM_T}}) over the invocation's team of TEAM (team.wgsl; a kernel that sums over its
// whole workgroup of 256 declares `const TEAM = 256u;` and passes t = lid), a tree in workgroup
// memory (a fixed order: deterministic). Every invocation of the workgroup must call it; before
// calling it again, pass a workgroupBarrier() (the result is read from `red`).
var<workgroup> red: array<{{SUM_T}}, 256>;
fn team_sum(v: {{SUM_T}}, lid: u32, t: u32) -> {{SUM_T}} {
  red[lid] = v;
  workgroupBarrier();
  for (var h = TEAM / 2u; h > 0u; h = h >> 1u) {
    if (t < h) { red[lid] = red[lid] + red[lid + h]; }
    workgroupBarrier();
  }
  return red[lid - t];
}
