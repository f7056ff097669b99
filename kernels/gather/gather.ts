/**
 * Row gather (embedding lookup) with a deterministic scatter-add gradient, and gatherSum: several
 * lookups (at indices, or by position) summed in one kernel, as BERT's embeddings.
 *
 * Out-of-range indices are clamped to [0, V - 1], on the GPU, as tf.gather does on CPU-less
 * backends: rejecting them would need the indices read back to the host (a sync per lookup). The
 * gradient applies the same clamp, so it is the exact gradient of what the forward pass computed.
 *
 * The gradient (V, D) is built without float atomics, which WGSL lacks and which would make the sum
 * order, and so the low bits, vary run to run: by one workgroup per table row scanning all indices
 * (gather_backward.wgsl), or, for tables with more rows than indices, by one workgroup per index
 * into a zero-filled table (gather_backward_index.wgsl). Both add each row's terms in increasing
 * index order, so they give the same bits.
 */
import gatherSrc from './gather.wgsl';
import gatherBackSrc from './gather_backward.wgsl';
import gatherSumSrc from './gather_sum.wgsl';
import gatherBackIndexSrc from './gather_backward_index.wgsl';
import gatherBackPosSrc from './gather_backward_position.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import { Tensor, type Shape, shapeStr, sameShape, check32, numel } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';
import { zeros } from '../../engine/core/factory.ts';

/** Options of `gather`. */
export interface GatherOptions {
  /** A row that gets no gradient, as torch.nn.Embedding's padding_idx (negative counts from the end). */
  paddingIdx?: number;
}

/**
 * Looks up rows of `table` (V, D) at `indices` (i32, any shape): the result has shape
 * [...indices.shape, D]. Indices outside [0, V) are clamped.
 */
export function gather(table: Tensor, indices: Tensor, opts: GatherOptions = {}): Tensor {
  if (table.rank !== 2) throw new ShapeError(`gather: argument 'table' has shape ${shapeStr(table.shape)}, expected (V, D)`);
  check32('gather', 'table', table);
  if (indices.dtype !== 'i32') throw new ShapeError(`gather: argument 'indices' has dtype ${indices.dtype}, expected i32`);
  const [V, D] = table.shape;
  if (V === 0) throw new ShapeError('gather: the table has no rows');
  const pad = paddingRow('gather', opts.paddingIdx, V);
  void table.buffer; void indices.buffer; // a disposed input throws before anything is allocated
  const M = indices.size;
  // table: (V, D), indices: (M), out: (M, D)
  const out = Tensor.alloc([...indices.shape, D], table.dtype);
  const [gx, gy] = grid(Math.ceil(M * D / 64));
  runtime().run(wgsl('gather', gatherSrc, { include: [flatIndex, each] }), { table, indices, out },
    { n: M * D, stride: gx * 64, rows: V, dim: D }, [gx, gy]);
  return record('gather', [table, indices], out, (g, needs, [idx]) => [needs[0] ? scatterRows(idx, g, V, D, pad) : null, null], [indices]);
}

/** The row paddingIdx names in a table of V rows (negative counts from the end), or -1 for none. */
function paddingRow(op: string, paddingIdx: number | undefined, V: number): number {
  const pad = paddingIdx === undefined ? -1 : paddingIdx < 0 ? paddingIdx + V : paddingIdx;
  if (!Number.isInteger(pad) || pad < -1 || pad >= V) throw new ShapeError(`${op}: paddingIdx ${paddingIdx} is not a row of a table with ${V} rows`);
  return pad;
}

/**
 * A lookup's table gradient dtable (V, D): the rows of g (M, D) summed into the rows they read, none
 * into row `pad` (-1: none). `rows`: the i32 indices (M) read (a scatter kernel), or { period }:
 * index m read row m % period (a strided sum per element).
 *
 * Of the scatter kernels, the per-row one costs V workgroups of M index comparisons each, the
 * per-index one M workgroups of up to M comparisons (plus a fill of the V * D zeros): so per-row
 * when V <= M (small tables read many times, as token types), per-index when V > M (a vocabulary:
 * BERT's 30522 words read at 512 indices: ~300 ms per-row vs ~15 ms per-index plus ~5 ms of fill
 * on lavapipe). `by` forces one (tests compare their bits).
 */
export function scatterRows(rows: Tensor | { period: number }, g: Tensor, V: number, D: number, pad: number, by?: 'row' | 'index'): Tensor {
  const count = g.size / D;
  if (rows instanceof Tensor) {
    const params = { rows: V, dim: D, count, padding: pad };
    if ((by ?? (V > count ? 'index' : 'row')) === 'row') {
      const dtable = Tensor.alloc([V, D]);
      runtime().run(wgsl('gather_backward', gatherBackSrc), { indices: rows, g, dtable }, params, grid(V));
      return dtable;
    }
    const dtable = zeros([V, D]);
    if (count > 0) runtime().run(wgsl('gather_backward_index', gatherBackIndexSrc), { indices: rows, g, dtable }, params, grid(count));
    return dtable;
  }
  const dtable = Tensor.alloc([V, D]);
  const [gx, gy] = grid(Math.ceil(V * D / 64));
  runtime().run(wgsl('gather_backward_position', gatherBackPosSrc, { include: [flatIndex, each] }), { g, dtable },
    { n: V * D, stride: gx * 64, dim: D, count, period: rows.period, padding: pad }, [gx, gy]);
  return dtable;
}

/** Where gatherSum looks a table up: at i32 indices, or by position: index m (flattened) reads row m % period. */
export type GatherRows = Tensor | { period: number };

/**
 * Σ_j tables[j] looked up at rows[j], in one kernel: `shape` (...) → (..., D), as the sum of the
 * gathers, summed t0 + (t1 + (t2 + ...)). tables: up to 4, (V_j, D) f32; rows[j]: i32 indices of
 * `shape` (clamped as gather's), or { period } (BERT's positions: period T over (B, T) indices; row 0
 * everywhere: period 1). paddingIdx[j]: a row of table j that gets no gradient (as gather's).
 */
export function gatherSum(tables: Tensor[], rows: GatherRows[], shape: Shape, paddingIdx: (number | undefined)[] = []): Tensor {
  if (tables.length < 1 || tables.length > 4 || rows.length !== tables.length) {
    throw new ShapeError(`gatherSum: ${tables.length} tables and ${rows.length} row sources, expected 1 to 4 of each, as many of both`);
  }
  const D = tables[0].shape[1], M = numel(shape);
  const pads = tables.map((t, j) => {
    if (t.rank !== 2 || t.dtype !== 'f32' || t.shape[1] !== D) throw new ShapeError(`gatherSum: table ${j} has ${t.dtype} shape ${shapeStr(t.shape)}, expected f32 (V, ${D})`);
    if (t.shape[0] === 0) throw new ShapeError(`gatherSum: table ${j} has no rows`);
    const r = rows[j];
    if (r instanceof Tensor) {
      if (r.dtype !== 'i32' || !sameShape(r.shape, shape)) throw new ShapeError(`gatherSum: the indices of table ${j} have ${r.dtype} shape ${shapeStr(r.shape)}, expected i32 ${shapeStr(shape)}`);
    } else if (!Number.isInteger(r.period) || r.period < 1 || r.period > t.shape[0]) {
      throw new ShapeError(`gatherSum: period ${r.period} of table ${j} is not in [1, ${t.shape[0]}] (its rows)`);
    }
    void t.buffer; if (r instanceof Tensor) void r.buffer; // a disposed input throws before anything is allocated
    return paddingRow('gatherSum', paddingIdx[j], t.shape[0]);
  });
  const by = rows.map((r) => (r instanceof Tensor ? 'i' : 'p')).join('');
  const out = Tensor.alloc([...shape, D]);
  const bind: Record<string, Tensor> = { out };
  tables.forEach((t, j) => { bind['table' + j] = t; const r = rows[j]; if (r instanceof Tensor) bind['ids' + j] = r; });
  const [gx, gy] = grid(Math.ceil(M * D / 64));
  runtime().run(wgsl('gather_sum', gatherSumSrc, { include: [flatIndex, each], defines: { BY: by }, blocks: sumBlocks }), bind, {
    n: M * D, stride: gx * 64, dim: D,
    rows: tables.map((t) => t.shape[0]), period: rows.map((r) => (r instanceof Tensor ? 1 : r.period)),
  }, [gx, gy]);
  const ids = rows.filter((r): r is Tensor => r instanceof Tensor);
  return record('gatherSum', [...tables, ...ids], out, (g, needs, saved) => {
    let k = 0;
    const grads = tables.map((t, j) => {
      const r = rows[j] instanceof Tensor ? saved[k++] : rows[j];
      return needs[j] ? scatterRows(r, g, t.shape[0], D, pads[j]) : null;
    });
    return [...grads, ...ids.map(() => null)];
  }, ids);
}

/** gather_sum.wgsl's bindings, row functions and sum for the lookups BY (per table: i = indices, p = position). */
function sumBlocks({ BY }: { BY: string }): Record<string, string> {
  const decl: string[] = [], terms: string[] = [];
  let b = 0;
  [...BY].forEach((c, j) => {
    decl.push(`@group(0) @binding(${b++}) var<storage, read> table${j}: array<f32>;`);
    if (c === 'i') {
      decl.push(`@group(0) @binding(${b++}) var<storage, read> ids${j}: array<i32>;`);
      decl.push(`fn row${j}(m: u32) -> u32 { return u32(clamp(ids${j}[m], 0, i32(params.rows[${j}]) - 1)); }`);
    } else decl.push(`fn row${j}(m: u32) -> u32 { return m % params.period[${j}]; }`);
    terms.push(`table${j}[row${j}(m) * params.dim + d]`);
  });
  decl.push(`@group(0) @binding(${b++}) var<storage, read_write> out: array<f32>;`, `@group(0) @binding(${b}) var<uniform> params: Params;`);
  return { ROWS: decl.join('\n'), SUM: terms.reduceRight((acc, t) => `${t} + (${acc})`) };
}
