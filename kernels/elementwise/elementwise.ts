/**
 * Elementwise ops, declared as table rows: each row gives the WGSL forward expression, the WGSL
 * backward expression, and a float64 CPU reference of both (the test oracle). The tables are mapped
 * types over the op-name unions, so an op without a gradient or a reference does not compile.
 */
import unarySrc from './unary.wgsl';
import unaryBackSrc from './unary_backward.wgsl';
import binarySrc from './binary.wgsl';
import mathSrc from '../common/math.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import dims8 from '../common/dims8.wgsl';
import { Tensor, type Shape, shapeStr, sameShape } from '../../engine/core/tensor.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError, checkFloat } from '../../engine/core/errors.ts';
import { reduceTo } from '../reduce/launch.ts';
import { record } from '../../engine/core/tape.ts';

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'square' | 'relu' | 'relu6' | 'leakyRelu'
  | 'sigmoid' | 'tanh' | 'gelu' | 'geluTanh' | 'silu' | 'hardswish' | 'hardsigmoid' | 'powScalar' | 'affine' | 'clamp';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';

interface UnaryRule {
  /** WGSL expression of x and the scalar params a, b. */
  fwd: string;
  /** WGSL expression of x, y (output), g (output gradient), a, b. */
  bwd: string;
  ref: (x: number, a: number, b: number) => number;
  dref: (x: number, a: number, b: number) => number;
}

const SQRT_2_PI = Math.sqrt(2 / Math.PI);
const erf = (x: number): number => {
  // float64 reference: series/continued fraction via high-precision A&S 7.1.26 is not enough; use Taylor/asymptotic.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = 0, term = t, k = 0;
    while (Math.abs(term) > 1e-17 * Math.abs(sum) || k < 3) { sum += term / (2 * k + 1); k++; term *= -t * t / k; if (k > 200) break; }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * (1 - 1 / (2 * t * t) + 3 / (4 * t ** 4)));
};
const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** Unary op rules. `a`/`b` are op parameters (leaky slope, exponent, affine scale/shift, clamp range). */
export const UNARY: { [K in UnaryOp]: UnaryRule } = {
  neg: { fwd: '-x', bwd: '-g', ref: (x) => -x, dref: () => -1 },
  exp: { fwd: 'exp(x)', bwd: 'g * y', ref: Math.exp, dref: Math.exp },
  log: { fwd: 'log(x)', bwd: 'g / x', ref: Math.log, dref: (x) => 1 / x },
  sqrt: { fwd: 'sqrt(x)', bwd: 'g * 0.5 / y', ref: Math.sqrt, dref: (x) => 0.5 / Math.sqrt(x) },
  rsqrt: { fwd: 'inverseSqrt(x)', bwd: 'g * -0.5 * y * y * y', ref: (x) => 1 / Math.sqrt(x), dref: (x) => -0.5 * x ** -1.5 },
  abs: { fwd: 'abs(x)', bwd: 'g * sign(x)', ref: Math.abs, dref: Math.sign },
  square: { fwd: 'x * x', bwd: 'g * 2.0 * x', ref: (x) => x * x, dref: (x) => 2 * x },
  relu: { fwd: 'select(x, 0.0, x < 0.0)', bwd: 'select(0.0, g, x > 0.0)', ref: (x) => Math.max(x, 0), dref: (x) => (x > 0 ? 1 : 0) },
  relu6: { fwd: 'clamp(x, 0.0, 6.0)', bwd: 'select(0.0, g, x > 0.0 && x < 6.0)', ref: (x) => Math.min(Math.max(x, 0), 6), dref: (x) => (x > 0 && x < 6 ? 1 : 0) },
  leakyRelu: { fwd: 'select(a * x, x, x > 0.0)', bwd: 'select(a * g, g, x > 0.0)', ref: (x, a) => (x > 0 ? x : a * x), dref: (x, a) => (x > 0 ? 1 : a) },
  sigmoid: { fwd: 'thaw_sigmoid(x)', bwd: 'g * y * (1.0 - y)', ref: sig, dref: (x) => sig(x) * (1 - sig(x)) },
  tanh: { fwd: 'thaw_tanh(x)', bwd: 'g * (1.0 - y * y)', ref: Math.tanh, dref: (x) => 1 - Math.tanh(x) ** 2 },
  gelu: {
    fwd: '0.5 * x * (1.0 + thaw_erf(x * 0.70710678118654752))',
    bwd: 'g * (0.5 * (1.0 + thaw_erf(x * 0.70710678118654752)) + x * 0.39894228040143268 * exp(-0.5 * x * x))',
    ref: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    dref: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI),
  },
  geluTanh: {
    fwd: '0.5 * x * (1.0 + thaw_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))',
    bwd: 'g * (0.5 * (1.0 + thaw_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) + 0.5 * x * (1.0 - pow(thaw_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)), 2.0)) * 0.7978845608028654 * (1.0 + 0.134145 * x * x))',
    ref: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_PI * (x + 0.044715 * x ** 3))),
    dref: (x) => {
      const t = Math.tanh(SQRT_2_PI * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_PI * (1 + 0.134145 * x * x);
    },
  },
  // SiLU (swish), hardswish and hardsigmoid as torch defines them, including the gradient at the kinks:
  // hardswish's is x/3 + 1/2 on [-3, 3] (ends included), hardsigmoid's 1/6 on (-3, 3) only.
  silu: {
    fwd: 'x * thaw_sigmoid(x)', bwd: 'g * thaw_sigmoid(x) * (1.0 + x * (1.0 - thaw_sigmoid(x)))',
    ref: (x) => x * sig(x), dref: (x) => sig(x) * (1 + x * (1 - sig(x))),
  },
  hardswish: {
    fwd: 'x * clamp(x + 3.0, 0.0, 6.0) / 6.0', bwd: 'select(select(g * (x / 3.0 + 0.5), g, x > 3.0), 0.0, x < -3.0)',
    ref: (x) => x * Math.min(Math.max(x + 3, 0), 6) / 6, dref: (x) => (x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5),
  },
  hardsigmoid: {
    fwd: 'clamp(x + 3.0, 0.0, 6.0) / 6.0', bwd: 'select(0.0, g / 6.0, x > -3.0 && x < 3.0)',
    ref: (x) => Math.min(Math.max(x + 3, 0), 6) / 6, dref: (x) => (x > -3 && x < 3 ? 1 / 6 : 0),
  },
  powScalar: { fwd: 'pow(x, a)', bwd: 'g * a * pow(x, a - 1.0)', ref: (x, a) => x ** a, dref: (x, a) => a * x ** (a - 1) },
  affine: { fwd: 'x * a + b', bwd: 'g * a', ref: (x, a, b) => x * a + b, dref: (_x, a) => a },
  clamp: { fwd: 'clamp(x, a, b)', bwd: 'select(0.0, g, x >= a && x <= b)', ref: (x, a, b) => Math.min(Math.max(x, a), b), dref: (x, a, b) => (x >= a && x <= b ? 1 : 0) },
};

interface BinaryRule {
  fwd: string;
  ref: (a: number, b: number) => number;
  /** Gradients w.r.t. a and b, composed from other ops (so they are themselves tested ops). */
  grad: (g: Tensor, a: Tensor, b: Tensor, needs: boolean[]) => [Tensor | null, Tensor | null];
}

/** Binary op rules with NumPy broadcasting. */
export const BINARY: { [K in BinaryOp]: BinaryRule } = {
  add: { fwd: 'a + b', ref: (a, b) => a + b, grad: (g, _a, _b, n) => [n[0] ? g : null, n[1] ? g : null] },
  sub: { fwd: 'a - b', ref: (a, b) => a - b, grad: (g, _a, _b, n) => [n[0] ? g : null, n[1] ? neg(g) : null] },
  mul: { fwd: 'a * b', ref: (a, b) => a * b, grad: (g, a, b, n) => [n[0] ? mul(g, b) : null, n[1] ? mul(g, a) : null] },
  div: {
    fwd: 'a / b', ref: (a, b) => a / b,
    grad: (g, a, b, n) => [n[0] ? div(g, b) : null, n[1] ? neg(div(mul(g, a), mul(b, b))) : null],
  },
  pow: {
    fwd: 'pow(a, b)', ref: (a, b) => a ** b,
    grad: (g, a, b, n) => [
      n[0] ? mul(g, mul(b, binary('pow', a, affine(b, 1, -1)))) : null,
      n[1] ? mul(g, mul(binary('pow', a, b), unary('log', a))) : null,
    ],
  },
  maximum: {
    fwd: 'max(a, b)', ref: Math.max,
    grad: (g, a, b, n) => [n[0] ? mul(g, binaryRaw('select(0.0, 1.0, a >= b)', a, b)) : null, n[1] ? mul(g, binaryRaw('select(0.0, 1.0, b > a)', a, b)) : null],
  },
  minimum: {
    fwd: 'min(a, b)', ref: Math.min,
    grad: (g, a, b, n) => [n[0] ? mul(g, binaryRaw('select(0.0, 1.0, a <= b)', a, b)) : null, n[1] ? mul(g, binaryRaw('select(0.0, 1.0, b < a)', a, b)) : null],
  },
};



/** Applies a unary op; `a`, `b` are its scalar parameters. */
export function unary(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  checkFloat(op, 'x', x);
  const rule = UNARY[op], T = x.dtype;
  void x.buffer; // throws for a disposed input before anything is allocated
  const out = Tensor.alloc(x.shape, T);
  const { groups, stride } = launch1d(x.size);
  runtime().run(wgsl('unary', unarySrc, { include: [mathSrc, flatIndex, each], defines: { EXPR: rule.fwd, T } }),
    { x, out }, { n: x.size, stride, a, b }, groups);
  return record(op, [x], out, (g, _needs, [sx, sy]) => {
    checkFloat(`${op} backward`, 'g', g, x);
    const dx = Tensor.alloc(x.shape, T);
    runtime().run(wgsl('unary_backward', unaryBackSrc, { include: [mathSrc, flatIndex, each], defines: { EXPR: rule.bwd, T } }),
      { x: sx, y: sy, g, dx }, { n: x.size, stride, a, b }, groups);
    return [dx];
  }, [x, out]);
}

/**
 * dx of ReLU or ReLU6 from its OUTPUT y and the gradient g: for these two the derivative's mask
 * (x > 0, 0 < x < 6) is the same computed on y, so an op that fused the activation need not keep x.
 */
export function activationBackward(op: 'relu' | 'relu6', y: Tensor, g: Tensor): Tensor {
  const rule = UNARY[op];
  checkFloat(`${op} backward`, 'g', g, y);
  const dx = Tensor.alloc(y.shape, y.dtype);
  const { groups, stride } = launch1d(y.size);
  runtime().run(wgsl('unary_backward', unaryBackSrc, { include: [mathSrc, flatIndex, each], defines: { EXPR: rule.bwd, T: y.dtype } }),
    { x: y, y, g, dx }, { n: y.size, stride, a: 0, b: 0 }, groups);
  return dx;
}

/**
 * relu(a + b) in one dispatch (a residual block's tail), bit-identical to add then relu; broadcasting
 * as `add`. Backward: one masked gradient (read from the output) for both inputs, as add passes its
 * gradient to both.
 */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  checkFloat('addRelu', 'a', a);
  checkFloat('addRelu', 'b', b, a);
  const out = binaryRaw(`${UNARY.relu.fwd.replaceAll('x', '(a + b)')}`, a, b, 'addRelu');
  return record('addRelu', [a, b], out, (g, needs, [sy]) => {
    const d = activationBackward('relu', sy, g);
    return [needs[0] ? reduceTo(d, a.shape) : null, needs[1] ? reduceTo(d, b.shape) : null];
  }, [out]);
}

/** Broadcast shape of two shapes, or a ShapeError naming the op. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new ShapeError(`${op}: argument 'a' has shape ${shapeStr(a)} and argument 'b' has shape ${shapeStr(b)}, which cannot be broadcast (dimension ${i}: ${da} vs ${db}); expected equal sizes or 1 in each dimension`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function bstrides(shape: Shape, out: Shape): number[] {
  const r = out.length;
  const s: number[] = new Array(r).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const oi = r - shape.length + i;
    s[oi] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i];
  }
  return s;
}

function binaryRaw(expr: string, a: Tensor, b: Tensor, keyName = expr, outShape?: Shape, s = 1): Tensor {
  const shape = outShape ? [...outShape] : broadcastShapes(keyName, a.shape, b.shape);
  if (shape.length > 8) throw new ShapeError(`${keyName}: rank ${shape.length} > 8 is not supported`);
  void a.buffer; void b.buffer;
  const T = a.dtype;
  const out = Tensor.alloc(shape, T);
  const n = out.size;
  const same = a.size === n && b.size === n;
  const sa = bstrides(a.shape, shape), sb = bstrides(b.shape, shape);
  const pad = (v: number[]) => [...v, ...new Array(8 - v.length).fill(1)];
  const sh = pad(shape);
  const { groups, stride } = launch1d(n);
  runtime().run(wgsl('binary', binarySrc, { include: [flatIndex, each, dims8], defines: { EXPR: expr, SAME_SHAPE: same, T } }),
    { a, b, out },
    { n, stride, rank: shape.length, s, shape0: sh.slice(0, 4), shape1: sh.slice(4), sa0: pad(sa).slice(0, 4), sa1: pad(sa).slice(4), sb0: pad(sb).slice(0, 4), sb1: pad(sb).slice(4) },
    groups);
  return out;
}

/** Applies a broadcasting binary op. */
export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkFloat(op, 'a', a);
  checkFloat(op, 'b', b, a);
  const out = binaryRaw(BINARY[op].fwd, a, b, op);
  return record(op, [a, b], out, (g, needs, [sa, sb]) => {
    const [ga, gb] = BINARY[op].grad(g, sa, sb, needs);
    return [ga && reduceTo(ga, a.shape), gb && reduceTo(gb, b.shape)];
  }, op === 'add' || op === 'sub' ? [] : [a, b]);
}

const COMPARE = { eq: 'a == b', ne: 'a != b', gt: 'a > b', ge: 'a >= b', lt: 'a < b', le: 'a <= b' } as const;
/** 1.0 where the comparison holds, else 0.0 (broadcasting; no gradient). */
export function compare(op: keyof typeof COMPARE, a: Tensor, b: Tensor): Tensor {
  checkFloat(`cmp_${op}`, 'a', a);
  checkFloat(`cmp_${op}`, 'b', b, a);
  return binaryRaw(`select(0.0, 1.0, ${COMPARE[op]})`, a, b, `cmp_${op}`);
}

/** Broadcasts `x` to `shape` (NumPy rules), copying; its gradient sums back over the broadcast dims. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes('broadcastTo', x.shape, shape);
  if (!sameShape(target, shape)) throw new ShapeError(`broadcastTo: cannot broadcast ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  const out = binaryRaw('a', x, x, 'expand', shape);
  return record('broadcastTo', [x], out, (g) => [reduceTo(g, x.shape)]);
}

/** `x` broadcast to `shape` and times `s` in one dispatch, not recorded (a backward's gradient: mean's). */
export function broadcastScaled(x: Tensor, shape: Shape, s: number): Tensor {
  return binaryRaw('a * params.s', x, x, 'expand_scaled', shape, s);
}

/** a + b, elementwise with NumPy broadcasting. */
export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
/** a - b, elementwise with broadcasting. */
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
/** a · b, elementwise with broadcasting. */
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
/** a / b, elementwise with broadcasting. */
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
/** -x. */
export const neg = (x: Tensor) => unary('neg', x);
/** e^x. */
export const exp = (x: Tensor) => unary('exp', x);
/** Natural logarithm. */
export const log = (x: Tensor) => unary('log', x);
/** Square root. */
export const sqrt = (x: Tensor) => unary('sqrt', x);
/** max(x, 0). */
export const relu = (x: Tensor) => unary('relu', x);
/** min(max(x, 0), 6). */
export const relu6 = (x: Tensor) => unary('relu6', x);
/** x for x >= 0, slope · x below (default slope 0.01, PyTorch's). */
export const leakyRelu = (x: Tensor, slope = 0.01) => unary('leakyRelu', x, slope);
/** 1 / (1 + e^-x). */
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
/** Hyperbolic tangent. */
export const tanh = (x: Tensor) => unary('tanh', x);
/** GELU: x · Φ(x) with the exact erf form ('none', BERT's) or the tanh approximation ('tanh'). */
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none') => unary(approximate === 'tanh' ? 'geluTanh' : 'gelu', x);
/** x · sigmoid(x) (SiLU, swish). */
export const silu = (x: Tensor) => unary('silu', x);
/** x · relu6(x + 3) / 6 (MobileNetV3). */
export const hardswish = (x: Tensor) => unary('hardswish', x);
/** relu6(x + 3) / 6. */
export const hardsigmoid = (x: Tensor) => unary('hardsigmoid', x);
/** x * scale + shift, elementwise. */
export const affine = (x: Tensor, scale: number, shift = 0) => unary('affine', x, scale, shift);
/** x · s. */
export const mulScalar = (x: Tensor, s: number) => unary('affine', x, s, 0);
/** x + s. */
export const addScalar = (x: Tensor, s: number) => unary('affine', x, 1, s);
/** x ^ p for a constant p. */
export const powScalar = (x: Tensor, p: number) => unary('powScalar', x, p);
/** x². */
export const square = (x: Tensor) => unary('square', x);
