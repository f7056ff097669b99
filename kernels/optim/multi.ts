/**
 * Multi-tensor optimizer and clipping kernels: one dispatch updates (or reduces, or scales) several
 * parameters, each still in its own GPU buffer.
 *
 * Why chunks of bindings and not one flat arena: a Tensor owns a whole pooled buffer and every kernel
 * binds whole buffers (no byte offsets), so packing a group's parameters, gradients and state into one
 * arena would mean views with offsets through the runtime, autograd, I/O and the pool. Instead each
 * dispatch binds K parameters (their parameter, gradient and state buffers) as separate bindings, with
 * K set by the device's maxStorageBuffersPerShaderStage (8 on Dawn's defaults, 16 on lavapipe and
 * most desktop adapters) and the per-parameter element ranges passed in the uniform. A thread finds its
 * parameter from the cumulative sizes and reads/writes through a generated `switch`. The arithmetic is
 * the single-tensor kernels' (optim.ts) expression for expression, so the results are bit-identical.
 *
 * Parameters are chunked in order; a chunk is cut early where a buffer would be bound twice (tied
 * weights), so every element is updated by exactly one thread per dispatch, as before.
 */
import type { Tensor } from '../../engine/core/tensor.ts';
import { runtime, grid, launch1d } from '../../engine/core/runtime.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { adamScalars, checkSame, type SgdArgs, type AdamArgs } from './optim.ts';

/** Most parameters one dispatch takes (uniform size); the device limit usually binds first. */
export const MAX_PER_DISPATCH = 16;
let cap = MAX_PER_DISPATCH;
/** Lowers the parameters-per-dispatch cap (tests exercise chunking with it); returns the previous cap. */
export function setMultiTensorCap(n: number): number {
  const old = cap;
  cap = Math.max(1, Math.min(MAX_PER_DISPATCH, Math.floor(n)));
  return old;
}

/** Parameters per dispatch for `perParam` storage bindings each and `extra` shared ones. */
export function perDispatch(perParam: number, extra = 0): number {
  const L = runtime().device.limits.maxStorageBuffersPerShaderStage;
  return Math.max(1, Math.min(cap, Math.floor((L - extra) / perParam)));
}

/** Splits items into chunks of at most k, cutting early where a buffer would repeat within a chunk. */
export function chunk<T>(items: T[], k: number, buffers: (t: T) => (Tensor | null)[]): T[][] {
  const out: T[][] = [];
  let cur: T[] = [], seen = new Set<GPUBuffer>();
  for (const it of items) {
    const bs = buffers(it).filter((b): b is Tensor => !!b).map((t) => t.buffer);
    if (cur.length >= k || bs.some((b) => seen.has(b))) { out.push(cur); cur = []; seen = new Set(); }
    cur.push(it);
    for (const b of bs) seen.add(b);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** WGSL: `ends` uniform fields e0..e{k-1} (cumulative element counts) and the parameter lookup. */
function rangeDecl(k: number): string {
  return Array.from({ length: k }, (_, i) => `e${i}: u32,`).join(' ');
}
function lookup(k: number): string {
  // Finds t (the tensor) and j (the element in it) for global index i.
  let s = '  var t = 0u;\n  var start = 0u;\n';
  for (let i = 0; i < k - 1; i++) s += `  if (i >= params.e${i}) { t = ${i + 1}u; start = params.e${i}; }\n`;
  return s + '  let j = i - start;\n';
}
function accessors(name: string, k: number, access: 'read' | 'read_write', binding0: number, stride: number): string {
  let s = '';
  for (let i = 0; i < k; i++) s += `@group(0) @binding(${binding0 + i * stride}) var<storage, ${access}> ${name}${i}: array<f32>;\n`;
  const cases = (body: (i: number) => string) => Array.from({ length: k }, (_, i) => `    case ${i}u: { ${body(i)} }`).join('\n');
  s += `fn get_${name}(t: u32, j: u32) -> f32 {\n  switch t {\n${cases((i) => `return ${name}${i}[j];`)}\n    default: { return 0.0; }\n  }\n}\n`;
  if (access === 'read_write') {
    s += `fn set_${name}(t: u32, j: u32, v: f32) {\n  switch t {\n${cases((i) => `${name}${i}[j] = v;`)}\n    default: {}\n  }\n}\n`;
  }
  return s;
}
function names(prefix: string[], k: number): string[] { return Array.from({ length: k }, (_, i) => prefix.map((p) => p + i)).flat(); }

function uniforms(items: Tensor[]): Record<string, number> {
  const u: Record<string, number> = {};
  let end = 0;
  items.forEach((p, i) => { end += p.size; u['e' + i] = end; });
  return u;
}

const sgdSrc = (k: number, momentum: boolean) => `// Multi-tensor SGD${momentum ? ' with momentum' : ''} over ${k} parameters (see kernels/optim/multi.ts, sgd${momentum ? '_momentum' : ''}.wgsl)
struct Params { n: u32, stride: u32, first: u32, nesterov: u32, negLr: f32, momentum: f32, oneMinusDampening: f32, weightDecay: f32, ${rangeDecl(k)} }
${accessors('p', k, 'read_write', 0, momentum ? 3 : 2)}${accessors('g', k, 'read', 1, momentum ? 3 : 2)}${momentum ? accessors('b', k, 'read_write', 2, 3) : ''}@group(0) @binding(${k * (momentum ? 3 : 2)}) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
${lookup(k)}  let p = get_p(t, j);
  var d = get_g(t, j);
  if (params.weightDecay != 0.0) { d = fma(p, params.weightDecay, d); }
${momentum ? `  var b = d;
  if (params.first == 0u) { b = fma(d, params.oneMinusDampening, get_b(t, j) * params.momentum); }
  set_b(t, j, b);
  var u = b;
  if (params.nesterov != 0u) { u = fma(b, params.momentum, d); }
  set_p(t, j, fma(u, params.negLr, p));` : '  set_p(t, j, fma(d, params.negLr, p));'}
}
`;

const adamSrc = (k: number) => `// Multi-tensor Adam/AdamW over ${k} parameters (see kernels/optim/multi.ts, adam.wgsl)
struct Params {
  n: u32, stride: u32, first: u32, decoupled: u32,
  weightDecay: f32, decay: f32, beta1: f32, oneMinusBeta1: f32,
  beta2: f32, oneMinusBeta2: f32, bc2Sqrt: f32, eps: f32,
  negStepSize: f32, ${rangeDecl(k)}
}
${accessors('p', k, 'read_write', 0, 4)}${accessors('g', k, 'read', 1, 4)}${accessors('m', k, 'read_write', 2, 4)}${accessors('v', k, 'read_write', 3, 4)}@group(0) @binding(${k * 4}) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
${lookup(k)}  var p = get_p(t, j);
  var g = get_g(t, j);
  if (params.decoupled != 0u) {
    p = p * params.decay;
  } else if (params.weightDecay != 0.0) {
    g = fma(p, params.weightDecay, g);
  }
  var m = 0.0;
  var v = 0.0;
  if (params.first == 0u) {
    m = get_m(t, j);
    v = get_v(t, j);
  }
  m = fma(g, params.oneMinusBeta1, m * params.beta1);
  v = v * params.beta2 + params.oneMinusBeta2 * g * g;
  set_m(t, j, m);
  set_v(t, j, v);
  let denom = sqrt(v) / params.bc2Sqrt + params.eps;
  set_p(t, j, p + params.negStepSize * m / denom);
}
`;

/** One SGD parameter update: its parameter, gradient and (with momentum) momentum buffer. */
export interface SgdItem { param: Tensor; grad: Tensor; momentumBuffer: Tensor | null }

/**
 * SGD steps on several parameters sharing hyper-parameters and `first` (the momentum buffers hold
 * nothing yet), in ceil(items / K) dispatches; same arithmetic as sgdUpdate.
 */
export function sgdMulti(items: SgdItem[], a: SgdArgs, first: boolean): void {
  const mom = a.momentum !== 0;
  for (const it of items) {
    checkSame('sgd', it.param, { grad: it.grad, momentumBuffer: it.momentumBuffer });
    if (mom && !it.momentumBuffer) throw new ShapeError('sgd: momentum needs a momentum buffer');
  }
  const per = mom ? 3 : 2;
  for (const c of chunk(items, perDispatch(per), (it) => [it.param, it.grad, it.momentumBuffer])) {
    const k = c.length;
    const bind: Record<string, Tensor> = {};
    c.forEach((it, i) => { bind['p' + i] = it.param; bind['g' + i] = it.grad; if (mom) bind['b' + i] = it.momentumBuffer!; });
    const n = c.reduce((s, it) => s + it.param.size, 0);
    const { groups, stride } = launch1d(n);
    runtime().run({ key: `optim_multi_sgd${mom ? '_momentum' : ''}:${k}`, code: () => sgdSrc(k, mom) }, bind, {
      n, stride, first: first ? 1 : 0, nesterov: a.nesterov ? 1 : 0,
      negLr: -a.lr, momentum: a.momentum, oneMinusDampening: 1 - a.dampening, weightDecay: a.weightDecay,
      ...uniforms(c.map((it) => it.param)),
    }, groups);
  }
}

/** One Adam parameter update: parameter, gradient and its two moment buffers. */
export interface AdamItem { param: Tensor; grad: Tensor; expAvg: Tensor; expAvgSq: Tensor }

/**
 * Adam/AdamW steps on several parameters sharing hyper-parameters, step count and `first`, in
 * ceil(items / K) dispatches; same arithmetic as adamUpdate.
 */
export function adamMulti(items: AdamItem[], a: AdamArgs): void {
  for (const it of items) checkSame('adam', it.param, { grad: it.grad, expAvg: it.expAvg, expAvgSq: it.expAvgSq });
  const s = adamScalars(a);
  for (const c of chunk(items, perDispatch(4), (it) => [it.param, it.grad, it.expAvg, it.expAvgSq])) {
    const k = c.length;
    const bind: Record<string, Tensor> = {};
    c.forEach((it, i) => { bind['p' + i] = it.param; bind['g' + i] = it.grad; bind['m' + i] = it.expAvg; bind['v' + i] = it.expAvgSq; });
    const n = c.reduce((t, it) => t + it.param.size, 0);
    const { groups, stride } = launch1d(n);
    runtime().run({ key: `optim_multi_adam:${k}`, code: () => adamSrc(k) }, bind, { n, stride, ...s, ...uniforms(c.map((it) => it.param)) }, groups);
  }
}

// ---------------------------------------------------------------------------------------------
// Clipping: sums of squares and scaling over several gradients per dispatch.

const CHUNK = 256 * 16; // elements per sum-of-squares workgroup (as sumsq.wgsl)

const sumsqSrc = (k: number) => `// Multi-tensor stage 1 of the global norm over ${k} gradients (see sumsq.wgsl): workgroup w of this
// dispatch reduces 4096 elements of one gradient and writes partials[offset + w].
struct Params { groupsX: u32, offset: u32, ${rangeDecl(k)} ${Array.from({ length: k }, (_, i) => `c${i}: u32,`).join(' ')} }
${accessors('x', k, 'read', 0, 1)}@group(0) @binding(${k}) var<storage, read_write> partials: array<f32>;
@group(0) @binding(${k + 1}) var<uniform> params: Params;

const WG = 256u;
const PER = 16u;
var<workgroup> acc: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * params.groupsX;
  // c{i}: cumulative workgroup counts; e{i}: element counts (cumulative, so n = e{t} - previous).
  var t = 0u;
  var first = 0u;
  var n0 = 0u;
${Array.from({ length: k - 1 }, (_, i) => `  if (w >= params.c${i}) { t = ${i + 1}u; first = params.c${i}; n0 = params.e${i}; }`).join('\n')}
  var ends = params.e0;
${Array.from({ length: k - 1 }, (_, i) => `  if (t == ${i + 1}u) { ends = params.e${i + 1}; }`).join('\n')}
  let n = ends - n0;
  let base = (w - first) * WG * PER;
  var s = 0.0;
  for (var jj = 0u; jj < PER; jj++) {
    let j = base + jj * WG + lid;
    if (j < n) { let v = get_x(t, j); s += v * v; }
  }
  acc[lid] = s;
  workgroupBarrier();
  for (var q = WG / 2u; q > 0u; q = q >> 1u) {
    if (lid < q) { acc[lid] += acc[lid + q]; }
    workgroupBarrier();
  }
  if (lid == 0u && base < n) { partials[params.offset + w] = acc[0]; }
}
`;

const scaleSrc = (k: number) => `// Multi-tensor scaling of ${k} gradients in place by the clip factor (see scale.wgsl).
struct Params { n: u32, stride: u32, ${rangeDecl(k)} }
${accessors('x', k, 'read_write', 0, 1)}@group(0) @binding(${k}) var<storage, read> scale: array<f32>;
@group(0) @binding(${k + 1}) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.stride;
  if (i >= params.n) { return; }
${lookup(k)}  set_x(t, j, get_x(t, j) * scale[0]);
}
`;

/** Number of 4096-element partial sums `sumsqMulti` writes for `xs`. */
export function sumsqChunks(xs: Tensor[]): number { return xs.reduce((s, x) => s + Math.ceil(x.size / CHUNK), 0); }

/** Writes one partial sum of squares per 4096-element block of every x into `partials` (in order). */
export function sumsqMulti(xs: Tensor[], partials: Tensor): void {
  let offset = 0;
  for (const c of chunk(xs, perDispatch(1, 1), (x) => [x])) {
    const k = c.length;
    const u: Record<string, number> = { ...uniforms(c) };
    let w = 0;
    c.forEach((x, i) => { w += Math.ceil(x.size / CHUNK); u['c' + i] = w; });
    const [gx, gy] = grid(w);
    const bind: Record<string, Tensor> = { partials };
    c.forEach((x, i) => { bind['x' + i] = x; });
    runtime().run({ key: `optim_multi_sumsq:${k}`, code: () => sumsqSrc(k) }, bind, { ...u, groupsX: gx, offset }, [gx, gy]);
    offset += w;
  }
}

/** Multiplies every x in place by `scale[0]`, several per dispatch. */
export function scaleMulti(xs: Tensor[], scale: Tensor): void {
  for (const c of chunk(xs, perDispatch(1, 1), (x) => [x])) {
    const k = c.length;
    const bind: Record<string, Tensor> = { scale };
    c.forEach((x, i) => { bind['x' + i] = x; });
    const n = c.reduce((s, x) => s + x.size, 0);
    const { groups, stride } = launch1d(n);
    runtime().run({ key: `optim_multi_scale:${k}`, code: () => scaleSrc(k) }, bind, { n, stride, ...uniforms(c) }, groups);
  }
}
