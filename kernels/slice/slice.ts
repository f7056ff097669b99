/**
 * slice and concat (f32 or i32). slice copies a box out of a tensor; its gradient writes the
 * output gradient back into a zero tensor of the input's shape (one "window" kernel does both, so
 * the zeros cost no extra pass). concat copies each input into its band of the output (one
 * dispatch per input); its gradient copies the bands back out. Dense blocks concatenate channels
 * this way.
 */
import sliceSrc from './slice.wgsl';
import concatSrc from './concat.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import dims8 from '../common/dims8.wgsl';
import { Tensor, type Shape, shapeStr, check32 } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

const MAX_RANK = 8;

/** dst[c] = src[c + shift] inside src, else 0. src: (src.shape), dst: (dstShape) */
function window(src: Tensor, dstShape: Shape, shift: number[]): Tensor {
  check32('slice', 'x', src);
  const dst = Tensor.alloc(dstShape, src.dtype);
  const pad = (v: readonly number[], fill: number) => [...v, ...new Array(8 - v.length).fill(fill)];
  const ds = pad(dstShape, 1), ss = pad(src.shape, 1), sh = pad(shift, 0);
  const [gx, gy] = grid(Math.ceil(dst.size / 64));
  runtime().run(wgsl('slice', sliceSrc, { include: [flatIndex, each, dims8] }), { src, dst }, {
    n: dst.size, stride: gx * 64, rank: dstShape.length,
    dstShape0: ds.slice(0, 4), dstShape1: ds.slice(4), srcShape0: ss.slice(0, 4), srcShape1: ss.slice(4),
    shift0: sh.slice(0, 4), shift1: sh.slice(4),
  }, [gx, gy]);
  return dst;
}

/**
 * The box of `x` starting at `begin` with extent `size` per axis (like tf.slice). A negative
 * `begin` counts from the end of the axis; a `size` of -1 takes the rest of the axis.
 */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const r = x.rank;
  if (r > MAX_RANK) throw new ShapeError(`slice: rank ${r} > ${MAX_RANK} is not supported`);
  if (begin.length !== r || size.length !== r) {
    throw new ShapeError(`slice: begin [${begin}] and size [${size}] need ${r} entries each for shape ${shapeStr(x.shape)}`);
  }
  const b: number[] = [], s: number[] = [];
  for (let d = 0; d < r; d++) {
    const dim = x.shape[d];
    const bd = begin[d] < 0 ? begin[d] + dim : begin[d];
    const sd = size[d] === -1 ? dim - bd : size[d];
    if (!Number.isInteger(bd) || !Number.isInteger(sd) || bd < 0 || sd < 0 || bd + sd > dim) {
      throw new ShapeError(`slice: axis ${d} (size ${dim}): begin ${begin[d]} with size ${size[d]} falls outside the tensor ${shapeStr(x.shape)}`);
    }
    b.push(bd);
    s.push(sd);
  }
  void x.buffer; // a disposed input throws here, before anything is allocated
  // x: (x.shape), out: (s)
  const out = window(x, s, b);
  return record('slice', [x], out, (g) => [window(g, x.shape, b.map((v) => -v))]);
}

/** Block copy src band -> dst band over `outer` rows (see concat.wgsl). */
function blockCopy(src: Tensor, dst: Tensor, outer: number, len: number, srcRow: number, srcOff: number, dstRow: number, dstOff: number): void {
  const n = outer * len;
  if (n === 0) return;
  const [gx, gy] = grid(Math.ceil(n / 64));
  runtime().run(wgsl('concat', concatSrc, { include: [flatIndex, each] }), { src, dst },
    { n, stride: gx * 64, len, srcRow, srcOff, dstRow, dstOff }, [gx, gy]);
}

/** Concatenates tensors along `axis` (negative allowed); all other dims and the dtype must match. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: no tensors given');
  const first = tensors[0];
  check32('concat', 'tensors', first);
  const r = first.rank;
  if (!Number.isInteger(axis) || axis < -r || axis >= r) throw new ShapeError(`concat: axis ${axis} is out of range for rank ${r}`);
  const ax = axis < 0 ? axis + r : axis;
  tensors.forEach((t, i) => {
    const ok = t.dtype === first.dtype && t.rank === r && t.shape.every((d, k) => k === ax || d === first.shape[k]);
    if (!ok) throw new ShapeError(`concat: tensor ${i} has ${t.dtype} shape ${shapeStr(t.shape)}, expected ${first.dtype} matching ${shapeStr(first.shape)} except on axis ${ax}`);
  });
  for (const t of tensors) void t.buffer; // a disposed input throws before anything is allocated
  let outer = 1, inner = 1;
  for (let d = 0; d < ax; d++) outer *= first.shape[d];
  for (let d = ax + 1; d < r; d++) inner *= first.shape[d];
  const lens = tensors.map((t) => t.shape[ax]);
  const total = lens.reduce((a, b) => a + b, 0);
  const outShape = [...first.shape];
  outShape[ax] = total;
  // each input: (outer, len_i * inner); out: (outer, total * inner)
  const out = Tensor.alloc(outShape, first.dtype);
  const offs: number[] = [];
  let off = 0;
  tensors.forEach((t, i) => {
    offs.push(off);
    blockCopy(t, out, outer, lens[i] * inner, lens[i] * inner, 0, total * inner, off * inner);
    off += lens[i];
  });
  return record('concat', [...tensors], out, (g, needs) => tensors.map((t, i) => {
    if (!needs[i]) return null;
    const dx = Tensor.alloc(t.shape);
    blockCopy(g, dx, outer, lens[i] * inner, total * inner, offs[i] * inner, lens[i] * inner, 0);
    return dx;
  }));
}
