// Rows handled by teams of TEAM invocations (a power of two) in workgroups of WG = 256: TEAM = 256
// is one workgroup per row (long rows); a smaller TEAM packs 256 / TEAM short rows into a workgroup.
// The entry calls the kernel's `fn row_main(row: u32, t: u32, lid: u32, valid: bool)` with the row,
// the team member t = lid % TEAM, the workgroup index lid and whether the row exists (row < params.rows):
// every invocation runs it and reaches the barriers; rows past the end just load nothing.
const WG = 256u;
const TEAM = {{TEAM}}u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TEAM) + lid / TEAM;
  row_main(row, lid % TEAM, lid, row < params.rows);
}
