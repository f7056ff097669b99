/**
 * conv2d: forward, input gradient and weight gradient as explicit kernels, bias gradient as a sum.
 *
 * Layout is PyTorch's, so checkpoints load without conversion: activations NCHW, weights OIHW
 * `(Cout, Cin/groups, kh, kw)`, bias `(Cout)`. Kernel choice per pass ('auto'):
 * - depthwise (groups = Cin, any channel multiplier): a dedicated kernel per pass (depthwise.ts);
 * - 1x1, stride 1, no padding, H*W % 4 == 0: a pointwise GEMM (the subgroup GEMM over one long
 *   row per image where subgroups exist, else pointwise.wgsl);
 * - otherwise: a row-window implicit GEMM (gemm.ts: gemm.wgsl, built with subgroups on software
 *   adapters that have them; dx runs it per stride phase, two row phases a dispatch), and a
 *   split-K row-window weight gradient (weight_grad.ts).
 * `variant: 'naive'` forces the one-output-per-invocation kernels, the oracle the tests compare with.
 * f16 (x, w, residual, dy all f16; bias f32): the GEMM, pointwise and Winograd kernels read halves,
 * accumulate in f32 and store halves (Winograd's transformed operands and the weight gradient's
 * partial sums stay f32); depthwise convs run on the grouped GEMM in f16; the naive kernels are f32 only.
 * Backward computes only the gradients autograd asks for, so a frozen conv whose input needs no
 * gradient runs no dx kernel. See README.md for the kernels and their blocking.
 */
import { Tensor, type Shape, shapeStr, sameShape, keep, noGrad, gradEnabled } from '../../engine/core/tensor.ts';
import { ShapeError, checkFloat } from '../../engine/core/errors.ts';
import { sum } from '../reduce/reduce.ts';
import { cast } from '../cast/cast.ts';
import { type Conv2dOptions, type ConvGeom, type ConvVariant, type ConvActivation, convGeometry } from './geometry.ts';
import { unary, binary, activationBackward } from '../elementwise/elementwise.ts';
import { naiveForward, naiveInputGrad, naiveWeightGrad, transposeWeights, pointwise, channelVecs, reshaped } from './launch.ts';
import { type WeightRead, gemmCorrelate, forwardAxis, inputGradAxes, haloPad, subgroupChannels } from './gemm.ts';
import { weightGrad as gemmWeightGrad } from './weight_grad.ts';
import { depthwiseForward, depthwiseInputGrad, depthwiseWeightGrad } from './depthwise.ts';
import { winogradTile, winogradForwardTile, winogradForward, winogradInputGrad, winogradWeightsBoth } from './winograd.ts';
import { record } from '../../engine/core/tape.ts';
import { runtime, withTuning } from '../../engine/core/runtime.ts';

export { type Conv2dOptions, type ConvGeom, type ConvVariant, type ConvActivation, type Padding, conv2dOutputShape, convGeometry, convMacs, samePad } from './geometry.ts';
export { conv2dRef, conv2dDxRef, conv2dDwRef, conv2dDbiasRef } from './reference.ts';

const isDepthwise = (g: ConvGeom) => g.groups === g.Cin && g.cinG === 1;
const isPointwise = (g: ConvGeom) => g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 &&
  g.pt + g.pb + g.pl + g.pr === 0 && (g.H * g.W) % 4 === 0;

/**
 * The kernel family a pass runs: the forced variant (checked to apply) or the fastest that applies;
 * for f16, the families with an f16 build (depthwise convs on the grouped GEMM).
 */
export function pickVariant(g: ConvGeom, v: ConvVariant = 'auto', dtype = 'f32'): Exclude<ConvVariant, 'auto'> {
  if (dtype === 'f16') {
    if (v === 'naive' || v === 'depthwise') throw new ShapeError(`conv2d: variant '${v}' has no f16 build; use variant 'auto' or 'gemm', or cast(x, 'f32') and cast(w, 'f32') first`);
    if (v === 'auto' && isDepthwise(g)) return 'gemm';
  }
  if (v === 'depthwise' && !isDepthwise(g)) throw new ShapeError(`conv2d: variant 'depthwise' needs groups = Cin and Cin/groups = 1, got groups ${g.groups}, Cin ${g.Cin}`);
  if (v === 'pointwise' && !isPointwise(g)) throw new ShapeError(`conv2d: variant 'pointwise' needs a 1x1 kernel, stride 1, no padding and H*W divisible by 4, got ${g.kh}x${g.kw} stride ${g.sh}x${g.sw} on ${g.H}x${g.W}`);
  if (v !== 'auto') return v;
  return isDepthwise(g) ? 'depthwise' : isPointwise(g) ? 'pointwise' : 'gemm';
}

function checkF32(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new ShapeError(`${op}: argument '${name}' has dtype ${t.dtype}, expected f32`);
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/**
 * A 1x1 stride-1 unpadded convolution on the subgroup GEMM: each image is one row of H*W pixels
 * (H*W % 4 == 0), so row windows are plain vec4 runs and nothing needs padding.
 */
function pointwiseSg(src: Tensor, wt: Tensor, bias: Tensor | null, dst: Tensor, groupsN: number, Cred: number, Cg: number, cgPad: number, tm: number, act = 0,
  res: Tensor | null = null, read: WeightRead = 'packed'): void {
  const [N, Cs, H, W] = src.shape, Cd = dst.shape[1];
  const s = src.unrecordedView([N, Cs, 1, H * W]), d = dst.unrecordedView([N, Cd, 1, H * W]);
  const r = res ? res.unrecordedView([N, Cd, 1, H * W]) : null;
  gemmCorrelate(s, wt, bias, d, groupsN, Cred, Cg, cgPad, 1, [forwardAxis(1, 1, 1, 0, 1)], forwardAxis(H * W, 1, 1, 0, 1), 1, 1, tm, act, r, false, read);
  s.dispose();
  d.dispose();
  r?.dispose();
}

/**
 * Layouts of constant weights (conv2d's GEMM and Winograd forms), kept between calls: weights
 * registered with `constantWeights` never change while registered (engine/nn/fused.ts registers its
 * folded frozen weights and releases them when the fold is dropped), so their transforms run once.
 */
const constant = new WeakMap<Tensor, Map<string, Tensor>>();

/** Registers `w` as constant until `releaseConstantWeights(w)`: its transformed layouts are cached. */
export function constantWeights(w: Tensor): void { if (!constant.has(w)) constant.set(w, new Map()); }

/** Frees the cached layouts of `w` and stops caching them. */
export function releaseConstantWeights(w: Tensor): void {
  const c = constant.get(w);
  if (!c) return;
  for (const t of c.values()) t.dispose();
  constant.delete(w);
}

/** The uniform code of an epilogue activation (gemm.wgsl, winograd_out.wgsl). */
const ACT_CODE = { relu: 1, relu6: 2 } as const;

/** Applies `act` to a kernel's fresh output in place of it (the variants without an epilogue). */
function separateAct(y: Tensor, act: ConvActivation | undefined, res: Tensor | null = null): Tensor {
  if (!act && !res) return y;
  return noGrad(() => {
    let out = y;
    if (res) { out = binary('add', y, res); y.dispose(); }
    if (act) { const a = unary(act, out); out.dispose(); out = a; }
    return out;
  });
}

/**
 * y, and (where `dxWeights` asks and both passes run Winograd with one tile size) the input
 * gradient's transformed weights, made in the same dispatch as the forward's.
 */
function forward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeom, v: ConvVariant, actName?: ConvActivation, res: Tensor | null = null, dxWeights = false): { y: Tensor; udx?: Tensor } {
  const kind = pickVariant(g, v, x.dtype);
  if (kind === 'naive') return { y: separateAct(naiveForward(x, w, bias, g), actName, res) };
  if (kind === 'depthwise') return { y: separateAct(depthwiseForward(x, w, bias, g), actName, res) };
  const act = actName ? ACT_CODE[actName] : 0;
  const cache = constant.get(w);
  const m = kind === 'gemm' ? winogradForwardTile(g, !!cache) : 0;
  if (m && dxWeights && !cache && winogradTile(g) === m) {
    const u = winogradWeightsBoth(w, g, m);
    const y = winogradForward(x, w, bias, g, m, act, undefined, res, u.fwd);
    u.fwd.dispose();
    return { y, udx: u.dx };
  }
  if (m) return { y: winogradForward(x, w, bias, g, m, act, cache, res) };
  const y = Tensor.alloc([g.N, g.Cout, g.OH, g.OW], x.dtype);
  const tm = subgroupChannels(g.coutG);
  const cv = channelVecs(g.coutG);
  const cgPad = roundUp(g.coutG, tm || 4 * cv);
  // The GEMM kernels read changing weights in place (OIHW); constant weights and pointwise.wgsl use
  // the packed layout (kept for constant weights, so it is built once).
  const packed = !!cache || (kind === 'pointwise' && !tm);
  const wkey = `wt:${cgPad}:${g.groups}`;
  let wt = packed ? cache?.get(wkey) : w;
  if (!wt) {
    wt = transposeWeights(w, g, false, cgPad);
    cache?.set(wkey, keep(wt));
  }
  const read = packed ? 'packed' : 'forward';
  let out = y;
  if (kind === 'pointwise' && tm) pointwiseSg(x, wt, bias, y, g.groups, g.cinG, g.coutG, cgPad, tm, act, res, read);
  else if (kind === 'pointwise') out = separateAct((pointwise(x, wt, bias, y, g.groups, g.cinG, g.coutG, cgPad, cv), y), actName, res);
  else {
    const t = runtime().tuning.conv;
    const p = haloPad(x, [forwardAxis(g.OH, g.sh, g.dh, g.pt, g.kh)], [forwardAxis(g.OW, g.sw, g.dw, g.pl, g.kw)], tm ? t.sgPX : t.gemmPX, 1, t.unpadded);
    gemmCorrelate(p.src, wt, bias, y, g.groups, g.cinG, g.coutG, cgPad, cv, [p.phs[0]], p.pws[0], g.kh, g.kw, tm, act, res, p.bounded, read);
    p.src.dispose();
  }
  if (packed && !cache) wt.dispose();
  return { y: out };
}

/** Whether inputGrad adds a gradient into dx in its epilogue (the GEMM, subgroup pointwise and Winograd kernels). */
function addsIntoDx(g: ConvGeom, v: ConvVariant, dtype: string): boolean {
  const kind = pickVariant(g, v, dtype);
  return kind === 'gemm' || (kind === 'pointwise' && subgroupChannels(g.cinG) > 0);
}

/** dx, plus `acc` (like dx) added in the epilogue where addsIntoDx holds; `udx`: the forward's winogradWeightsBoth dx weights. */
function inputGrad(dy: Tensor, w: Tensor, g: ConvGeom, v: ConvVariant, acc: Tensor | null = null, udx?: Tensor): Tensor {
  const kind = pickVariant(g, v, dy.dtype);
  if (kind === 'naive') return naiveInputGrad(dy, w, g);
  if (kind === 'depthwise') return depthwiseInputGrad(dy, w, g);
  const m = kind === 'gemm' ? winogradTile(g) : 0;
  if (m) return winogradInputGrad(dy, w, g, m, acc, udx);
  const dx = Tensor.alloc([g.N, g.Cin, g.H, g.W], dy.dtype);
  const tm = subgroupChannels(g.cinG);
  const cv = channelVecs(g.cinG);
  const cgPad = roundUp(g.cinG, tm || 4 * cv);
  // The GEMM kernels read w in place, transposed (OIHW as Cred = coutG, Cg = cinG); pointwise.wgsl needs the packed layout.
  if (kind === 'pointwise' && tm) pointwiseSg(dy, w, null, dx, g.groups, g.coutG, g.cinG, cgPad, tm, 0, acc, 'dx');
  else if (kind === 'pointwise') {
    const wt = transposeWeights(w, g, true, cgPad);
    pointwise(dy, wt, null, dx, g.groups, g.coutG, g.cinG, cgPad, cv);
    wt.dispose();
  } else {
    const t = runtime().tuning.conv;
    const p = haloPad(dy, inputGradAxes(g.H, g.sh, g.dh, g.pt, g.kh), inputGradAxes(g.W, g.sw, g.dw, g.pl, g.kw), tm ? t.sgPX : t.gemmPX, 1, t.unpadded);
    // Two row phases per dispatch (gemm.wgsl), one dispatch per column phase.
    for (let r = 0; r < p.phs.length; r += 2) for (const pw of p.pws) gemmCorrelate(p.src, w, null, dx, g.groups, g.coutG, g.cinG, cgPad, cv, p.phs.slice(r, r + 2), pw, g.kh, g.kw, tm, 0, acc, p.bounded, 'dx');
    p.src.dispose();
  }
  return dx;
}

function weightGrad(x: Tensor, dy: Tensor, g: ConvGeom, v: ConvVariant): Tensor {
  const kind = pickVariant(g, v, x.dtype);
  if (kind === 'naive') return naiveWeightGrad(x, dy, g);
  if (kind === 'depthwise') return depthwiseWeightGrad(x, dy, g);
  return gemmWeightGrad(x, dy, g);
}

/**
 * 2-D convolution (cross-correlation, like torch.nn.functional.conv2d), with `opts.activation`
 * (ReLU, ReLU6) applied to conv + bias as the kernels' epilogue: one op, whose backward masks dy by
 * the activation's derivative (read from y, which for ReLU/ReLU6 gives the same mask as the input).
 * `residual` (like y) is added before the activation, in the same epilogue: act(conv + bias + residual),
 * a residual block's tail; its gradient is the (masked) dy.
 * x: (N, Cin, H, W), w: (Cout, Cin/groups, kh, kw), bias: (Cout) or null → y: (N, Cout, OH, OW).
 * x, w, residual and y share one dtype, f32 or f16 (f32 arithmetic); bias is f32.
 */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}, residual: Tensor | null = null): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => conv2d(x, w, bias, { ...opts, tuning: undefined }, residual));
  checkFloat('conv2d', 'x', x);
  checkFloat('conv2d', 'w', w, x, 'x');
  const g = convGeometry(x.shape, w.shape, opts);
  if (bias) {
    checkF32('conv2d', 'bias', bias);
    if (bias.size !== g.Cout || bias.rank !== 1) throw new ShapeError(`conv2d: argument 'bias' has shape ${shapeStr(bias.shape)}, expected [${g.Cout}]`);
  }
  const v = opts.variant ?? 'auto', act = opts.activation;
  if (act && !(act in ACT_CODE)) throw new ShapeError(`conv2d: activation '${act}' is not one of ${Object.keys(ACT_CODE).join(', ')}`);
  if (residual) {
    checkFloat('conv2d', 'residual', residual, x, 'x');
    const want = [g.N, g.Cout, g.OH, g.OW];
    if (!sameShape(residual.shape, want)) throw new ShapeError(`conv2d: argument 'residual' has shape ${shapeStr(residual.shape)}, expected ${shapeStr(want)}`);
  }
  pickVariant(g, v, x.dtype); // refuses a variant without this dtype's build before any work
  // dx's Winograd weights are made with the forward's where dx will run (one dispatch for both).
  const { y, udx } = forward(x, w, bias, g, v, act, residual, x.requiresGrad && gradEnabled());
  // Save only what the needed gradients read: dw reads x, dx reads w (or its transformed weights); the activation's mask reads y.
  const save = [...(w.requiresGrad ? [x] : []), ...(x.requiresGrad ? [udx ?? w] : []), ...(act ? [y] : [])];
  const inputs = [x, w, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  const op = `conv2d${residual ? '+residual' : ''}${act ? '+' + act : ''}`;
  const out = record(op, inputs, y, (dyOut, needs, saved, into) => {
    const sx = w.requiresGrad ? saved[0] : null;
    const sw = x.requiresGrad ? saved[w.requiresGrad ? 1 : 0] : null;
    const dy = act ? activationBackward(act, saved[saved.length - 1], dyOut) : dyOut;
    // A gradient x already has (another branch reading x) is added in dx's epilogue.
    const acc = needs[0] && into?.grads[0] && sameShape(into.grads[0].shape, x.shape) && into.grads[0].dtype === x.dtype && addsIntoDx(g, v, x.dtype) ? into.grads[0] : null;
    if (acc) into!.used[0] = true;
    const grads = [
      needs[0] ? inputGrad(dy, udx ? w : sw!, g, v, acc, udx ? sw! : undefined) : null,
      needs[1] ? weightGrad(sx!, dy, g, v) : null,
      ...(bias ? [needs[2] ? conv2dBiasGrad(dy) : null] : []),
    ];
    // The residual's gradient is dy itself (kept, not disposed, when it is passed on).
    if (residual) grads.push(needs[grads.length] ? dy : null);
    else if (act) dy.dispose();
    if (residual && act && !needs[grads.length - 1]) dy.dispose();
    return grads;
  }, save);
  udx?.dispose();
  return out;
}

function checkDy(op: string, dy: Tensor, g: ConvGeom, like: Tensor, likeName: string): void {
  checkFloat(op, 'dy', dy, like, likeName);
  const want = [g.N, g.Cout, g.OH, g.OW];
  if (!sameShape(dy.shape, want)) throw new ShapeError(`${op}: argument 'dy' has shape ${shapeStr(dy.shape)}, expected ${shapeStr(want)}`);
}

/** Input gradient dx (N, Cin, H, W) of conv2d, from dy (N, Cout, OH, OW) and w (Cout, Cin/groups, kh, kw). */
export function conv2dInputGrad(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOptions = {}): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => conv2dInputGrad(dy, w, xShape, { ...opts, tuning: undefined }));
  checkFloat('conv2dInputGrad', 'w', w);
  const g = convGeometry(xShape, w.shape, opts, 'conv2dInputGrad');
  checkDy('conv2dInputGrad', dy, g, w, 'w');
  return inputGrad(dy, w, g, opts.variant ?? 'auto');
}

/** Weight gradient dw (Cout, Cin/groups, kh, kw) of conv2d, from x (N, Cin, H, W) and dy (N, Cout, OH, OW). */
export function conv2dWeightGrad(x: Tensor, dy: Tensor, wShape: Shape, opts: Conv2dOptions = {}): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => conv2dWeightGrad(x, dy, wShape, { ...opts, tuning: undefined }));
  checkFloat('conv2dWeightGrad', 'x', x);
  const g = convGeometry(x.shape, wShape, opts, 'conv2dWeightGrad');
  checkDy('conv2dWeightGrad', dy, g, x, 'x');
  return weightGrad(x, dy, g, opts.variant ?? 'auto');
}

/** Bias gradient (Cout), f32 like the bias: dy (N, Cout, OH, OW) summed over N, OH, OW (an f16 dy widened first). */
export function conv2dBiasGrad(dy: Tensor): Tensor {
  if (dy.rank !== 4) throw new ShapeError(`conv2dBiasGrad: argument 'dy' has shape ${shapeStr(dy.shape)}, expected rank 4`);
  const d32 = dy.dtype === 'f16' ? cast(dy, 'f32') : dy;
  const s = sum(d32, [0, 2, 3]);
  if (d32 !== dy) d32.dispose();
  return s.rank === 1 ? s : reshaped(s, [dy.shape[1]]);
}
