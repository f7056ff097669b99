/**
 * Row gather (embedding lookup) with a deterministic scatter-add gradient.
 *
 * Out-of-range indices are clamped to [0, V - 1], on the GPU, as tf.gather does on CPU-less
 * backends: rejecting them would need the indices read back to the host (a sync per lookup). The
 * gradient applies the same clamp, so it is the exact gradient of what the forward pass computed.
 *
 * The gradient (V, D) is built by one workgroup per table row scanning all indices (see
 * gather_backward.wgsl) instead of float atomics, which WGSL lacks and which would make the sum
 * order, and so the low bits, vary run to run.
 */
import gatherSrc from './gather.wgsl';
import gatherBackSrc from './gather_backward.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import { Tensor, shapeStr, check32 } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

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
  const pad = opts.paddingIdx === undefined ? -1 : opts.paddingIdx < 0 ? opts.paddingIdx + V : opts.paddingIdx;
  if (!Number.isInteger(pad) || pad < -1 || pad >= V) throw new ShapeError(`gather: paddingIdx ${opts.paddingIdx} is not a row of a table with ${V} rows`);
  void table.buffer; void indices.buffer; // a disposed input throws before anything is allocated
  const M = indices.size;
  // table: (V, D), indices: (M), out: (M, D)
  const out = Tensor.alloc([...indices.shape, D], table.dtype);
  const [gx, gy] = grid(Math.ceil(M * D / 64));
  runtime().run(wgsl('gather', gatherSrc, { include: [flatIndex, each] }), { table, indices, out },
    { n: M * D, stride: gx * 64, rows: V, dim: D }, [gx, gy]);
  return record('gather', [table, indices], out, (g, needs, [idx]) => {
    if (!needs[0]) return [null, null];
    // indices: (M), g: (M, D), dtable: (V, D)
    const dtable = Tensor.alloc([V, D]);
    runtime().run(wgsl('gather_backward', gatherBackSrc), { indices: idx, g, dtable },
      { rows: V, dim: D, count: M, padding: pad }, grid(V));
    return [dtable, null];
  }, [indices]);
}
