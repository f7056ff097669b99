/**
 * Autocast (torch.autocast's policy for half precision): inside `autocast(fn)`, each op of the facade
 * (kernels/index.ts) takes its tensor arguments in the dtype this file's one table names.
 *
 * - `{ f16: [i, ...] }`: the arguments at those positions are cast to f16 (the op has an f16 kernel
 *   that accumulates in f32): matmul, linear, conv2d (but grouped convs). A trainable leaf (a master weight, f32) is cast once
 *   per region, and the cast is on the tape, so its gradient comes back through the cast as f32. A
 *   frozen weight listed in the region's `HalfWeights` is cast once for the whole run and kept.
 * - `'f32'`: every f16 argument is cast to f32 first: the loss, softmax, norms, reductions, and every
 *   op without an f16 kernel, which so runs in f32 rather than refusing the half input.
 * - `'promote'`: elementwise ops with two tensor arguments run in f16 when both are f16 and in f32
 *   when their dtypes differ (the f16 one is cast), as torch promotes to the widest type.
 *
 * Ops not in the table (unary elementwise ops, batch norm and pooling, which read f16 and keep f32
 * statistics, cast, optimizer kernels) run as given. Outside a
 * region nothing is cast. Gradients in the backward pass keep the dtype of what they differentiate.
 */
import { Tensor, keep } from '../engine/core/tensor.ts';
import { cast } from './cast/cast.ts';

/** `f16`: the argument positions cast to f16; `unless`: the calls that run in f32 instead. */
type Rule = 'f32' | 'promote' | { f16: number[]; unless?: (args: any[]) => boolean };

/** The autocast policy: op name (as kernels/index.ts exports it) → what its arguments become. */
export const AUTOCAST_POLICY = {
  matmul: { f16: [0, 1] }, linear: { f16: [0, 1] }, linearAct: { f16: [0, 1] },
  add: 'promote', sub: 'promote', mul: 'promote', div: 'promote', addRelu: 'promote', binary: 'promote', compare: 'promote',
  sum: 'f32', mean: 'f32', max: 'f32', sumTo: 'f32',
  softmax: 'f32', logSoftmax: 'f32', crossEntropy: 'f32', layerNorm: 'f32', residualLayerNorm: 'f32',
  // x, the weight and the residual in f16 (the bias stays f32). In f32: grouped (depthwise) convs, whose
  // f16 build runs on the grouped GEMM, several times slower than the f32 depthwise kernels; and a
  // trainable conv whose input needs no gradient (the stem, or the first trainable conv after a frozen
  // prefix): nothing upstream reads its f16 input gradient, and its output gradient, which sums over
  // the whole batch in batch norm's backward, overflowed f16 at the loss scale (MobileNetV2's stem:
  // whole channels Inf, 2 to 4 of 16 steps skipped).
  conv2d: { f16: [0, 1, 4], unless: (args) => (args[3]?.groups ?? 1) > 1 || (!args[0]?.requiresGrad && !!args[1]?.requiresGrad) },
  attention: 'f32', dropout: 'f32', resize2d: 'f32', pad2d: 'f32',
  // batchNorm2d and the pools take their input's dtype (f16 kernels, f32 statistics): not listed.
  permute: 'f32', transpose: 'f32', slice: 'f32', concat: 'f32', gather: 'f32', gatherSum: 'f32',
} as const satisfies Record<string, Rule>;

/** f16 copies of frozen weights, made on first use inside autocast and kept until `dispose()`. */
export class HalfWeights {
  private readonly halves = new Map<Tensor, Tensor>();
  private readonly frozen: Set<Tensor>;
  /** `frozen`: the weights that do not change while this lives (no f32 master is needed for them). */
  constructor(frozen: Iterable<Tensor>) { this.frozen = new Set(frozen); }
  /** @internal The kept f16 copy of `t`, or undefined when `t` is not one of the frozen weights. */
  half(t: Tensor): Tensor | undefined {
    if (!this.frozen.has(t)) return undefined;
    let h = this.halves.get(t);
    if (!h) this.halves.set(t, (h = keep(cast(t, 'f16'))));
    return h;
  }
  /** Bytes the f16 copies take. */
  bytes(): number { let n = 0; for (const h of this.halves.values()) n += h.size * 2; return n; }
  dispose(): void { for (const h of this.halves.values()) h.dispose(); this.halves.clear(); }
}

interface Region { casts: Map<Tensor, Tensor>; weights: HalfWeights | null }
let region: Region | null = null;

/**
 * Runs `fn` with the autocast policy on (see the file comment); `weights` holds the f16 copies of
 * frozen weights across regions. The f16 casts of trainable weights made in the region belong to it
 * (tidy scopes free them as any op's output).
 */
export function autocast<T>(fn: () => T, weights: HalfWeights | null = null): T {
  const outer = region;
  region = { casts: new Map(), weights };
  try {
    return fn();
  } finally {
    region = outer;
  }
}

/** True inside `autocast`. */
export function autocasting(): boolean { return region !== null; }

const isHalf = (a: unknown): a is Tensor => a instanceof Tensor && a.dtype === 'f16';

function toHalf(t: Tensor, r: Region): Tensor {
  if (t.dtype !== 'f32') return t;
  const frozen = r.weights?.half(t);
  if (frozen) return frozen;
  if (!t.requiresGrad || t.node) return cast(t, 'f16');
  let h = r.casts.get(t);
  if (!h) r.casts.set(t, (h = cast(t, 'f16')));
  return h;
}

function convert(rule: Rule, args: unknown[], r: Region): unknown[] {
  if (rule === 'f32') return args.map((a) => (isHalf(a) ? cast(a, 'f32') : Array.isArray(a) ? a.map((t) => (isHalf(t) ? cast(t, 'f32') : t)) : a));
  if (rule === 'promote') {
    const ts = args.filter((a): a is Tensor => a instanceof Tensor);
    if (!ts.some((t) => t.dtype === 'f16') || !ts.some((t) => t.dtype === 'f32')) return args;
    return args.map((a) => (isHalf(a) ? cast(a, 'f32') : a));
  }
  if (rule.unless?.(args)) return convert('f32', args, r);
  return args.map((a, i) => (rule.f16.includes(i) && a instanceof Tensor ? toHalf(a, r) : a));
}

/** `f` under the autocast policy of `op` (kernels/index.ts wraps the ops of the table with it). */
export function autocastOp<F extends (...args: any[]) => any>(op: keyof typeof AUTOCAST_POLICY, f: F): F {
  const rule: Rule = AUTOCAST_POLICY[op];
  return ((...args: any[]) => (region ? f(...convert(rule, args, region)) : f(...args))) as F;
}
