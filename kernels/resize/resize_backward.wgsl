// Bilinear resize backward as a gather (deterministic, no atomics): each input pixel visits the
// output rows/columns whose source coordinate lies within one pixel of it and sums g times its tap
// weight. The candidate range inverts the monotone source mapping, widened by one on each side.
// g: (P, OH, OW), dx: (P, H, W)
// Included: flat_index.wgsl, each.wgsl, plane.wgsl, taps.wgsl.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// Output indices [lo, hi] whose taps may include input index `ii`.
fn candidates(ii: i32, r: f32, outSize: u32) -> vec2<i32> {
  let last = i32(outSize) - 1;
  if (r == 0.0) { return vec2<i32>(0, last); }
  var off = 0.0;
  if (params.mode == 1u) { off = 0.5; }
  let lo = i32(floor((f32(ii - 1) + off) / r - off)) - 1;
  let hi = i32(ceil((f32(ii + 1) + off) / r - off)) + 1;
  return vec2<i32>(clamp(lo, 0, last), clamp(hi, 0, last));
}

fn weightOf(t: Taps, ii: i32) -> f32 {
  return select(0.0, 1.0 - t.l1, t.i0 == ii) + select(0.0, t.l1, t.i1 == ii);
}

fn each(i: u32) {
  let q = at_in(i);
  let OW = i32(params.OW);
  let ch = candidates(q.y, params.rh, params.OH);
  let cw = candidates(q.x, params.rw, params.OW);
  var acc = 0.0;
  for (var oh = ch.x; oh <= ch.y; oh++) {
    let wh = weightOf(taps(oh, params.rh, params.H), q.y);
    if (wh == 0.0) { continue; }
    for (var ow = cw.x; ow <= cw.y; ow++) {
      let ww = weightOf(taps(ow, params.rw, params.W), q.x);
      acc += wh * ww * g[q.base + u32(oh * OW + ow)];
    }
  }
  dx[i] = acc;
}
