/**
 * The one way kernels assemble WGSL. A kernel is a named source plus the values that shape its code:
 *
 *   wgsl('reduce', reduceSrc, { include: [reduceCommon], defines: { VT: 'vec4<f32>', INIT: '0.0' } })
 *
 * - `defines` fill `{{NAME}}` placeholders (every placeholder must have one, or a default written
 *   in the source: `{{NAME:text}}` is `text` where NAME is not defined); `{{NAME(expr)}}` is
 *   `VALUE(expr)` where NAME is defined, else just `expr` (a conversion only some builds need). A
 *   storage-type variant uses both, so the f32 build of a kernel that also has an f16 build keeps the
 *   code and key it had: `array<{{T:f32}}>`, `{{W(x[i])}}` (see `storageDefines`);
 * - `unroll` repeats each line that mentions `$name` for name = 0 .. n-1 (the cartesian product when
 *   a line mentions several), which keeps register blocks in plain variables;
 * - `blocks` generates larger pieces of code for `{{NAME}}` placeholders, from the defines alone;
 * - `include` puts shared pieces (kernels/common/*.wgsl) before the source, after any `enable`
 *   directives, which WGSL wants first and which are gathered from every part; code that uses the
 *   f16 type (an f16 variant is a define, e.g. `T: 'f16'`) gets `enable f16;`.
 *
 * The pipeline-cache key is derived from the name, the defines and the unroll counts, never written
 * by hand. A name stands for one source and one set of includes (a second source under the same name
 * throws), and `blocks` may read only the defines it is given, so the key covers everything the code
 * depends on; THAW_CHECK_KERNELS=1 (set by the test runner) compares each use of a cached kernel
 * with its first (the defines and what `blocks` gives for them: the kernel's fingerprint) and fails
 * if they differ. The code itself is built only when the pipeline is compiled.
 */
import { ThawError } from './errors.ts';
import type { Kernel } from './runtime.ts';

export type Define = number | boolean | string;

export interface WgslOptions<D extends Record<string, Define>> {
  defines?: D;
  include?: readonly string[];
  unroll?: Record<string, number>;
  blocks?: (d: Readonly<D>) => Record<string, string | readonly string[]>;
  /** The @compute entry point (default 'main'). */
  entry?: string;
}

const sources = new Map<string, { source: string; include: readonly string[] }>();

/** A kernel whose code is `source` shaped by `opts`, under a key derived from them. */
export function wgsl<D extends Record<string, Define>>(name: string, source: string, opts: WgslOptions<D> = {}): Kernel {
  const include = opts.include ?? [];
  const seen = sources.get(name);
  if (!seen) sources.set(name, { source, include });
  else if (seen.source !== source || seen.include.length !== include.length || seen.include.some((s, i) => s !== include[i])) {
    throw new ThawError('kernel', `two different WGSL sources are both named '${name}'; give each kernel its own name`);
  }
  const defines = (opts.defines ?? {}) as D;
  let key = name + ':';
  for (const k in defines) key += `${k}=${defines[k]},`;
  if (opts.unroll) for (const k in opts.unroll) key += `$${k}=${opts.unroll[k]},`;
  if (opts.entry) key += `@${opts.entry}`;
  return new WgslKernel(key, name, source, include, defines, opts);
}

/** What wgsl() returns: the key now, the code only when asked (a method, not a closure made per call). */
class WgslKernel<D extends Record<string, Define>> implements Kernel {
  readonly entry: string | undefined;
  constructor(readonly key: string, private readonly name: string, private readonly source: string,
    private readonly include: readonly string[], private readonly defines: D, private readonly opts: WgslOptions<D>) {
    this.entry = opts.entry;
  }

  code(): string { return assemble(this.name, this.source, this.include, this.defines, this.opts); }

  /** The defines and the blocks they give: with the name (one source, one set of includes), the unroll counts and the entry, all the code depends on. */
  fingerprint(): string { return JSON.stringify([this.defines, this.opts.blocks?.(Object.freeze({ ...this.defines })) ?? null]); }
}

/**
 * The defines of a kernel's storage-type build: none for f32 (the placeholders' defaults: the f32
 * code), else T (the stored scalar type), W / W4 (widen a stored scalar / vec4 to f32) and S / S4
 * (round an f32 scalar / vec4 to T for a store). Arithmetic stays f32 in every build.
 */
export function storageDefines(dtype: string): Record<string, string> {
  if (dtype === 'f32') return {};
  if (dtype !== 'f16') throw new ThawError('kernel', `no storage build for dtype ${dtype}`);
  return { T: 'f16', W: 'f32', W4: 'vec4<f32>', S: 'f16', S4: 'vec4<f16>' };
}

/** `{{NAME(expr)}}` for generated blocks: `f(expr)` when the define f is given, else `expr`. */
export const applyDefine = (f: Define | undefined, expr: string): string => (f === undefined ? expr : `${f}(${expr})`);

function assemble<D extends Record<string, Define>>(name: string, source: string, include: readonly string[], defines: D, opts: WgslOptions<D>): string {
  const values: Record<string, string> = {};
  for (const k in defines) values[k] = String(defines[k]);
  if (opts.blocks) {
    for (const [k, v] of Object.entries(opts.blocks(Object.freeze({ ...defines })))) {
      if (k in values) throw new ThawError('kernel', `kernel ${name}: '${k}' is both a define and a block`);
      values[k] = typeof v === 'string' ? v : v.join('\n');
    }
  }
  const enables = new Set<string>();
  const body = [...include, source].map((part) => part.replace(/^\s*enable\s+[\w\s,]+;\s*$/gm, (m) => { enables.add(m.trim()); return ''; }));
  let code = body.join('\n').replace(/\{\{(\w+)(?::([^{}]*))?\}\}/g, (_, k: string, dflt?: string) => {
    if (k in values) return values[k];
    if (dflt === undefined) throw new ThawError('kernel', `kernel ${name}: no value for {{${k}}}`);
    return dflt;
  });
  // Then the calls, from the innermost out (`{{S({{W(x[i])}} * 2.0)}}`).
  for (let prev = ''; prev !== code;) {
    prev = code;
    code = code.replace(/\{\{(\w+)\(([^{}]*?)\)\}\}/g, (_, k: string, e: string) => (k in values ? `${values[k]}(${e})` : e));
  }
  if (/\bf16\b|\bvec[234]h\b/.test(code.replace(/\/\/.*$/gm, ''))) enables.add('enable f16;');
  code = [...enables, code].join('\n');
  if (opts.unroll) code = unrollLines(code, opts.unroll);
  return code;
}

/**
 * Repeats every line that mentions `$name` for each index of that name (`ranges[name]`), the
 * cartesian product when a line has several, outer names first in `ranges` order.
 */
export function unrollLines(src: string, ranges: Record<string, number>): string {
  const names = Object.keys(ranges);
  return src.split('\n').flatMap((line) => {
    const used = names.filter((n) => line.includes(`$${n}`));
    if (!used.length || line.trimStart().startsWith('//')) return [line];
    let out = [line];
    for (const n of used) out = out.flatMap((l) => Array.from({ length: ranges[n] }, (_, i) => l.replaceAll(`$${n}`, String(i))));
    return out;
  }).join('\n');
}
