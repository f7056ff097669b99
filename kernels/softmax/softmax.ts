/**
 * Softmax, log-softmax and cross-entropy, numerically stable (max-subtracted, with an online
 * max/sum so each row is read twice, not three times). Rows are reduced by teams of invocations
 * sized to the row length: one workgroup per row for long rows, many short rows per workgroup.
 * Cross-entropy follows PyTorch (`reduction`, `label_smoothing`, `ignore_index`) and has a fused
 * backward, `softmax - target`, that reuses the per-row log-sum-exp saved by the forward pass.
 */
import softmaxSrc from './softmax.wgsl';
import softmaxBackSrc from './softmax_backward.wgsl';
import ceSrc from './cross_entropy.wgsl';
import ceSumSrc from './cross_entropy_sum.wgsl';
import ceBackSrc from './cross_entropy_backward.wgsl';
import onlineSrc from './online.wgsl';
import ceCommonSrc from './ce_common.wgsl';
import rowsSrc from './rows.wgsl';
import teamSrc from '../common/team.wgsl';
import teamSumSrc from '../common/team_sum.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import { Tensor, type Shape, shapeStr } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl, storageDefines } from '../../engine/core/wgsl.ts';
import { teamFor, teamGroups as rowGroups } from '../common/team.ts';
import { ShapeError, checkFloat } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

const NAN_BITS = 0x7fc00000;

function normAxis(op: string, rank: number, axis: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** (outer, len, inner) view of `shape` around `axis`. */
function rowView(shape: Shape, axis: number): { outer: number; len: number; inner: number } {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, len: shape[axis], inner };
}

function softmaxImpl(x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  checkFloat(op, 'x', x);
  if (x.rank === 0) throw new ShapeError(`${op}: argument 'x' is a scalar, expected rank >= 1`);
  const ax = normAxis(op, x.rank, axis);
  void x.buffer; // a disposed input throws here, before anything is allocated
  const { outer, len, inner } = rowView(x.shape, ax);
  const rows = outer * inner;
  const team = teamFor(len);
  const params = { rows, len, inner };
  // x: (outer, len, inner), out: (outer, len, inner)
  // f16: read and written as halves, computed in f32.
  const T = storageDefines(x.dtype);
  const out = Tensor.alloc(x.shape, x.dtype);
  runtime().run(wgsl('softmax', softmaxSrc, { include: [teamSrc, onlineSrc, rowsSrc], defines: { TEAM: team, LOG: log, ...T } }),
    { x, out }, params, rowGroups(rows, team));
  return record(op, [x], out, (g, _needs, [y]) => {
    if (g.dtype !== x.dtype) throw new ShapeError(`${op} backward: the output gradient has dtype ${g.dtype} and argument 'x' ${x.dtype}; cast() it to ${x.dtype}`);
    // y, g, dx: (outer, len, inner)
    const dx = Tensor.alloc(x.shape, x.dtype);
    runtime().run(wgsl('softmax_backward', softmaxBackSrc, { include: [teamSrc, teamSumSrc, rowsSrc], defines: { TEAM: team, LOG: log, SUM_T: 'f32', ...T } }),
      { y, g, dx }, params, rowGroups(rows, team));
    return [dx];
  }, [out]);
}

/** Softmax along `axis` (default: last). */
export function softmax(x: Tensor, axis = -1): Tensor { return softmaxImpl(x, axis, false); }

/** Log-softmax along `axis` (default: last): x - max - log(sum(exp(x - max))). */
export function logSoftmax(x: Tensor, axis = -1): Tensor { return softmaxImpl(x, axis, true); }

/** Options of `crossEntropy`, as in `torch.nn.functional.cross_entropy`. */
export interface CrossEntropyOptions {
  /** 'mean' (default) averages over rows whose label is not `ignoreIndex`; 'sum' adds; 'none' gives (N). */
  reduction?: 'mean' | 'sum' | 'none';
  /** Mixes the one-hot target with the uniform distribution: (1 - s) * onehot + s / C. Default 0. */
  labelSmoothing?: number;
  /** Rows with this label contribute no loss and no gradient. Default -100, as in PyTorch. */
  ignoreIndex?: number;
}

const MODE = { none: 0, sum: 1, mean: 2 } as const;

/**
 * Cross-entropy of `logits` (N, C) against integer class `labels` (N), with PyTorch semantics.
 * Returns a scalar (shape []) for 'mean'/'sum', or the per-row losses (N) for 'none'. Labels are
 * not read back to the host, so an out-of-range label (other than `ignoreIndex`) is not thrown:
 * it makes that row's loss and gradient NaN, which poisons a reduced loss visibly.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const reduction = opts.reduction ?? 'mean';
  const eps = opts.labelSmoothing ?? 0;
  const ignoreIndex = opts.ignoreIndex ?? -100;
  if (!(reduction in MODE)) throw new ShapeError(`crossEntropy: reduction '${reduction}' is not one of 'mean', 'sum', 'none'`);
  if (!(eps >= 0 && eps <= 1)) throw new ShapeError(`crossEntropy: labelSmoothing ${eps} is outside [0, 1]`);
  if (!Number.isInteger(ignoreIndex)) throw new ShapeError(`crossEntropy: ignoreIndex ${ignoreIndex} is not an integer`);
  if ((logits.dtype !== 'f32' && logits.dtype !== 'f16') || logits.rank !== 2) throw new ShapeError(`crossEntropy: argument 'logits' has ${logits.dtype} shape ${shapeStr(logits.shape)}, expected f32 or f16 (N, C)`);
  const [N, C] = logits.shape;
  if (labels.dtype !== 'i32' || labels.rank !== 1 || labels.shape[0] !== N) {
    throw new ShapeError(`crossEntropy: argument 'labels' has ${labels.dtype} shape ${shapeStr(labels.shape)}, expected i32 [${N}]`);
  }
  if (C === 0) throw new ShapeError('crossEntropy: logits have 0 classes');
  void logits.buffer; void labels.buffer; // a disposed input throws before anything is allocated
  const team = teamFor(C);
  // logits: (N, C), labels: (N), rowLoss: (N), lse: (N)
  const rowLoss = Tensor.alloc([N]);
  const lse = Tensor.alloc([N]);
  // f16 logits are read as halves; the loss and lse are f32, dlogits has the logits' dtype.
  const T = storageDefines(logits.dtype);
  runtime().run(wgsl('cross_entropy', ceSrc, { include: [ceCommonSrc, teamSrc, onlineSrc], defines: { TEAM: team, ...T } }),
    { logits, labels, rowLoss, lse }, { rows: N, len: C, ignoreIndex, eps, nanBits: NAN_BITS }, rowGroups(N, team));
  let out = rowLoss;
  let count: Tensor | null = null;
  if (reduction !== 'none') {
    // out: (), count: (1)
    out = Tensor.alloc([]);
    count = Tensor.alloc([1]);
    runtime().run(wgsl('cross_entropy_sum', ceSumSrc, { include: [teamSumSrc], defines: { SUM_T: 'vec2<f32>' } }),
      { rowLoss, labels, out, count }, { rows: N, mean: reduction === 'mean' ? 1 : 0, ignoreIndex }, [1]);
    rowLoss.dispose();
  }
  const mode = MODE[reduction];
  const result = record('crossEntropy', [logits, labels], out, (g, _needs, [sl, sy, slse, scount]) => {
    // dlogits: (N, C); g: (N) for 'none', (1) otherwise
    const dlogits = Tensor.alloc(logits.shape, logits.dtype);
    const [gx, gy] = grid(Math.ceil(N * C / 64));
    runtime().run(wgsl('cross_entropy_backward', ceBackSrc, { include: [ceCommonSrc, flatIndex, each], defines: { MODE: mode, ...T } }),
      { logits: sl, labels: sy, lse: slse, g, count: scount ?? slse, dlogits },
      { n: N * C, stride: gx * 64, len: C, ignoreIndex, eps, nanBits: NAN_BITS }, [gx, gy]);
    return [dlogits, null];
  }, count ? [logits, labels, lse, count] : [logits, labels, lse]);
  lse.dispose();
  count?.dispose();
  return result;
}
