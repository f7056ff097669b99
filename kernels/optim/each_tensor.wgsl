// The element loop of the optimizer kernels (after each.wgsl): element i of the dispatch is element
// j of tensor t (LOOKUP, args.ts), handed to the kernel's `fn step(t: u32, j: u32)`.
fn each(i: u32) {
{{LOOKUP}}
  step(t, j);
}
