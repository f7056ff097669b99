// Zero-pads the spatial dims: xp[n, c, i, j] = x[n, c, i - pt, j - pl] inside x, else 0. Each
// invocation writes one vec4 of xp (Wp is a multiple of 4), from four scalar loads of x.
// x: (N, C, H, W), xp: (N, C, Hp, Wp) as vec4s
struct Params { H: u32, W: u32, Hp: u32, Wpv: u32, pt: u32, pl: u32, n: u32, stride: u32 }
@group(0) @binding(0) var<storage, read> x: array<{{T:f32}}>;
@group(0) @binding(1) var<storage, read_write> xp: array<vec4<{{T:f32}}>>;
@group(0) @binding(2) var<uniform> params: Params;

// x at (plane, row r, column q) of the padded grid, or 0 outside x (u32 wrap-around makes
// negative rows and columns huge, so one compare per axis checks both ends).
fn at(plane: u32, r: u32, q: u32) -> {{T:f32}} {
  let inside = r < params.H && q < params.W;
  return select(0.0, x[select(0u, (plane * params.H + r) * params.W + q, inside)], inside);
}

fn each(i: u32) {
  let q = (i % params.Wpv) * 4u - params.pl;
  let r = (i / params.Wpv) % params.Hp - params.pt;
  let plane = i / (params.Wpv * params.Hp);
  xp[i] = vec4<{{T:f32}}>(at(plane, r, q), at(plane, r, q + 1u), at(plane, r, q + 2u), at(plane, r, q + 3u));
}
