/**
 * Matmul planning and dispatch, without autograd: shape checks, batch broadcasting (merged into at
 * most 4 dims with per-operand strides, 0 where an operand is broadcast), transposes as strides, and
 * the choice of kernel per adapter.
 */
import commonSrc from './matmul_common.wgsl';
import naiveSrc from './matmul_naive.wgsl';
import blockedSrc from './matmul_blocked.wgsl';
import tiledSrc from './matmul_tiled.wgsl';
import { subgroupLaunch } from './subgroup.ts';
import { type MatmulPlan, type MatmulView, type EpiDefines, type EpilogueAct, planMatmul, biasBlocks, rowSumBlocks, epiBlocks } from './plan.ts';
import mathSrc from '../common/math.wgsl';
import { Tensor, type Shape, numel, shapeStr, sameShape } from '../../engine/core/tensor.ts';
import { runtime, type Kernel } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError, checkFloat } from '../../engine/core/errors.ts';
import { broadcastShapes } from '../elementwise/elementwise.ts';
import type { FusedDropout } from '../dropout/dropout.ts';
import { mapLive } from '../../engine/core/live.ts';

/**
 * Which kernel runs a matmul. 'auto' runs tuning.matmul.kernel: 'tiled' (workgroup-memory tiles) on
 * hardware GPUs; on CPU-emulated ones 'subgroup' (subgroup.ts) where the device has subgroups and the
 * operands are vec4-aligned, else 'blocked' (register blocks, no workgroup memory). 'naive' is the oracle.
 */
export type MatmulVariant = 'auto' | 'naive' | 'blocked' | 'tiled' | 'subgroup';


interface Launch { kernel: Kernel; rows: number; cols: number }

// The blocked kernel's workgroup shape and the tiled kernel's tiles: runtime().tuning.matmul (engine/core/tuning.ts).

/** Params, bindings and batchOffsets of every matmul kernel (subgroup.ts includes it too). */
const include = [mathSrc, commonSrc];

function tiledConfig(p: MatmulPlan): { RM: number; RN4: number; BK: number } {
  // 128x128 tiles need enough of them to fill a large GPU; smaller products use 64x64.
  const t = runtime().tuning.matmul;
  return p.M >= t.tiledBigMin && p.N >= t.tiledBigMin ? { ...t.tiledBig } : { ...t.tiledSmall };
}

// Each kernel's ROWSUM statements (plan.ts rowSumBlocks): rs accumulates op(a)'s row in k order; the
// first column of workgroups (one lane of it) stores it.
const NAIVE_RS = { RS_INIT: '  var rs = 0.0;', RS_ADD: '    rs += av;', RS_STORE: '  if (n == 0u) { rowsum[bi * params.M + m] = rs; }' };
const BLOCKED_RS = {
  RS_INIT: '  var rs$r = 0.0;', RS_ADD: ' rs$r += x.x;',
  RS_STORE: '  if (gid.x == 0u && r + $ru < M) { rowsum[bi * M + r + $ru] = rs$r; }',
};
const TILED_RS = {
  RS_INIT: '  var rs: array<f32, RM>;', RS_ADD: '        rs[i] += av.x;',
  RS_STORE: '    if (wid.x == 0u && lid.x == 0u) { rowsum[bi * M + m] = rs[i]; }',
};

/** The naive, blocked and tiled kernels' generated code, from their defines (functions made once, not per call). */
type MatmulBlockDefines = EpiDefines & { BIAS: boolean; ROWSUM?: true };
const naiveBlocks = (d: MatmulBlockDefines) => ({ ...biasBlocks(d), ...rowSumBlocks(d, NAIVE_RS), ...epiBlocks(d) });
const blockedBlocks = (d: MatmulBlockDefines) => ({ ...biasBlocks(d), ...rowSumBlocks(d, BLOCKED_RS), ...epiBlocks(d) });
const tiledBlocks = (d: MatmulBlockDefines) => ({ ...biasBlocks(d), ...rowSumBlocks(d, TILED_RS), ...epiBlocks(d) });

function pick(variant: MatmulVariant, p: MatmulPlan, transA: boolean, transB: boolean, BIAS: boolean, T: 'f32' | 'f16', e: EpiFlags): Launch {
  const t = runtime().tuning.matmul;
  // Operands of T, accumulated in f32, the result rounded to T.
  const types = { AB: T, WIDE: 'f32', OUT: T };
  // The epilogue defines exist only in their builds, so the other builds keep their keys.
  const rs = e;
  let v = variant;
  if (v === 'subgroup' || (v === 'auto' && t.kernel === 'subgroup')) {
    const s = subgroupLaunch(p, transA, transB, undefined, BIAS, T, e);
    if (s) return s;
    if (v === 'subgroup') throw new ShapeError(`matmul: the subgroup kernel cannot run here (it needs the device's 'subgroups' feature and 16-byte rows: M ${p.M}, N ${p.N}, K ${p.K})`);
  }
  if (v === 'auto') v = t.kernel === 'subgroup' ? 'blocked' : t.kernel;
  if (v === 'naive') {
    return { kernel: wgsl('matmul_naive', naiveSrc, { include, defines: { ...types, BIAS, ...rs }, blocks: naiveBlocks }), rows: 8, cols: 8 };
  }
  if (v === 'blocked') {
    const [WX, WY] = t.blockedWG;
    return {
      kernel: wgsl('matmul_blocked', blockedSrc, { include, defines: { ...types, WX, WY, BIAS, ...rs }, unroll: { r: 8 }, blocks: blockedBlocks }),
      rows: 8 * WY, cols: 8 * WX,
    };
  }
  const c = tiledConfig(p);
  return {
    kernel: wgsl('matmul_tiled', tiledSrc, { include, defines: { ...types, ...c, BIAS, ...rs }, blocks: tiledBlocks }),
    rows: 16 * c.RM, cols: 64 * c.RN4,
  };
}

const MAX_GROUPS = 65535;

/** What a matmul's dispatch does besides the product (plan.ts rowSumBlocks, epiBlocks). */
export interface MatmulEpilogue {
  /** f32, batch * M elements: receives the sum over k of every row of op(a) (a linear layer's bias gradient, beside its weight gradient). */
  rowSum?: Tensor | null;
  /** The output's shape and dtype: the result is addTo + the product, added in the store (a gradient accumulated without an add dispatch). */
  addTo?: Tensor | null;
  /** The output is act(product + bias) (then dropped with `drop`); `pre` (the output's shape and dtype) receives product + bias. */
  act?: EpilogueActivation | null;
  /** a (the gradient of act's output, read through `drop`'s mask) is read times act'(pre), pre laid out like a. */
  dact?: EpilogueActivation | null;
}

/** An activation in a matmul's epilogue, the value before it, and a dropout after it (plan.ts epiBlocks). */
export interface EpilogueActivation { op: EpilogueAct; pre: Tensor; drop?: FusedDropout | null }

/**
 * Operands and output read and written through strides (plan.ts MatmulView) instead of as contiguous
 * tensors of their own shape: `out.into` is the tensor the product is written into (and returned),
 * at the view's positions. prev, pre and rowsum are indexed as out (and pre in DACT as a) is.
 */
export interface MatmulLayout { a?: MatmulView; b?: MatmulView; out?: MatmulView & { into: Tensor } }

/** Throws unless every element `view` reaches lies inside `t`. */
function checkView(op: string, what: string, t: Tensor, v: MatmulView): void {
  const last = v.shape.reduce((s, n, i) => s + (n - 1) * v.strides[i], v.offset ?? 0);
  const ok = v.strides.length === v.shape.length && v.strides.every((x) => x >= 0 && Number.isInteger(x)) && (v.offset ?? 0) >= 0;
  if (!ok || (numel(v.shape) > 0 && last >= t.size)) {
    throw new ShapeError(`${op}: the view of '${what}' (shape ${shapeStr(v.shape)}, strides ${shapeStr(v.strides)}, offset ${v.offset ?? 0}) reaches outside its tensor of ${t.size} elements`);
  }
}

/** The epilogue defines of a launch, present only when set. */
type EpiFlags = { ROWSUM?: true; ADD?: true; ACT?: EpilogueAct; DACT?: EpilogueAct; DROP?: true };

/**
 * Computes op(a) · op(b) (+ `bias` (N) on every row, in the store) into a new tensor, with no
 * autograd. a and b are both f32 or both f16 (bias f32); f16 operands are accumulated in f32 and the
 * result rounded to f16. `epi`: what the same dispatch does besides (MatmulEpilogue).
 */
export function matmulRaw(a: Tensor, b: Tensor, transA = false, transB = false, variant: MatmulVariant = 'auto', op = 'matmul', bias: Tensor | null = null, epi: MatmulEpilogue = {}, layout: MatmulLayout = {}): Tensor {
  const { rowSum = null, addTo = null, act = null, dact = null } = epi;
  const drop = (act ?? dact)?.drop ?? null;
  checkFloat(op, 'a', a);
  checkFloat(op, 'b', b);
  if (a.dtype !== b.dtype) throw new ShapeError(`${op}: argument 'a' has dtype ${a.dtype} and argument 'b' ${b.dtype}; cast() one so both match`);
  const T = a.dtype as 'f32' | 'f16';
  if (layout.a) checkView(op, 'a', a, layout.a);
  if (layout.b) checkView(op, 'b', b, layout.b);
  const p = planMatmul(layout.a?.shape ?? a.shape, layout.b?.shape ?? b.shape, transA, transB, op, layout);
  const into = layout.out?.into;
  if (into) {
    if (!sameShape(layout.out!.shape, p.outShape)) throw new ShapeError(`${op}: the output view has shape ${shapeStr(layout.out!.shape)}, expected ${shapeStr(p.outShape)}`);
    if (into.dtype !== T) throw new ShapeError(`${op}: the output tensor is ${into.dtype}, expected ${T}`);
    checkView(op, 'out', into, layout.out!);
  }
  const out = into ?? Tensor.alloc(p.outShape, T);
  if (p.batch * p.M * p.N === 0) return out;
  if (bias && (bias.dtype !== 'f32' || bias.size !== p.N)) throw new ShapeError(`${op}: argument 'bias' has shape ${shapeStr(bias.shape)} ${bias.dtype}, expected [${p.N}] f32`);
  if (rowSum && (rowSum.dtype !== 'f32' || rowSum.size !== p.batch * p.M)) throw new ShapeError(`${op}: argument 'rowSum' has shape ${shapeStr(rowSum.shape)} ${rowSum.dtype}, expected ${p.batch * p.M} f32 elements (batch * M)`);
  if (addTo && (addTo.dtype !== T || addTo.size !== out.size)) throw new ShapeError(`${op}: argument 'addTo' has shape ${shapeStr(addTo.shape)} ${addTo.dtype}, expected ${shapeStr(p.outShape)} ${T}`);
  if (act && (act.pre.dtype !== T || act.pre.size !== out.size)) throw new ShapeError(`${op}: the activation's 'pre' has shape ${shapeStr(act.pre.shape)} ${act.pre.dtype}, expected ${shapeStr(p.outShape)} ${T}`);
  if (dact && (dact.pre.dtype !== T || dact.pre.size !== a.size)) throw new ShapeError(`${op}: the activation's 'pre' has shape ${shapeStr(dact.pre.shape)} ${dact.pre.dtype}, expected ${shapeStr(a.shape)} ${T} (a's)`);
  const e: EpiFlags = {
    ...(rowSum ? { ROWSUM: true } : {}), ...(addTo ? { ADD: true } : {}), ...(act ? { ACT: act.op } : {}), ...(dact ? { DACT: dact.op } : {}),
    ...(drop ? { DROP: true } : {}),
  };
  const l = pick(variant, p, transA, transB, !!bias, T, e);
  const gx = Math.ceil(p.N / l.cols), gy = Math.ceil(p.M / l.rows);
  if (gx > MAX_GROUPS) throw new ShapeError(`${op}: N=${p.N} needs ${gx} column workgroups, over the limit of ${MAX_GROUPS}`);
  // Chunk rows and batches over several dispatches when they exceed the per-dimension limit.
  for (let y0 = 0; y0 < gy; y0 += MAX_GROUPS) {
    for (let z0 = 0; z0 < p.batch; z0 += MAX_GROUPS) {
      runtime().run(l.kernel, { a, b, out, ...(bias ? { bias } : {}), ...(rowSum ? { rowsum: rowSum } : {}), ...(addTo ? { prev: addTo } : {}), ...(act || dact ? { pre: (act ?? dact)!.pre } : {}) }, {
        M: p.M, N: p.N, K: p.K, mOff: y0 * l.rows, bOff: z0,
        sam: p.sam, sak: p.sak, sbk: p.sbk, sbn: p.sbn, offA: p.offA, offB: p.offB, offO: p.offO, som: p.som,
        dropSeed: drop ? mapLive(drop.seed, (s) => s >>> 0) : 0, dropP: drop?.p ?? 0, dropScale: drop ? 1 / (1 - drop.p) : 1,
        batchShape: p.batchShape, aBatch: p.aBatch, bBatch: p.bBatch, oBatch: p.oBatch,
      }, [gx, Math.min(MAX_GROUPS, gy - y0), Math.min(MAX_GROUPS, p.batch - z0)]);
    }
  }
  return out;
}
