/**
 * Axis permutation and transpose as copy kernels (f32 or i32). Before launching, size-1 axes are
 * dropped and runs of axes that stay adjacent are merged, so NCHW -> NHWC runs as a rank-3 copy
 * ((N, C, HW) -> (N, HW, C)) and a permutation that only moves size-1 axes is a free view.
 * The gradient of a permutation is the inverse permutation.
 */
import permuteSrc from './permute.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import dims8 from '../common/dims8.wgsl';
import { Tensor, type Shape, shapeStr, check32 } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

/** Highest rank accepted (after merging, the kernel handles up to 8 axes). */
export const MAX_RANK = 8;

/** Validates `dims` as a permutation of `rank` axes (negative axes allowed) and normalises it. */
export function normPerm(op: string, rank: number, dims: readonly number[]): number[] {
  if (dims.length !== rank) throw new ShapeError(`${op}: dims [${dims}] has ${dims.length} entries, expected ${rank} (the tensor's rank)`);
  const p = dims.map((d) => {
    if (!Number.isInteger(d) || d < -rank || d >= rank) throw new ShapeError(`${op}: axis ${d} is out of range for rank ${rank}`);
    return d < 0 ? d + rank : d;
  });
  if (new Set(p).size !== rank) throw new ShapeError(`${op}: dims [${dims}] is not a permutation (repeated axis)`);
  return p;
}

/**
 * The smallest equivalent problem: `shape` is the merged input shape and `perm` the merged
 * permutation. Output axis j of the merged problem reads input axis perm[j].
 */
export function planPermute(shape: Shape, perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const rankOf = new Map(kept.map((a, r) => [a, r]));
  const order = perm.filter((d) => shape[d] !== 1).map((d) => rankOf.get(d)!);
  // Runs of consecutive compact input axes, in output order.
  const runs: number[][] = [];
  for (const r of order) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] + 1 === r) last.push(r);
    else runs.push([r]);
  }
  const byInput = [...runs].sort((a, b) => a[0] - b[0]);
  const mergedShape = byInput.map((run) => run.reduce((acc, r) => acc * shape[kept[r]], 1));
  const mergedPerm = runs.map((run) => byInput.indexOf(run));
  return { shape: mergedShape, perm: mergedPerm };
}

/** Permutes the axes of `x`: out.shape[i] = x.shape[dims[i]] (like torch.permute). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (x.rank > MAX_RANK) throw new ShapeError(`permute: rank ${x.rank} > ${MAX_RANK} is not supported`);
  check32('permute', 'x', x);
  const p = normPerm('permute', x.rank, dims);
  const outShape = p.map((d) => x.shape[d]);
  const inv: number[] = new Array(p.length);
  p.forEach((d, i) => { inv[d] = i; });
  void x.buffer; // a disposed input throws here, before anything is allocated
  const plan = planPermute(x.shape, p);
  let out: Tensor;
  if (plan.perm.every((d, i) => d === i)) {
    out = x.unrecordedView(outShape); // only size-1 axes move: the memory order is unchanged
  } else {
    // x: (plan.shape), out: (plan.shape permuted by plan.perm) == (outShape)
    const r = plan.shape.length;
    const inStride: number[] = new Array(r);
    let acc = 1;
    for (let i = r - 1; i >= 0; i--) { inStride[i] = acc; acc *= plan.shape[i]; }
    const pad = (v: number[]) => [...v, ...new Array(8 - v.length).fill(1)];
    const sh = pad(plan.perm.map((d) => plan.shape[d]));
    const st = pad(plan.perm.map((d) => inStride[d]));
    out = Tensor.alloc(outShape, x.dtype);
    const [gx, gy] = grid(Math.ceil(x.size / 64));
    runtime().run(wgsl('permute', permuteSrc, { include: [flatIndex, each, dims8] }), { x, out },
      { n: x.size, stride: gx * 64, rank: r, shape0: sh.slice(0, 4), shape1: sh.slice(4), st0: st.slice(0, 4), st1: st.slice(4) }, [gx, gy]);
  }
  return record('permute', [x], out, (g) => [permute(g, inv)]);
}

/** Swaps two axes (negative axes allowed), like torch.transpose. */
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const r = x.rank;
  for (const d of [d0, d1]) if (!Number.isInteger(d) || d < -r || d >= r) throw new ShapeError(`transpose: axis ${d} is out of range for rank ${r} (shape ${shapeStr(x.shape)})`);
  const p = [...Array(r).keys()];
  const a = d0 < 0 ? d0 + r : d0, b = d1 < 0 ? d1 + r : d1;
  [p[a], p[b]] = [p[b], p[a]];
  return permute(x, p);
}
