// Shared by the fused attention kernels (included after attention_params.wgsl). IO is the
// kernel's ld_/st_ accessors of the head dim (fused.ts).
const D = {{D}}u;
const D4 = {{D4}}u;
const BQ = {{BQ}}u;
const BK = {{BK}}u;
const MASK_BIAS = -1.0e9;

// PCG hash (Jarzynski & Olano 2020), as kernels/dropout/dropout.wgsl.
fn pcg(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// 1 / (1 - p) where dropout keeps flat element idx, 0 where it drops it; 1 without dropout.
fn keepFactor(idx: u32) -> f32 {
  if (!{{DROPOUT}}) { return 1.0; }
  let u = f32(pcg(pcg(idx) ^ pcg(params.seed)) >> 8u) * (1.0 / 16777216.0);
  return select(0.0, params.keepScale, u >= params.p);
}

// The (batch * head) bh = (b, h) of a workgroup (its y) and the row t of one of its invocations
// among n rows (queries, or keys in dk/dv): tc is t clamped to the last row, valid says t < n.
struct Slot { bh: u32, b: u32, h: u32, t: u32, tc: u32, valid: bool }
fn slot(wid: vec3<u32>, lid: u32, n: u32) -> Slot {
  let t = wid.x * BQ + lid;
  return Slot(wid.y, wid.y / params.H, wid.y % params.H, t, min(t, n - 1u), t < n);
}

// Offset of row t of (b, h) in the q-like (q, out, dout, dq) and k-like (k, v, dk, dv) tensors.
fn q_row(b: u32, h: u32, t: u32) -> u32 { return b * params.qsB + h * params.qsH + t * params.qsT; }
fn k_row(b: u32, h: u32, t: u32) -> u32 { return b * params.ksB + h * params.ksH + t * params.ksT; }

{{IO}}
