// Kernels that map a stack of (H, W) planes to one of (OH, OW) planes, one invocation per element
// (pooling, resize, pad; their Params have H, W, OH, OW).
fn plane_pos(i: u32, rows: u32, cols: u32) -> vec3<u32> {
  return vec3<u32>(i % cols, (i / cols) % rows, i / (cols * rows));
}

// An element's column x and row y in its plane, and the offset of the same plane on the other side.
struct At { x: i32, y: i32, base: u32 }
// Output element i: (ow, oh) and the offset of its input plane.
fn at_out(i: u32) -> At {
  let q = plane_pos(i, params.OH, params.OW);
  return At(i32(q.x), i32(q.y), q.z * params.H * params.W);
}
// Input element i: (iw, ih) and the offset of its output plane.
fn at_in(i: u32) -> At {
  let q = plane_pos(i, params.H, params.W);
  return At(i32(q.x), i32(q.y), q.z * params.OH * params.OW);
}
