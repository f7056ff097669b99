/**
 * Row-streaming depthwise kernels: the ring of x row windows they share (ringBlocks, also used by
 * the weight gradient in depthwise_grad.ts) and the forward pass over it (depthwise_rows.wgsl).
 * Streaming loads each x value about once and keeps only one output row's accumulators live.
 */
import rowsSrc from './depthwise_rows.wgsl';
import ringSrc from './depthwise_ring.wgsl';
import flatIndexSrc from '../common/flat_index.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import type { ConvGeom } from './geometry.ts';
import { pad } from './launch.ts';

// Tunables of the depthwise kernels: runtime().tuning.depthwise (engine/core/tuning.ts).

/**
 * Which components of each window vec4 some (pixel, tap) pair of a row reads: a vec4 read whole is
 * loaded as one, a partly read one as its read scalars (each float loaded costs a lane loop).
 */
export function windowUse(TW: number, ss: number, cs: number, nk: number, A: number, NV: number): boolean[][] {
  const used = Array.from({ length: NV }, () => [false, false, false, false]);
  const lo = Math.min(0, (nk - 1) * cs);
  for (let c = 0; c < TW; c++) for (let k = 0; k < nk; k++) {
    const e = A + c * ss + k * cs - lo;
    used[e >> 2][e & 3] = true;
  }
  return used;
}

/** What the row-streaming kernels include: Params, the x bindings, each lane's work, the flat index. */
export const ringInclude = [ringSrc, flatIndexSrc];

/**
 * The compile-time structure of a row-streaming kernel: segment width TW, per axis stride, dilation
 * and kernel size, window phase A (the key carries these, the WGSL blocks are built from them).
 */
export type RingDefines = { TW: number; SH: number; DH: number; KH: number; SW: number; DW: number; KW: number; A: number };

/** The ring structure of a segment of TW output columns of g. */
export function ringDefines(TW: number, g: ConvGeom): RingDefines {
  return { TW, SH: g.sh, DH: g.dh, KH: g.kh, SW: g.sw, DW: g.dw, KW: g.kw, A: ((-g.pl % 4) + 4) % 4 };
}

/** Window geometry of a ring: phase A, vec4 count NV, ring rows L. */
function ringDims(d: RingDefines): { A: number; NV: number; L: number } {
  return { A: d.A, NV: Math.ceil((d.A + (d.TW - 1) * d.SW + (d.KW - 1) * d.DW + 1) / 4), L: (d.KH - 1) * d.DH + 1 };
}

/** Window geometry of a segment of TW output columns: phase A, vec4 count NV, ring rows L. */
export function ringShape(TW: number, g: ConvGeom): { A: number; NV: number; L: number } {
  return ringDims(ringDefines(TW, g));
}

/** Whether the ring of a TW-column segment fits the register budget (tuning.depthwise.ringBudget floats). */
export function ringFits(TW: number, g: ConvGeom): boolean {
  const { NV, L } = ringShape(TW, g);
  return L * NV * 4 <= runtime().tuning.depthwise.ringBudget;
}

/**
 * The ring's WGSL blocks: COLS (window columns, slot variables), PRELOAD (before the first row),
 * STEP (shift by SH rows, load the entering ones), and `ref(i, e)`, window element e of slot i
 * (slot i holds x row r0 + i; tap ky reads slot ky*DH).
 */
export function ringBlocks(d: RingDefines): { COLS: string[]; PRELOAD: string[]; STEP: string[]; ref: (i: number, e: number) => string } {
  const { A, NV, L } = ringDims(d);
  const used = windowUse(d.TW, d.SW, d.DW, d.KW, A, NV);
  const whole = used.map((u) => u.every(Boolean));
  const COLS: string[] = [], PRELOAD: string[] = [], STEP: string[] = [];
  for (let t = 0; t < NV; t++) COLS.push(`  let cv${t} = u32(cb + ${t}) < Wxv;\n  let cx${t} = u32(select(0, cb + ${t}, cv${t}));`);
  const slot = (i: number, t: number, e?: number) => (e === undefined ? `x${i}_${t}` : `x${i}_${t}_${e}`);
  const each = (f: (t: number, e?: number) => void) => {
    for (let t = 0; t < NV; t++) if (whole[t]) f(t); else for (let e = 0; e < 4; e++) if (used[t][e]) f(t, e);
  };
  for (let i = 0; i < L; i++) each((t, e) => COLS.push(`  var ${slot(i, t, e)} = ${e === undefined ? 'vec4<f32>(0.0)' : '0.0'};`));
  // Loads x row r0 + o into slot i.
  const load = (i: number, o: number, out: string[]) => {
    out.push(`    {\n      let r = r0 + ${o};\n      let rv = u32(r) < params.Hx;\n      let rb = xplane + u32(select(0, r, rv)) * Wxv;`);
    each((t, e) => out.push(e === undefined
      ? `      ${slot(i, t)} = select(vec4<f32>(0.0), xp[rb + cx${t}], rv && cv${t});`
      : `      ${slot(i, t, e)} = select(0.0, xf[(rb + cx${t}) * 4u + ${e}u], rv && cv${t});`));
    out.push('    }');
  };
  const keep = Math.max(0, L - d.SH);
  // Before the first row, slots SH.. hold what the first step shifts down: rows r0 + 0 .. keep - 1.
  for (let i = 0; i < keep; i++) load(i + d.SH, i, PRELOAD);
  for (let i = 0; i < keep; i++) each((t, e) => STEP.push(`    ${slot(i, t, e)} = ${slot(i + d.SH, t, e)};`));
  for (let i = keep; i < L; i++) load(i, i, STEP);
  const ref = (i: number, e: number) => (whole[e >> 2] ? `${slot(i, e >> 2)}[${e & 3}]` : slot(i, e >> 2, e & 3));
  return { COLS, PRELOAD, STEP, ref };
}

/** Lanes and row chunks of a row-streaming dispatch over segments of TW columns. */
export function rowSplit(TW: number, g: ConvGeom): { OWv: number; segs: number; chunks: number; rowsPerChunk: number; lanes: number } {
  const OWv = Math.ceil(g.OW / 4);
  const segs = Math.ceil(OWv / (TW / 4));
  const perChunk = g.N * g.Cout * segs;
  let chunks = Math.min(g.OH, Math.max(1, Math.ceil(runtime().tuning.depthwise.rowsMinLanes / perChunk)));
  const rowsPerChunk = Math.ceil(g.OH / chunks);
  chunks = Math.ceil(g.OH / rowsPerChunk);
  return { OWv, segs, chunks, rowsPerChunk, lanes: perChunk * chunks };
}

/** x with rows a multiple of 4 long (a new handle, or a padded copy). */
export const rowAligned = (x: Tensor, g: ConvGeom) => (g.W % 4 === 0 ? x.unrecordedView() : pad(x, g.H, Math.ceil(g.W / 4) * 4, 0, 0));

/** The structure of a depthwise_rows.wgsl dispatch: the ring's, vec4 stores, dx (and adding over m > 0). */
type RowsDefines = RingDefines & { VEC_STORE: boolean; DX: boolean; ACC: boolean };

/**
 * depthwise_rows.wgsl unrolled. Forward: weights w[co, ky, kx] over x plane co / M. dx (of a stride-1
 * conv, g from dxGeom): weights w[co*M + m, kh-1-ky, kw-1-kx] over dy plane co*M + m for each m < M,
 * stores after the first m adding what is there (ACC, when M > 1).
 */
function rowsBlocks(d: Readonly<RowsDefines>): Record<string, string> {
  const { TW, KH: kh, KW: kw, DH: dh, SW: sw, DW: dw, A, VEC_STORE: vecStore, DX: dx, ACC: acc } = d;
  const { COLS, PRELOAD, STEP, ref } = ringBlocks(d);
  const WEIGHTS: string[] = [], BODY: string[] = [], STORE: string[] = [];
  const wrow = dx ? '(co * params.M + m)' : 'co';
  for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
    const t = dx ? (kh - 1 - ky) * kw + (kw - 1 - kx) : ky * kw + kx;
    WEIGHTS.push(`  let w${ky}_${kx} = w[${wrow} * ${kh * kw}u + ${t}u];`);
  }
  for (let c = 0; c < TW; c++) {
    BODY.push(`    var a${c} = b;`);
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) BODY.push(`    a${c} = fma(w${ky}_${kx}, ${ref(ky * dh, A + c * sw + kx * dw)}, a${c});`);
  }
  const put = (i: string, v: string) => (acc ? `{ let i = ${i}; var s = ${v}; if (m > 0u) { s += y[i]; } y[i] = s; }` : `{ y[${i}] = ${v}; }`);
  if (vecStore) for (let v = 0; v < TW / 4; v++) STORE.push(`      if (j0 + ${4 * v}u < params.OW) ${put(`yrow / 4u + ${v}u`, `vec4<f32>(${[0, 1, 2, 3].map((e) => `a${4 * v + e}`).join(', ')})`)}`);
  else for (let c = 0; c < TW; c++) STORE.push(`      if (j0 + ${c}u < params.OW) ${put(`yrow + ${c}u`, `a${c}`)}`);
  return {
    TWV: String(TW / 4), DST: vecStore ? 'vec4<f32>' : 'f32', COLS: COLS.join('\n'), WEIGHTS: WEIGHTS.join('\n'),
    MLOOP: dx ? 'for (var m = 0u; m < params.M; m++) ' : '', SRC: dx ? 'co * params.M + m' : 'co / params.M',
    PRELOAD: PRELOAD.join('\n'), STEP: STEP.join('\n'), BODY: BODY.join('\n'), STORE: STORE.join('\n'),
  };
}

/**
 * The input gradient of a stride-1 depthwise conv as a forward geometry: dy (N, Cin*M, OH, OW) is
 * the source, dx (N, Cin, H, W) the destination, the kernel flipped and the padding mirrored
 * (pt' = (kh-1)*dh - pt, negative when the conv pads more than its reach).
 */
export function dxGeom(g: ConvGeom): ConvGeom {
  return {
    ...g, Cin: g.Cout, H: g.OH, W: g.OW, Cout: g.Cin, OH: g.H, OW: g.W,
    pt: (g.kh - 1) * g.dh - g.pt, pb: (g.kh - 1) * g.dh - g.pb, pl: (g.kw - 1) * g.dw - g.pl, pr: (g.kw - 1) * g.dw - g.pr,
  };
}

/** One row-streaming dispatch: forward (y from x) or, with `dx`, a dx from dy over dxGeom's geometry. */
function runRows(src: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeom, dx: boolean): Tensor {
  const TW = runtime().tuning.depthwise.rowsTW;
  const y = Tensor.alloc([g.N, g.Cout, g.OH, g.OW]);
  const xp = rowAligned(src, g);
  const ring = ringDefines(TW, g);
  const { OWv, segs, chunks, rowsPerChunk, lanes } = rowSplit(TW, g);
  const vecStore = runtime().tuning.depthwise.vecStore && g.OW % 4 === 0;
  const { groups: [gx, gy], stride } = launch1d(lanes);
  const kernel = wgsl<RowsDefines>(dx ? 'conv2d_depthwise_dx_rows' : 'conv2d_depthwise_rows', rowsSrc, {
    include: ringInclude, defines: { ...ring, VEC_STORE: vecStore, DX: dx, ACC: dx && g.coutG > 1 }, blocks: rowsBlocks,
  });
  runtime().run(kernel, { xp, xf: xp, w, bias: bias ?? w, y }, {
    C: g.Cout, M: g.coutG, Cin: g.Cin, Hx: g.H, Wx: xp.shape[3], OH: g.OH, OW: g.OW, OWv, segs, chunks, rowsPerChunk, lanes,
    stride, pt: g.pt, winStart: (-g.pl - ring.A) / 4, hasBias: bias ? 1 : 0,
  }, [gx, gy]);
  xp.dispose();
  return y;
}

/** Row-streaming depthwise forward: y (N, Cin*M, OH, OW). Callers check ringFits first. */
export function depthwiseForwardRows(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeom): Tensor {
  return runRows(x, w, bias, g, false);
}

/**
 * Row-streaming depthwise input gradient of a stride-1 conv: dx (N, Cin, H, W), the forward kernel
 * over dy with the flipped kernel, summing the M output channels of each input channel.
 * Callers check the stride and ringFits(rowsTW, dxGeom(g)) first.
 */
export function depthwiseInputGradRows(dy: Tensor, w: Tensor, g: ConvGeom): Tensor {
  return runRows(dy, w, null, dxGeom(g), true);
}
