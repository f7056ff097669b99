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
import { Tensor, shapeStr, sameShape } from '../../engine/core/tensor.ts';
import commonSrc from './ln_common.wgsl';
import teamSrc from '../common/team.wgsl';
import teamSumSrc from '../common/team_sum.wgsl';
import { runtime } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { teamFor, teamGroups } from '../common/team.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mapLive } from '../../engine/core/live.ts';
import dropoutKeep from '../common/dropout_keep.wgsl';
import { record } from '../../engine/core/tape.ts';
import { type FusedDropout, checkFusedDropout } from '../dropout/dropout.ts';

/** The residual builds' defines and blocks (RESID: x = dropout(h) + res; DROP: with the dropout). */
type LnDefines = { TEAM?: number; AFFINE?: boolean; SUM_T?: string; RESID?: true; DROP?: boolean; OUT_DROP?: true };

function residBlocks(kernel: 'fwd' | 'dx' | 'params') {
  return (d: Readonly<LnDefines>): Record<string, string> => {
    const b: Record<string, string> = {};
    const params = (d.RESID ? 'seed: u32, p: f32, scale: f32,' : '') + (d.OUT_DROP ? ' oseed: u32, op: f32, oscale: f32,' : '');
    if (params) b.DROP_PARAMS = params;
    if (d.OUT_DROP) {
      if (kernel === 'fwd') b.ST_OUT = '  out[i] = dropped(v, params.oscale, params.oseed, params.op, i);';
      else b.G_IN = '  return dropped(g[i], params.oscale, params.oseed, params.op, i);';
    }
    if (!d.RESID || kernel === 'params') return b;
    const kept = (v: string, i: string) => (d.DROP ? `dropped(${v}, params.scale, params.seed, params.p, ${i})` : v);
    return kernel === 'fwd'
      ? {
        ...b, X_ACCESS: 'read_write',
        RESID_DECL: '@group(0) @binding(7) var<storage, read> h: array<f32>;\n@group(0) @binding(8) var<storage, read> res: array<f32>;',
        FIRST_X: `  let v = ${kept('h[i]', 'i')} + res[i];\n  x[i] = v;\n  return v;`,
      }
      : {
        ...b,
        RESID_DECL: '@group(0) @binding(7) var<storage, read_write> dh: array<f32>;',
        STORE_DH: `    dh[base + k] = ${kept('d', 'base + k')};`,
      };
  };
}

/** A dropout fused into a layer norm (residualLayerNorm's branch, or the output). */
export type ResidualDropout = FusedDropout;

/**
 * Normalises `x` (..., D) over its last dim, then scales by `weight` (D) and shifts by `bias` (D)
 * when given (both or neither). `eps` is added to the biased variance (BERT uses 1e-12). `outDrop`:
 * dropout on the output in the same kernel (the dropout op's values and mask for the same seed).
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5, outDrop: ResidualDropout | null = null): Tensor {
  if (x.dtype !== 'f32' || x.rank < 1) throw new ShapeError(`layerNorm: argument 'x' has ${x.dtype} shape ${shapeStr(x.shape)}, expected f32 (..., D)`);
  return layerNormImpl('layerNorm', x, null, weight, bias, eps, null, checkFusedDropout('layerNorm', outDrop));
}


/**
 * LayerNorm(dropout(h) + res) over the last dim in one kernel (transformer sub-layer outputs: BERT's
 * dense, dropout, residual add, LayerNorm), and one kernel for the gradients of h and res (plus the
 * usual weight/bias one). The same values as dropout, add and layerNorm, bit for bit: the dropout
 * draws the same mask for the same seed. `drop` null or p = 0: no dropout. h, res: f32 (..., D).
 * `outDrop`: dropout on the output too, as layerNorm's.
 */
export function residualLayerNorm(h: Tensor, res: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5, drop: ResidualDropout | null = null, outDrop: ResidualDropout | null = null): Tensor {
  for (const [n, t] of [['h', h], ['res', res]] as const) {
    if (t.dtype !== 'f32' || t.rank < 1) throw new ShapeError(`residualLayerNorm: argument '${n}' has ${t.dtype} shape ${shapeStr(t.shape)}, expected f32 (..., D)`);
  }
  if (!sameShape(h.shape, res.shape)) throw new ShapeError(`residualLayerNorm: 'h' has shape ${shapeStr(h.shape)} and 'res' ${shapeStr(res.shape)}; they must match`);
  return layerNormImpl('residualLayerNorm', h, res, weight, bias, eps, checkFusedDropout('residualLayerNorm', drop), checkFusedDropout('residualLayerNorm', outDrop));
}

/** layerNorm (res null: x is h) or residualLayerNorm (x = dropout(h) + res). */
function layerNormImpl(op: string, h: Tensor, res: Tensor | null, weight: Tensor | null, bias: Tensor | null, eps: number, drop: ResidualDropout | null, outDrop: ResidualDropout | null): Tensor {
  const D = h.shape[h.rank - 1];
  if (!weight !== !bias) throw new ShapeError(`${op}: pass both weight and bias, or neither`);
  for (const [n, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.dtype !== 'f32' || p.rank !== 1 || p.size !== D)) throw new ShapeError(`${op}: argument '${n}' has shape ${shapeStr(p.shape)}, expected [${D}]`);
  }
  if (!(eps >= 0)) throw new ShapeError(`${op}: eps must be >= 0, got ${eps}`);
  void h.buffer; void res?.buffer; void weight?.buffer; void bias?.buffer; // a disposed input throws before anything is allocated
  const affine = !!weight;
  const rows = D === 0 ? 0 : h.size / D;
  const team = teamFor(D);
  const groups = teamGroups(rows, team);
  // Each fused build's defines and uniform fields exist only in that build (the plain one keeps its key).
  const fused: LnDefines = { ...(res ? { RESID: true, DROP: !!drop } : {}), ...(outDrop ? { OUT_DROP: true } : {}) };
  const defines = (SUM_T: string): LnDefines => ({ TEAM: team, AFFINE: affine, SUM_T, ...fused });
  const u = {
    rows, len: D, eps,
    ...(res ? { seed: drop ? mapLive(drop.seed, (s) => s >>> 0) : 0, p: drop?.p ?? 0, scale: drop ? 1 / (1 - drop.p) : 1 } : {}),
    ...(outDrop ? { oseed: mapLive(outDrop.seed, (s) => s >>> 0), op: outDrop.p, oscale: 1 / (1 - outDrop.p) } : {}),
  };
  const include = [commonSrc, teamSrc, teamSumSrc, dropoutKeep];
  // x: (rows, D) (the residual build writes it: dropout(h) + res), out: (rows, D), mean: (rows), rstd: (rows)
  const x = res ? Tensor.alloc(h.shape) : h;
  const out = Tensor.alloc(h.shape);
  const mean = Tensor.alloc([rows]);
  const rstd = Tensor.alloc([rows]);
  runtime().run(wgsl('layernorm', lnSrc, { include, defines: defines('f32'), blocks: residBlocks('fwd') }),
    { x, weight: weight ?? h, bias: bias ?? h, out, mean, rstd, ...(res ? { h, res } : {}) }, u, groups);
  const inputs = [...(res ? [h, res] : [h]), ...(affine ? [weight!, bias!] : [])];
  const nx = inputs.length - (affine ? 2 : 0);
  const result = record(op, inputs, out, (g, needs, [sx, smean, srstd, sw]) => {
    let dx: Tensor | null = null, dh: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (needs.slice(0, nx).some((n) => n)) {
      // dx: (rows, D), the gradient of x (and of res); dh: (rows, D) through the dropout
      dx = Tensor.alloc(h.shape);
      if (res) dh = Tensor.alloc(h.shape);
      runtime().run(wgsl('layernorm_backward_dx', lnDxSrc, { include, defines: defines('vec2<f32>'), blocks: residBlocks('dx') }),
        { x: sx, weight: sw ?? sx, g, mean: smean, rstd: srstd, dx, ...(dh ? { dh } : {}) }, u, groups);
    }
    if (affine && (needs[nx] || needs[nx + 1])) {
      // dweight: (D), dbias: (D)
      dw = Tensor.alloc([D]);
      db = Tensor.alloc([D]);
      runtime().run(wgsl('layernorm_backward_params', lnParamsSrc, { include: [commonSrc, dropoutKeep], defines: outDrop ? { OUT_DROP: true } : {}, blocks: residBlocks('params') }),
        { x: sx, g, mean: smean, rstd: srstd, dweight: dw, dbias: db }, outDrop ? u : { rows, len: D, eps }, [Math.ceil(D / 16)]);
      if (!needs[nx]) { dw.dispose(); dw = null; }
      if (!needs[nx + 1]) { db.dispose(); db = null; }
    }
    // residual: [dh, dres]; plain: [dx]
    let grads: (Tensor | null)[] = res ? [dh, dx] : [dx];
    grads = grads.map((t, i) => {
      if (t && !needs[i]) { t.dispose(); return null; }
      return t;
    });
    return affine ? [...grads, dw, db] : grads;
  }, affine ? [x, mean, rstd, weight!] : [x, mean, rstd]);
  if (res) x.dispose();
  mean.dispose();
  rstd.dispose();
  return result;
}
