// Rows handled by teams of TEAM invocations (a power of two) in workgroups of WG = 256: TEAM = 256
// is one workgroup per row (long rows); a smaller TEAM packs 256 / TEAM short rows into a workgroup.
// The kernel is `@compute @workgroup_size(256)`; a team member is t = lid % TEAM.
const WG = 256u;
const TEAM = {{TEAM}}u;

// The row of invocation lid of workgroup wid (workgroups numbered over x, then y).
fn team_row(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * (WG / TEAM) + lid / TEAM;
}
