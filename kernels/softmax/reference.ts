/**
 * float64 CPU references of softmax, log-softmax and cross-entropy: the test oracles. Tests and
 * benchmarks import them from here; the library does not, and no entry point exports them.
 */
import type { Shape } from '../../engine/core/tensor.ts';
import type { CrossEntropyOptions } from './softmax.ts';

/** (outer, len, inner) view of `shape` around `axis` (negative counts from the end). */
function rowView(shape: Shape, axis: number): { outer: number; len: number; inner: number } {
  const ax = axis < 0 ? axis + shape.length : axis;
  if (!(ax >= 0 && ax < shape.length)) throw new RangeError(`softmaxRef: axis ${axis} is out of range for rank ${shape.length}`);
  let outer = 1, inner = 1;
  for (let i = 0; i < ax; i++) outer *= shape[i];
  for (let i = ax + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, len: shape[ax], inner };
}

/** float64 softmax (or log-softmax) of `x` with `shape` along `axis`. */
export function softmaxRef(x: ArrayLike<number>, shape: Shape, axis: number, log = false): Float64Array {
  const { outer, len, inner } = rowView(shape, axis);
  const out = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    const at = (k: number) => (o * len + k) * inner + i;
    let m = -Infinity;
    for (let k = 0; k < len; k++) m = Math.max(m, x[at(k)]);
    let s = 0;
    for (let k = 0; k < len; k++) s += Math.exp(x[at(k)] - m);
    for (let k = 0; k < len; k++) out[at(k)] = log ? x[at(k)] - m - Math.log(s) : Math.exp(x[at(k)] - m) / s;
  }
  return out;
}

/** float64 cross-entropy: per-row losses, the reduced loss, and the gradient of the reduced loss. */
export function crossEntropyRef(logits: ArrayLike<number>, labels: ArrayLike<number>, N: number, C: number, opts: CrossEntropyOptions = {}):
  { rows: Float64Array; loss: number; grad: Float64Array } {
  const eps = opts.labelSmoothing ?? 0, ignore = opts.ignoreIndex ?? -100, reduction = opts.reduction ?? 'mean';
  const logp = softmaxRef(logits, [N, C], 1, true);
  const rows = new Float64Array(N);
  const grad = new Float64Array(N * C);
  let count = 0;
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (y === ignore) continue;
    count++;
    for (let c = 0; c < C; c++) {
      const t = (c === y ? 1 - eps : 0) + eps / C;
      rows[i] -= t * logp[i * C + c];
      grad[i * C + c] = Math.exp(logp[i * C + c]) - t;
    }
  }
  const total = rows.reduce((a, b) => a + b, 0);
  const scale = reduction === 'mean' ? 1 / count : 1;
  if (reduction !== 'none') for (let k = 0; k < grad.length; k++) grad[k] *= scale;
  return { rows, loss: reduction === 'mean' ? total / count : total, grad };
}
