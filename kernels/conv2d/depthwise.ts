/**
 * Depthwise conv2d (groups = Cin, weights (Cin*M, 1, kh, kw) for channel multiplier M): forward,
 * input gradient and weight gradient. The WGSL files hold the kernels; this file unrolls their tap
 * loops for the dispatch's compile-time tap structure (strides, tap counts, tile size, window
 * alignment), which lets each loaded vec4 feed every (pixel, tap) pair of the tile that reads it.
 * The pipeline key carries that structure, so each distinct layer shape compiles once.
 */
import dwSrc from './depthwise.wgsl';
import dwGradSrc from './depthwise_dw.wgsl';
import { Tensor } from '../../engine/tensor.ts';
import { runtime, grid, template } from '../../engine/runtime.ts';
import { sum } from '../reduce/reduce.ts';
import type { ConvGeom } from './geometry.ts';
import { pad, reshaped } from './launch.ts';
import { type AxisPlan, forwardAxis, inputGradAxes, haloPad } from './gemm.ts';

/**
 * Tile sizes (destination rows x columns per invocation, columns a multiple of 4; weight-gradient
 * segment width, a multiple of 4), the lane count the weight gradient's row split aims for, and
 * whether sources with rows a multiple of 4 long are read unpadded (bounds by select).
 */
export const DW_TUNING = { TH: 8, TW: 8, gradTW: 8, gradMinLanes: 4096, unpadded: true };

/** Groups the pairs (i, k) by offset i*s + k*c: the source offset each (pixel, tap) pair reads. */
function byOffset(n: number, s: number, nk: number, c: number): Map<number, [number, number][]> {
  const m = new Map<number, [number, number][]>();
  for (let i = 0; i < n; i++) for (let k = 0; k < nk; k++) {
    const o = i * s + k * c;
    if (!m.has(o)) m.set(o, []);
    m.get(o)!.push([i, k]);
  }
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

const lit = (v: number) => (v < 0 ? `(${v})` : `${v}`);
const vec = (name: string, e: number) => `${name}${e >> 2}[${e & 3}]`;

/** depthwise.wgsl with its blocks unrolled for a TH x TW tile, one plan per axis, window phase A. */
function correlateCode(TH: number, TW: number, ph: AxisPlan, pw: AxisPlan, A: number, NV: number, bounded: boolean): string {
  const ACC: string[] = [], WEIGHTS: string[] = [], BODY: string[] = [], STORE: string[] = [], COLS: string[] = [];
  // Window vec4 t of the tile: in-row flag and clamped index (bounded) or plain index (padded source).
  for (let t = 0; t < NV; t++) {
    if (bounded) COLS.push(`  let cv${t} = u32(col0 + ${t}) < Wsv;\n  let cx${t} = u32(select(0, col0 + ${t}, cv${t}));`);
    else COLS.push(`  let cx${t} = u32(col0 + ${t});`);
  }
  for (let r = 0; r < TH; r++) for (let c = 0; c < TW; c++) {
    ACC.push(`  var a${r}_${c} = 0.0;`);
    STORE.push(`    if (i0 + ${r}u < params.Hsub && j0 + ${c}u < params.Wsub) { dst[dbase + (params.rh + params.dsh * (i0 + ${r}u)) * params.Wd + params.rw + params.dsw * (j0 + ${c}u)] = a${r}_${c} + b; }`);
  }
  for (let k1 = 0; k1 < ph.nk; k1++) for (let k2 = 0; k2 < pw.nk; k2++) {
    WEIGHTS.push(`    let w${k1}_${k2} = w[wbase + (params.k0h + ${k1}u * params.ksh) * params.kw + params.k0w + ${k2}u * params.ksw];`);
  }
  const lo = Math.min(0, (pw.nk - 1) * pw.cs);
  for (const [ro, pairs] of byOffset(TH, ph.ss, ph.nk, ph.cs)) {
    if (bounded) {
      BODY.push(`    {\n      let r = row0 + ${lit(ro)};\n      let rv = u32(r) < params.Hs;\n      let rb = sbase + u32(select(0, r, rv)) * Wsv;`);
      for (let t = 0; t < NV; t++) BODY.push(`      let s${t} = select(vec4<f32>(0.0), src[rb + cx${t}], rv && cv${t});`);
    } else {
      BODY.push(`    {\n      let rb = sbase + u32(row0 + ${lit(ro)}) * Wsv;`);
      for (let t = 0; t < NV; t++) BODY.push(`      let s${t} = src[rb + cx${t}];`);
    }
    for (const [r, k1] of pairs) for (let k2 = 0; k2 < pw.nk; k2++) for (let c = 0; c < TW; c++) {
      BODY.push(`      a${r}_${c} = fma(w${k1}_${k2}, ${vec('s', A + c * pw.ss + k2 * pw.cs - lo)}, a${r}_${c});`);
    }
    BODY.push('    }');
  }
  return template(dwSrc, { TH, TW, SSH: ph.ss, SSW: pw.ss, COLS: COLS.join('\n'), ACC: ACC.join('\n'), WEIGHTS: WEIGHTS.join('\n'), BODY: BODY.join('\n'), STORE: STORE.join('\n') });
}

/**
 * One depthwise correlation dispatch writing the subgrid ph x pw of dst. src is either from
 * haloPad or, when `bounded`, unpadded with rows a multiple of 4 long.
 */
function correlate(src: Tensor, w: Tensor, bias: Tensor | null, dst: Tensor, M: number, isDx: boolean, ph: AxisPlan, pw: AxisPlan, kh: number, kw: number, bounded: boolean): void {
  const { TH, TW } = DW_TUNING;
  const [N, C, Hd, Wd] = dst.shape;
  const [, Csrc, Hs, Ws] = src.shape;
  // A phase no tap reaches still writes its zeros: no taps at all.
  const empty = ph.nk === 0 || pw.nk === 0;
  const rows = empty ? { ...ph, nk: 0 } : ph, cols = empty ? { ...pw, nk: 0, c0: 0, cs: 1 } : pw;
  const m = cols.c0 + Math.min(0, (cols.nk - 1) * cols.cs);
  const A = empty ? 0 : ((m % 4) + 4) % 4;
  const NV = empty ? 0 : Math.ceil((A + (TW - 1) * cols.ss + (cols.nk - 1) * Math.abs(cols.cs) + 1) / 4);
  const tilesH = Math.ceil(ph.sub / TH), tilesW = Math.ceil(pw.sub / TW);
  const total = N * C * tilesH * tilesW;
  const [gx, gy] = grid(Math.ceil(total / 64));
  const key = `conv2d_depthwise:${TH}x${TW}:${rows.ss},${rows.cs},${rows.nk}:${cols.ss},${cols.cs},${cols.nk},${A}:${bounded ? 'b' : 'p'}`;
  runtime().run({ key, code: () => correlateCode(TH, TW, rows, cols, A, NV, bounded) }, { src, w, bias: bias ?? w, dst }, {
    N, C, Csrc, M, isDx: isDx ? 1 : 0, Hs, Ws, Hd, Wd, Hsub: ph.sub, Wsub: pw.sub, rh: ph.r, rw: pw.r, dsh: ph.ds, dsw: pw.ds,
    kh, kw, k0h: ph.k0, k0w: pw.k0, ksh: ph.ks, ksw: pw.ks, c0h: empty ? 0 : ph.c0, winStart: empty ? 0 : (m - A) / 4,
    tilesH, tilesW, hasBias: bias ? 1 : 0, strideX: gx * 64, total,
  }, [gx, gy]);
}

/** Depthwise forward: y (N, Cin*M, OH, OW). */
export function depthwiseForward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeom): Tensor {
  const y = Tensor.alloc([g.N, g.Cout, g.OH, g.OW]);
  const ph = forwardAxis(g.OH, g.sh, g.dh, g.pt, g.kh), pw = forwardAxis(g.OW, g.sw, g.dw, g.pl, g.kw);
  if (boundedOk(g.W)) correlate(x, w, bias, y, g.coutG, false, ph, pw, g.kh, g.kw, true);
  else {
    const p = haloPad(x, [ph], [pw], DW_TUNING.TW, DW_TUNING.TH);
    correlate(p.src, w, bias, y, g.coutG, false, p.phs[0], p.pws[0], g.kh, g.kw, false);
    p.src.dispose();
  }
  return y;
}

/** Whether a source with rows of `W` can be read unpadded (each window vec4 wholly in or out of a row). */
const boundedOk = (W: number) => DW_TUNING.unpadded && W % 4 === 0;

/** Depthwise input gradient: dx (N, Cin, H, W), one dispatch per stride phase. */
export function depthwiseInputGrad(dy: Tensor, w: Tensor, g: ConvGeom): Tensor {
  const dx = Tensor.alloc([g.N, g.Cin, g.H, g.W]);
  const phs = inputGradAxes(g.H, g.sh, g.dh, g.pt, g.kh), pws = inputGradAxes(g.W, g.sw, g.dw, g.pl, g.kw);
  const bounded = boundedOk(g.OW);
  const p = bounded ? { src: dy.alias(), phs, pws } : haloPad(dy, phs, pws, DW_TUNING.TW, DW_TUNING.TH);
  for (const ph of p.phs) for (const pw of p.pws) correlate(p.src, w, null, dx, g.coutG, true, ph, pw, g.kh, g.kw, bounded);
  p.src.dispose();
  return dx;
}

/** depthwise_dw.wgsl with its blocks unrolled for segments of TW columns and window phase A. */
function weightGradCode(TW: number, NV: number, A: number, g: ConvGeom): string {
  const ACC: string[] = [], STORE: string[] = [], BODY: string[] = [];
  for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
    ACC.push(`  var a${ky}_${kx} = 0.0;`);
    STORE.push(`    part[pbase + ${ky * g.kw + kx}u] = a${ky}_${kx};`);
  }
  for (let v = 0; v < TW / 4; v++) BODY.push(`      let d${v} = dy[dyrow + q + ${v}u];`);
  for (let t = 0; t < NV; t++) BODY.push(`      let cv${t} = u32(cb + ${t}) < Wxv;\n      let cx${t} = u32(select(0, cb + ${t}, cv${t}));`);
  for (let ky = 0; ky < g.kh; ky++) {
    BODY.push(`      {\n        let r = r0 + ${ky * g.dh};\n        let rv = u32(r) < params.Hx;\n        let rb = xplane + u32(select(0, r, rv)) * Wxv;`);
    for (let t = 0; t < NV; t++) BODY.push(`        let s${t} = select(vec4<f32>(0.0), xp[rb + cx${t}], rv && cv${t});`);
    for (let kx = 0; kx < g.kw; kx++) for (let c = 0; c < TW; c++) {
      BODY.push(`        a${ky}_${kx} = fma(${vec('d', c)}, ${vec('s', A + c * g.sw + kx * g.dw)}, a${ky}_${kx});`);
    }
    BODY.push('      }');
  }
  return template(dwGradSrc, { TWV: TW / 4, SW: g.sw, KHKW: g.kh * g.kw, ACC: ACC.join('\n'), BODY: BODY.join('\n'), STORE: STORE.join('\n') });
}

/** Depthwise weight gradient: dw (Cin*M, 1, kh, kw). */
export function depthwiseWeightGrad(x: Tensor, dy: Tensor, g: ConvGeom): Tensor {
  const TW = DW_TUNING.gradTW;
  const OWp = Math.ceil(g.OW / TW) * TW;
  // x rows must be a multiple of 4 long; the kernel bounds-checks everything else.
  const xp = g.W % 4 === 0 ? x.alias() : pad(x, g.H, Math.ceil(g.W / 4) * 4, 0, 0);
  const dyp = OWp === g.OW ? dy.alias() : pad(dy, g.OH, OWp, 0, 0);
  const A = ((-g.pl % 4) + 4) % 4;
  const NV = Math.ceil((A + (TW - 1) * g.sw + (g.kw - 1) * g.dw + 1) / 4);
  const rows = g.N * g.OH;
  let S = Math.min(rows, Math.max(1, Math.ceil(DW_TUNING.gradMinLanes / g.Cout)));
  const rowsPerChunk = Math.ceil(rows / S);
  S = Math.ceil(rows / rowsPerChunk);
  const part = Tensor.alloc([S, g.Cout * g.kh * g.kw]);
  const key = `conv2d_depthwise_dw:${TW}:${g.sw},${g.dw},${g.dh}:${g.kh}x${g.kw}:${A}`;
  const [gx, gy] = grid(Math.ceil((g.Cout * S) / 64));
  runtime().run({ key, code: () => weightGradCode(TW, NV, A, g) }, { xp, dy: dyp, part }, {
    N: g.N, C: g.Cout, M: g.coutG, Cin: g.Cin, Hx: g.H, Wx: xp.shape[3], OH: g.OH, OWp, sh: g.sh, rowsPerChunk, chunks: S,
    pt: g.pt, winStart: (-g.pl - A) / 4,
  }, [gx, gy]);
  xp.dispose();
  dyp.dispose();
  const wShape = [g.Cout, 1, g.kh, g.kw];
  if (S === 1) return reshaped(part, wShape);
  const dw = sum(part, 0);
  part.dispose();
  return reshaped(dw, wShape);
}
