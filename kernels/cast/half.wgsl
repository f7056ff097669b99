// IEEE half <-> f32 on raw bits, exactly: decoding is exact, encoding rounds to nearest even
// (overflow to infinity, subnormals kept, NaN stays NaN), as engine/core/half.ts does on the host.
// Plain u32 arithmetic, so results do not depend on how a driver converts or flushes floats.

// The f32 value of the half in the low 16 bits of h.
fn half_to_f32(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(s | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); } // m * 2^-24
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}

// The half bits of the f32 whose bits are x.
fn f32_to_half(x: u32) -> u32 {
  let s = (x >> 16u) & 0x8000u;
  let ex = (x >> 23u) & 0xffu;
  let man = x & 0x7fffffu;
  if (ex == 255u) { return s | 0x7c00u | select(0u, 0x200u, man != 0u); }
  let e = i32(ex) - 112;
  if (e >= 31) { return s | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return s; }
    let m = man | 0x800000u;
    let shift = u32(14 - e);
    var r = m >> shift;
    let rest = m & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (r & 1u) == 1u)) { r += 1u; }
    return s | r;
  }
  var r = (u32(e) << 10u) | (man >> 13u);
  let rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (r & 1u) == 1u)) { r += 1u; } // a carry into the exponent is right
  return s | r;
}
