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
 * With `found` (dynamic loss scaling, loss_scale.ts) the SGD and Adam kernels also bind that flag and
 * leave everything unchanged when it is set.
 *
 * Parameters are chunked in order; a chunk is cut early where a buffer would be bound twice (tied
 * weights), so every element is updated by exactly one thread per dispatch, as before.
 */
import type { Tensor } from '../../engine/core/tensor.ts';
import sumsqSrc from './sumsq.wgsl';
import scaleSrc from './scale.wgsl';
import stepCountSrc from './step_count.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import eachTensor from './each_tensor.wgsl';
import teamSumSrc from '../common/team_sum.wgsl';
import { runtime, grid, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { type Live, valueOf, mapLive } from '../../engine/core/live.ts';
import { adamScalars, checkSame, type SgdArgs, type AdamArgs, sgdKernel, adamKernel } from './optim.ts';
import { argBlocks, type Arg } from './args.ts';

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

/** The uniform fields e0.. (cumulative element counts) of the tensors one dispatch takes. */
export function ranges(items: Tensor[]): Record<string, number> {
  const u: Record<string, number> = {};
  let end = 0;
  items.forEach((p, i) => { end += p.size; u['e' + i] = end; });
  return u;
}

/** One SGD parameter update: its parameter, gradient and (with momentum) momentum buffer. */
export interface SgdItem { param: Tensor; grad: Tensor; momentumBuffer: Tensor | null }

/**
 * SGD steps on several parameters sharing hyper-parameters and `first` (the momentum buffers hold
 * nothing yet), in ceil(items / K) dispatches; same arithmetic as sgdUpdate. Live arguments
 * (engine/core/live.ts) are re-read at every replay of a recorded step.
 */
export function sgdMulti(items: SgdItem[], a: SgdArgs | Live<SgdArgs>, first: boolean, found: Tensor | null = null): void {
  const mom = valueOf(a).momentum !== 0;
  for (const it of items) {
    checkSame('sgd', it.param, { grad: it.grad, momentumBuffer: it.momentumBuffer });
    if (mom && !it.momentumBuffer) throw new ShapeError('sgd: momentum needs a momentum buffer');
  }
  const per = mom ? 3 : 2;
  for (const c of chunk(items, perDispatch(per, found ? 1 : 0), (it) => [it.param, it.grad, it.momentumBuffer])) {
    const k = c.length;
    const bind: Record<string, Tensor> = found ? { found } : {};
    c.forEach((it, i) => { bind['p' + i] = it.param; bind['g' + i] = it.grad; if (mom) bind['b' + i] = it.momentumBuffer!; });
    const n = c.reduce((s, it) => s + it.param.size, 0);
    const { groups, stride } = launch1d(n);
    const u = ranges(c.map((it) => it.param));
    runtime().run(sgdKernel(k, mom, !!found), bind, mapLive(a, (v) => ({
      n, stride, first: first ? 1 : 0, nesterov: v.nesterov ? 1 : 0,
      negLr: -v.lr, momentum: v.momentum, oneMinusDampening: 1 - v.dampening, weightDecay: v.weightDecay, ...u,
    })), groups);
  }
}

/** One Adam parameter update: parameter, gradient and its two moment buffers. */
export interface AdamItem { param: Tensor; grad: Tensor; expAvg: Tensor; expAvgSq: Tensor }

/**
 * Adam/AdamW steps on several parameters sharing hyper-parameters, step count and `first`, in
 * ceil(items / K) dispatches; same arithmetic as adamUpdate. Live arguments (engine/core/live.ts)
 * are re-read at every replay of a recorded step. With `skip` (dynamic loss scaling) the kernels
 * leave everything unchanged when `skip.found` is set, take the step count from `skip.steps` (1
 * u32: the good steps so far) instead of `a.step`, and a last dispatch counts this step in it
 * unless it was skipped, so a skipped step does not advance the bias corrections.
 */
export function adamMulti(items: AdamItem[], a: AdamArgs | Live<AdamArgs>, skip: { found: Tensor; steps: Tensor } | null = null): void {
  for (const it of items) checkSame('adam', it.param, { grad: it.grad, expAvg: it.expAvg, expAvgSq: it.expAvgSq });
  const s = mapLive(a, (v) => adamScalars(v, !!skip));
  for (const c of chunk(items, perDispatch(4, skip ? 2 : 0), (it) => [it.param, it.grad, it.expAvg, it.expAvgSq])) {
    const k = c.length;
    const bind: Record<string, Tensor> = skip ? { found: skip.found, steps: skip.steps } : {};
    c.forEach((it, i) => { bind['p' + i] = it.param; bind['g' + i] = it.grad; bind['m' + i] = it.expAvg; bind['v' + i] = it.expAvgSq; });
    const n = c.reduce((t, it) => t + it.param.size, 0);
    const { groups, stride } = launch1d(n);
    const u = ranges(c.map((it) => it.param));
    runtime().run(adamKernel(k, !!skip), bind, mapLive(s, (v) => ({ n, stride, ...v, ...u })), groups);
  }
  if (skip) countGoodStep(skip.steps, skip.found);
}

/** Adds 1 to the step counter `steps` (1, i32) unless `found[0]` is set (a skipped step does not count). */
function countGoodStep(steps: Tensor, found: Tensor): void {
  for (const [t, what] of [[steps, 'steps'], [found, 'found']] as const) {
    if (t.dtype !== 'i32' || t.size !== 1) throw new ShapeError(`adam: '${what}' has ${t.size} ${t.dtype} elements, expected 1 i32`);
  }
  runtime().run(wgsl('optim_step_count', stepCountSrc), { steps, found }, {}, [1, 1, 1]);
}

// ---------------------------------------------------------------------------------------------
// Clipping: sums of squares and scaling over several gradients per dispatch.

const CHUNK = 256 * 16; // elements per sum-of-squares workgroup (as sumsq.wgsl)
const X: Arg[] = [{ name: 'x', single: 'x', access: 'read' }];
const X_RW: Arg[] = [{ name: 'x', single: 'x', access: 'read_write' }];

/** The bindings of K gradients x0.., then one more storage binding and the uniform. */
function xBlocks(K: number, args: Arg[]) {
  const b = argBlocks(args, K);
  return { ...b, UNIFORM_BINDING: String(Number(b.NEXT_BINDING) + 1) };
}

/** Number of 4096-element partial sums `sumsqMulti` writes for `xs`. */
export function sumsqChunks(xs: Tensor[]): number { return xs.reduce((s, x) => s + Math.ceil(x.size / CHUNK), 0); }

/** Writes one partial sum of squares per 4096-element block of every x into `partials` (in order). */
export function sumsqMulti(xs: Tensor[], partials: Tensor): void {
  let offset = 0;
  for (const c of chunk(xs, perDispatch(1, 1), (x) => [x])) {
    const k = c.length;
    const u: Record<string, number> = { ...ranges(c) };
    let w = 0;
    c.forEach((x, i) => { w += Math.ceil(x.size / CHUNK); u['c' + i] = w; });
    const [gx, gy] = grid(w);
    const bind: Record<string, Tensor> = { partials };
    c.forEach((x, i) => { bind['x' + i] = x; });
    runtime().run(wgsl('optim_multi_sumsq', sumsqSrc, {
      include: [teamSumSrc],
      defines: { K: k, SUM_T: 'f32' },
      blocks: ({ K }) => ({
        ...xBlocks(K, X),
        CHUNK_RANGES: Array.from({ length: K }, (_, i) => `c${i}: u32,`).join(' '),
        CHUNK_LOOKUP: [
          ...Array.from({ length: K - 1 }, (_, i) => `  if (w >= params.c${i}) { t = ${i + 1}u; first = params.c${i}; n0 = params.e${i}; }`),
          '  var ends = params.e0;',
          ...Array.from({ length: K - 1 }, (_, i) => `  if (t == ${i + 1}u) { ends = params.e${i + 1}; }`),
        ],
      }),
    }), bind, { ...u, groupsX: gx, offset }, [gx, gy]);
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
    runtime().run(wgsl('optim_multi_scale', scaleSrc, { include: [flatIndex, each, eachTensor], defines: { K: k }, blocks: ({ K }) => xBlocks(K, X_RW) }), bind, { n, stride, ...ranges(c) }, groups);
  }
}
