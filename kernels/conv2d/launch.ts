/**
 * Launchers shared by the conv2d kernels: the naive oracles
 * (forward, dx, dw), weight rearrangement, zero padding, and the 1x1 pointwise GEMM. Shapes are
 * NCHW / OIHW throughout; see README.md.
 */
import naiveSrc from './naive.wgsl';
import naiveDxSrc from './naive_dx.wgsl';
import naiveDwSrc from './naive_dw.wgsl';
import pointwiseSrc from './pointwise.wgsl';
import wtransSrc from './wtrans.wgsl';
import padSrc from './pad.wgsl';
import naiveParamsSrc from './naive_params.wgsl';
import flatIndexSrc from '../common/flat_index.wgsl';
import eachSrc from '../common/each.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, grid, launch1d } from '../../engine/core/runtime.ts';
import { wgsl, storageDefines, applyDefine } from '../../engine/core/wgsl.ts';
import type { ConvGeom } from './geometry.ts';

// Tunables of the fast kernels: runtime().tuning.conv (engine/core/tuning.ts).

/** What the naive kernels include: their Params and the entry of a 1-D launch. */
const naiveInclude = [naiveParamsSrc, flatIndexSrc, eachSrc];
/** The entry of a 1-D launch: the kernel writes fn each(i) for i < params.n. */
export const oneD = [flatIndexSrc, eachSrc];

function naiveParams(g: ConvGeom, total: number, stride: number, hasBias: boolean) {
  return {
    N: g.N, Cin: g.Cin, H: g.H, W: g.W, Cout: g.Cout, OH: g.OH, OW: g.OW, kh: g.kh, kw: g.kw,
    sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, pt: g.pt, pl: g.pl, cinG: g.cinG, coutG: g.coutG,
    hasBias: hasBias ? 1 : 0, stride, n: total,
  };
}

/** Naive forward: y (N, Cout, OH, OW). */
export function naiveForward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeom): Tensor {
  const y = Tensor.alloc([g.N, g.Cout, g.OH, g.OW]);
  const { groups, stride } = launch1d(y.size);
  runtime().run(wgsl('conv2d_naive', naiveSrc, { include: naiveInclude }), { x, w, bias: bias ?? w, y }, naiveParams(g, y.size, stride, !!bias), groups);
  return y;
}

/** Naive input gradient: dx (N, Cin, H, W) from dy (N, Cout, OH, OW). */
export function naiveInputGrad(dy: Tensor, w: Tensor, g: ConvGeom): Tensor {
  const dx = Tensor.alloc([g.N, g.Cin, g.H, g.W]);
  const { groups, stride } = launch1d(dx.size);
  runtime().run(wgsl('conv2d_naive_dx', naiveDxSrc, { include: naiveInclude }), { dy, w, dx }, naiveParams(g, dx.size, stride, false), groups);
  return dx;
}

/** Naive weight gradient: dw (Cout, Cin/groups, kh, kw). */
export function naiveWeightGrad(x: Tensor, dy: Tensor, g: ConvGeom): Tensor {
  const dw = Tensor.alloc([g.Cout, g.cinG, g.kh, g.kw]);
  const { groups, stride } = launch1d(dw.size);
  runtime().run(wgsl('conv2d_naive_dw', naiveDwSrc, { include: naiveInclude }), { x, dy, dw }, naiveParams(g, dw.size, stride, false), groups);
  return dw;
}

/**
 * Rearranged weights for the GEMM kernels: (groups, kh, kw, Cred, cgPad), output channels padded
 * to `cgPad` with zeros. `swap` builds the input-gradient form (Cred = coutG, Cg = cinG).
 */
export function transposeWeights(w: Tensor, g: ConvGeom, swap: boolean, cgPad: number): Tensor {
  const Cred = swap ? g.coutG : g.cinG, Cg = swap ? g.cinG : g.coutG;
  const wt = Tensor.alloc([g.groups, g.kh, g.kw, Cred, cgPad], w.dtype);
  const { groups, stride } = launch1d(wt.size);
  runtime().run(wgsl('conv2d_wtrans', wtransSrc, { include: oneD, defines: storageDefines(w.dtype) }), { w, wt },
    { groups: g.groups, Cred, Cg, cgPad, kh: g.kh, kw: g.kw, swap: swap ? 1 : 0, n: wt.size, stride }, groups);
  return wt;
}

/**
 * Lanes per subgroup when the subgroup kernels should run: the tuning asks for them (tuning.conv.subgroups:
 * CPU-emulated adapters, where every load is a loop over lanes), the device has 'subgroups' and the
 * adapter reports one fixed size (the kernels need a workgroup to be exactly one subgroup); else 0.
 */
export function subgroupLanes(): number {
  const rt = runtime();
  return rt.tuning.conv.subgroups ? rt.subgroupSize : 0;
}

/** Channel vec4s per invocation of the GEMM kernels: up to tuning.conv.maxCV, fewer for narrow groups. */
export function channelVecs(cg: number): number { return Math.max(1, Math.min(runtime().tuning.conv.maxCV, Math.floor(cg / 4))); }

/** The FMAS block of pointwise.wgsl (each weight vec4 loaded right before its multiply-adds) and its pixel order. */
function pointwiseBlocks({ PV, CV, STRIDED, W4 }: { PV: number; CV: number; STRIDED: boolean; W4?: string }): Record<string, string> {
  const fmas: string[] = [];
  for (let v = 0; v < CV; v++) {
    fmas.push(`    let w${v} = ${applyDefine(W4, `wt[wi + ${v}u]`)};`);
    for (let e = 0; e < 4; e++) for (let q = 0; q < PV; q++) fmas.push(`    a${v}_${e}_${q} = fma(x${q}, vec4<f32>(w${v}[${e}]), a${v}_${e}_${q});`);
  }
  return { FMAS: fmas.join('\n'), PIXEL: STRIDED ? '($qu * 64u + lid)' : `(lid * ${PV}u + $qu)` };
}

/** 1x1 stride-1 unpadded GEMM (pointwise.wgsl); needs H*W % 4 == 0. */
export function pointwise(src: Tensor, wt: Tensor, bias: Tensor | null, dst: Tensor, groupsN: number, Cred: number, Cg: number, cgPad: number, cv: number): void {
  const [N, , H, W] = src.shape;
  const HW4 = (H * W) / 4;
  const { pwPV: PV, pwStrided: strided } = runtime().tuning.conv;
  const coBlocks = cgPad / (4 * cv);
  const [gx, gy] = grid(Math.ceil((N * HW4) / (64 * PV)));
  const kernel = wgsl('conv2d_pointwise', pointwiseSrc, {
    defines: { PV, CV: cv, STRIDED: strided, ...storageDefines(src.dtype) }, unroll: { q: PV, v: cv, e: 4 }, blocks: pointwiseBlocks,
  });
  runtime().run(kernel,
    { src, wt, bias: bias ?? wt, dst },
    { N, groups: groupsN, Cred, Cg, HW4, cgPad, coBlocks, hasBias: bias ? 1 : 0, strideX: gx },
    [gx, gy, groupsN * coBlocks]);
}

/**
 * src (N, C, H, W) zero-padded to (N, C, Hp, Wp), shifted down by pt rows and right by pl columns
 * (rows past H + pt and columns past W + pl are zeros too, or cut off). Wp must be a multiple of 4.
 */
export function pad(src: Tensor, Hp: number, Wp: number, pt: number, pl: number): Tensor {
  if (Wp % 4) throw new Error(`conv2d pad: row length ${Wp} is not a multiple of 4`);
  const [N, C, H, W] = src.shape;
  const xp = Tensor.alloc([N, C, Hp, Wp], src.dtype);
  const { groups, stride } = launch1d(xp.size / 4);
  runtime().run(wgsl('conv2d_pad', padSrc, { include: oneD, defines: storageDefines(src.dtype) }), { x: src, xp },
    { H, W, Hp, Wpv: Wp / 4, pt, pl, n: xp.size / 4, stride }, groups);
  return xp;
}

/** A handle of `shape` on `t`'s storage, disposing `t`. */
export function reshaped(t: Tensor, shape: number[]): Tensor {
  const out = t.unrecordedView(shape);
  t.dispose();
  return out;
}
