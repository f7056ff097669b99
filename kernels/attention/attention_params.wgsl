// Uniforms and the input bindings (q, k, v, mask) of the fused attention kernels, included first;
// each kernel's own bindings follow from binding 5. Strides are in elements: (b, h, t, d) of
// q/out/dout/dq is at b*qsB + h*qsH + t*qsT + d, of k/v/dk/dv at b*ksB + h*ksH + t*ksT + d.
struct Params {
  B: u32, H: u32, Tq: u32, Tk: u32,
  qsB: u32, qsH: u32, qsT: u32, ksB: u32,
  ksH: u32, ksT: u32, hasMask: u32, seed: u32,
  scale: f32, p: f32, keepScale: f32, _pad0: u32,
}
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
