// Dynamic loss scaling, stage 1: multiplies K gradients in place by 1 / scale[0] (a power of two,
// so exactly) and sets found[0] to 1 when any result is Inf or NaN; args.ts generates the bindings
// x0..x{K-1} and their accessors.
// Included: flat_index.wgsl, each.wgsl, each_tensor.wgsl.
// x0..: (n_t) each, f32; scale: (1) the loss scale; found: (1) 0, or 1 once a result is not finite
struct Params { n: u32, stride: u32, {{RANGES}} }
{{BINDINGS}}
@group(0) @binding({{NEXT_BINDING}}) var<storage, read> scale: array<f32>;
@group(0) @binding({{FOUND_BINDING}}) var<storage, read_write> found: array<atomic<u32>>;
@group(0) @binding({{UNIFORM_BINDING}}) var<uniform> params: Params;

fn step(t: u32, j: u32) {
  let v = get_x(t, j) * (1.0 / scale[0]);
  set_x(t, j, v);
  if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) { atomicStore(&found[0], 1u); }
}
