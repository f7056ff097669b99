/**
 * The register-blocked row-window GEMM (gemm.wgsl) that runs the forward pass and the input
 * gradient of every non-depthwise, non-pointwise conv2d, and the correlation plans both passes
 * are expressed in: per axis, which destination pixels a dispatch writes and which taps reach them.
 */
import gemmSrc from './gemm.wgsl';
import gemmCommonSrc from './gemm_common.wgsl';
import epilogueSrc from '../common/epilogue.wgsl';
import subgroupsSrc from '../common/subgroups.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl, storageDefines, applyDefine } from '../../engine/core/wgsl.ts';
import { pad, subgroupLanes } from './launch.ts';

/** One axis of a correlation dispatch: which destination pixels, which taps. */
export interface AxisPlan {
  /** Destination subgrid: size, first index, step. */
  sub: number; r: number; ds: number;
  /** Source index = i*ss + c0 + k*cs for tap k < nk; weight tap index = k0 + k*ks. */
  ss: number; c0: number; cs: number; nk: number; k0: number; ks: number;
}

/** The forward pass along one axis as a correlation plan. */
export function forwardAxis(out: number, s: number, d: number, padBefore: number, k: number): AxisPlan {
  return { sub: out, r: 0, ds: 1, ss: s, c0: -padBefore, cs: d, nk: k, k0: 0, ks: 1 };
}

function gcd(a: number, b: number): number { return b ? gcd(b, a % b) : a; }

/**
 * The input gradient along one axis, one plan per stride phase r: dx pixels r, r+s, ... receive
 * exactly the taps ky with (r + pad - ky*d) divisible by s, an arithmetic progression with step
 * s/gcd(s, d), and read dy at i + (r + pad - ky*d)/s.
 */
export function inputGradAxes(size: number, s: number, d: number, padBefore: number, k: number): AxisPlan[] {
  const plans: AxisPlan[] = [];
  const ks = s / gcd(s, d);
  for (let r = 0; r < Math.min(s, size); r++) {
    let k0 = 0;
    while (k0 < ks && ((r + padBefore - k0 * d) % s + s) % s !== 0) k0++;
    const nk = k0 < Math.min(ks, k) ? Math.floor((k - 1 - k0) / ks) + 1 : 0;
    plans.push({ sub: Math.ceil((size - r) / s), r, ds: s, ss: 1, c0: nk ? (r + padBefore - k0 * d) / s : 0, cs: -(ks * d) / s, nk, k0: nk ? k0 : 0, ks });
  }
  return plans;
}

/** First source offset a plan's taps read relative to i*ss (the tap with the lowest offset). */
const minTap = (p: AxisPlan) => p.c0 + Math.min(0, (p.nk - 1) * p.cs);

/** Source indices [lo, hi] the plans read along one axis when the destination runs in blocks of `block`. */
function reach(plans: AxisPlan[], size: number, block: number): [number, number] {
  let lo = 0, hi = size - 1;
  for (const p of plans) {
    if (p.nk === 0 || p.sub === 0) continue;
    lo = Math.min(lo, minTap(p));
    hi = Math.max(hi, (Math.ceil(p.sub / block) * block - 1) * p.ss + p.c0 + Math.max(0, (p.nk - 1) * p.cs));
  }
  return [lo, hi];
}

/**
 * Zero-pads `src` by the halo the plans reach outside it (for whole blocks of `block` columns and
 * `blockH` rows), with the row length a multiple of 4, and shifts the plans to match;
 * gemm.wgsl then needs no bounds checks. Returns a new handle on `src` when no padding is needed,
 * and also (with `bounded: true`: the kernel must check its loads) when `unpadded` allows it and
 * the rows of `src` are a multiple of 4 long.
 */
export function haloPad(src: Tensor, phs: AxisPlan[], pws: AxisPlan[], block: number, blockH = 1, unpadded = false): { src: Tensor; phs: AxisPlan[]; pws: AxisPlan[]; bounded: boolean } {
  const [, , H, W] = src.shape;
  const [hlo, hhi] = reach(phs, H, blockH), [wlo, whi] = reach(pws, W, block);
  const Wp = Math.ceil((whi - wlo + 1) / 4) * 4;
  if (hlo === 0 && hhi === H - 1 && wlo === 0 && Wp === W) return { src: src.unrecordedView(), phs, pws, bounded: false };
  if (unpadded && W % 4 === 0) return { src: src.unrecordedView(), phs, pws, bounded: true };
  return {
    src: pad(src, hhi - hlo + 1, Wp, -hlo, -wlo),
    phs: phs.map((p) => ({ ...p, c0: p.c0 - hlo })),
    pws: pws.map((p) => ({ ...p, c0: p.c0 - wlo })),
    bounded: false,
  };
}

/** gemm.wgsl's source loads: from a zero-padded source, or bounds-checked (rows and window vec4s outside read 0). */
const PADDED = { BOUNDS: '    let ok$t = true;' };
const BOUNDED = { BOUNDS: '    let rv = u32(row) < params.Hs;\n    let ok$t = rv && u32(col0 + $t) < Wsv;' };

/** What the GEMM kernel includes: its Params and bindings, and the conv epilogue. */
const include = [gemmCommonSrc, epilogueSrc];
const includeSg = [subgroupsSrc, ...include];

/**
 * The load of weight quad `q` (a constant, or wq{l}: the quad lane load l serves, with subgroups) at column tap k:
 * one vec4 of the packed layout, or (OIHW) four scalars at the quad's channel offsets wo{q}_{e} (gemm.wgsl).
 */
function weightLoad(OIHW: number, k: number, q: number, sg: boolean, d: { W?: string; W4?: string }): string {
  const at = `wi + ${k}u * tapStride`;
  if (!OIHW) return applyDefine(d.W4, `wt[${at} + ${sg ? `wq${q}` : `${q}u`}]`);
  return `vec4<f32>(${[0, 1, 2, 3].map((e) => applyDefine(d.W, `wt[${at} + wo${q}_${e}]`)).join(', ')})`;
}

/** The FMAS block of gemm.wgsl: per column tap, its weights, then each pixel's window value times them. */
function fmaBlock(PX: number, CV: number, SSW: number, CSW: number, NKW: number, A: number, OIHW: number, d: { W?: string; W4?: string }): string {
  const lines: string[] = [];
  const lo = Math.min(0, (NKW - 1) * CSW);
  for (let k = 0; k < NKW; k++) for (let p = 0; p < PX; p++) {
    // Each tap's weights are loaded right before their multiply-adds, which keeps few values live.
    if (p === 0) for (let v = 0; v < CV; v++) lines.push(`      let w${k}_${v} = ${weightLoad(OIHW, k, v, false, d)};`);
    const e = A + p * SSW + k * CSW - lo;
    lines.push(`      { let x = vec4<f32>(s${e >> 2}[${e & 3}]);`);
    for (let v = 0; v < CV; v++) lines.push(`        a${p}_${v} = fma(w${k}_${v}, x, a${p}_${v});`);
    lines.push('      }');
  }
  return lines.join('\n');
}

/** The FMAS block of gemm.wgsl with subgroups: per column tap, the lanes' weight loads, then per channel quad
 * its broadcast from the lane that loaded it times every pixel's window value. */
function fmaBlockSg(SG: number, CQ: number, LQ: number, PX: number, SSW: number, CSW: number, NKW: number, A: number, OIHW: number, d: { W?: string; W4?: string }): string {
  const lines: string[] = [];
  const lo = Math.min(0, (NKW - 1) * CSW);
  for (let k = 0; k < NKW; k++) {
    for (let l = 0; l < LQ; l++) lines.push(`      let w${k}_${l} = ${weightLoad(OIHW, k, l, true, d)};`);
    for (let q = 0; q < CQ; q++) {
      lines.push(`      { let w = subgroupBroadcast(w${k}_${Math.floor(q / SG)}, ${q % SG}u);`);
      for (let p = 0; p < PX; p++) {
        const e = A + p * SSW + k * CSW - lo;
        lines.push(`        a${p}_${q} = fma(w, vec4<f32>(s${e >> 2}[${e & 3}]), a${p}_${q});`);
      }
      lines.push('      }');
    }
  }
  return lines.join('\n');
}

/** Output channels per subgroup workgroup of gemm.wgsl's subgroup build for a group of Cg channels (0: don't use it). */
export function subgroupChannels(Cg: number): number {
  const SG = subgroupLanes();
  if (!SG) return 0;
  return Math.min(runtime().tuning.conv.sgTM[SG] ?? 4 * SG, Math.ceil(Cg / 4) * 4);
}

/** gemm.wgsl's weight code: the binding's element type, the per-quad channel offsets (OIHW) and the quad base (packed). */
function weightBlocks(d: { OIHW: number; SG: number; CQ: number; T?: string }): Record<string, string> {
  const T = d.T ?? 'f32', woff: string[] = [];
  if (d.OIHW) {
    for (let q = 0; q < (d.SG ? Math.ceil(d.CQ / d.SG) : d.CQ); q++) for (let e = 0; e < 4; e++) {
      const o = d.SG ? `(cob * ${d.CQ}u + wq${q}) * 4u + ${e}u` : `cob * ${4 * d.CQ}u + ${4 * q + e}u`;
      woff.push(`  let wo${q}_${e} = min(${o}, params.Cg - 1u) * params.wsO;`);
    }
  }
  return { WTYPE: d.OIHW ? T : `vec4<${T}>`, WOFF: woff.join('\n'), WQ: d.OIHW ? '' : ` + cob * ${d.CQ}u` };
}

/**
 * How gemm.wgsl reads its weights: `wt` packed by transposeWeights (or Winograd's transform) as
 * (groups, kh, kw, Cred, cgPad), or 'forward' / 'dx': `wt` is the conv's OIHW weights (Cout, Cin/groups,
 * kh, kw), read in place with Cred = Cin/groups for the forward pass, Cred = Cout/groups for dx.
 */
export type WeightRead = 'packed' | 'forward' | 'dx';

/** Strides of weight element (g, ky, kx, c, o) in `wt` (vec4 units when packed). */
function weightStrides(read: WeightRead, Cred: number, Cg: number, cgPad: number, kh: number, kw: number) {
  if (read === 'packed') { const cgv = cgPad / 4; return { wsG: kh * kw * Cred * cgv, wsY: kw * Cred * cgv, wsX: Cred * cgv, wsC: cgv, wsO: 1 }; }
  const khw = kh * kw;
  return { wsG: Cg * Cred * khw, wsY: kw, wsX: 1, wsC: read === 'forward' ? khw : Cg * khw, wsO: read === 'forward' ? Cred * khw : khw };
}

/** gemm.wgsl's generated code, from its defines (one function, not a closure per dispatch). */
const gemmBlocks = (d: Record<string, any>) => ({
  FMAS: d.SG ? fmaBlockSg(d.SG, d.CQ, Math.ceil(d.CQ / d.SG), d.PX, d.SSW, d.CSW, d.NKW, d.A, d.OIHW, d) : fmaBlock(d.PX, d.CQ, d.SSW, d.CSW, d.NKW, d.A, d.OIHW, d),
  ...weightBlocks(d as { OIHW: number; SG: number; CQ: number; T?: string }),
  ACC: Array.from({ length: d.PX * d.CQ }, (_, i) => `a${Math.floor(i / d.CQ)}_${i % d.CQ}`).join(', '),
});

/**
 * One correlation dispatch (gemm.wgsl, its subgroup build when `tm` > 0) writing the subgrids phs[r] x pw of dst
 * (one or two row plans, e.g. two stride phases of dx, which differ only in their first row, size and taps),
 * with `res` (like dst) added and `act` (1 ReLU, 2 ReLU6) applied to each output as it is stored. src: (N, Cred*groups,
 * Hs, Ws) from haloPad (`bounded` as it says), wt as `read` says, dst: (N, Cg*groups, Hd, Wd); src, wt, dst (and res) all f32
 * or all f16 (f32 arithmetic), bias f32. cgPad: Cg rounded up to the channels a workgroup computes.
 */
export function gemmCorrelate(src: Tensor, wt: Tensor, bias: Tensor | null, dst: Tensor, groupsN: number, Cred: number, Cg: number,
  cgPad: number, cv: number, phs: readonly AxisPlan[], pw: AxisPlan, kh: number, kw: number, tm = 0, act = 0, res: Tensor | null = null, bounded = false,
  read: WeightRead = 'packed'): void {
  const [N, , Hs, Ws] = src.shape;
  const [, , Hd, Wd] = dst.shape;
  const [ph, ph2 = phs[0]] = phs;
  const SG = tm ? subgroupLanes() : 0;
  const PX = tm ? runtime().tuning.conv.sgPX : runtime().tuning.conv.gemmPX;
  // A phase that no tap reaches still has to write its zeros: run no tap rows.
  const col = pw.nk === 0 ? { ...pw, c0: 0, cs: 1, nk: 1 } : pw;
  const nkh = (p: AxisPlan) => (pw.nk === 0 ? 0 : p.nk);
  const m = minTap(col);
  const A = ((m % 4) + 4) % 4;
  const NV = Math.ceil((A + (PX - 1) * col.ss + (col.nk - 1) * Math.abs(col.cs) + 1) / 4);
  const coBlocks = tm ? cgPad / tm : cgPad / (4 * cv);
  const jBlocks = Math.ceil(pw.sub / PX);
  const [gx, gy] = grid(Math.ceil((N * Math.max(ph.sub, ph2.sub) * jBlocks) / (tm ? SG : 64)));
  // The column taps' structure (source step, tap step and count, window phase) shapes the code.
  const cols = { SSW: col.ss, CSW: col.cs, NKW: col.nk, A };
  // Channel quads per invocation (per workgroup with subgroups) and weight quads each lane loads.
  const CQ = tm ? tm / 4 : cv, LQ = tm ? Math.ceil(CQ / SG) : 0;
  const kernel = wgsl(tm ? 'conv2d_gemm_sg' : 'conv2d_gemm', gemmSrc, {
    include: tm ? includeSg : include,
    defines: { WG: tm ? SG : 64, SG, CQ, PX, ...cols, OIHW: read === 'packed' ? 0 : 1, ...storageDefines(src.dtype), ...(bounded ? BOUNDED : PADDED) },
    unroll: { p: PX, v: CQ, l: LQ, t: NV },
    blocks: gemmBlocks,
  });
  runtime().run(kernel, { src, wt, bias: bias ?? wt, dst, res: res ?? wt }, {
    N, groups: groupsN, Cred, Cg, Hs, Ws, Hd, Wd, Wsub: pw.sub, rw: pw.r, dsh: ph.ds, dsw: pw.ds,
    ssh: ph.ss, jBlocks, kx0: col.k0, kys: ph.ks, kxs: col.ks, kh, kw, winStart: (m - A) / 4, csh: ph.cs,
    Hsub: ph.sub, rh: ph.r, nkh: nkh(ph), ky0: ph.k0, c0h: ph.c0, Hsub2: ph2.sub, rh2: ph2.r, nkh2: nkh(ph2), ky02: ph2.k0, c0h2: ph2.c0,
    coBlocks, ...weightStrides(read, Cred, Cg, cgPad, kh, kw), hasBias: bias ? 1 : 0, strideX: gx, act, hasRes: res ? 1 : 0,
  }, [gx, gy, groupsN * coBlocks * phs.length]);
}
