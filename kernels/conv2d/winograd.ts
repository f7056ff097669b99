/**
 * Winograd forward pass and input gradient of 3x3 stride-1 convolutions, F(M x M, 3 x 3) with
 * M = 2 or 4. Both are a 3x3 correlation: forward of x with w, dx of dy with the flipped,
 * channel-swapped filter. Per M x M destination tile,
 * tile = A^T [ sum over r of (G g G^T) ⊙ (B^T d B) ] A (Lavin & Gray 2015), where d is the
 * (M+2)^2 source patch and r the reduction channel. The sum is (M+2)^2 independent GEMMs
 * (tiles x Cred) · (Cred x Cg), run as one grouped 1x1 correlation on the same GEMM kernels as
 * everything else (gemm.ts), between an input and an output transform pass (which adds the bias).
 * F(4x4, 3x3) does 36/16 = 2.25 multiply-adds per destination pixel and channel pair instead of 9;
 * the transforms are a few loads and adds per value.
 *
 * Why only for some adapters (tuning.conv.dxWinograd, tuning.conv.fwdWinograd): on SwiftShader the
 * GEMM kernels run ~1.5 G multiply-adds per CPU second whatever the blocking (broadcasts, spills and emulated gathers
 * cost about as much as the arithmetic), so cutting the multiply-adds is what is left to gain.
 * F(4x4) rounds slightly worse than the direct sum (coefficients up to 8 and 1/24); F(2x2) is exact
 * up to the usual rounding.
 */
import inSrc from './winograd_in.wgsl';
import wSrc from './winograd_w.wgsl';
import outSrc from './winograd_out.wgsl';
import tilesSrc from './winograd_tiles.wgsl';
import epilogueSrc from '../common/epilogue.wgsl';
import { Tensor, keep } from '../../engine/core/tensor.ts';
import { runtime, launch1d, type Kernel } from '../../engine/core/runtime.ts';
import { wgsl, storageDefines, applyDefine } from '../../engine/core/wgsl.ts';
import { channelVecs, oneD } from './launch.ts';
import { gemmCorrelate, forwardAxis, subgroupChannels } from './gemm.ts';
import type { ConvGeom } from './geometry.ts';

/** B^T, G, A^T of F(M x M, 3 x 3) (the usual interpolation points 0, ±1, ±2 and infinity). */
const MATS: Record<number, { BT: number[][]; G: number[][]; AT: number[][] }> = {
  2: {
    BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
    AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  },
  4: {
    BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
};

/** The WGSL expression sum of coefs[k] * names[k], zero terms left out. */
function lin(coefs: number[], names: string[]): string {
  const terms: string[] = [];
  coefs.forEach((c, k) => {
    if (c === 0) return;
    const mag = Math.abs(c) === 1 ? names[k] : `${Math.abs(c).toPrecision(9)} * ${names[k]}`;
    terms.push(terms.length ? `${c < 0 ? '-' : '+'} ${mag}` : `${c < 0 ? '-' : ''}${mag}`);
  });
  return terms.length ? terms.join(' ') : '0.0';
}

const R = (n: number) => [...Array(n).keys()];

/** Input transform lines: d = the patch, e = B^T d, V = e B stored per xi. */
function inputBody(m: number): string {
  const { BT } = MATS[m], a = m + 2, L: string[] = [];
  for (const u of R(a)) for (const v of R(a)) L.push(`  let d${u}_${v} = at(plane, r0 + ${u}, c0 + ${v}, ok);`);
  for (const i of R(a)) for (const v of R(a)) L.push(`  let e${i}_${v} = ${lin(BT[i], R(a).map((u) => `d${u}_${v}`))};`);
  for (const i of R(a)) for (const j of R(a)) L.push(`  v[out + ${i * a + j}u * xiStride] = ${lin(BT[j], R(a).map((v) => `e${i}_${v}`))};`);
  return L.join('\n');
}

/**
 * A weight transform function `name(i, Cred, Cg, cgPad)` writing `out`: g = the filter of invocation
 * i's channel pair (flipped for dx; read through the define W, f16 weights widened), h = G g,
 * U = h G^T stored per xi.
 */
function weightFn(name: string, m: number, flip: boolean, out: string, W?: string): string {
  const { G } = MATS[m], a = m + 2;
  const L = [`fn ${name}(i: u32, Cred: u32, Cg: u32, cgPad: u32) {`,
    '  let c = i % cgPad;', '  let r = i / cgPad;', '  let ok = c < Cg;',
    // w is (Cout, Cin, 3, 3): forward reads w[c, r], dx w[r, c].
    `  let base = select(0u, (${flip ? 'r * Cg + c' : 'c * Cred + r'}) * 9u, ok);`,
    '  let o = r * cgPad + c;', '  let xiStride = Cred * cgPad;'];
  const tap = (p: number, q: number) => (flip ? (2 - p) * 3 + (2 - q) : p * 3 + q);
  for (const p of R(3)) for (const q of R(3)) L.push(`  let g${p}_${q} = select(0.0, ${applyDefine(W, `w[base + ${tap(p, q)}u]`)}, ok);`);
  for (const i of R(a)) for (const q of R(3)) L.push(`  let h${i}_${q} = ${lin(G[i], R(3).map((p) => `g${p}_${q}`))};`);
  for (const i of R(a)) for (const j of R(a)) L.push(`  ${out}[o + ${i * a + j}u * xiStride] = ${lin(G[j], R(3).map((q) => `h${i}_${q}`))};`);
  L.push('}');
  return L.join('\n');
}

/** winograd_w.wgsl's blocks: one transform (FLIP for dx), or with BOTH the forward's into u and the input gradient's into u2. */
function weightBlocks(d: Record<string, any>): Record<string, string> {
  if (!d.BOTH) return { U2: '', FNS: weightFn('transform', d.M, d.FLIP, 'u', d.W), EACH: '  transform(i, params.Cred, params.Cg, params.cgPad);' };
  return {
    U2: '@group(0) @binding(3) var<storage, read_write> u2: array<f32>;',
    FNS: [weightFn('forwardU', d.M, false, 'u', d.W), weightFn('inputGradU', d.M, true, 'u2', d.W)].join('\n\n'),
    EACH: '  if (i < params.n1) { forwardU(i, params.Cred, params.Cg, params.cgPad); } else { inputGradU(i - params.n1, params.Cg, params.Cred, params.cgPad2); }',
  };
}

/** Output transform lines: m = the GEMM results, p = A^T m, dst = p A + b where inside dst. */
function outputBody(m: number, S?: string): string {
  const { AT } = MATS[m], a = m + 2, L: string[] = [];
  for (const i of R(a)) for (const j of R(a)) L.push(`  let m${i}_${j} = mm[src + ${i * a + j}u * xiStride];`);
  for (const p of R(m)) for (const j of R(a)) L.push(`  let p${p}_${j} = ${lin(AT[p], R(a).map((i) => `m${i}_${j}`))};`);
  for (const p of R(m)) for (const q of R(m)) {
    L.push(`  if (y0 + ${p}u < params.H && x0 + ${q}u < params.W) { dst[out + ${p}u * params.W + ${q}u] = ${applyDefine(S, `actf(${lin(AT[q], R(a).map((j) => `p${p}_${j}`))} + b + resid(out + ${p}u * params.W + ${q}u))`)}; }`);
  }
  return L.join('\n');
}

/** Winograd applies: 3x3, stride 1, undilated, ungrouped. */
const applies = (g: ConvGeom) => g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1 && g.groups === 1;

/** Whether the harmonic mean of the conv's Cin and Cout reaches `min` (tuning.conv.winogradMinChannels). */
const bigEnough = (g: ConvGeom, min: number) => (2 * g.Cin * g.Cout) / (g.Cin + g.Cout) >= min;

/**
 * The Winograd tile size M for this conv's input gradient on this adapter (tuning.conv.dxWinograd), or
 * 0 to run the direct kernels: also 0 below tuning.conv.winogradMinChannels.
 */
export function winogradTile(g: ConvGeom): number {
  const t = runtime().tuning.conv;
  const m = applies(g) && bigEnough(g, t.winogradMinChannels) ? t.dxWinograd : 0;
  return MATS[m] ? m : 0;
}

/**
 * The Winograd tile size M for this conv's forward pass on this adapter (tuning.conv.fwdWinograd), or 0
 * to run the direct kernels: also 0 when the harmonic mean of Cin and Cout is below
 * tuning.conv.winogradMinChannels (fwdWinogradConstantMinChannels for `constant` weights, whose
 * layouts are cached), where the transforms (~Cin + Cout per tile) cost more than the GEMM saves
 * (~Cin * Cout per tile).
 */
export function winogradForwardTile(g: ConvGeom, constant = false): number {
  const t = runtime().tuning.conv;
  const m = applies(g) && bigEnough(g, constant ? t.fwdWinogradConstantMinChannels : t.winogradMinChannels) ? t.fwdWinograd : 0;
  return MATS[m] ? m : 0;
}

/** Runs `kernel` over `total` invocations; `params` (a fresh object) gets their count and launch stride. */
function run1d(kernel: Kernel, bindings: Record<string, Tensor>, params: Record<string, number>, total: number): void {
  const { groups, stride } = launch1d(total);
  params.n = total;
  params.stride = stride;
  runtime().run(kernel, bindings, params, groups);
}

/** The transform kernels, for tile size M (and, for the weights, FLIP: the input-gradient filter; BOTH: both filters). */
const weightKernel = (M: number, FLIP: boolean, T: string, BOTH = false) => wgsl('conv2d_wino_w', wSrc, {
  include: oneD, defines: { M, FLIP, BOTH, ...storageDefines(T) }, blocks: weightBlocks,
});

/** Output channels of the GEMM's weight layout for a group of Cg channels: Cg rounded up to its channel block. */
function gemmCgPad(Cg: number): number {
  const tm = subgroupChannels(Cg), cv = channelVecs(Cg);
  return Math.ceil(Cg / (tm || 4 * cv)) * (tm || 4 * cv);
}

/**
 * The transformed weights of both passes of a conv with tile size m, in one dispatch: the forward's
 * and the input gradient's (which winogradInputGrad takes as `u`). Both f32, whatever w's dtype.
 */
export function winogradWeightsBoth(w: Tensor, g: ConvGeom, m: number): { fwd: Tensor; dx: Tensor } {
  const A2 = (m + 2) * (m + 2), padF = gemmCgPad(g.Cout), padD = gemmCgPad(g.Cin);
  const fwd = Tensor.alloc([A2, g.Cin, padF]), dx = Tensor.alloc([A2, g.Cout, padD]);
  const n1 = g.Cin * padF;
  run1d(weightKernel(m, false, w.dtype, true), { w, u: fwd, u2: dx }, { Cred: g.Cin, Cg: g.Cout, cgPad: padF, cgPad2: padD, n1 }, n1 + g.Cout * padD);
  return { fwd, dx };
}
const inputBlocks = (d: { M: number }) => ({ BODY: inputBody(d.M) });
const outputBlocks = (d: Record<string, any>) => ({ BODY: outputBody(d.M, d.S) });
const inputKernel = (M: number, T: string) => wgsl('conv2d_wino_in', inSrc, { include: [tilesSrc, ...oneD], defines: { M, ...storageDefines(T) }, blocks: inputBlocks });
const outputKernel = (M: number, T: string) => wgsl('conv2d_wino_out', outSrc, {
  include: [tilesSrc, ...oneD, epilogueSrc], defines: { M, ...storageDefines(T) }, blocks: outputBlocks,
});

/**
 * The 3x3 correlation dst = src ⋆ g (+ bias) by F(m x m, 3 x 3), the one routine behind both
 * passes. src: (N, Cred, Hs, Ws); dst: (N, Cg, Hd, Wd), whose pixel (y, x) sums the source patch
 * starting at (y - oy, x - ox); w: the conv's (Cout, Cin, 3, 3) weights, read as g = w[c, r] when
 * `flip` is false (forward), else as g = w[r, c] turned by 180 degrees (input gradient). src, w and
 * dst (and res) are all f32 or all f16; the transformed operands and the GEMM stay f32.
 */
function winogradCorrelate(src: Tensor, w: Tensor, bias: Tensor | null, dstShape: number[], oy: number, ox: number, flip: boolean, m: number, act = 0,
  cache?: Map<string, Tensor>, res: Tensor | null = null, given?: Tensor): Tensor {
  const [N, Cred, Hs, Ws] = src.shape, [, Cg, Hd, Wd] = dstShape;
  const a = m + 2, A2 = a * a;
  const tH = Math.ceil(Hd / m), tW = Math.ceil(Wd / m), T = N * tH * tW;
  const tm = subgroupChannels(Cg), cv = channelVecs(Cg);
  const cgPad = gemmCgPad(Cg);
  // Rows of whole pixel blocks, so the GEMM's last block reads its own row (PX is a multiple of 4).
  const PX = tm ? runtime().tuning.conv.sgPX : runtime().tuning.conv.gemmPX;
  const T4 = Math.ceil(T / PX) * PX;
  // Transformed weights: `given` (winogradWeightsBoth's, the caller's), from `cache` (weights that
  // never change, e.g. folded frozen ones), or transformed here.
  const ukey = `wino:${m}:${flip}:${cgPad}`;
  let u = given ?? cache?.get(ukey);
  if (!u) {
    u = Tensor.alloc([A2, Cred, cgPad]);
    run1d(weightKernel(m, flip, w.dtype), { w, u }, { Cred, Cg, cgPad, cgPad2: 0, n1: 0 }, Cred * cgPad);
    cache?.set(ukey, keep(u));
  }
  const v = Tensor.alloc([1, A2 * Cred, 1, T4]);
  run1d(inputKernel(m, src.dtype), { src, v },
    { C: Cred, H: Hs, W: Ws, tH, tW, T, T4, oy, ox, hasBias: 0, act: 0, hasRes: 0 }, Cred * T4);
  const mm = Tensor.alloc([1, A2 * Cg, 1, T4]);
  gemmCorrelate(v, u, null, mm, A2, Cred, Cg, cgPad, cv, [forwardAxis(1, 1, 1, 0, 1)], forwardAxis(T4, 1, 1, 0, 1), 1, 1, tm);
  v.dispose();
  if (!cache && !given) u.dispose();
  const dst = Tensor.alloc([N, Cg, Hd, Wd], src.dtype);
  run1d(outputKernel(m, src.dtype), { mm, bias: bias ?? mm, dst, res: res ?? mm },
    { C: Cg, H: Hd, W: Wd, tH, tW, T, T4, oy: 0, ox: 0, hasBias: bias ? 1 : 0, act, hasRes: res ? 1 : 0 }, Cg * T);
  mm.dispose();
  return dst;
}

/**
 * y (N, Cout, OH, OW) of a 3x3 stride-1 undilated ungrouped conv by F(m x m, 3 x 3) (m = 2 or 4);
 * `act` (1 ReLU, 2 ReLU6) is applied in the output transform; `cache` keeps the transformed weights.
 */
export function winogradForward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeom, m: number, act = 0, cache?: Map<string, Tensor>, res: Tensor | null = null, u?: Tensor): Tensor {
  return winogradCorrelate(x, w, bias, [g.N, g.Cout, g.OH, g.OW], g.pt, g.pl, false, m, act, cache, res, u);
}

/**
 * dx (N, Cin, H, W) of a 3x3 stride-1 undilated ungrouped conv by F(m x m, 3 x 3): dy correlated with
 * the flipped filter, plus `acc` (like dx) in the output transform when given.
 */
export function winogradInputGrad(dy: Tensor, w: Tensor, g: ConvGeom, m: number, acc: Tensor | null = null, u?: Tensor): Tensor {
  return winogradCorrelate(dy, w, null, [g.N, g.Cin, g.H, g.W], 2 - g.pt, 2 - g.pl, true, m, 0, undefined, acc, u);
}
