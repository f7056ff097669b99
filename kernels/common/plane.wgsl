// Where flat index i lies in a stack of (rows, cols) planes: (col, row, plane).
fn plane_pos(i: u32, rows: u32, cols: u32) -> vec3<u32> {
  return vec3<u32>(i % cols, (i / cols) % rows, i / (cols * rows));
}
