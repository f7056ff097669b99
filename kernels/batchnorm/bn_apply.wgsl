// Per-channel affine over NCHW: out = (x - center[c]) * scale[c] + shift[c] (forward with the
// batch or running mean as center, and inference-mode dx with zeros).
// {{T}} is f32, or vec4<f32> when HW % 4 == 0 (4 pixels of one channel per invocation); act() is the
// identity, ReLU or ReLU6 (a fused activation, batchnorm.ts), applied after adding res with RES.
// Included: flat_index.wgsl, each.wgsl.
// x: (N, C, HW / W) of {{T}}, center: (C), scale: (C), shift: (C), out, res: like x
struct Params { n: u32, stride: u32, C: u32, HWv: u32 }
@group(0) @binding(0) var<storage, read> x: array<{{XT}}>;
@group(0) @binding(1) var<storage, read> center: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<{{XT}}>;
@group(0) @binding(5) var<uniform> params: Params;
{{RES_DECL}}

fn act(v: {{T}}) -> {{T}} { return {{ACT}}; }

fn each(i: u32) {
  let c = (i / params.HWv) % params.C;
  out[i] = {{STO(act(({{LD(x[i])}} - center[c]) * scale[c] + shift[c]{{ADD_RES}}))}};
}
