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
import { Tensor, type Shape, numel, shapeStr } from '../../engine/tensor.ts';
import { runtime, template, type Kernel } from '../../engine/runtime.ts';
import { ShapeError } from '../../engine/errors.ts';
import { broadcastShapes } from '../elementwise/elementwise.ts';

/**
 * Which kernel runs a matmul. 'auto' picks per adapter: 'tiled' (workgroup-memory tiles) on hardware
 * GPUs; on CPU-emulated ones 'subgroup' (subgroup.ts) where the device has subgroups and the operands
 * are vec4-aligned, else 'blocked' (register blocks, no workgroup memory). 'naive' is the oracle.
 */
export type MatmulVariant = 'auto' | 'naive' | 'blocked' | 'tiled' | 'subgroup';

/** A planned matmul: sizes, element strides, merged batch dims and the output shape. */
export interface MatmulPlan {
  M: number; N: number; K: number;
  /** Number of output matrices (after folding a shared b into a's rows). */
  batch: number;
  /** Merged batch dims, right-aligned and padded with 1 to 4, and each operand's stride over them. */
  batchShape: number[]; aBatch: number[]; bBatch: number[];
  sam: number; sak: number; sbk: number; sbn: number;
  outShape: number[];
}

/** Plans op(a) · op(b) for a: (..., M, K) (or (..., K, M) with transA), b: (..., K, N) (or (..., N, K) with transB). */
export function planMatmul(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, op = 'matmul'): MatmulPlan {
  if (aShape.length < 2 || bShape.length < 2) throw new ShapeError(`${op}: operands need rank >= 2, got ${shapeStr(aShape)} and ${shapeStr(bShape)}`);
  const ra = aShape.length, rb = bShape.length;
  const [M, Ka] = transA ? [aShape[ra - 1], aShape[ra - 2]] : [aShape[ra - 2], aShape[ra - 1]];
  const [Kb, N] = transB ? [bShape[rb - 1], bShape[rb - 2]] : [bShape[rb - 2], bShape[rb - 1]];
  if (Ka !== Kb) {
    throw new ShapeError(`${op}: argument 'b' has shape ${shapeStr(bShape)}${transB ? ' (transposed)' : ''} with inner dimension K=${Kb}, ` +
      `expected K=${Ka} to match argument 'a' ${shapeStr(aShape)}${transA ? ' (transposed)' : ''}`);
  }
  const K = Ka;
  const aB = aShape.slice(0, -2), bB = bShape.slice(0, -2);
  const outB = broadcastShapes(op, aB, bB);
  const outShape = [...outB, M, N];
  const sam = transA ? 1 : K, sak = transA ? M : 1;
  const sbk = transB ? 1 : N, sbn = transB ? K : 1;
  // A b shared by every batch of a (untransposed) is one big 2-D product: fold a's batch into M.
  if (!transA && numel(bB) === 1 && numel(aB) > 1) {
    const Mf = M * numel(aB);
    return { M: Mf, N, K, batch: 1, batchShape: [1, 1, 1, 1], aBatch: [0, 0, 0, 0], bBatch: [0, 0, 0, 0], sam, sak, sbk, sbn, outShape };
  }
  // Per output batch dim: size and each operand's stride in elements (0 where it broadcasts).
  const dims: [number, number, number][] = [];
  const strides = (shape: number[], mat: number): number[] => {
    const s = new Array(outB.length).fill(0);
    let acc = mat;
    for (let i = shape.length - 1; i >= 0; i--) {
      const oi = outB.length - shape.length + i;
      s[oi] = shape[i] === 1 ? 0 : acc;
      acc *= shape[i];
    }
    return s;
  };
  const sa = strides(aB, M * K), sb = strides(bB, K * N);
  for (let i = 0; i < outB.length; i++) {
    if (outB[i] === 1) continue;
    const prev = dims[dims.length - 1];
    // Merge with the previous (outer) dim when both operands step through the two contiguously.
    if (prev && prev[1] === sa[i] * outB[i] && prev[2] === sb[i] * outB[i]) {
      prev[0] *= outB[i];
      prev[1] = sa[i];
      prev[2] = sb[i];
    } else dims.push([outB[i], sa[i], sb[i]]);
  }
  if (dims.length > 4) throw new ShapeError(`${op}: batch dims ${shapeStr(outB)} merge into ${dims.length} dims; at most 4 are supported`);
  while (dims.length < 4) dims.unshift([1, 0, 0]);
  return {
    M, N, K, batch: numel(outB), batchShape: dims.map((d) => d[0]), aBatch: dims.map((d) => d[1]), bBatch: dims.map((d) => d[2]),
    sam, sak, sbk, sbn, outShape,
  };
}

interface Launch { kernel: Kernel; rows: number; cols: number }

/**
 * Blocked-kernel workgroup shape per adapter (invocations, each computing 8 rows x 8 columns). On
 * lavapipe and SwiftShader, 8x8, 16x1, 8x1 and 16x4 measured within noise of each other (the block
 * size is what matters there), so one shape serves all; the table is where a retune goes.
 */
const BLOCKED_WG: Record<string, [number, number]> = { lavapipe: [8, 8], swiftshader: [8, 8], hardware: [8, 8], unknown: [8, 8] };

function tiledConfig(p: MatmulPlan): { RM: number; RN4: number; BK: number } {
  // 128x128 tiles need enough of them to fill a large GPU; smaller products use 64x64. Chosen from
  // the usual GPU practice, not yet timed on a GPU: retune here from bench/matmul.ts on one.
  const big = p.M >= 512 && p.N >= 512;
  return big ? { RM: 8, RN4: 2, BK: 8 } : { RM: 4, RN4: 1, BK: 16 };
}

function pick(variant: MatmulVariant, p: MatmulPlan, transA: boolean, transB: boolean): Launch {
  const kind = runtime().gpu.info.kind;
  let v = variant;
  if (v === 'subgroup' || (v === 'auto' && kind !== 'hardware')) {
    const s = subgroupLaunch(p, transA, transB);
    if (s) return s;
    if (v === 'subgroup') throw new ShapeError(`matmul: the subgroup kernel cannot run here (it needs the device's 'subgroups' feature and 16-byte rows: M ${p.M}, N ${p.N}, K ${p.K})`);
  }
  if (v === 'auto') v = kind === 'hardware' ? 'tiled' : 'blocked';
  if (v === 'naive') return { kernel: { key: 'matmul_naive', code: () => commonSrc + naiveSrc }, rows: 8, cols: 8 };
  if (v === 'blocked') {
    const [WX, WY] = BLOCKED_WG[kind] ?? [8, 8];
    return { kernel: { key: `matmul_blocked:8x8:${WX}x${WY}`, code: () => commonSrc + template(blockedSrc, { WX, WY }) }, rows: 8 * WY, cols: 8 * WX };
  }
  const c = tiledConfig(p);
  const TA = transA, TB = transB;
  return {
    kernel: { key: `matmul_tiled:${c.RM}x${c.RN4}x${c.BK}:${TA}:${TB}`, code: () => commonSrc + template(tiledSrc, { ...c, TA, TB }) },
    rows: 16 * c.RM, cols: 64 * c.RN4,
  };
}

const MAX_GROUPS = 65535;

/** Computes op(a) · op(b) into a new tensor, with no autograd. */
export function matmulRaw(a: Tensor, b: Tensor, transA = false, transB = false, variant: MatmulVariant = 'auto', op = 'matmul'): Tensor {
  for (const [n, t] of [['a', a], ['b', b]] as const) {
    if (t.dtype !== 'f32') throw new ShapeError(`${op}: argument '${n}' has dtype ${t.dtype}, expected f32`);
  }
  const p = planMatmul(a.shape, b.shape, transA, transB, op);
  const out = Tensor.alloc(p.outShape);
  if (out.size === 0) return out;
  const l = pick(variant, p, transA, transB);
  const gx = Math.ceil(p.N / l.cols), gy = Math.ceil(p.M / l.rows);
  if (gx > MAX_GROUPS) throw new ShapeError(`${op}: N=${p.N} needs ${gx} column workgroups, over the limit of ${MAX_GROUPS}`);
  // Chunk rows and batches over several dispatches when they exceed the per-dimension limit.
  for (let y0 = 0; y0 < gy; y0 += MAX_GROUPS) {
    for (let z0 = 0; z0 < p.batch; z0 += MAX_GROUPS) {
      runtime().run(l.kernel, { a, b, out }, {
        M: p.M, N: p.N, K: p.K, mOff: y0 * l.rows, bOff: z0,
        sam: p.sam, sak: p.sak, sbk: p.sbk, sbn: p.sbn,
        batchShape: p.batchShape, aBatch: p.aBatch, bBatch: p.bBatch,
      }, [gx, Math.min(MAX_GROUPS, gy - y0), Math.min(MAX_GROUPS, p.batch - z0)]);
    }
  }
  return out;
}
