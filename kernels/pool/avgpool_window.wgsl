// The in-image part of output (oh, ow)'s window: (hstart, hend, wstart, wend), ends exclusive.
fn window(oh: i32, ow: i32) -> vec4<i32> {
  let hs = oh * params.sH - params.padT;
  let ws = ow * params.sW - params.padL;
  return vec4<i32>(max(hs, 0), min(hs + params.kH, i32(params.H)), max(ws, 0), min(ws + params.kW, i32(params.W)));
}

fn divisor(oh: i32, ow: i32) -> f32 {
  if (params.countIncludePad != 0u) {
    let hs = oh * params.sH - params.padT;
    let ws = ow * params.sW - params.padL;
    let he = min(hs + params.kH, i32(params.H) + params.padB);
    let we = min(ws + params.kW, i32(params.W) + params.padR);
    return f32((he - hs) * (we - ws));
  }
  let w = window(oh, ow);
  return f32((w.y - w.x) * (w.w - w.z));
}
