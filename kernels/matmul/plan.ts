/** Shape planning of a (batched, broadcast, transposed) matmul: sizes, strides and the output shape. */
import { type Shape, numel, shapeStr } from '../../engine/core/tensor.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { broadcastShapes, UNARY } from '../elementwise/elementwise.ts';
import dropoutKeep from '../common/dropout_keep.wgsl';

/** A planned matmul: sizes, element strides, merged batch dims and the output shape. */
export interface MatmulPlan {
  M: number; N: number; K: number;
  /** Number of output matrices (after folding a shared b into a's rows). */
  batch: number;
  /** Merged batch dims, right-aligned and padded with 1 to 4, and each operand's and out's stride over them. */
  batchShape: number[]; aBatch: number[]; bBatch: number[]; oBatch: number[];
  sam: number; sak: number; sbk: number; sbn: number;
  /** Element offsets of a, b and out in their buffers, and out's row stride (columns are contiguous). */
  offA: number; offB: number; offO: number; som: number;
  outShape: number[];
}

/**
 * An operand (or the output) read through strides: its logical shape, each dim's element stride in
 * the tensor's buffer and the element offset of [0, ...]. Heads of a (B, T, H*D) projection read as
 * (B, H, T, D) are { shape: [B, H, T, D], strides: [T*H*D, D, H*D, 1] }: no permute copy.
 */
export interface MatmulView { shape: Shape; strides: number[]; offset?: number }

/** Contiguous (row-major) element strides of a shape. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/**
 * Plans op(a) · op(b) for a: (..., M, K) (or (..., K, M) with transA), b: (..., K, N) (or (..., N, K)
 * with transB). With `views` the operands' and out's element strides and offsets are theirs (no fold
 * of a's batch into rows); out's last dim must be contiguous (stride 1).
 */
export function planMatmul(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, op = 'matmul',
  views: { a?: MatmulView; b?: MatmulView; out?: MatmulView } = {}): MatmulPlan {
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
  const aS = views.a?.strides ?? contiguousStrides(aShape), bS = views.b?.strides ?? contiguousStrides(bShape);
  const oS = views.out?.strides ?? contiguousStrides(outShape);
  if (oS[oS.length - 1] !== 1) throw new ShapeError(`${op}: the output view's last dim has stride ${oS[oS.length - 1]}, expected 1 (contiguous columns)`);
  const [sam, sak] = transA ? [aS[ra - 1], aS[ra - 2]] : [aS[ra - 2], aS[ra - 1]];
  const [sbk, sbn] = transB ? [bS[rb - 1], bS[rb - 2]] : [bS[rb - 2], bS[rb - 1]];
  const offs = { offA: views.a?.offset ?? 0, offB: views.b?.offset ?? 0, offO: views.out?.offset ?? 0, som: oS[oS.length - 2] };
  // A b shared by every batch of a (untransposed) is one big 2-D product: fold a's batch into M.
  if (!transA && numel(bB) === 1 && numel(aB) > 1 && !views.a && !views.out) {
    const Mf = M * numel(aB);
    const z = [0, 0, 0, 0];
    return { M: Mf, N, K, batch: 1, batchShape: [1, 1, 1, 1], aBatch: z, bBatch: z, oBatch: z, sam, sak, sbk, sbn, ...offs, outShape };
  }
  // Per output batch dim: size and each operand's (and out's) stride in elements (0 where it broadcasts).
  const dims: [number, number, number, number][] = [];
  const strides = (shape: number[], st: number[]): number[] => {
    const s = new Array(outB.length).fill(0);
    for (let i = shape.length - 1; i >= 0; i--) s[outB.length - shape.length + i] = shape[i] === 1 ? 0 : st[i];
    return s;
  };
  const sa = strides(aB, aS), sb = strides(bB, bS), so = strides(outB, oS);
  for (let i = 0; i < outB.length; i++) {
    if (outB[i] === 1) continue;
    const prev = dims[dims.length - 1];
    // Merge with the previous (outer) dim when a, b and out all step through the two contiguously.
    if (prev && prev[1] === sa[i] * outB[i] && prev[2] === sb[i] * outB[i] && prev[3] === so[i] * outB[i]) {
      prev[0] *= outB[i];
      prev[1] = sa[i];
      prev[2] = sb[i];
      prev[3] = so[i];
    } else dims.push([outB[i], sa[i], sb[i], so[i]]);
  }
  if (dims.length > 4) throw new ShapeError(`${op}: batch dims ${shapeStr(outB)} merge into ${dims.length} dims; at most 4 are supported`);
  while (dims.length < 4) dims.unshift([1, 0, 0, 0]);
  return {
    M, N, K, batch: numel(outB), batchShape: dims.map((d) => d[0]), aBatch: dims.map((d) => d[1]), bBatch: dims.map((d) => d[2]),
    oBatch: dims.map((d) => d[3]), sam, sak, sbk, sbn, ...offs, outShape,
  };
}

/**
 * matmul_common.wgsl's bias binding and store epilogue: out = acc, or acc + bias[n] in the BIAS build
 * (biasAt(n) is 0 without it, and epi ignores it).
 */
export function biasBlocks(d: { BIAS: boolean }): Record<string, string> {
  return d.BIAS
    ? { BIAS_DECL: '@group(0) @binding(4) var<storage, read> bias: array<f32>;', BIAS_AT: 'bias[n]', EPI: 'v + b' }
    : { BIAS_DECL: '', BIAS_AT: '0.0', EPI: 'v' };
}

/**
 * The ROWSUM build's binding and statements: besides out, the kernel writes rowsum[batch, m], the sum
 * over k of op(a)[m, k] (f32, accumulated in k order alongside the product), from its first column
 * of workgroups. With op(a) = gᵀ in a linear layer's weight gradient this is the bias gradient, so
 * it costs no dispatch of its own. `code` holds each kernel's RS_INIT / RS_ADD / RS_STORE.
 */
export function rowSumBlocks(d: { ROWSUM?: boolean }, code: { RS_INIT: string; RS_ADD: string; RS_STORE: string }): Record<string, string> {
  return d.ROWSUM ? { RS_DECL: '@group(0) @binding(5) var<storage, read_write> rowsum: array<f32>;', ...code } : {};
}

/** Activations a linear layer can apply in its matmul's store (elementwise.ts UNARY rows without parameters). */
export type EpilogueAct = 'relu' | 'gelu' | 'geluTanh' | 'tanh';

/** The defines the load/store functions depend on (every matmul kernel's). */
export type EpiDefines = { AB: string; WIDE: string; OUT: string; ADD?: boolean; ACT?: EpilogueAct; DACT?: EpilogueAct; DROP?: boolean };

/**
 * matmul_common.wgsl's ldA and st, by build:
 * - ADD: out = v + prev[i] (a gradient accumulated in the store);
 * - ACT: pre[i] = v and out[i] = act(v) (a linear layer's activation as its epilogue);
 * - DACT: ldA(i) = a[i] * act'(pre[i]) (the activation's backward applied to the output gradient as
 *   the weight- and input-gradient matmuls load it, so it needs no dispatch of its own);
 * - DROP (with ACT or DACT): a dropout after the activation, keep mask by element index
 *   (kernels/common/dropout_keep.wgsl, the dropout op's mask for the same seed): ACT stores
 *   act(v) / (1 - p) or 0, DACT reads a[i] / (1 - p) or 0 before act'.
 */
export function epiBlocks(d: EpiDefines): Record<string, string> {
  const out: Record<string, string> = {};
  const v = d.ADD ? 'v0 + f32(prev[i])' : 'v0';
  // kept(x, j): x through the dropout as element j of the output (ACT) or of a (DACT).
  const drop = d.DROP ? `\n${dropoutKeep}` : '';
  const kept = (x: string, j: string) => (d.DROP ? `dropped(${x}, params.dropScale, params.dropSeed, params.dropP, ${j})` : x);
  if (d.ADD) out.PREV_DECL = `@group(0) @binding(6) var<storage, read> prev: array<${d.OUT}>;`;
  if (d.ACT) {
    const r = UNARY[d.ACT];
    out.PRE_DECL = `@group(0) @binding(7) var<storage, read_write> pre: array<${d.OUT}>;\nfn act(x: f32) -> f32 { return ${r.fwd}; }${drop}`;
    out.ST_FN = `fn st(i: u32, v0: f32) { let v = ${v}; pre[i] = ${d.OUT}(v); out[i] = ${d.OUT}(${kept('act(v)', 'i')}); }`;
  } else out.ST_FN = `fn st(i: u32, v0: f32) { out[i] = ${d.OUT}(${v}); }`;
  if (d.DACT) {
    const r = UNARY[d.DACT];
    out.PRE_DECL = `@group(0) @binding(7) var<storage, read> pre: array<${d.AB}>;\nfn dact(g: f32, x: f32) -> f32 { let y = ${r.fwd}; return ${r.bwd}; }${drop}`;
    out.LDA_FN = d.WIDE === 'f32'
      ? `fn ldA(i: u32) -> f32 { return dact(${kept('f32(a[i])', 'i')}, f32(pre[i])); }`
      : `fn ldA(i: u32) -> ${d.WIDE} { let g = ${d.WIDE}(a[i]); let x = ${d.WIDE}(pre[i]); return ${d.WIDE}(${
        ['x', 'y', 'z', 'w'].map((c, j) => `dact(${kept(`g.${c}`, `4u * i + ${j}u`)}, x.${c})`).join(', ')}); }`;
  } else out.LDA_FN = `fn ldA(i: u32) -> ${d.WIDE} { return ${d.WIDE}(a[i]); }`;
  return out;
}
