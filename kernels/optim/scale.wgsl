// Scales K gradients in place by the clip factor stage 2 wrote (norm_scale.wgsl); args.ts generates
// the bindings x0..x{K-1} and their accessors.
// Included: flat_index.wgsl, each.wgsl, each_tensor.wgsl.
// x0..: (n_t) each; scale: (1)
struct Params { n: u32, stride: u32, {{RANGES}} }
{{BINDINGS}}
@group(0) @binding({{NEXT_BINDING}}) var<storage, read> scale: array<f32>;
@group(0) @binding({{UNIFORM_BINDING}}) var<uniform> params: Params;

fn step(t: u32, j: u32) {
  set_x(t, j, get_x(t, j) * scale[0]);
}
