/**
 * The tensor arguments of the optimizer kernels, as WGSL generated from a kernel's defines (wgsl()
 * blocks). A kernel reads and writes its tensors through get_<a>(t, j) / set_<a>(t, j, v): tensor t,
 * element j. With K = 0 it is the single-tensor kernel (optim.ts): one binding per argument, named
 * as optim.ts binds it, and t = 0, j = i. With K >= 1 it is a multi-tensor kernel (multi.ts): K
 * bindings per argument (p0, g0, b0, p1, ...), a generated `switch` in each accessor, and uniform
 * fields e0..e{K-1} (cumulative element counts) from which LOOKUP finds t and j for element i.
 */

/** One tensor argument: its accessor letter, its binding name in the single-tensor kernel, its access. */
export interface Arg { name: string; single: string; access: 'read' | 'read_write' }

export const PARAM: Arg = { name: 'p', single: 'param', access: 'read_write' };
export const GRAD: Arg = { name: 'g', single: 'grad', access: 'read' };

/** RANGES (the uniform fields e0..), BINDINGS (+ accessors) and LOOKUP for `args` and K tensors each. */
export function argBlocks(args: readonly Arg[], K: number, firstBinding = 0): { RANGES: string; BINDINGS: string; LOOKUP: string; NEXT_BINDING: string } {
  const per = args.length, single = K === 0;
  let b = '';
  args.forEach((a, ai) => {
    const vars = single ? [a.single] : Array.from({ length: K }, (_, i) => a.name + i);
    vars.forEach((v, i) => { b += `@group(0) @binding(${firstBinding + ai + i * per}) var<storage, ${a.access}> ${v}: array<f32>;\n`; });
    const cases = (body: (v: string) => string) => vars.map((v, i) => `    case ${i}u: { ${body(v)} }`).join('\n');
    b += single
      ? `fn get_${a.name}(t: u32, j: u32) -> f32 { return ${a.single}[j]; }\n`
      : `fn get_${a.name}(t: u32, j: u32) -> f32 {\n  switch t {\n${cases((v) => `return ${v}[j];`)}\n    default: { return 0.0; }\n  }\n}\n`;
    if (a.access === 'read_write') {
      b += single
        ? `fn set_${a.name}(t: u32, j: u32, v: f32) { ${a.single}[j] = v; }\n`
        : `fn set_${a.name}(t: u32, j: u32, v: f32) {\n  switch t {\n${cases((v) => `${v}[j] = v;`)}\n    default: {}\n  }\n}\n`;
    }
  });
  let lookup = '  var t = 0u;\n  var start = 0u;\n';
  for (let i = 0; i < K - 1; i++) lookup += `  if (i >= params.e${i}) { t = ${i + 1}u; start = params.e${i}; }\n`;
  lookup += '  let j = i - start;';
  return {
    RANGES: Array.from({ length: K }, (_, i) => `e${i}: u32,`).join(' '),
    BINDINGS: b,
    LOOKUP: lookup,
    NEXT_BINDING: String(firstBinding + per * Math.max(K, 1)),
  };
}
