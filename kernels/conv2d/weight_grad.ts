/**
 * conv2d weight gradient for every non-depthwise convolution (weight_grad.wgsl): row windows of x
 * against 4-column runs of dy, split over output rows for parallelism, partial sums reduced by the
 * reduce kernel.
 */
import weightGradSrc from './weight_grad.wgsl';
import subgroupsSrc from '../common/subgroups.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { wgsl, storageDefines } from '../../engine/core/wgsl.ts';
import { cast } from '../cast/cast.ts';
import { sum } from '../reduce/reduce.ts';
import type { ConvGeom } from './geometry.ts';
import { pad, reshaped, subgroupLanes } from './launch.ts';
import { switchCases } from '../common/switch.ts';
import type { Kernel } from '../../engine/core/runtime.ts';

/** The TAPS block: per column tap, the window values of 4 output columns times each channel's dy. */
function tapBlock(RB: number, C4: number, SW: number, DW: number, KW: number, A: number): string {
  const lines: string[] = [];
  for (let r = 0; r < RB; r++) for (let k = 0; k < KW; k++) {
    const el = (p: number) => { const e = A + p * SW + k * DW; return `s${r}_${e >> 2}[${e & 3}]`; };
    lines.push(`      { let x = vec4<f32>(${[0, 1, 2, 3].map(el).join(', ')});`);
    for (let o = 0; o < C4; o++) lines.push(`        a${r}_${o}_${k} = fma(g${o}, x, a${r}_${o}_${k});`);
    lines.push('      }');
  }
  return lines.join('\n');
}

/** The TAPS block of the subgroup build: per channel, its dy vec4 broadcast from the lane that loaded it, dotted with each row's window values of 4 output columns. */
function tapBlockSg(SG: number, TM: number, RB: number, SW: number, DW: number, KW: number, A: number): string {
  const TAPS: string[] = [];
  for (let o = 0; o < TM; o++) {
    TAPS.push(`      { let d = subgroupBroadcast(g${Math.floor(o / SG)}, ${o % SG}u);`);
    for (let r = 0; r < RB; r++) for (let k = 0; k < KW; k++) {
      const el = (p: number) => { const e = A + p * SW + k * DW; return `s${r}_${e >> 2}[${e & 3}]`; };
      TAPS.push(`        a${r}_${o}_${k} += dot(d, vec4<f32>(${[0, 1, 2, 3].map(el).join(', ')}));`);
    }
    TAPS.push('      }');
  }
  return TAPS.join('\n');
}

/** weight_grad.wgsl's x loads: from a zero-padded xp, or bounds-checked (rows and window vec4s outside read 0). */
const PADDED = { ROWS: '    let rv$r = true;', COLS: '      let cv$t = true;' };
const BOUNDED = { ROWS: '    let rv$r = u32(xr$r) < params.Hp;', COLS: '      let cv$t = u32(cw + $t) < Wpv;' };

/** The store's switch cases: case ri * CH + oi sets v0 .. v(KW-1) to row ri's and channel oi's tap sums (SUM). */
function pickSums(d: Record<string, any>): string {
  const sum = (r: number, o: number, k: number) => d.SUM.replace('$r', r).replace('$o', o).replace('$k', k);
  return switchCases(d.RB * d.CH, (i) => Array.from({ length: d.KW }, (_, k) => `v${k} = ${sum(Math.floor(i / d.CH), i % d.CH, k)};`).join(' '));
}
/** The kernels' generated taps and store cases, from their defines (functions made once, not per call). */
const sgTapBlocks = (d: Record<string, any>) => ({ TAPS: tapBlockSg(d.LANES, d.CH, d.RB, d.SW, d.DW, d.KW, d.A), PICK: pickSums(d) });
const tapBlocks = (d: Record<string, any>) => ({ TAPS: tapBlock(d.RB, d.CH, d.SW, d.DW, d.KW, d.A), PICK: pickSums(d) });

/** Weight gradient dw (Cout, Cin/groups, kh, kw) from x (N, Cin, H, W) and dy (N, Cout, OH, OW), all of one dtype (f32 or f16; f32 sums). */
export function weightGrad(x: Tensor, dy: Tensor, g: ConvGeom): Tensor {
  const OWp = Math.ceil(g.OW / 4) * 4;
  // xp covers every window: rows (OH-1)*sh + (kh-1)*dh + 1, columns (OWp-1)*sw + (kw-1)*dw + 1,
  // rounded up to whole vec4s.
  const Hp = (g.OH - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const Wp = Math.ceil(((OWp - 1) * g.sw + (g.kw - 1) * g.dw + 1) / 4) * 4;
  // x is read as it is where no padding is needed, or bounds-checked where its rows are whole vec4s.
  const fits = g.pt === 0 && g.pl === 0 && Hp <= g.H && Wp === g.W;
  const bounded = !fits && runtime().tuning.conv.unpadded && g.W % 4 === 0;
  const xp = fits || bounded ? x.unrecordedView() : pad(x, Hp, Wp, g.pt, g.pl);
  const dyp = OWp === g.OW ? dy.unrecordedView() : pad(dy, g.OH, OWp, 0, 0);
  const SG = subgroupLanes();
  const A = bounded ? ((-g.pl % 4) + 4) % 4 : 0;
  const NV = Math.ceil((A + 3 * g.sw + (g.kw - 1) * g.dw + 1) / 4);
  // The column taps (stride, dilation, count, window phase) and the source's bounds shape the code.
  const taps = { SW: g.sw, DW: g.dw, KW: g.kw, A, ...(bounded ? BOUNDED : PADDED), ...storageDefines(x.dtype) };
  let kernel: Kernel, coBlocks: number, rowBlocks: number, wgs: number;
  if (SG) {
    // Subgroup kernel: TM channels per workgroup, RB rows per lane within the accumulator budget.
    const t = runtime().tuning.conv;
    const TM = Math.min(t.sgDwTM[SG] ?? 2 * SG, Math.ceil(g.coutG / SG) * SG);
    const RB = Math.max(1, Math.min(t.dwRB, Math.floor((t.sgDwAcc[SG] ?? 64) / (TM * g.kw))));
    coBlocks = Math.ceil(g.coutG / TM);
    rowBlocks = Math.ceil((g.cinG * g.kh) / (SG * RB));
    wgs = rowBlocks * coBlocks * g.groups;
    kernel = wgsl('conv2d_weight_grad_sg', weightGradSrc, {
      include: [subgroupsSrc], defines: { WG: SG, LANES: SG, CH: TM, RB, ...taps, ZERO: '0.0', SUM: 'a$r_$o_$k' },
      unroll: { r: RB, o: TM, l: Math.ceil(TM / SG), k: g.kw, t: NV },
      blocks: sgTapBlocks,
    });
  } else {
    const t = runtime().tuning.conv;
    const C4 = 4 * Math.max(1, Math.min(t.dwCV, Math.floor(g.coutG / 4)));
    const RB = Math.max(1, Math.min(t.dwRB, Math.floor(t.dwAcc / (C4 * g.kw))));
    coBlocks = Math.ceil(g.coutG / C4);
    rowBlocks = Math.ceil((g.cinG * g.kh) / RB);
    wgs = Math.ceil((rowBlocks * coBlocks * g.groups) / 64);
    kernel = wgsl('conv2d_weight_grad', weightGradSrc, {
      defines: { WG: 64, LANES: 1, CH: C4, RB, ...taps, ZERO: 'vec4<f32>(0.0)', SUM: 'dot(a$r_$o_$k, vec4<f32>(1.0))' },
      unroll: { r: RB, o: C4, l: C4, k: g.kw, t: NV },
      blocks: tapBlocks,
    });
  }
  const rows = g.N * g.OH;
  // Split the pixel reduction so there are enough workgroups, keeping partial sums under 64 MiB.
  const groupsPerChunk = wgs;
  const J = g.Cout * g.cinG * g.kh * g.kw;
  let S = Math.min(rows, Math.max(1, Math.ceil(runtime().tuning.conv.dwMinGroups / groupsPerChunk)), Math.max(1, Math.floor((16 << 20) / J)));
  const rowsPerChunk = Math.ceil(rows / S);
  S = Math.ceil(rows / rowsPerChunk);
  const part = Tensor.alloc([S, J]);
  runtime().run(kernel, { xp, dy: dyp, part }, {
    N: g.N, Cin: g.Cin, Cout: g.Cout, groups: g.groups, cinG: g.cinG, coutG: g.coutG, Hp: xp.shape[2], Wp: xp.shape[3],
    OH: g.OH, OWp, kh: g.kh, kw: g.kw, sh: g.sh, dh: g.dh, rowsPerChunk, coBlocks, rowBlocks,
    pt: bounded ? g.pt : 0, winStart: bounded ? (-g.pl - A) / 4 : 0,
  }, [wgs, S]);
  xp.dispose();
  dyp.dispose();
  const wShape = [g.Cout, g.cinG, g.kh, g.kw];
  let dw = S === 1 ? part : sum(part, 0);
  if (dw !== part) part.dispose();
  // The partial sums are f32 whatever the operands; dw is rounded to their dtype once, at the end.
  if (x.dtype !== 'f32') { const r = cast(dw, x.dtype); dw.dispose(); dw = r; }
  return reshaped(dw, wShape);
}
