/**
 * Depthwise conv2d (groups = Cin, weights (Cin*M, 1, kh, kw) for channel multiplier M): forward,
 * input gradient (weight gradient: depthwise_grad.ts). The WGSL files hold the kernels; this file unrolls their tap
 * loops for the dispatch's compile-time tap structure (strides, tap counts, tile size, window
 * alignment), which lets each loaded vec4 feed every (pixel, tap) pair of the tile that reads it.
 * The pipeline key carries that structure, so each distinct layer shape compiles once.
 */
import dwSrc from './depthwise.wgsl';
import flatIndexSrc from '../common/flat_index.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import type { ConvGeom } from './geometry.ts';
import { type AxisPlan, forwardAxis, inputGradAxes, haloPad } from './gemm.ts';

import { depthwiseForwardRows, depthwiseInputGradRows, dxGeom, ringFits, windowUse } from './depthwise_rows.ts';

export { depthwiseWeightGrad } from './depthwise_grad.ts';

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

/**
 * The compile-time structure of a depthwise.wgsl dispatch: tile TH x TW, per axis the source step,
 * tap step and tap count, window phase A and vec4 count NV, bounded (unpadded) source, vec4 stores.
 */
type CorrelateDefines = {
  TH: number; TW: number; SSH: number; CSH: number; NKH: number; SSW: number; CSW: number; NKW: number;
  A: number; NV: number; BOUNDED: boolean; VEC_STORE: boolean;
};

/** depthwise.wgsl's blocks unrolled for a TH x TW tile, one plan per axis, window phase A. */
function correlateBlocks(d: Readonly<CorrelateDefines>): Record<string, string> {
  const { TH, TW, A, NV, BOUNDED: bounded, VEC_STORE: vecStore } = d;
  const ph = { ss: d.SSH, cs: d.CSH, nk: d.NKH }, pw = { ss: d.SSW, cs: d.CSW, nk: d.NKW };
  const ACC: string[] = [], WEIGHTS: string[] = [], BODY: string[] = [], STORE: string[] = [], COLS: string[] = [];
  const used = windowUse(TW, pw.ss, pw.cs, pw.nk, A, NV);
  const whole = used.map((u) => u.every(Boolean));
  // Window vec4 t of the tile: in-row flag and clamped index (bounded) or plain index (padded source).
  for (let t = 0; t < NV; t++) {
    if (bounded) COLS.push(`  let cv${t} = u32(col0 + ${t}) < Wsv;\n  let cx${t} = u32(select(0, col0 + ${t}, cv${t}));`);
    else COLS.push(`  let cx${t} = u32(col0 + ${t});`);
  }
  for (let r = 0; r < TH; r++) for (let c = 0; c < TW; c++) ACC.push(`  var a${r}_${c} = 0.0;`);
  // The stores loop over the accumulators as an array: unrolled, with a bounds check each, they made
  // lavapipe compile ops/depthwise's kernels a quarter slower (17.5 s against 13.9 s).
  STORE.push(`    var acc = array<f32, ${TH * TW}>(${ACC.map((_, i) => `a${Math.floor(i / TW)}_${i % TW}`).join(', ')});`,
    `    for (var r = 0u; r < min(${TH}u, params.Hsub - min(i0, params.Hsub)); r++) {`,
    '      let ro = dbase + (params.rh + params.dsh * (i0 + r)) * params.Wd;');
  if (vecStore) {
    // Rows of dst are whole vec4s and the tile's columns are dst's: store vec4s.
    STORE.push(`      for (var v = 0u; v < ${TW / 4}u; v++) {`,
      `        let e = r * ${TW}u + 4u * v;`,
      '        if (j0 + 4u * v < params.Wsub) { dst[(ro + j0) / 4u + v] = vec4<f32>(acc[e], acc[e + 1u], acc[e + 2u], acc[e + 3u]) + b; }',
      '      }');
  } else {
    STORE.push(`      for (var c = 0u; c < ${TW}u; c++) {`,
      `        if (j0 + c < params.Wsub) { dst[ro + params.rw + params.dsw * (j0 + c)] = acc[r * ${TW}u + c] + b; }`,
      '      }');
  }
  STORE.push('    }');
  for (let k1 = 0; k1 < ph.nk; k1++) for (let k2 = 0; k2 < pw.nk; k2++) {
    WEIGHTS.push(`    let w${k1}_${k2} = w[wbase + (params.k0h + ${k1}u * params.ksh) * params.kw + params.k0w + ${k2}u * params.ksw];`);
  }
  const lo = Math.min(0, (pw.nk - 1) * pw.cs);
  const ref = (e: number) => (whole[e >> 2] ? vec('s', e) : `s${e >> 2}_${e & 3}`);
  for (const [ro, pairs] of byOffset(TH, ph.ss, ph.nk, ph.cs)) {
    if (bounded) BODY.push(`    {\n      let r = row0 + ${lit(ro)};\n      let rv = u32(r) < params.Hs;\n      let rb = sbase + u32(select(0, r, rv)) * Wsv;`);
    else BODY.push(`    {\n      let rb = sbase + u32(row0 + ${lit(ro)}) * Wsv;`);
    for (let t = 0; t < NV; t++) {
      const ok = bounded ? `rv && cv${t}` : '';
      if (whole[t]) BODY.push(bounded ? `      let s${t} = select(vec4<f32>(0.0), src[rb + cx${t}], ${ok});` : `      let s${t} = src[rb + cx${t}];`);
      else for (let e = 0; e < 4; e++) if (used[t][e]) {
        const ld = `srcf[(rb + cx${t}) * 4u + ${e}u]`;
        BODY.push(bounded ? `      let s${t}_${e} = select(0.0, ${ld}, ${ok});` : `      let s${t}_${e} = ${ld};`);
      }
    }
    for (const [r, k1] of pairs) for (let k2 = 0; k2 < pw.nk; k2++) for (let c = 0; c < TW; c++) {
      BODY.push(`      a${r}_${c} = fma(w${k1}_${k2}, ${ref(A + c * pw.ss + k2 * pw.cs - lo)}, a${r}_${c});`);
    }
    BODY.push('    }');
  }
  return { DST: vecStore ? 'vec4<f32>' : 'f32', COLS: COLS.join('\n'), ACC: ACC.join('\n'), WEIGHTS: WEIGHTS.join('\n'), BODY: BODY.join('\n'), STORE: STORE.join('\n') };
}

/**
 * One depthwise correlation dispatch writing the subgrid ph x pw of dst. src is either from
 * haloPad or, when `bounded`, unpadded with rows a multiple of 4 long.
 */
function correlate(src: Tensor, w: Tensor, bias: Tensor | null, dst: Tensor, M: number, isDx: boolean, ph: AxisPlan, pw: AxisPlan, kh: number, kw: number, bounded: boolean): void {
  const { TW } = runtime().tuning.depthwise, TH = tileRows(kh);
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
  const { groups: [gx, gy], stride } = launch1d(total);
  // vec4 stores when the tile's columns are whole vec4s of dst rows.
  const vecStore = runtime().tuning.depthwise.vecStore && pw.ds === 1 && pw.r === 0 && TW % 4 === 0 && Wd % 4 === 0;
  const kernel = wgsl<CorrelateDefines>('conv2d_depthwise', dwSrc, {
    defines: { TH, TW, SSH: rows.ss, CSH: rows.cs, NKH: rows.nk, SSW: cols.ss, CSW: cols.cs, NKW: cols.nk, A, NV, BOUNDED: bounded, VEC_STORE: vecStore },
    include: [flatIndexSrc], blocks: correlateBlocks,
  });
  runtime().run(kernel, { src, srcf: src, w, bias: bias ?? w, dst }, {
    N, C, Csrc, M, isDx: isDx ? 1 : 0, Hs, Ws, Hd, Wd, Hsub: ph.sub, Wsub: pw.sub, rh: ph.r, rw: pw.r, dsh: ph.ds, dsw: pw.ds,
    kh, kw, k0h: ph.k0, k0w: pw.k0, ksh: ph.ks, ksw: pw.ks, c0h: empty ? 0 : ph.c0, winStart: empty ? 0 : (m - A) / 4,
    tilesH, tilesW, hasBias: bias ? 1 : 0, stride, total,
  }, [gx, gy]);
}

/** Tile rows for a kernel kh taps tall (tuning.depthwise: tallTH from tallKH taps on, else TH). */
function tileRows(kh: number): number {
  const t = runtime().tuning.depthwise;
  return kh >= t.tallKH ? t.tallTH : t.TH;
}

/** Depthwise forward: y (N, Cin*M, OH, OW). */
export function depthwiseForward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeom): Tensor {
  const t = runtime().tuning.depthwise;
  if (t.rowsFwd && ringFits(t.rowsTW, g)) return depthwiseForwardRows(x, w, bias, g);
  const y = Tensor.alloc([g.N, g.Cout, g.OH, g.OW]);
  const ph = forwardAxis(g.OH, g.sh, g.dh, g.pt, g.kh), pw = forwardAxis(g.OW, g.sw, g.dw, g.pl, g.kw);
  if (boundedOk(g.W)) correlate(x, w, bias, y, g.coutG, false, ph, pw, g.kh, g.kw, true);
  else {
    const p = haloPad(x, [ph], [pw], t.TW, tileRows(g.kh));
    correlate(p.src, w, bias, y, g.coutG, false, p.phs[0], p.pws[0], g.kh, g.kw, false);
    p.src.dispose();
  }
  return y;
}

/** Whether a source with rows of `W` can be read unpadded (each window vec4 wholly in or out of a row). */
const boundedOk = (W: number) => runtime().tuning.depthwise.unpadded && W % 4 === 0;

/**
 * Depthwise input gradient: dx (N, Cin, H, W). Stride 1: the row-streaming forward kernel over dy
 * with the flipped kernel (depthwise_rows.ts); else, or when its ring does not fit, the tile kernel,
 * one dispatch per stride phase.
 */
export function depthwiseInputGrad(dy: Tensor, w: Tensor, g: ConvGeom): Tensor {
  const t = runtime().tuning.depthwise;
  if (t.rowsDx && g.sh === 1 && g.sw === 1 && ringFits(t.rowsTW, dxGeom(g))) return depthwiseInputGradRows(dy, w, g);
  const dx = Tensor.alloc([g.N, g.Cin, g.H, g.W]);
  const phs = inputGradAxes(g.H, g.sh, g.dh, g.pt, g.kh), pws = inputGradAxes(g.W, g.sw, g.dw, g.pl, g.kw);
  const bounded = boundedOk(g.OW);
  const p = bounded ? { src: dy.unrecordedView(), phs, pws } : haloPad(dy, phs, pws, t.TW, tileRows(g.kh));
  for (const ph of p.phs) for (const pw of p.pws) correlate(p.src, w, null, dx, g.coutG, true, ph, pw, g.kh, g.kw, bounded);
  p.src.dispose();
  return dx;
}
