/**
 * Matrix multiplication: batched, broadcasting, with transposes folded into the kernels' strides
 * (no transpose copies), its backward beside it, and `linear` in PyTorch's layout; the float64 CPU
 * reference is in reference.ts. Kernels: see launch.ts (naive oracle, register-blocked for CPU adapters, tiled for GPUs).
 */
import { Tensor, type Shape, type GradInto, numel, shapeStr, sameShape } from '../../engine/core/tensor.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { reshape } from '../../engine/core/shape.ts';
import { add } from '../elementwise/elementwise.ts';
import { sumTo } from '../reduce/reduce.ts';
import { castRaw } from '../cast/cast.ts';
import { matmulRaw, type MatmulVariant, type EpilogueActivation } from './launch.ts';
import { type FusedDropout, checkFusedDropout } from '../dropout/dropout.ts';
import { planMatmul, contiguousStrides, type EpilogueAct, type MatmulView } from './plan.ts';
import { record } from '../../engine/core/tape.ts';
import { withTuning } from '../../engine/core/runtime.ts';
import type { TuningPatch } from '../../engine/core/tuning.ts';

export { matmulRaw, type MatmulVariant, type MatmulEpilogue, type MatmulLayout } from './launch.ts';
export type { EpilogueAct, MatmulView } from './plan.ts';
export { planMatmul, type MatmulPlan } from './plan.ts';

/** Options of `matmul`. */
export interface MatmulOptions {
  /** a is stored as (..., K, M) and used transposed. */
  transA?: boolean;
  /** b is stored as (..., N, K) and used transposed. */
  transB?: boolean;
  /** Forces a kernel (tests, benchmarks); 'auto' runs tuning.matmul.kernel. Backward uses the same one. */
  variant?: MatmulVariant;
  /** Merged over runtime().tuning for this op, forward and backward (engine/core/tuning.ts). */
  tuning?: TuningPatch;
}

/**
 * op(a) · op(b), where op transposes the last two dims when `transA`/`transB` is set.
 * a: (..., M, K) (or (..., K, M) with transA), b: (..., K, N) (or (..., N, K) with transB);
 * batch dims broadcast (NumPy rules); out: (..., M, N). A 1-D operand is a vector, as in torch.matmul
 * (a: (K) acts as (1, K), b: (K) as (K, 1), and that dim is dropped from the result).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => matmul(a, b, { ...opts, tuning: undefined }));
  const { transA = false, transB = false, variant = 'auto' } = opts;
  if (a.rank === 0 || b.rank === 0) throw new ShapeError(`matmul: argument '${a.rank === 0 ? 'a' : 'b'}' is a scalar (shape []), expected rank >= 1 (a vector or matrix); use mul() for scalars`);
  if (a.rank === 1 || b.rank === 1) return matmulVector(a, b, transA, transB, variant);
  return matmul2(a, b, null, transA, transB, variant);
}

/**
 * op(a) · op(b) (+ bias (N) added in the kernel's store, then `act` applied there) for a and b of
 * rank >= 2, recorded with its backward. With `act` the value before it is kept for backward, whose
 * matmuls read the output gradient times act' as they load it (DACT).
 */
function matmul2(a: Tensor, b: Tensor, bias: Tensor | null, transA: boolean, transB: boolean, variant: MatmulVariant, act: EpilogueAct | null = null, drop: FusedDropout | null = null): Tensor {
  const op = act ? 'linearAct' : bias ? 'linear' : 'matmul';
  const pre = act ? Tensor.alloc(planMatmul(a.shape, b.shape, transA, transB, op).outShape, a.dtype) : null;
  const out = matmulRaw(a, b, transA, transB, variant, op, bias, { act: act ? { op: act, pre: pre!, drop } : null });
  // Save only what backward will read: b for a's gradient, a for b's (and, after an activation, for
  // the bias's: its weight-gradient matmul sums it), the value before the activation.
  const keepA = b.requiresGrad || (!!act && !!bias?.requiresGrad);
  const save = [...(keepA ? [a] : []), ...(a.requiresGrad ? [b] : []), ...(pre ? [pre] : [])];
  const nSaved = save.length - (pre ? 1 : 0);
  const result = record(op, bias ? [a, b, bias] : [a, b], out, (g0, needs, saved, into) => {
    const sa = keepA ? saved[0] : null;
    const sb = a.requiresGrad ? saved[nSaved - 1] : null;
    const g: GradIn = { g: g0, dact: act ? { op: act, pre: saved[nSaved], drop } : null };
    // With both the weight's and the bias's gradients wanted, the weight-gradient matmul also sums g's
    // rows into the bias gradient (ROWSUM); otherwise the bias gradient is g summed over every row, as
    // add's backward of the broadcast bias.
    const fusedBias = bias && needs[2] && sa && (act || needs[1]) ? Tensor.alloc(bias.shape) : null;
    // With act the bias gradient always comes from the weight-gradient matmul's row sums (g times
    // act' is never formed), which then runs even when only the bias is trained.
    const dw = (needs[1] || (act && needs[2])) && sa ? gradB(g, sa, b.shape, transA, transB, variant, fusedBias) : null;
    if (dw && !needs[1]) dw.dispose();
    return [
      needs[0] && sb ? gradA(g, a.shape, sb, transA, transB, variant, into) : null,
      needs[1] ? dw : null,
      ...(bias ? [needs[2] ? fusedBias ?? sumTo(g.g.dtype === 'f16' ? castRaw(g.g, 'f32') : g.g, bias.shape) : null] : []),
    ];
  }, save);
  pre?.dispose();
  return result;
}

/** The output gradient of a matmul and, after an epilogue activation (and dropout), what it goes back through (DACT). */
interface GradIn { g: Tensor; dact: EpilogueActivation | null }

/**
 * Gradient of a: dC·op(b)ᵀ, laid out like a (so transA gives op(b)·dCᵀ), then summed over the batch
 * dims a was broadcast along. Where nothing is summed, the gradient autograd has gathered for a so
 * far (`into`) is added in the matmul's store (ADD) instead of by a separate add.
 */
function gradA(gi: GradIn, aShape: Shape, b: Tensor, tA: boolean, tB: boolean, v: MatmulVariant, into?: GradInto): Tensor {
  const { g, dact } = gi;
  if (tA) return sumTo(matmulRaw(b, g, tB, true, v), aShape); // (no act: linearAct is never transA)
  const prev = into?.grads[0] ?? null;
  const whole = numel(planMatmul(g.shape, b.shape, false, !tB).outShape) === numel(aShape);
  const addTo = prev && whole && prev.dtype === g.dtype && prev.size === numel(aShape) ? prev : null;
  if (addTo) into!.used[0] = true;
  return sumTo(matmulRaw(g, b, false, !tB, v, 'matmul', null, { addTo, dact }), aShape);
}

/**
 * Gradient of b: op(a)ᵀ·dC, laid out like b (so transB gives dCᵀ·op(a)), summed over the batch dims
 * b was broadcast along. A b shared by all of a's batches (the linear-layer case) folds the batch
 * into the reduction: one 2-D product over all batch rows, no batched temporary. `biasGrad` (linear's
 * case: tB, b 2-D) receives g summed over its rows from the same dispatch.
 */
function gradB(gi: GradIn, a: Tensor, bShape: Shape, tA: boolean, tB: boolean, v: MatmulVariant, biasGrad: Tensor | null = null): Tensor {
  // With an activation (linear: tB) g is the a operand, read times act' as it loads.
  const { g, dact } = gi;
  const aBatch = numel(a.shape.slice(0, -2));
  if (!tA && aBatch > 1 && numel(bShape.slice(0, -2)) === 1) {
    const [M, K, N] = [a.shape[a.rank - 2], a.shape[a.rank - 1], g.shape[g.rank - 1]];
    const a2 = a.unrecordedView([aBatch * M, K]), g2 = g.unrecordedView([aBatch * M, N]);  // (B*M, K), (B*M, N)
    const d = tB ? matmulRaw(g2, a2, true, false, v, 'matmul', null, { rowSum: biasGrad, dact: dact && tB ? { ...dact, pre: dact.pre.unrecordedView([aBatch * M, N]) } : null }) : matmulRaw(a2, g2, true, false, v);
    a2.dispose(); g2.dispose();
    if (d.rank === bShape.length) return d;
    const r = d.unrecordedView(bShape);
    d.dispose();
    return r;
  }
  const d = tB ? matmulRaw(g, a, true, tA, v, 'matmul', null, { rowSum: biasGrad, dact: tB ? dact : null }) : matmulRaw(a, g, !tA, false, v);
  return sumTo(d, bShape);
}

/**
 * op(a) · op(b) with a, b and the result read and written through views (plan.ts MatmulView), recorded
 * with its backward, whose matmuls read and write the same views: e.g. attention's heads read from and
 * written to (B, T, H*D) projections in place, with no permute copies. Each view (default: the tensor
 * itself, contiguous) must reach every element of its tensor once with a contiguous last dim
 * (transposes are transA / transB), and a's and b's batch dims must be equal (no broadcasting).
 * `views.out` places the logical (..., M, N) result in a tensor of shape `opts.outShape`.
 */
export function matmulStrided(a: Tensor, b: Tensor, views: { a?: MatmulView; b?: MatmulView; out?: MatmulView },
  opts: { transA?: boolean; transB?: boolean; variant?: MatmulVariant; outShape?: Shape } = {}): Tensor {
  const { transA = false, transB = false, variant = 'auto' } = opts;
  const whole = (t: Tensor): MatmulView => ({ shape: t.shape, strides: contiguousStrides(t.shape) });
  const av = views.a ?? whole(a), bv = views.b ?? whole(b);
  for (const [n, v, size] of [['a', av, a.size], ['b', bv, b.size], ['out', views.out, null]] as const) {
    if (v && v.strides[v.strides.length - 1] !== 1) throw new ShapeError(`matmul: the view of '${n}' has stride ${v.strides[v.strides.length - 1]} in its last dim, expected 1 (use transA / transB to transpose)`);
    if (v && size !== null && numel(v.shape) !== size) throw new ShapeError(`matmul: the view of '${n}' has ${numel(v.shape)} elements, expected its tensor's ${size}`);
  }
  if (!sameShape(av.shape.slice(0, -2), bv.shape.slice(0, -2))) {
    throw new ShapeError(`matmul: strided operands need equal batch dims, got ${shapeStr(av.shape)} and ${shapeStr(bv.shape)}`);
  }
  const logical = planMatmul(av.shape, bv.shape, transA, transB).outShape;
  const outShape = opts.outShape ?? logical;
  const ov: MatmulView = views.out ?? { shape: logical, strides: contiguousStrides(logical) };
  if (numel(outShape) !== numel(logical)) throw new ShapeError(`matmul: the result's shape ${shapeStr(outShape)} does not hold ${shapeStr(logical)}`);
  // x·y (transposed as asked) through views xv, yv into a new tensor of `shape` through view zv.
  const run = (x: Tensor, y: Tensor, tx: boolean, ty: boolean, xv: MatmulView, yv: MatmulView, zv: MatmulView, shape: Shape) =>
    matmulRaw(x, y, tx, ty, variant, 'matmul', null, {}, { a: xv, b: yv, out: { ...zv, into: Tensor.alloc(shape, x.dtype) } });
  const out = run(a, b, transA, transB, av, bv, ov, outShape);
  return record('matmul', [a, b], out, (g, needs, [sa, sb]) => [
    needs[0] ? (transA ? run(sb, g, transB, true, bv, ov, av, a.shape) : run(g, sb, false, !transB, ov, bv, av, a.shape)) : null,
    needs[1] ? (transB ? run(g, sa, true, transA, ov, av, bv, b.shape) : run(sa, g, !transA, false, av, ov, bv, b.shape)) : null,
  ], [a, b]);
}

function matmulVector(a: Tensor, b: Tensor, tA: boolean, tB: boolean, variant: MatmulVariant): Tensor {
  const a2 = a.rank === 1 ? reshape(a, [1, a.size]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.size, 1]) : b;
  const y = matmul(a2, b2, { transA: a.rank === 1 ? false : tA, transB: b.rank === 1 ? false : tB, variant });
  const shape = y.shape.slice(0, -2);
  if (a.rank !== 1) shape.push(y.shape[y.rank - 2]);
  if (b.rank !== 1) shape.push(y.shape[y.rank - 1]);
  const out = reshape(y, shape);
  for (const t of [a2, b2, y]) if (t !== a && t !== b) t.dispose();
  return out;
}

/**
 * act(x·weightᵀ + bias) with the activation applied in the matmul's store (one dispatch), and its
 * backward reading the output gradient times act' as the weight- and input-gradient matmuls load it
 * (no dispatch for the activation's backward). x: (..., in) of rank >= 2, weight: (out, in), bias: (out).
 * `drop`: a dropout after the activation, in the same store and loads (the dropout op's mask and
 * values for the same seed).
 */
export function linearAct(x: Tensor, weight: Tensor, bias: Tensor | null, act: EpilogueAct, drop: FusedDropout | null = null): Tensor {
  checkLinear(x, weight, bias);
  if (x.rank < 2) throw new ShapeError(`linearAct: argument 'x' has shape ${shapeStr(x.shape)}, expected rank >= 2 (..., ${weight.shape[1]})`);
  if (!['relu', 'gelu', 'geluTanh', 'tanh'].includes(act)) throw new ShapeError(`linearAct: activation '${act}' is not one of relu, gelu, geluTanh, tanh`);
  return matmul2(x, weight, bias, false, true, 'auto', act, checkFusedDropout('linearAct', drop));
}

function checkLinear(x: Tensor, weight: Tensor, bias: Tensor | null | undefined): void {
  if (weight.rank !== 2) throw new ShapeError(`linear: argument 'weight' has shape ${shapeStr(weight.shape)}, expected (out_features, in_features)`);
  const [outF, inF] = weight.shape;
  if (x.rank < 1 || x.shape[x.rank - 1] !== inF) {
    throw new ShapeError(`linear: argument 'x' has shape ${shapeStr(x.shape)}, expected (..., ${inF}) to match weight ${shapeStr(weight.shape)}`);
  }
  if (bias && (bias.rank !== 1 || bias.size !== outF)) throw new ShapeError(`linear: argument 'bias' has shape ${shapeStr(bias.shape)}, expected [${outF}]`);
}

/**
 * PyTorch's linear layer: y = x·weightᵀ + bias. x: (..., in), weight: (out, in), bias: (out);
 * y: (..., out). Runs as one transB matmul over all of x's leading dims.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  checkLinear(x, weight, bias);
  // The bias is added in the matmul kernel's store (bit for bit matmul, then add).
  if (bias && x.rank >= 2) return matmul2(x, weight, bias, false, true, 'auto');
  const y = matmul(x, weight, { transB: true });
  if (!bias) return y;
  const out = add(y, bias);
  y.dispose();
  return out;
}
