/**
 * Layer normalisation over the last dim (torch.nn.functional.layer_norm with a 1-D normalized
 * shape), with its hand-written backward: one kernel for the input gradient (per row, two fused
 * reductions) and one for the weight/bias gradients (column sums). The forward saves the per-row
 * mean and reciprocal std, so backward re-reads x but never recomputes the statistics. Rows are
 * reduced by teams sized to the row length: one workgroup per row for long rows (BERT-base's 768),
 * several rows per workgroup for short ones.
 */
import lnSrc from './layernorm.wgsl';
import lnDxSrc from './layernorm_backward_dx.wgsl';
import lnParamsSrc from './layernorm_backward_params.wgsl';
import { Tensor, shapeStr } from '../../engine/core/tensor.ts';
import commonSrc from './ln_common.wgsl';
import teamSrc from '../common/team.wgsl';
import teamSumSrc from '../common/team_sum.wgsl';
import { runtime } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { teamFor, teamGroups } from '../common/team.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

/**
 * Normalises `x` (..., D) over its last dim, then scales by `weight` (D) and shifts by `bias` (D)
 * when given (both or neither). `eps` is added to the biased variance (BERT uses 1e-12).
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  if (x.dtype !== 'f32' || x.rank < 1) throw new ShapeError(`layerNorm: argument 'x' has ${x.dtype} shape ${shapeStr(x.shape)}, expected f32 (..., D)`);
  const D = x.shape[x.rank - 1];
  if (!weight !== !bias) throw new ShapeError('layerNorm: pass both weight and bias, or neither');
  for (const [n, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.dtype !== 'f32' || p.rank !== 1 || p.size !== D)) throw new ShapeError(`layerNorm: argument '${n}' has shape ${shapeStr(p.shape)}, expected [${D}]`);
  }
  if (!(eps >= 0)) throw new ShapeError(`layerNorm: eps must be >= 0, got ${eps}`);
  void x.buffer; void weight?.buffer; void bias?.buffer; // a disposed input throws before anything is allocated
  const affine = !!weight;
  const rows = D === 0 ? 0 : x.size / D;
  const team = teamFor(D);
  const groups = teamGroups(rows, team);
  // x: (rows, D), out: (rows, D), mean: (rows), rstd: (rows)
  const out = Tensor.alloc(x.shape);
  const mean = Tensor.alloc([rows]);
  const rstd = Tensor.alloc([rows]);
  runtime().run(wgsl('layernorm', lnSrc, { include: [commonSrc, teamSrc, teamSumSrc], defines: { TEAM: team, AFFINE: affine, SUM_T: 'f32' } }),
    { x, weight: weight ?? x, bias: bias ?? x, out, mean, rstd }, { rows, len: D, eps }, groups);
  const inputs = affine ? [x, weight!, bias!] : [x];
  const result = record('layerNorm', inputs, out, (g, needs, [sx, smean, srstd, sw]) => {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (needs[0]) {
      // dx: (rows, D)
      dx = Tensor.alloc(x.shape);
      runtime().run(wgsl('layernorm_backward_dx', lnDxSrc, { include: [commonSrc, teamSrc, teamSumSrc], defines: { TEAM: team, AFFINE: affine, SUM_T: 'vec2<f32>' } }),
        { x: sx, weight: sw ?? sx, g, mean: smean, rstd: srstd, dx }, { rows, len: D, eps }, groups);
    }
    if (affine && (needs[1] || needs[2])) {
      // dweight: (D), dbias: (D)
      dw = Tensor.alloc([D]);
      db = Tensor.alloc([D]);
      runtime().run(wgsl('layernorm_backward_params', lnParamsSrc, { include: [commonSrc] }),
        { x: sx, g, mean: smean, rstd: srstd, dweight: dw, dbias: db }, { rows, len: D, eps }, [Math.ceil(D / 16)]);
      if (!needs[1]) { dw.dispose(); dw = null; }
      if (!needs[2]) { db.dispose(); db = null; }
    }
    return affine ? [dx, dw, db] : [dx];
  }, affine ? [x, mean, rstd, weight!] : [x, mean, rstd]);
  mean.dispose();
  rstd.dispose();
  return result;
}
