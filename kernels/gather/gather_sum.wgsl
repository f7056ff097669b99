// Summed embedding lookups: out[m, d] = table0[row0(m), d] + (table1[row1(m), d] + ...), where row j
// of index m is clamp(ids_j[m], 0, V_j - 1) (as gather), or m % period_j for a table looked up by
// position. gather_sum.ts generates the bindings, the row functions (ROWS) and the sum (SUM).
// table_j: (V_j, D) f32, ids_j: (M) i32, out: (M, D)
// Included: flat_index.wgsl, each.wgsl.
struct Params { n: u32, stride: u32, dim: u32, _pad: u32, rows: vec4<u32>, period: vec4<u32> }
{{ROWS}}

fn each(i: u32) {
  let m = i / params.dim;
  let d = i % params.dim;
  out[i] = {{SUM}};
}
